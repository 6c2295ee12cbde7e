//! One guest component: compiled once, instantiated from its `InstancePre`,
//! instances reused across calls and discarded after a trap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::component::{Component, ComponentExportIndex, Func, Linker};
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};

use super::batch::{Batcher, Taken};
use super::bindings::{types, Action, ActionPre};
use super::imports::{self, Origin};
use super::state::{HostState, Meter, Metered, Page, Scope};
use super::ticks;
use crate::config::Limits;

pub struct Guest {
    pub name: String,
    /// What the guest's `functions` export answered when it was loaded.
    pub functions: Vec<types::FunctionInfo>,
    /// The functions whose events the guest takes several at a time
    /// (`batch-functions` of the `batch-action` world; empty for a guest of
    /// plain `action`).
    pub batch_functions: Vec<String>,
    /// Where `handle-batch` is in the component's exports, when it has one.
    handle_batch: Option<ComponentExportIndex>,
    /// A digest of the component's bytes, to keep an unchanged guest across reloads.
    pub digest: u64,
    engine: wasmtime::Engine,
    origin: Origin,
    pre: ActionPre<HostState>,
    limits: Limits,
    /// Instances waiting for a call, the most recently used last.
    idle: Mutex<Vec<Instance>>,
    /// How long an instance may wait unused before it is dropped.
    idle_ttl: Duration,
    running: Semaphore,
}

/// How long an idle instance is kept: a burst of calls leaves up to
/// `cistern.limits.instances` of them for each pool, about a MiB of linear
/// memory each, and a quieter pool needs only the few it still uses.
const IDLE_TTL: Duration = Duration::from_secs(60);

struct Instance {
    store: Store<HostState>,
    action: Action,
    /// Its `handle-batch` export, when the guest has one.
    handle_batch: Option<Func>,
    raw: wasmtime::component::Instance,
    /// When it last went back to the idle list (or was made).
    idle_since: Instant,
}

/// Why one call failed. Each fails that call only.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The guest returned an error.
    #[error("{}", describe(.0))]
    Guest(types::Error),
    /// The guest trapped (a panic, an out-of-bounds access, its memory cap, its CPU time).
    #[error("guest trapped: {0}")]
    Trap(String),
    #[error("the call took longer than {0:?}")]
    Timeout(std::time::Duration),
    #[error("cannot instantiate the guest: {0}")]
    Instantiate(String),
    /// The batch call that carried the event was dropped before it answered
    /// (its caller's deadline passed): whether the event was stored is unknown.
    #[error("the batch call carrying the event was abandoned")]
    Abandoned,
}

/// What `handle-batch` answers: one result per event.
type BatchAnswer = Vec<Result<types::Outcome, types::Error>>;

/// An event as a batch call lowers it: the queue's shared events (the
/// caller keeps its own handle for the actions after this one, so none is
/// copied), or a replay's owned ones.
trait BatchEvent:
    std::borrow::Borrow<types::Event> + wasmtime::component::ComponentType + wasmtime::component::Lower + Sync
{
}

impl<E> BatchEvent for E where
    E: std::borrow::Borrow<types::Event> + wasmtime::component::ComponentType + wasmtime::component::Lower + Sync
{
}

/// Why a batch call gave no usable answer as a whole.
enum BatchFailure {
    /// Every event of the batch shares it (a timeout, no instance).
    All(CallError),
    /// The guest misbehaved on the batch (a trap, the wrong number of
    /// results): each event is run alone, so that one bad event fails only itself.
    RunEachAlone(String),
}

fn describe(e: &types::Error) -> String {
    match e {
        types::Error::InvalidInput(m) => format!("invalid input: {m}"),
        types::Error::Unavailable(m) => format!("unavailable: {m}"),
        types::Error::Denied(m) => format!("denied: {m}"),
        types::Error::Other(m) => m.clone(),
    }
}

