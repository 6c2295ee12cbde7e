//! What a guest's store holds: the scope of the call in progress (which
//! action, which pool it may use), the memory limits, and the CPU meter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::StoreLimits;

use crate::backends::AnyPool;

/// What the call in progress may touch.
pub struct Scope {
    /// The action's name (its configuration key), for logs.
    pub action: Arc<str>,
    /// The backend the action is configured under (`sqlite`, `mysql`, ...).
    pub backend: &'static str,
    /// The only pool the action may use.
    pub pool_name: String,
    pub pool: AnyPool,
}

pub struct HostState {
    pub(crate) scope: Option<Arc<Scope>>,
    pub(crate) limits: StoreLimits,
    pub(crate) meter: Meter,
}

/// Guest CPU time of the call in progress: wall time since the call began,
/// less the time spent in host calls (database round trips).
pub(crate) struct Meter {
    pub started: Instant,
    pub in_host: Duration,
    pub budget: Duration,
}

impl HostState {
    pub(crate) fn new(limits: StoreLimits, budget: Duration) -> Self {
        HostState { scope: None, limits, meter: Meter { started: Instant::now(), in_host: Duration::ZERO, budget } }
    }

    pub(crate) fn begin(&mut self, scope: Arc<Scope>) {
        self.scope = Some(scope);
        self.meter.started = Instant::now();
        self.meter.in_host = Duration::ZERO;
    }

    pub(crate) fn end(&mut self) {
        self.scope = None;
    }

    /// The scope of the call in progress; host calls outside a call have none.
    pub(crate) fn scope(&self) -> Option<&Arc<Scope>> {
        self.scope.as_ref()
    }

    /// Runs a host operation, keeping its time out of the guest's CPU budget.
    pub(crate) async fn in_host<F: std::future::Future>(&mut self, op: F) -> F::Output {
        let t = Instant::now();
        let out = op.await;
        self.meter.in_host += t.elapsed();
        out
    }
}

impl Meter {
    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.in_host)
    }
}
