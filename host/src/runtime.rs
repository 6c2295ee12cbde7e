//! The runtime: the broker-neutral entry point. A broker adapter hands it
//! events and applies the outcome to that event's client.
//!
//! What it runs is a [`Loaded`] configuration (router, pools, guests), built
//! and checked whole, and swapped in atomically on reload: a call in flight
//! finishes on the configuration it started with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;

use crate::actions::{Action, ActionKind};
use crate::backends::{AnyPool, Pools};
use crate::config::{ActionSpec, BackendConfig, Config, ConfigError, HookConfig};
use crate::control::ControlSlot;
use crate::delivery::{self, Ran};
use crate::engine::bindings::types;
use crate::engine::{Engine, Guest, Origin, Scope};
use crate::message_id::{IdClock, MessageIds};
use crate::metrics::Metrics;
use crate::model::{Event, Outcome};
use crate::outbox::Outbox;
use crate::router::Router;
use crate::stock;

pub struct Runtime {
    current: ArcSwap<Loaded>,
    config_path: Option<PathBuf>,
    reloading: tokio::sync::Mutex<()>,
    pub ids: MessageIds,
    pub metrics: Arc<Metrics>,
    /// The broker adapter's control, once one is attached.
    pub control: ControlSlot,
    /// Where writes wait while their database is away.
    pub outbox: Arc<Outbox>,
    this: Weak<Runtime>,
    /// Events being handled now, for a shutdown that lets them finish.
    in_flight: std::sync::atomic::AtomicUsize,
    settled: tokio::sync::Notify,
    /// Where the last message id's microsecond is kept across restarts.
    id_clock: Arc<IdClock>,
}

/// One configuration, ready to run.
pub struct Loaded {
    pub config: Config,
    router: Router,
    pools: Pools,
    engine: Arc<Engine>,
    guests: HashMap<String, Arc<Guest>>,
    /// Every action by its configuration key, for replays from the outbox.
    by_name: HashMap<Arc<str>, Arc<Action>>,
}

impl Runtime {
    /// Loads the configuration at `path` and everything it needs.
    pub async fn load(path: &Path) -> Result<Arc<Runtime>, ConfigError> {
        let config = Config::load(path)?;
        Runtime::with_config(config, Some(path.to_path_buf())).await
    }