impl Guest {
    pub(super) async fn load(
        engine: wasmtime::Engine,
        linker: Arc<Linker<HostState>>,
        origin: Origin,
        limits: Limits,
        name: &str,
        bytes: &[u8],
    ) -> Result<Guest, String> {
        let component =
            Component::new(&engine, bytes).map_err(|e| format!("guest {name} is not a valid component: {e}"))?;
        imports::check(name, origin, &engine, &component)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| format!("guest {name} does not fit the cistern:hooks world: {e}"))?;
        let pre = ActionPre::new(pre).map_err(|e| format!("guest {name} does not export the action world: {e}"))?;
        let handle_batch = component.get_export_index(None, "handle-batch");
        let batch_functions_export = component.get_export_index(None, "batch-functions");
        if handle_batch.is_some() != batch_functions_export.is_some() {
            return Err(format!(
                "guest {name} exports only one of `handle-batch` and `batch-functions`; the batch-action world has both"
            ));
        }
        let running = Semaphore::new(limits.instances as usize);
        let mut guest = Guest {
            name: name.to_string(),
            functions: Vec::new(),
            batch_functions: Vec::new(),
            handle_batch,
            digest: crate::message_id::fnv1a(bytes),
            engine,
            origin,
            pre,
            limits,
            idle: Mutex::new(Vec::new()),
            idle_ttl: IDLE_TTL,
            running,
        };
        let mut instance = guest.instantiate().await.map_err(|e| format!("guest {name}: {e}"))?;
        instance.store.set_epoch_deadline(ticks(Meter::first_check(guest.limits.cpu_time)));
        let meter = instance.store.data().meter.clone();
        meter.reset();
        let functions = Metered::new(instance.action.call_functions(&mut instance.store), meter);
        let functions = tokio::time::timeout(guest.limits.call_timeout, functions)
            .await
            .map_err(|_| format!("guest {name}: `functions` did not return in time"))?
            .map_err(|e| format!("guest {name}: `functions` trapped: {e}"))?;
        guest.functions = functions;
        if let Some(export) = &batch_functions_export {
            let answer = batch_functions(name, &mut instance, export);
            guest.batch_functions = tokio::time::timeout(guest.limits.call_timeout, answer)
                .await
                .map_err(|_| format!("guest {name}: `batch-functions` did not return in time"))??;
        }
        if let Some(func) = instance.handle_batch {
            func.typed::<(&types::Context, &[types::Event]), (BatchAnswer,)>(&instance.store)
                .map_err(|e| format!("guest {name}: `handle-batch` is not the batch-action world's: {e}"))?;
        }
        guest.idle.lock().expect("idle list").push(instance);
        Ok(guest)
    }

    /// The same compiled guest with instances of its own and its own cap on
    /// calls running at once (`cistern.limits.instances`): what one pool's
    /// actions call, so that calls held up by one database (hung, or slow
    /// to answer) never leave another pool's calls waiting for an instance.
    pub fn for_pool(&self) -> Guest {
        Guest {
            name: self.name.clone(),
            functions: self.functions.clone(),
            batch_functions: self.batch_functions.clone(),
            handle_batch: self.handle_batch,
            digest: self.digest,
            engine: self.engine.clone(),
            origin: self.origin,
            pre: self.pre.clone(),
            limits: self.limits.clone(),
            idle: Mutex::new(Vec::new()),
            idle_ttl: self.idle_ttl,
            running: Semaphore::new(self.limits.instances as usize),
        }
    }

    async fn instantiate(&self) -> Result<Instance, String> {
        let limits =
            StoreLimitsBuilder::new().memory_size(self.limits.memory as usize).trap_on_grow_failure(true).build();
        let wasi = (self.origin == Origin::Custom).then(|| super::wasi::Wasi::new(&self.name));
        let mut store = Store::new(&self.engine, HostState::new(limits, self.limits.cpu_time, wasi));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|ctx| {
            let budget = ctx.data().budget;
            match ctx.data().meter.remaining(budget) {
                Some(left) => Ok(UpdateDeadline::Yield(ticks(left))),
                None => Err(wasmtime::format_err!("the guest used more than its {budget:?} of CPU time")),
            }
        });
        let raw = self.pre.instance_pre().instantiate_async(&mut store).await.map_err(|e| e.to_string())?;
        let action = Action::new(&mut store, &raw).map_err(|e| e.to_string())?;
        let handle_batch = self.handle_batch.as_ref().and_then(|export| raw.get_func(&mut store, export));
        Ok(Instance { store, action, handle_batch, raw, idle_since: Instant::now() })
    }

    /// The linear memory an idle instance holds, in bytes (the largest, if
    /// there are several).
    pub fn idle_memory(&self) -> usize {
        self.idle.lock().expect("idle list").iter().map(|i| i.store.data().limits.memory).max().unwrap_or(0)
    }

    /// Calls `handle` in a reused instance. A trap or timeout throws the instance away.
    pub async fn call(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        event: &types::Event,
    ) -> Result<types::Outcome, CallError> {
        let _permit = self.running.acquire().await.expect("never closed");
        self.handle_one(scope, ctx, event).await
    }

    /// Calls `handle` for one page of a read ([`Page`]); with the answer,
    /// where the guest said its page stopped, if it has more.
    pub async fn call_paged(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        event: &types::Event,
        page: Page,
    ) -> Result<(types::Outcome, Option<String>), CallError> {
        let _permit = self.running.acquire().await.expect("never closed");
        self.handle_page(scope, ctx, event, Some(page)).await
    }

    /// Whether the guest takes `function`'s events several at a time.
    pub fn batches(&self, function: &str) -> bool {
        self.batch_functions.iter().any(|f| f == function)
    }

    /// Handles the event together with the other events of the same action
    /// queued in `batcher` ([`super::batch`]): this caller may run a batch
    /// holding other callers' events, and its own event may go in another
    /// caller's batch. Each event gets its own answer.
    pub async fn call_batched(
        &self,
        batcher: &Batcher,
        scope: Arc<Scope>,
        ctx: &types::Context,
        event: Arc<types::Event>,
    ) -> Result<types::Outcome, CallError> {
        let mut pushed = batcher.push(event);
        loop {
            if pushed.is_taken() {
                return (&mut pushed.answer).await.unwrap_or(Err(CallError::Abandoned));
            }
            let slot = tokio::select! {
                biased;
                answered = &mut pushed.answer => return answered.unwrap_or(Err(CallError::Abandoned)),
                slot = batcher.slot() => slot,
            };
            let batch_answered = batcher.batch_answered();
            tokio::pin!(batch_answered);
            batch_answered.as_mut().enable();
            let taken = batcher.take(1 + batcher.free_slots());
            if taken.is_empty() {
                // Another caller's batch holds this event (then its answer is
                // all that is left to wait for), or it waits for a batch
                // holding an earlier event of its client: once a batch
                // answers, look again.
                drop(slot);
                if pushed.is_taken() {
                    continue;
                }
                tokio::select! {
                    biased;
                    answered = &mut pushed.answer => return answered.unwrap_or(Err(CallError::Abandoned)),
                    () = batch_answered => continue,
                }
            }
            self.run_batch(scope.clone(), ctx, taken).await;
        }
    }

    /// Runs the taken events and answers each.
    async fn run_batch(&self, scope: Arc<Scope>, ctx: &types::Context, mut taken: Taken<'_>) {
        let _permit = self.running.acquire().await.expect("never closed");
        let (events, answers): (Vec<_>, Vec<_>) =
            std::mem::take(&mut taken.events).into_iter().map(|w| (w.event, w.answer)).unzip();
        for (answer, result) in answers.into_iter().zip(self.answer_batch(scope, ctx, &events).await) {
            let _ = answer.send(result);
        }
    }

    /// Handles events a caller already holds together (the outbox's
    /// replays), in calls of at most [`super::batch::MAX_EVENTS`]; one
    /// answer per event, in order.
    pub async fn call_many(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        events: &[types::Event],
    ) -> Vec<Result<types::Outcome, CallError>> {
        let mut answers = Vec::with_capacity(events.len());
        for chunk in events.chunks(super::batch::MAX_EVENTS) {
            let _permit = self.running.acquire().await.expect("never closed");
            answers.extend(self.answer_batch(scope.clone(), ctx, chunk).await);
        }
        answers
    }

    /// One event alone through `handle`, several through `handle-batch`;
    /// the caller holds a permit of `running`.
    async fn answer_batch<E: BatchEvent>(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        events: &[E],
    ) -> Vec<Result<types::Outcome, CallError>> {
        if let [one] = events {
            return vec![self.handle_one(scope, ctx, one.borrow()).await];
        }
        match self.handle_batch(scope.clone(), ctx, events).await {
            Ok(results) => {
                scope.counters.batched.fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
                results.into_iter().map(|r| r.map_err(CallError::Guest)).collect()
            }
            Err(BatchFailure::All(e)) => events.iter().map(|_| Err(e.clone())).collect(),
            Err(BatchFailure::RunEachAlone(why)) => {
                tracing::warn!(guest = %self.name, function = %ctx.function, "handle-batch failed on {} events ({why}); running each alone", events.len());
                let mut answers = Vec::with_capacity(events.len());
                for event in events {
                    answers.push(self.handle_one(scope.clone(), ctx, event.borrow()).await);
                }
                answers
            }
        }
    }

    /// Calls `handle` in a reused instance; the caller holds a permit of
    /// `running`. A trap or timeout throws the instance away.
    async fn handle_one(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        event: &types::Event,
    ) -> Result<types::Outcome, CallError> {
        self.handle_page(scope, ctx, event, None).await.map(|(outcome, _)| outcome)
    }

    /// [`Guest::handle_one`] for one page of a read, or for a call that is
    /// not paged (`page` none).
    async fn handle_page(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        event: &types::Event,
        page: Option<Page>,
    ) -> Result<(types::Outcome, Option<String>), CallError> {
        let mut instance = self.instance().await?;
        instance.store.data_mut().begin(scope, self.limits.cpu_time);
        instance.store.data_mut().page = page;
        instance.store.set_epoch_deadline(ticks(Meter::first_check(self.limits.cpu_time)));
        let result = {
            let meter = instance.store.data().meter.clone();
            let call = Metered::new(instance.action.call_handle(&mut instance.store, ctx, event), meter);
            tokio::time::timeout(self.limits.call_timeout, call).await
        };
        match result {
            Err(_) => Err(CallError::Timeout(self.limits.call_timeout)),
            Ok(Err(trap)) => Err(CallError::Trap(trap_message(&trap))),
            Ok(Ok(answer)) => {
                let more = instance.store.data_mut().more.take();
                instance.store.data_mut().end();
                self.park(instance);
                answer.map(|outcome| (outcome, more)).map_err(CallError::Guest)
            }
        }
    }

    /// Calls `handle-batch` in a reused instance, with the CPU time of as
    /// many calls as there are events; the caller holds a permit of `running`.
    async fn handle_batch<E: BatchEvent>(
        &self,
        scope: Arc<Scope>,
        ctx: &types::Context,
        events: &[E],
    ) -> Result<BatchAnswer, BatchFailure> {
        let mut instance = self.instance().await.map_err(BatchFailure::All)?;
        let Some(func) = instance.handle_batch else {
            return Err(BatchFailure::RunEachAlone("the guest has no handle-batch".into()));
        };
        let budget = self.limits.cpu_time.saturating_mul(events.len() as u32);
        instance.store.data_mut().begin(scope, budget);
        instance.store.set_epoch_deadline(ticks(Meter::first_check(budget)));
        let typed = func
            .typed::<(&types::Context, &[E]), (BatchAnswer,)>(&instance.store)
            .map_err(|e| BatchFailure::RunEachAlone(e.to_string()))?;
        let result = {
            let meter = instance.store.data().meter.clone();
            let call = Metered::new(typed.call_async(&mut instance.store, (ctx, events)), meter);
            tokio::time::timeout(self.limits.call_timeout, call).await
        };
        match result {
            Err(_) => Err(BatchFailure::All(CallError::Timeout(self.limits.call_timeout))),
            Ok(Err(trap)) => Err(BatchFailure::RunEachAlone(format!("it trapped: {}", trap_message(&trap)))),
            Ok(Ok((results,))) => {
                instance.store.data_mut().end();
                self.park(instance);
                if results.len() != events.len() {
                    return Err(BatchFailure::RunEachAlone(format!(
                        "it answered {} results for {} events",
                        results.len(),
                        events.len()
                    )));
                }
                Ok(results)
            }
        }
    }

    /// An idle instance, or a new one.
    async fn instance(&self) -> Result<Instance, CallError> {
        let reused = self.idle.lock().expect("idle list").pop();
        match reused {
            Some(i) => Ok(i),
            None => self.instantiate().await.map_err(CallError::Instantiate),
        }
    }

    /// Puts an instance back on the idle list and drops those that have
    /// waited there longer than the idle time. The list is in order of use,
    /// so those are at its front: the ones a burst made and no call since needed.
    fn park(&self, mut instance: Instance) {
        instance.idle_since = Instant::now();
        self.idle.lock().expect("idle list").push(instance);
        self.trim();
    }

    /// Drops the instances that have waited on the idle list longer than the
    /// idle time; how many. Parking does it, and so does a timer
    /// ([`crate::runtime`]), for a guest no call comes to any more.
    pub fn trim(&self) -> usize {
        let mut idle = self.idle.lock().expect("idle list");
        let stale = idle.iter().take_while(|i| i.idle_since.elapsed() >= self.idle_ttl).count();
        // Dropped outside the lock: freeing an instance returns its memory to the engine.
        let dropped: Vec<Instance> = idle.drain(..stale).collect();
        drop(idle);
        dropped.len()
    }

    /// Instances waiting for a call.
    pub fn idle_instances(&self) -> usize {
        self.idle.lock().expect("idle list").len()
    }
}

