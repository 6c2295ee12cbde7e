//! One guest component: compiled once, instantiated from its `InstancePre`,
//! instances reused across calls and discarded after a trap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};

use super::bindings::{types, Action, ActionPre};
use super::imports::{self, Origin};
use super::state::{HostState, Scope};
use super::ticks;
use crate::config::Limits;

pub struct Guest {
    pub name: String,
    /// What the guest's `functions` export answered when it was loaded.
    pub functions: Vec<types::FunctionInfo>,
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
    /// When it last went back to the idle list (or was made).
    idle_since: Instant,
}

/// Why one call failed. Each fails that call only.
#[derive(Debug, thiserror::Error)]
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
        let running = Semaphore::new(limits.instances as usize);
        let mut guest = Guest {
            name: name.to_string(),
            functions: Vec::new(),
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
        instance.store.set_epoch_deadline(ticks(guest.limits.cpu_time));
        instance.store.data_mut().meter.started = std::time::Instant::now();
        let functions =
            tokio::time::timeout(guest.limits.call_timeout, instance.action.call_functions(&mut instance.store))
                .await
                .map_err(|_| format!("guest {name}: `functions` did not return in time"))?
                .map_err(|e| format!("guest {name}: `functions` trapped: {e}"))?;
        guest.functions = functions;
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
            let meter = &ctx.data().meter;
            let used = meter.guest_time();
            if used >= meter.budget {
                return Err(wasmtime::format_err!("the guest used more than its {:?} of CPU time", meter.budget));
            }
            Ok(UpdateDeadline::Yield(ticks(meter.budget - used)))
        });
        let action = self.pre.instantiate_async(&mut store).await.map_err(|e| e.to_string())?;
        Ok(Instance { store, action, idle_since: Instant::now() })
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
        let reused = self.idle.lock().expect("idle list").pop();
        let mut instance = match reused {
            Some(i) => i,
            None => self.instantiate().await.map_err(CallError::Instantiate)?,
        };
        instance.store.data_mut().begin(scope);
        instance.store.set_epoch_deadline(ticks(self.limits.cpu_time));
        let result = {
            let call = instance.action.call_handle(&mut instance.store, ctx, event);
            tokio::time::timeout(self.limits.call_timeout, call).await
        };
        match result {
            Err(_) => Err(CallError::Timeout(self.limits.call_timeout)),
            Ok(Err(trap)) => Err(CallError::Trap(trap_message(&trap))),
            Ok(Ok(answer)) => {
                instance.store.data_mut().end();
                self.park(instance);
                answer.map_err(CallError::Guest)
            }
        }
    }

    /// Puts an instance back on the idle list and drops those that have
    /// waited there longer than the idle time. The list is in order of use,
    /// so those are at its front: the ones a burst made and no call since needed.
    fn park(&self, mut instance: Instance) {
        instance.idle_since = Instant::now();
        let mut idle = self.idle.lock().expect("idle list");
        idle.push(instance);
        let stale = idle.iter().take_while(|i| i.idle_since.elapsed() >= self.idle_ttl).count();
        // Dropped outside the lock: freeing an instance returns its memory to the engine.
        let dropped: Vec<Instance> = idle.drain(..stale).collect();
        drop(idle);
        drop(dropped);
    }

    /// Instances waiting for a call.
    pub fn idle_instances(&self) -> usize {
        self.idle.lock().expect("idle list").len()
    }
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

    /// Instances a burst left idle are dropped once they have waited longer
    /// than the idle time; the one in use stays.
    #[tokio::test]
    async fn idle_instances_are_dropped_after_the_idle_time() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/dist/misbehave.wasm");
        let bytes = std::fs::read(path).expect("guests/dist/misbehave.wasm (scripts/build-guests.sh)");
        let engine = Engine::new(&Limits::default()).unwrap();
        let loaded = engine.load("misbehave", &bytes, Origin::Custom).await.unwrap();
        let mut guest = loaded.for_pool();
        guest.idle_ttl = Duration::from_millis(200);
        for _ in 0..8 {
            let instance = guest.instantiate().await.unwrap();
            guest.idle.lock().unwrap().push(instance);
        }
        assert_eq!(guest.idle_instances(), 8);

        let scope = Arc::new(Scope {
            action: Arc::from("test"),
            backend: "sqlite",
            pool_name: "pool1".into(),
            pool: AnyPool::new(Nowhere),
            counters: Arc::default(),
        });
        let ctx = types::Context {
            function: "clock".into(),
            backend: "sqlite".into(),
            pool: "pool1".into(),
            settings: Vec::new(),
            options: "{}".into(),
        };
        let event = crate::engine::convert::event(&crate::model::Event::ClientConnected(crate::model::Client {
            clientid: "c".into(),
            username: None,
            peerhost: None,
            node: "n".into(),
            clean_start: true,
            persistent: false,
        }));
        // Within the idle time: every instance is kept.
        guest.call(scope.clone(), &ctx, &event).await.unwrap();
        assert_eq!(guest.idle_instances(), 8);
        // Past it: the call's own instance goes back, the seven it did not need go.
        tokio::time::sleep(Duration::from_millis(300)).await;
        guest.call(scope, &ctx, &event).await.unwrap();
        assert_eq!(guest.idle_instances(), 1);
    }
}
