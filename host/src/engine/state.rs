//! What a guest's store holds: the scope of the call in progress (which
//! action, which pool it may use), the memory limits, and the CPU meter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, StoreLimits};

use super::wasi::Wasi;
use crate::backends::AnyPool;
use crate::metrics::ActionCounters;

/// What the call in progress may touch.
pub struct Scope {
    /// The action's name (its configuration key), for logs.
    pub action: Arc<str>,
    /// The backend the action is configured under (`sqlite`, `mysql`, ...).
    pub backend: &'static str,
    /// The only pool the action may use.
    pub pool_name: String,
    pub pool: AnyPool,
    /// The action's counters, where a call naming another pool is counted.
    pub counters: Arc<ActionCounters>,
}

pub struct HostState {
    pub(crate) scope: Option<Arc<Scope>>,
    pub(crate) limits: Limiter,
    pub(crate) meter: Meter,
    /// WASI for a custom guest; a stock guest has none.
    pub(crate) wasi: Option<Wasi>,
}

/// Guest CPU time of the call in progress: wall time since the call began,
/// less the time spent in host calls (database round trips).
pub(crate) struct Meter {
    pub started: Instant,
    pub in_host: Duration,
    pub budget: Duration,
}

impl HostState {
    pub(crate) fn new(limits: StoreLimits, budget: Duration, wasi: Option<Wasi>) -> Self {
        HostState {
            scope: None,
            limits: Limiter { limits, memory: 0 },
            meter: Meter { started: Instant::now(), in_host: Duration::ZERO, budget },
            wasi,
        }
    }

    /// Starts a call that may use `budget` of guest CPU time.
    pub(crate) fn begin(&mut self, scope: Arc<Scope>, budget: Duration) {
        if let Some(wasi) = &self.wasi {
            wasi.output.begin(&scope.action);
        }
        self.scope = Some(scope);
        self.meter.started = Instant::now();
        self.meter.in_host = Duration::ZERO;
        self.meter.budget = budget;
    }

    pub(crate) fn end(&mut self) {
        if let Some(wasi) = &self.wasi {
            wasi.output.end();
        }
        self.scope = None;
    }

    /// The scope of the call in progress; host calls outside a call have none.
    pub(crate) fn scope(&self) -> Option<&Arc<Scope>> {
        self.scope.as_ref()
    }

    /// Runs a host operation in `span`, keeping its time out of the guest's CPU budget.
    ///
    /// The operation is boxed before anything else moves it: a database
    /// driver's future runs to kilobytes (the scylla driver's to tens of
    /// them), and every layer that held it by value (the span, this call,
    /// the host function's future that wasmtime boxes) copied all of it on
    /// each call. Boxed once, only a pointer moves.
    pub(crate) fn in_host<'a, F: std::future::Future + 'a>(
        &'a mut self,
        span: tracing::Span,
        op: F,
    ) -> impl std::future::Future<Output = F::Output> + 'a {
        let op = tracing::Instrument::instrument(Box::pin(op), span);
        async move {
            let t = Instant::now();
            let out = op.await;
            self.meter.in_host += t.elapsed();
            out
        }
    }
}

impl Meter {
    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.in_host)
    }
}

/// The store's limits, counting the linear memory its instance holds (what
/// the `hook_cost` benchmark reports per language).
pub(crate) struct Limiter {
    limits: StoreLimits,
    pub memory: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory += desired.saturating_sub(current);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
