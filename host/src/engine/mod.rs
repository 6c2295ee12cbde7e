//! The wasm host: wasmtime with the component model, one compiled component
//! and `InstancePre` per guest, instances reused across calls, and the limits
//! every call runs under (guest CPU time by epoch interruption, a memory cap
//! per instance, an overall deadline). A guest that traps, loops or exhausts
//! its memory fails that one call; its instance is thrown away.

pub mod batch;
pub mod bindings;
pub mod convert;
mod guest;
mod imports;
mod state;
mod stdio;
mod wasi;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};

pub use batch::Batcher;
pub use guest::{CallError, Guest};
pub use imports::Origin;
pub use state::{host_work, HostState, Page, Scope};

use crate::config::Limits;

/// How often the epoch advances; guest CPU time is measured in these ticks.
pub const TICK: Duration = Duration::from_millis(5);

/// A wasmtime engine with our limits and every host interface linked.
pub struct Engine {
    engine: wasmtime::Engine,
    /// The contract's interfaces: all a stock guest gets.
    stock: Arc<Linker<HostState>>,
    /// The contract's interfaces and WASI, for custom guests.
    custom: Arc<Linker<HostState>>,
    limits: Limits,
    ticker: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(String);

impl Engine {
    pub fn new(limits: &Limits) -> Result<Engine, EngineError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // For profiling: /tmp/perf-<pid>.map names the guests' compiled functions for `perf report`.
        if std::env::var_os("CISTERN_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let mut pooling = wasmtime::PoolingAllocationConfig::default();
        // Room for every pool's instances of its guest (each pool has its
        // own, `Guest::for_pool`: 32 pools at the full `limits.instances`);
        // each component holds a few core instances (the module and the shims
        // the encoder adds). Slots only reserve address space until used.
        let slots = limits.instances.saturating_mul(32).clamp(64, 8192);
        pooling
            .total_component_instances(slots)
            .total_core_instances(slots * 4)
            .total_memories(slots)
            .total_tables(slots * 2)
            .total_stacks(slots)
            .max_memory_size(limits.memory as usize);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling));
        let engine = wasmtime::Engine::new(&config).map_err(|e| EngineError(format!("cannot start wasmtime: {e}")))?;

        let link = |with_wasi: bool| {
            let mut linker = Linker::new(&engine);
            bindings::Action::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
                .map_err(|e| EngineError(format!("cannot link host interfaces: {e}")))?;
            if with_wasi {
                wasi::add_to_linker(&mut linker).map_err(|e| EngineError(format!("cannot link WASI: {e}")))?;
            }
            Ok::<_, EngineError>(Arc::new(linker))
        };
        let (stock, custom) = (link(false)?, link(true)?);

        let ticker = Arc::new(AtomicBool::new(true));
        let (weak_engine, running) = (engine.weak(), ticker.clone());
        std::thread::Builder::new()
            .name("cistern-epoch".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch thread: {e}")))?;

        Ok(Engine { engine, stock, custom, limits: limits.clone(), ticker })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles a guest and checks it is a component of the `action` world
    /// that imports nothing its origin may not have.
    pub async fn load(&self, name: &str, bytes: &[u8], origin: Origin) -> Result<Arc<Guest>, EngineError> {
        let linker = match origin {
            Origin::Stock => self.stock.clone(),
            Origin::Custom => self.custom.clone(),
        };
        Guest::load(self.engine.clone(), linker, origin, self.limits.clone(), name, bytes)
            .await
            .map(Arc::new)
            .map_err(EngineError)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

/// Epoch ticks for a span of time, at least one.
pub fn ticks(span: Duration) -> u64 {
    (span.as_micros() / TICK.as_micros()).max(1) as u64
}
