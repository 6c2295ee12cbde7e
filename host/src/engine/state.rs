//! What a guest's store holds: the scope of the call in progress (which
//! action, which pool it may use), the memory limits, and the CPU meter.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Guest CPU time of the call in progress: the time the thread spends
/// polling the call, that is the guest's code and the host's work on its
/// behalf (copying values in and out), but not the time the call waits: for
/// a database, or for a worker thread when the machine is loaded, and not
/// what [`host_work`] ran in the poll (a SQLite caller running its
/// neighbours' statements too).
///
/// Two clocks measure it. The monotonic clock is read in user space (tens of
/// nanoseconds) and gives an upper bound: a poll's length is its CPU time,
/// plus any time the system took the thread away in the middle of it. The
/// thread's CPU clock is exact but costs a system call per read (close to a
/// microsecond on these machines, two a poll: a quarter of a small hook's
/// boundary). So a call is measured by the monotonic clock until that
/// bound reaches half its budget, which no call that stays far within its
/// budget ever does, and by the CPU clock from then on, counting the first
/// half as used whatever the bound said ([`Meter::remaining`]). A call is
/// failed only once it has used its whole budget by that count: at least
/// half of it in CPU time, and all of it unless the machine took the thread
/// away from it in its first half.
///
/// Shared with [`Metered`], which wraps the call's future, and read by the
/// epoch callback, which runs inside a poll on the same thread.
pub(crate) struct Meter {
    /// Guest time of the polls that ended, in nanoseconds.
    used: AtomicU64,
    /// When the poll in progress began, on the clock in use, in nanoseconds;
    /// [`NOT_POLLING`] between polls.
    poll_began: AtomicU64,
    /// [`HOST_WORK_NS`] when the poll in progress began.
    host_work_began: AtomicU64,
    /// Whether the call is measured by the thread's CPU clock now.
    exact: AtomicBool,
}

thread_local! {
    /// Time [`host_work`] has run on this thread, in nanoseconds of the
    /// monotonic clock: a poll's growth of it is not the guest's.
    static HOST_WORK_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn host_work_ns() -> u64 {
    HOST_WORK_NS.with(std::cell::Cell::get)
}

/// Runs `f`, work the host does in a guest's poll that is not the guest's
/// own (a SQLite caller that finds the connection free runs every statement
/// queued, its neighbours' too), so that its time is not counted against
/// the guest's budget. Two reads of the monotonic clock. Taking the
/// host's wall time off a poll measured by the CPU clock errs, if at all, in
/// the guest's favour.
pub fn host_work<R>(f: impl FnOnce() -> R) -> R {
    let began = monotonic_ns();
    let out = f();
    let spent = monotonic_ns().saturating_sub(began);
    HOST_WORK_NS.with(|ns| ns.set(ns.get().wrapping_add(spent)));
    out
}

const NOT_POLLING: u64 = u64::MAX;

fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::now().as_duration().as_nanos() as u64
}

/// The monotonic clock, in nanoseconds since the first read.
fn monotonic_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

fn clock(exact: bool) -> u64 {
    if exact {
        thread_cpu_ns()
    } else {
        monotonic_ns()
    }
}

impl Meter {
    pub fn new() -> Self {
        Meter {
            used: AtomicU64::new(0),
            poll_began: AtomicU64::new(NOT_POLLING),
            host_work_began: AtomicU64::new(0),
            exact: AtomicBool::new(false),
        }
    }

