//! What a guest's store holds: the scope of the call in progress (which
//! action, which pool it may use), the memory limits, and the CPU meter.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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
    pub(crate) meter: Arc<Meter>,
    /// The guest CPU time the call in progress may use.
    pub(crate) budget: Duration,
    /// WASI for a custom guest; a stock guest has none.
    pub(crate) wasi: Option<Wasi>,
    /// The page a paged call answers; none when the call is not paged.
    pub(crate) page: Option<Page>,
    /// Where the guest said its page stopped (`paging.more`).
    pub(crate) more: Option<String>,
}

/// One page of a read that may hold more messages than a client takes at
/// once: at most `limit` messages, after the guest's own `after` cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub after: Option<String>,
}

/// Guest CPU time of the call in progress: the CPU time of the thread while
/// it polls the call, that is the guest's code and the host's work on its
/// behalf (copying values in and out), but not the time the call waits: for
/// a database, or for a worker thread when the machine is loaded, and not
/// what [`host_work`] ran in the poll (a SQLite caller running its
/// neighbours' statements too). Shared with
/// [`Metered`], which wraps the call's future, and read by the epoch
/// callback, which runs inside a poll on the same thread.
pub(crate) struct Meter {
    /// CPU time of the polls that ended, in nanoseconds.
    used: AtomicU64,
    /// The thread's CPU clock when the poll in progress began, in
    /// nanoseconds; [`NOT_POLLING`] between polls.
    poll_began: AtomicU64,
    /// [`HOST_WORK_NS`] when the poll in progress began.
    host_work_began: AtomicU64,
}

thread_local! {
    /// CPU time [`host_work`] has run on this thread, in nanoseconds: a
    /// poll's growth of it is not the guest's.
    static HOST_WORK_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn host_work_ns() -> u64 {
    HOST_WORK_NS.with(std::cell::Cell::get)
}

/// The thread's CPU time since `began` less what [`host_work`] ran since
/// `host_began`: the guest's part of a poll, read on the polling thread.
fn guest_cpu_since(began: u64, host_began: u64) -> u64 {
    let host = host_work_ns().wrapping_sub(host_began);
    thread_cpu_ns().saturating_sub(began).saturating_sub(host)
}

/// Runs `f`, work the host does in a guest's poll that is not the guest's
/// own (a SQLite caller that finds the connection free runs every statement
/// queued, its neighbours' too), so that its CPU time is not counted against
/// the guest's budget. Cheap enough for work that takes microseconds or
/// more: two reads of the thread's CPU clock.
pub fn host_work<R>(f: impl FnOnce() -> R) -> R {
    let began = thread_cpu_ns();
    let out = f();
    let spent = thread_cpu_ns().saturating_sub(began);
    HOST_WORK_NS.with(|ns| ns.set(ns.get().wrapping_add(spent)));
    out
}

const NOT_POLLING: u64 = u64::MAX;

fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::now().as_duration().as_nanos() as u64
}

impl Meter {
    pub fn new() -> Self {
        Meter { used: AtomicU64::new(0), poll_began: AtomicU64::new(NOT_POLLING), host_work_began: AtomicU64::new(0) }
    }

    /// Starts counting a new call from zero.
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
    }

    /// CPU time used so far, the poll in progress included.
    pub fn used(&self) -> Duration {
        let mut ns = self.used.load(Ordering::Relaxed);
        let began = self.poll_began.load(Ordering::Relaxed);
        if began != NOT_POLLING {
            // Read on the polling thread (the epoch callback runs inside the poll).
            ns += guest_cpu_since(began, self.host_work_began.load(Ordering::Relaxed));
        }
        Duration::from_nanos(ns)
    }
}

/// A guest call's future, counting the CPU time of each poll into its meter.
pub(crate) struct Metered<F> {
    call: Pin<Box<F>>,
    meter: Arc<Meter>,
}

impl<F: Future> Metered<F> {
    pub fn new(call: F, meter: Arc<Meter>) -> Self {
        Metered { call: Box::pin(call), meter }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let (began, host_began) = (thread_cpu_ns(), host_work_ns());
        self.meter.host_work_began.store(host_began, Ordering::Relaxed);
        self.meter.poll_began.store(began, Ordering::Relaxed);
        let answer = self.call.as_mut().poll(cx);
        self.meter.poll_began.store(NOT_POLLING, Ordering::Relaxed);
        self.meter.used.fetch_add(guest_cpu_since(began, host_began), Ordering::Relaxed);
        answer
    }
}

impl HostState {
    pub(crate) fn new(limits: StoreLimits, budget: Duration, wasi: Option<Wasi>) -> Self {
        HostState {
            scope: None,
            limits: Limiter { limits, memory: 0 },
            meter: Arc::new(Meter::new()),
            budget,
            wasi,
            page: None,
            more: None,
        }
    }

    /// Starts a call that may use `budget` of guest CPU time.
    pub(crate) fn begin(&mut self, scope: Arc<Scope>, budget: Duration) {
        if let Some(wasi) = &self.wasi {
            wasi.output.begin(&scope.action);
        }
        self.scope = Some(scope);
        self.page = None;
        self.more = None;
        self.meter.reset();
        self.budget = budget;
    }

    pub(crate) fn end(&mut self) {
        if let Some(wasi) = &self.wasi {
            wasi.output.end();
        }
        self.scope = None;
        self.page = None;
    }

    /// The scope of the call in progress; host calls outside a call have none.
    pub(crate) fn scope(&self) -> Option<&Arc<Scope>> {
        self.scope.as_ref()
    }

    /// Runs a host operation in `span`. Its waiting is not guest CPU time
    /// (see [`Meter`]).
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
        tracing::Instrument::instrument(Box::pin(op), span)
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