    /// A runtime for a configuration built in memory (`config_path` for
    /// reloads). Opens the outbox (`cistern.outbox.dir`) and starts replaying
    /// what an earlier run left in it.
    pub async fn with_config(config: Config, config_path: Option<PathBuf>) -> Result<Arc<Runtime>, ConfigError> {
        let metrics = Arc::new(Metrics::default());
        let ids = MessageIds::new(&config.cistern.node);
        let control = ControlSlot::default();
        let settings = &config.cistern.outbox;
        let outbox =
            Outbox::open(&settings.dir, settings.max_bytes).map_err(|e| top_level_error(&config, e.to_string()))?;
        let id_clock = Arc::new(IdClock::new(&settings.dir));
        ids.resume_after(id_clock.read().map_err(|e| top_level_error(&config, e))?);
        let loaded = Loaded::build(config, None, &metrics, &control, false).await?;
        let runtime = Arc::new_cyclic(|this| Runtime {
            current: ArcSwap::from_pointee(loaded),
            config_path,
            reloading: tokio::sync::Mutex::new(()),
            ids,
            metrics,
            control,
            outbox: Arc::new(outbox),
            this: this.clone(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
            id_clock: id_clock.clone(),
        });
        for lane in runtime.outbox.lanes() {
            for (action, n) in lane.per_action() {
                runtime.metrics.action(&action).calls.fetch_add(n, Ordering::Relaxed);
            }
            delivery::ensure_drainer(&runtime, &lane);
        }
        tokio::spawn(keep_id_clock(runtime.weak(), id_clock));
        tokio::spawn(trim_idle_instances(runtime.weak()));
        Ok(runtime)
    }

    /// Keeps the last message id's microsecond for the next start (see
    /// [`crate::message_id`]); for a stop, after the last event.
    pub async fn keep_id_clock(&self) {
        keep_last_id(&self.id_clock, self.ids.last_micros()).await;
    }

    /// Checks a configuration whole, as loading it would, with no side
    /// effect on the outbox.
    pub async fn check(path: &Path) -> Result<(), ConfigError> {
        let config = Config::load(path)?;
        Loaded::build(config, None, &Metrics::default(), &ControlSlot::default(), true).await.map(drop)
    }

    /// Waits until no event is being handled (each either stored, deferred
    /// or refused), at most `bound`; whether it got there.
    pub async fn settle(&self, bound: std::time::Duration) -> bool {
        let wait = async {
            loop {
                let settled = self.settled.notified();
                if self.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                settled.await;
            }
        };
        tokio::time::timeout(bound, wait).await.is_ok()
    }

    pub(crate) fn weak(&self) -> Weak<Runtime> {
        self.this.clone()
    }

    /// The configuration running now.
    pub fn loaded(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// Runs every action the event routes to, in configuration order, and
    /// merges what they return. A failing action is logged and counted and
    /// the others still run. Writes keep the delivery contract
    /// ([`crate::delivery`]): when one can neither be stored nor deferred,
    /// the outcome says so in `refused`.
    pub async fn handle(&self, event: Event) -> Outcome {
        let _in_flight = InFlight::enter(self);
        let point = event.hook_point();
        self.metrics.event(point);
        let loaded = self.current.load_full();
        let mut outcome = Outcome::default();
        // Made by the first guest action, for all of them; raw actions need none.
        let mut wit_event = None;
        for action in loaded.router.actions(point, event.topic()) {
            action.counters.calls.fetch_add(1, Ordering::Relaxed);
            match delivery::run(self, &loaded, action, &event, &mut wit_event).await {
                Ran::Done(o) => outcome.merge(o),
                Ran::Deferred | Ran::Failed => {}
                Ran::Refused(why) => outcome.refused = Some(why),
            }
        }
        outcome
    }

    /// The next page of a paged read ([`Outcome::more`]). A reload that
    /// dropped the action, or a read that fails, ends the fetch: what was not
    /// delivered stays stored, for the client's next subscription.
    pub async fn next_page(&self, page: &crate::model::NextPage) -> Outcome {
        let _in_flight = InFlight::enter(self);
        let loaded = self.current.load_full();
        let Some(action) = loaded.action_named(&page.action) else {
            tracing::info!(action = %page.action, "a paged fetch ends: its action is no longer configured");
            return Outcome::default();
        };
        match delivery::read(self, &loaded, &action, &page.event, &mut None, Some(page.after.clone())).await {
            Ran::Done(outcome) => outcome,
            Ran::Deferred | Ran::Failed | Ran::Refused(_) => Outcome::default(),
        }
    }

    /// Whether any action of the running configuration takes this hook on this topic.
    pub fn handles(&self, point: crate::model::HookPoint, topic: &str) -> bool {
        self.current.load().router.actions(point, Some(topic)).next().is_some()
    }

    /// Whether a client's publishes on `topic` may be stored several at a
    /// time: every action they meet (on `message.publish`, and on
    /// `message.offline` for the sessions they go to) keeps each client's
    /// writes in the order they came when several are in flight.
    pub fn publishes_may_overlap(&self, topic: &str) -> bool {
        use crate::model::HookPoint;
        let loaded = self.current.load();
        let router = &loaded.router;
        [HookPoint::MessagePublish, HookPoint::MessageOffline]
            .into_iter()
            .all(|point| router.actions(point, Some(topic)).all(|action| action.keeps_client_order()))
    }

    /// Reads the configuration again and swaps it in if it is whole and
    /// valid; on any error the running one stays.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.config_path else { return Ok(()) };
        let _one_at_a_time = self.reloading.lock().await;
        let result = async {
            let config = Config::load(path)?;
            let current = self.current.load_full();
            if config.cistern.listener != current.config.cistern.listener {
                tracing::warn!("cistern.listener.tcp changed; the listener moves only on restart");
            }
            if config.cistern.publishes_in_flight != current.config.cistern.publishes_in_flight {
                tracing::warn!("cistern.mqtt.publishes_in_flight changed; it takes effect only on restart");
            }
            if config.cistern.outbox.dir != current.config.cistern.outbox.dir
                || config.cistern.outbox.max_bytes != current.config.cistern.outbox.max_bytes
            {
                tracing::warn!("cistern.outbox.dir and max_bytes take effect only on restart");
            }
            Loaded::build(config, Some(&current), &self.metrics, &self.control, false).await
        }
        .await;
        match result {
            Ok(loaded) => {
                self.current.store(Arc::new(loaded));
                self.metrics.reloaded();
                Ok(())
            }
            Err(e) => {
                self.metrics.reload_failed(&e);
                Err(e)
            }
        }
    }

    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }
}