    /// Starts counting a new call from zero, on the monotonic clock.
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
        self.exact.store(false, Ordering::Relaxed);
    }

    /// The guest's part of the poll in progress so far (zero between polls),
    /// read on the polling thread.
    fn in_poll(&self) -> u64 {
        let began = self.poll_began.load(Ordering::Relaxed);
        if began == NOT_POLLING {
            return 0;
        }
        let host = host_work_ns().wrapping_sub(self.host_work_began.load(Ordering::Relaxed));
        clock(self.exact.load(Ordering::Relaxed)).saturating_sub(began).saturating_sub(host)
    }

    /// Time used so far, the poll in progress included.
    pub fn used(&self) -> Duration {
        Duration::from_nanos(self.used.load(Ordering::Relaxed) + self.in_poll())
    }

    /// How much of `budget` is left before the meter must be looked at again
    /// (the epoch callback's question), or `None` when the call has used it
    /// all. While the monotonic bound stays under half the budget the call
    /// is well within it; once the bound reaches half, the meter counts half
    /// as used and goes on by the thread's CPU clock.
    pub fn remaining(&self, budget: Duration) -> Option<Duration> {
        let half = budget / 2;
        if !self.exact.load(Ordering::Relaxed) {
            let bound = self.used();
            if bound < half {
                return Some(half - bound);
            }
            self.used.store(half.as_nanos() as u64, Ordering::Relaxed);
            self.exact.store(true, Ordering::Relaxed);
            if self.poll_began.load(Ordering::Relaxed) != NOT_POLLING {
                self.host_work_began.store(host_work_ns(), Ordering::Relaxed);
                self.poll_began.store(thread_cpu_ns(), Ordering::Relaxed);
            }
        }
        budget.checked_sub(self.used()).filter(|left| !left.is_zero())
    }

    /// When a call with `budget` first needs its meter looked at.
    pub fn first_check(budget: Duration) -> Duration {
        budget / 2
    }
}

/// A guest call's future, counting the time of each poll into its meter.
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Metered { call, meter } = self.get_mut();
        meter.host_work_began.store(host_work_ns(), Ordering::Relaxed);
        meter.poll_began.store(clock(meter.exact.load(Ordering::Relaxed)), Ordering::Relaxed);
        let answer = call.as_mut().poll(cx);
        // The epoch callback may have moved the meter to the CPU clock during the poll.
        let spent = meter.in_poll();
        meter.poll_began.store(NOT_POLLING, Ordering::Relaxed);
        meter.used.fetch_add(spent, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_millis(200);

    fn meter_at(used: Duration) -> Meter {
        let meter = Meter::new();
        meter.used.store(used.as_nanos() as u64, Ordering::Relaxed);
        meter
    }

    /// Under half the budget by the cheap bound, the meter stays on the
    /// monotonic clock and asks to be looked at again when half could be reached.
    #[test]
    fn a_call_well_within_its_budget_stays_on_the_cheap_clock() {
        let meter = meter_at(Duration::from_millis(30));
        assert_eq!(meter.remaining(BUDGET), Some(Duration::from_millis(70)));
        assert!(!meter.exact.load(Ordering::Relaxed));
    }

    /// Once the bound reaches half, half is counted as used, whatever the
    /// bound said (time the machine took away is not held against the
    /// guest), and the thread's CPU clock measures the rest.
    #[test]
    fn past_half_the_rest_is_measured_exactly() {
        let meter = meter_at(Duration::from_millis(180));
        assert_eq!(meter.remaining(BUDGET), Some(Duration::from_millis(100)));
        assert!(meter.exact.load(Ordering::Relaxed));
        meter.used.store(Duration::from_millis(150).as_nanos() as u64, Ordering::Relaxed);
        assert_eq!(meter.remaining(BUDGET), Some(Duration::from_millis(50)));
        meter.used.store(BUDGET.as_nanos() as u64, Ordering::Relaxed);
        assert_eq!(meter.remaining(BUDGET), None, "the whole budget used");
    }

    /// A poll measured by the CPU clock counts the CPU the thread used in
    /// it, and a poll switched to that clock midway counts both parts.
    #[test]
    fn a_poll_that_spins_is_counted() {
        let meter = Arc::new(Meter::new());
        // Spins for `d` of the thread's CPU time, however busy the machine.
        let spin = |d: Duration| {
            let began = thread_cpu_ns();
            while thread_cpu_ns() - began < d.as_nanos() as u64 {
                std::hint::spin_loop();
            }
        };
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let m = meter.clone();
        let mut call = Metered::new(
            std::future::poll_fn(move |_| {
                spin(Duration::from_millis(20));
                // What the epoch callback does in the middle of a poll.
                assert!(m.remaining(Duration::from_millis(30)).is_some());
                spin(Duration::from_millis(20));
                Poll::Ready(())
            }),
            meter.clone(),
        );
        assert!(Pin::new(&mut call).poll(&mut cx).is_ready());
        let used = meter.used();
        // 15ms counted for the first half (the bound passed it), then about 20ms of CPU.
        assert!(used >= Duration::from_millis(30) && used < Duration::from_millis(60), "{used:?}");
        assert!(meter.exact.load(Ordering::Relaxed));
    }
}