/// What the guest's `batch-functions` export answers, called once at load.
async fn batch_functions(
    name: &str,
    instance: &mut Instance,
    export: &ComponentExportIndex,
) -> Result<Vec<String>, String> {
    let func = instance
        .raw
        .get_typed_func::<(), (Vec<String>,)>(&mut instance.store, export)
        .map_err(|e| format!("guest {name}: `batch-functions` is not the batch-action world's: {e}"))?;
    instance.store.set_epoch_deadline(ticks(Meter::first_check(instance.store.data().budget)));
    let meter = instance.store.data().meter.clone();
    meter.reset();
    let (names,) = Metered::new(func.call_async(&mut instance.store, ()), meter)
        .await
        .map_err(|e| format!("guest {name}: `batch-functions` trapped: {e}"))?;
    Ok(names)
}

/// The trap's cause first (a panic, the CPU or memory limit), then the
/// guest's backtrace, on one line.
fn trap_message(trap: &wasmtime::Error) -> String {
    let mut chain: Vec<String> = vec![trap.to_string()];
    let mut source = trap.source();
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let cause = chain.pop().unwrap_or_default();
    let context = chain.join(": ").replace('\n', " ");
    let context = context.split_whitespace().collect::<Vec<_>>().join(" ");
    if context.is_empty() {
        cause
    } else {
        format!("{cause} ({context})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{AnyPool, Pool};
    use crate::engine::{Engine, Origin};

    struct Nowhere;

    #[async_trait::async_trait]
    impl Pool for Nowhere {
        async fn ping(&self) -> Result<(), String> {
            Ok(())
        }
    }

    fn scope() -> Arc<Scope> {
        Arc::new(Scope {
            action: Arc::from("test"),
            backend: "sqlite",
            pool_name: "pool1".into(),
            pool: AnyPool::new(Nowhere),
            counters: Arc::default(),
        })
    }

    fn context(function: &str) -> types::Context {
        types::Context {
            function: function.into(),
            backend: "sqlite".into(),
            pool: "pool1".into(),
            settings: Vec::new(),
            options: "{}".into(),
        }
    }

    fn connected(clientid: &str) -> types::Event {
        crate::engine::convert::event(&crate::model::Event::ClientConnected(crate::model::Client {
            clientid: clientid.into(),
            username: None,
            peerhost: None,
            node: "n".into(),
            clean_start: true,
            persistent: false,
        }))
    }

    async fn misbehave() -> Guest {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/dist/misbehave.wasm");
        let bytes = std::fs::read(path).expect("guests/dist/misbehave.wasm (scripts/build-guests.sh)");
        let engine = Engine::new(&Limits::default()).unwrap();
        engine.load("misbehave", &bytes, Origin::Custom).await.unwrap().for_pool()
    }

    /// Each of `clients` through `call_batched` while every batch slot is
    /// held, then the slots freed: what each call answered, by the size of
    /// the batch that held it (the payload `batch` delivers), or its error.
    async fn batched_while_busy(guest: &Guest, function: &str, clients: &[String]) -> Vec<Result<usize, CallError>> {
        let batcher = Batcher::default();
        let mut busy = Vec::new();
        for _ in 0..crate::engine::batch::CALLS_IN_FLIGHT {
            busy.push(batcher.slot().await);
        }
        let ctx = context(function);
        let calls = clients.iter().map(|c| guest.call_batched(&batcher, scope(), &ctx, Arc::new(connected(c))));
        let calls = futures_util::future::join_all(calls);
        let free = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(busy);
        };
        let (answers, ()) = tokio::join!(calls, free);
        answers
            .into_iter()
            .map(|a| a.map(|o| String::from_utf8(o.deliver[0].payload.clone()).unwrap().parse().unwrap()))
            .collect()
    }

    /// A call is charged the CPU time it ran, not the time it waited for a
    /// core: on a machine kept busy by other threads, a call whose own work
    /// is a third of its budget still succeeds, though it takes longer than
    /// its budget on the clock. (A third: the meter promises at least half
    /// the budget in CPU time, since a busy machine may have the first half
    /// counted by the clock; at half, the same work, slowed by the load,
    /// failed about one run in ten.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_call_waiting_for_a_core_is_not_charged_for_the_wait() {
        let ctx = context("work");
        let rounds = "20000000";
        let calibrate = misbehave().await;
        calibrate.call(scope(), &ctx, &connected("1")).await.unwrap();
        let started = std::time::Instant::now();
        calibrate.call(scope(), &ctx, &connected(rounds)).await.expect("the work fits the default budget");
        let alone = started.elapsed();

        let limits = Limits { cpu_time: alone * 3, ..Limits::default() };
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/dist/misbehave.wasm");
        let engine = Engine::new(&limits).unwrap();
        let guest = engine.load("misbehave", &std::fs::read(path).unwrap(), Origin::Custom).await.unwrap().for_pool();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hogs: Vec<_> = (0..cores * 4)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::black_box(0u64);
                    }
                })
            })
            .collect();
        // The scheduler favours a thread that slept: let the hogs run first,
        // and try a few times until one call overruns its budget on the clock.
        std::thread::sleep(Duration::from_millis(200));
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let answer = guest.call(scope(), &ctx, &connected(rounds)).await;
            let took = started.elapsed();
            assert!(answer.is_ok(), "charged for waiting: {answer:?} (alone {alone:?}, loaded {took:?})");
            slowest = slowest.max(took);
            if took > limits.cpu_time {
                break;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        hogs.into_iter().for_each(|h| h.join().unwrap());
        assert!(slowest > limits.cpu_time, "the machine was not busy enough to show it: {slowest:?} against {alone:?}");
    }

    /// Events that arrive while the action's calls are busy go to the guest
    /// in one `handle-batch` call, and each gets its own answer.
    #[tokio::test]
    async fn events_waiting_for_a_busy_action_go_in_one_batch() {
        let guest = misbehave().await;
        assert!(guest.batches("batch") && !guest.batches("clock"));
        let clients: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        let answers = batched_while_busy(&guest, "batch", &clients).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(40))), "{answers:?}");
        // A lone event, with nothing busy, goes at once and alone.
        let answers = batched_while_busy(&guest, "batch", &clients[..1]).await;
        assert!(matches!(answers[..], [Ok(1)]), "{answers:?}");
    }

    /// A batch the guest traps on, or answers with too few results, is run
    /// again one event at a time: only the event that traps fails.
    #[tokio::test]
    async fn a_batch_that_traps_fails_only_the_event_that_traps() {
        let guest = misbehave().await;
        let mut clients: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        clients.insert(7, "trap".into());
        let answers = batched_while_busy(&guest, "batch", &clients).await;
        for (client, answer) in clients.iter().zip(&answers) {
            match (client.as_str(), answer) {
                ("trap", Err(CallError::Trap(why))) => assert!(why.contains("unreachable"), "{why}"),
                (_, Ok(1)) => {}
                _ => panic!("{client}: {answer:?}"),
            }
        }
        let answers = batched_while_busy(&guest, "short", &clients[..5]).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(1))), "{answers:?}");
    }

    /// Instances a burst left idle are dropped once they have waited longer
    /// than the idle time; the one in use stays.
    #[tokio::test]
    async fn idle_instances_are_dropped_after_the_idle_time() {
        let mut guest = misbehave().await;
        guest.idle_ttl = Duration::from_millis(200);
        for _ in 0..8 {
            let instance = guest.instantiate().await.unwrap();
            guest.idle.lock().unwrap().push(instance);
        }
        assert_eq!(guest.idle_instances(), 8);

        let (scope, ctx, event) = (scope(), context("clock"), connected("c"));
        // Within the idle time: every instance is kept.
        guest.call(scope.clone(), &ctx, &event).await.unwrap();
        assert_eq!(guest.idle_instances(), 8);
        // Past it: the call's own instance goes back, the seven it did not need go.
        tokio::time::sleep(Duration::from_millis(300)).await;
        guest.call(scope, &ctx, &event).await.unwrap();
        assert_eq!(guest.idle_instances(), 1);
    }

    /// With no call coming, the timer's trim drops them all the same.
    #[tokio::test]
    async fn idle_instances_are_trimmed_without_a_call() {
        let mut guest = misbehave().await;
        guest.idle_ttl = Duration::from_millis(200);
        for _ in 0..4 {
            let instance = guest.instantiate().await.unwrap();
            guest.idle.lock().unwrap().push(instance);
        }
        assert_eq!(guest.trim(), 0, "none has waited long enough");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(guest.trim(), 4);
        assert_eq!(guest.idle_instances(), 0);
    }
}