/// Counts an event in flight while it is handled.
struct InFlight<'a>(&'a Runtime);

impl<'a> InFlight<'a> {
    fn enter(rt: &'a Runtime) -> Self {
        rt.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(rt)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

impl Loaded {
    /// Where this configuration routes events.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// A pool of this configuration, by backend and name.
    pub fn pool(&self, backend: crate::config::BackendKind, name: &str) -> Option<crate::backends::AnyPool> {
        self.pools.get(backend, name)
    }

    /// A pool of this configuration as its own type (`SqlPool`, `RedisPool`,
    /// ...), by backend and pool name, for tests and benchmarks.
    pub fn pool_as<P: crate::backends::Pool + Clone>(&self, backend: &str, name: &str) -> Option<P> {
        let kind = crate::config::BackendKind::from_config_name(backend)?;
        self.pools.get(kind, name)?.downcast::<P>().cloned()
    }

    /// A pool by its outbox lane's name, `backend.pool`.
    pub fn pool_by_lane(&self, lane: &str) -> Option<AnyPool> {
        self.pools.by_lane(lane)
    }

    /// An action by its configuration key.
    pub fn action_named(&self, name: &str) -> Option<Arc<Action>> {
        self.by_name.get(name).cloned()
    }

    async fn build(
        config: Config,
        previous: Option<&Loaded>,
        metrics: &Metrics,
        control: &ControlSlot,
        check_only: bool,
    ) -> Result<Loaded, ConfigError> {
        let limits = &config.cistern.limits;
        let engine = match previous {
            Some(p) if p.engine.limits() == limits => p.engine.clone(),
            _ => Arc::new(Engine::new(limits).map_err(|e| top_level_error(&config, e.to_string()))?),
        };
        let pools = Pools::build(&config, previous.map(|p| &p.pools), control, check_only).await?;
        let mut loaded = Loaded {
            router: Router::default(),
            pools,
            engine,
            guests: HashMap::new(),
            by_name: HashMap::new(),
            config: Config::clone(&config),
        };
        let reusable = previous.filter(|p| Arc::ptr_eq(&p.engine, &loaded.engine));
        for (backend, hook) in config.hooks() {
            let action = Arc::new(loaded.action(backend, hook, reusable, metrics).await?);
            loaded.by_name.insert(action.name.clone(), action.clone());
            loaded.router.add(hook.point, hook.topic.clone(), action);
        }
        Ok(loaded)
    }

    async fn action(
        &mut self,
        backend: &BackendConfig,
        hook: &HookConfig,
        previous: Option<&Loaded>,
        metrics: &Metrics,
    ) -> Result<Action, ConfigError> {
        let name: Arc<str> = Arc::from(hook.key.as_str());
        let err = |m: String| ConfigError::at(&hook.at, m);
        let pool = self
            .pools
            .get(backend.kind, &hook.pool)
            .ok_or_else(|| err(format!("pool `{}` of {} is not available", hook.pool, backend.kind)))?;
        let lane: Arc<str> =
            Arc::from(crate::backends::PoolKey { backend: backend.kind, name: hook.pool.clone() }.to_string());
        // Raw statements and commands store; a guest function says what it does.
        let mut writes = true;
        let kind = match &hook.action {
            ActionSpec::Function { module, function } => {
                let guest = self.guest(module.as_deref(), backend, hook, &lane, previous).await?;
                writes = check_function(&guest, function, hook).map_err(err)?;
                let mut settings = settings(backend, hook);
                settings.extend(pool.guest_settings());
                if module.is_none() {
                    if let Some(template) = crate::templates::for_stock_function(backend, hook, &self.config)? {
                        settings.push(("template".to_string(), template));
                    }
                }
                let ctx = types::Context {
                    function: function.clone(),
                    backend: backend.kind.name().to_string(),
                    pool: hook.pool.clone(),
                    settings,
                    options: hook.json.clone(),
                };
                let batcher = guest.batches(function).then(Box::default);
                let mut replay_ctx = Box::new(ctx.clone());
                replay_ctx.settings.push((crate::actions::REPLAY_SETTING.to_string(), "true".to_string()));
                let scope = Arc::new(Scope {
                    action: name.clone(),
                    backend: backend.kind.name(),
                    pool_name: hook.pool.clone(),
                    pool,
                    counters: metrics.action(&name),
                });
                ActionKind::Guest { guest, ctx, replay_ctx, scope, batcher }
            }
            raw => match pool.raw_action(raw, hook.point) {
                Some(compiled) => ActionKind::Raw(compiled.map_err(err)?),
                None => return Err(err(raw.not_for(backend.kind.name()))),
            },
        };
        Ok(Action { counters: metrics.action(&name), name, at: hook.at.clone(), kind, lane, writes })
    }

    /// The guest an action on `lane` (its pool) calls: the backend's stock
    /// guest, or a custom module from `cistern.guests.dir`, with the pool's
    /// own instances ([`Guest::for_pool`]). Each is compiled once per
    /// configuration; both the compiled guest and each pool's instances are
    /// kept from the previous configuration when its bytes are unchanged.
    async fn guest(
        &mut self,
        module: Option<&str>,
        backend: &BackendConfig,
        hook: &HookConfig,
        lane: &str,
        previous: Option<&Loaded>,
    ) -> Result<Arc<Guest>, ConfigError> {
        let (key, compiled) = self.compiled(module, backend, hook, previous).await?;
        let key = format!("{key}@{lane}");
        if let Some(g) = self.guests.get(&key) {
            return Ok(g.clone());
        }
        let runner = match previous.and_then(|p| p.guests.get(&key)).filter(|g| g.digest == compiled.digest) {
            Some(g) => g.clone(),
            None => Arc::new(compiled.for_pool()),
        };
        self.guests.insert(key, runner.clone());
        Ok(runner)
    }

    /// The compiled guest (`stock:<name>` or `module:<name>`) and its key.
    async fn compiled(
        &mut self,
        module: Option<&str>,
        backend: &BackendConfig,
        hook: &HookConfig,
        previous: Option<&Loaded>,
    ) -> Result<(String, Arc<Guest>), ConfigError> {
        let err = |m: String| ConfigError::at(&hook.at, m);
        let (key, bytes): (String, std::borrow::Cow<'static, [u8]>) = match module {
            None => {
                let name = backend.kind.backend().stock_guest();
                let key = format!("stock:{name}");
                if let Some(g) = self.guests.get(&key) {
                    return Ok((key, g.clone()));
                }
                let bytes = stock::component(name).ok_or_else(|| {
                    err(format!(
                        "the stock guest `{name}` for {} is not built into this binary (it has: {}); \
                         run scripts/build-guests.sh, then rebuild cistern",
                        backend.kind,
                        stock::names().join(", ")
                    ))
                })?;
                (key, bytes.into())
            }
            Some(module) => {
                let key = format!("module:{module}");
                if let Some(g) = self.guests.get(&key) {
                    return Ok((key, g.clone()));
                }
                let dir = self.config.cistern.guests_dir.as_ref().ok_or_else(|| {
                    err(format!("module `{module}` needs cistern.guests.dir, the directory of custom guests"))
                })?;
                let path = dir.join(format!("{module}.wasm"));
                let bytes =
                    std::fs::read(&path).map_err(|e| err(format!("cannot read guest {}: {e}", path.display())))?;
                (key, bytes.into())
            }
        };
        let digest = crate::message_id::fnv1a(&bytes);
        let guest = match previous.and_then(|p| p.guests.get(&key)).filter(|g| g.digest == digest) {
            Some(g) => g.clone(),
            None => {
                let (origin, file) = match (module, &self.config.cistern.guests_dir) {
                    (Some(m), Some(dir)) => {
                        (Origin::Custom, format!(" (file {})", dir.join(format!("{m}.wasm")).display()))
                    }
                    _ => (Origin::Stock, String::new()),
                };
                self.engine.load(&key, &bytes, origin).await.map_err(|e| err(format!("{e}{file}")))?
            }
        };
        self.guests.insert(key.clone(), guest.clone());
        Ok((key, guest))
    }
}

/// The function must be one the guest offers, at a hook point it handles.
/// Whether it writes (rather than reads).
fn check_function(guest: &Guest, function: &str, hook: &HookConfig) -> Result<bool, String> {
    let Some(info) = guest.functions.iter().find(|f| f.name == function) else {
        return Err(format!(
            "unknown function `{function}`; guest {} has: {}",
            guest.name,
            guest.functions.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
        ));
    };
    if !info.hooks.is_empty() && !info.hooks.iter().any(|h| h == hook.point.name()) {
        return Err(format!("`{function}` handles {}, not {}", info.hooks.join(" or "), hook.point));
    }
    Ok(info.kind == types::FunctionKind::Write)
}

/// What the guest learns of its configuration besides the function and pool:
/// the offline options over the backend's defaults, and backend-wide keys.
fn settings(backend: &BackendConfig, hook: &HookConfig) -> Vec<(String, String)> {
    let mut s = vec![
        (
            "max_returned_count".to_string(),
            hook.offline.max_returned_count.map_or("infinity".to_string(), |n| n.to_string()),
        ),
        ("time_range".to_string(), hook.offline.time_range.map_or("infinity".to_string(), |d| d.as_secs().to_string())),
    ];
    for (key, entry) in &backend.options {
        if !matches!(key.as_str(), "max_returned_count" | "time_range" | "template") {
            s.push((key.clone(), entry.value.clone()));
        }
    }
    s
}

/// How often the last message id's microsecond is kept: ids of the last
/// moments before a crash may sort before the next run's if the clock also
/// stepped back while the broker was down (a stop keeps the very last).
const KEEP_ID_CLOCK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps the last message id's microsecond every [`KEEP_ID_CLOCK_EVERY`]
/// while it moves; ends with the runtime.
async fn keep_id_clock(runtime: Weak<Runtime>, clock: Arc<IdClock>) {
    let mut kept = 0;
    loop {
        tokio::time::sleep(KEEP_ID_CLOCK_EVERY).await;
        let Some(rt) = runtime.upgrade() else { return };
        let last = rt.ids.last_micros();
        drop(rt);
        if last != kept {
            keep_last_id(&clock, last).await;
            kept = last;
        }
    }
}

/// How often guests that no call comes to drop the instances a burst left.
const TRIM_IDLE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Drops idle guest instances past their idle time ([`Guest::trim`]), so a
/// pool that went quiet after a burst gives its memory back without waiting
/// for a call.
async fn trim_idle_instances(runtime: Weak<Runtime>) {
    loop {
        tokio::time::sleep(TRIM_IDLE_EVERY).await;
        let Some(rt) = runtime.upgrade() else { return };
        let loaded = rt.loaded();
        drop(rt);
        let dropped: usize = loaded.guests.values().map(|g| g.trim()).sum();
        if dropped > 0 {
            tracing::debug!(dropped, "idle guest instances dropped");
        }
    }
}

async fn keep_last_id(clock: &Arc<IdClock>, micros: u64) {
    let clock = clock.clone();
    match tokio::task::spawn_blocking(move || clock.keep(micros)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("cannot keep the message id clock: {e}"),
        Err(e) => tracing::warn!("cannot keep the message id clock: {e}"),
    }
}

fn top_level_error(config: &Config, message: String) -> ConfigError {
    let file = config.files.first().cloned().unwrap_or_else(|| PathBuf::from("(configuration)"));
    ConfigError::at(&crate::config::Location { file: Arc::from(file.as_path()), line: 0 }, message)
}
