//! A Redis pool: `pool_size` multiplexed connections, each a redis-rs
//! `ConnectionManager` (which reconnects by itself after a dropped
//! connection), and a keeper task that opens them when the server comes
//! late, checks them every second, says when the server goes and comes
//! back, and behind Sentinel follows the master when it moves.
//!
//! A server that is down at start does not stop cistern: the pool is built
//! empty, calls fail as unavailable, and the keeper connects when it can.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, ConnectionInfo, RedisConnectionInfo};

use super::config::{RedisConfig, Target};
use super::{channel, RedisError};
use crate::backends::reachability::Reachability;
use crate::config::{BackendConfig, ConfigError, PoolEntry};
use crate::control::ControlSlot;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a reply may take before the call fails as unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the keeper checks connected pools.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The keeper's retry delay while the server is away grows up to this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// A pool, shared by every action that names it. Cloning shares it.
#[derive(Clone)]
pub struct RedisPool {
    inner: Arc<Inner>,
    /// The keeper and the control channel run as long as a clone of the pool lives.
    _tasks: Arc<Tasks>,
}

pub(super) struct Inner {
    /// `redis.<pool>`, for logs and errors.
    pub(super) name: String,
    target: Target,
    /// For a plain server; behind Sentinel, each connection asks for the master.
    client: Option<Client>,
    sentinel: Option<tokio::sync::Mutex<SentinelClient>>,
    slots: Vec<ArcSwapOption<ConnectionManager>>,
    next: AtomicUsize,
    /// Why the pool is not connected, while it is not.
    reachability: Reachability,
}

struct Tasks(Vec<tokio::task::AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisPool({} at {})", self.inner.name, self.inner.target)
    }
}

/// Builds a pool from its keys and connects it if the server answers; if
/// not, says so and leaves the keeper to connect later. A pool with a
/// `channel` starts listening on it.
pub async fn connect(
    entry: &PoolEntry,
    backend: &BackendConfig,
    control: &ControlSlot,
    check_only: bool,
) -> Result<RedisPool, ConfigError> {
    let (config, target) = RedisConfig::load(entry, backend)?;
    super::config::expired_after(backend)?;
    super::config::claim_time(backend)?;
    let name = format!("redis.{}", entry.name);
    let redis_info = RedisConnectionInfo {
        db: config.database,
        password: config.password.clone(),
        username: config.username.clone(),
        ..RedisConnectionInfo::default()
    };
    let (client, sentinel) = match &target {
        Target::Server { host, port } => {
            let info = ConnectionInfo { addr: ConnectionAddr::Tcp(host.clone(), *port), redis: redis_info };
            let client = Client::open(info).map_err(|e| ConfigError::at(&entry.at, format!("pool {name}: {e}")))?;
            (Some(client), None)
        }
        Target::Sentinel { sentinels, master } => {
            let addrs = sentinels.iter().map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
            let mut builder = SentinelClientBuilder::new(addrs, master.clone(), SentinelServerType::Master)
                .map_err(|e| ConfigError::at(&entry.at, format!("pool {name}: {e}")))?
                .set_client_to_redis_db(config.database);
            if let Some(p) = &config.password {
                builder = builder.set_client_to_redis_password(p.clone());
            }
            if let Some(u) = &config.username {
                builder = builder.set_client_to_redis_username(u.clone());
            }
            let sentinel = builder.build().map_err(|e| ConfigError::at(&entry.at, format!("pool {name}: {e}")))?;
            (None, Some(tokio::sync::Mutex::new(sentinel)))
        }
    };
    let inner = Arc::new(Inner {
        name,
        target,
        client,
        sentinel,
        slots: (0..config.pool_size).map(|_| ArcSwapOption::empty()).collect(),
        next: AtomicUsize::new(0),
        reachability: Reachability::down("not connected yet"),
    });

    if check_only {
        return Ok(RedisPool { inner, _tasks: Arc::new(Tasks(Vec::new())) });
    }
    match inner.check().await {
        Ok(()) => {
            tracing::info!(pool = %inner.name, server = %inner.target, connections = config.pool_size, "redis pool open");
            inner.reachability.set(None);
        }
        Err(e) => {
            tracing::warn!(
                "pool {} is not reachable yet ({}: {e}); cistern goes on without it, and connects when it comes",
                inner.name,
                inner.target
            );
            inner.reachability.set(Some(e.to_string()));
        }
    }
    let mut tasks = vec![tokio::spawn(keep(Arc::downgrade(&inner))).abort_handle()];
    if let Some(name) = config.channel {
        tasks.push(tokio::spawn(channel::listen(inner.clone(), name, control.clone())).abort_handle());
    }
    Ok(RedisPool { inner, _tasks: Arc::new(Tasks(tasks)) })
}

impl RedisPool {
    /// `redis.<pool>`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The pool's connections, in turn. A connection the keeper has not
    /// opened yet is passed over; with none open, the call is unavailable.
    pub(super) fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let slots = &self.inner.slots;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..slots.len() {
            if let Some(c) = &*slots[(start + i) % slots.len()].load() {
                return Ok(ConnectionManager::clone(c));
            }
        }
        let why = self.inner.reachability.why_down().unwrap_or_else(|| "not connected".into());
        Err(RedisError::Unavailable(format!(
            "pool {} is not connected to {}: {why}",
            self.inner.name, self.inner.target
        )))
    }
}

impl Inner {
    /// A client for the server, or for the master Sentinel names now.
    pub(super) async fn client(&self) -> Result<Client, redis::RedisError> {
        match (&self.client, &self.sentinel) {
            (Some(c), _) => Ok(c.clone()),
            (None, Some(s)) => {
                let ask = async { s.lock().await.async_get_client().await };
                tokio::time::timeout(CONNECT_TIMEOUT, ask).await.map_err(|_| timed_out("asking Sentinel"))?
            }
            (None, None) => unreachable!("a pool has a server or Sentinels"),
        }
    }

    async fn open(&self) -> Result<ConnectionManager, redis::RedisError> {
        let client = self.client().await?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            // Calls wait for a reconnection; keep that short, the keeper retries.
            .set_number_of_retries(1)
            .set_factor(50)
            .set_max_delay(200);
        let open = ConnectionManager::new_with_config(client, config);
        tokio::time::timeout(CONNECT_TIMEOUT * 2, open).await.map_err(|_| timed_out("connecting"))?
    }

    /// Checks what is open, and opens what is not: a PING for a plain
    /// server (which also makes a dropped connection reconnect while idle),
    /// ROLE behind Sentinel, where a connection to a master that went away
    /// or became a replica is opened again, through Sentinel, to wherever
    /// the master is now. Every connection is looked at each time; once
    /// opening one fails, the others wait for the next check. The first
    /// failure, if any, is the answer.
    async fn check(&self) -> Result<(), redis::RedisError> {
        let mut failed = None;
        let mut can_open = true;
        for slot in &self.slots {
            if let Some(con) = slot.load_full() {
                match self.probe(ConnectionManager::clone(&con)).await {
                    Ok(()) => continue,
                    Err(e) => {
                        failed.get_or_insert(e);
                        if self.sentinel.is_none() {
                            // The connection manager reconnects by itself.
                            continue;
                        }
                        slot.store(None);
                    }
                }
            }
            if can_open {
                match self.open().await {
                    Ok(con) => slot.store(Some(Arc::new(con))),
                    Err(e) => {
                        failed.get_or_insert(e);
                        can_open = false;
                    }
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn probe(&self, mut con: ConnectionManager) -> Result<(), redis::RedisError> {
        let probe = async {
            if self.sentinel.is_some() {
                let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut con).await?;
                if !matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
                    return Err(redis::RedisError::from((redis::ErrorKind::ReadOnly, "no longer the master")));
                }
                Ok(())
            } else {
                redis::cmd("PING").query_async::<()>(&mut con).await
            }
        };
        tokio::time::timeout(RESPONSE_TIMEOUT, probe).await.unwrap_or_else(|_| Err(timed_out("PING")))
    }

    /// Notes the outcome of a check, and says when the pool goes or comes back.
    fn note(&self, result: Result<(), redis::RedisError>) -> bool {
        self.reachability.note(&self.name, &self.target, result.map_err(|e| e.to_string()))
    }
}

/// The keeper: checks the pool every second while it is up, and retries
/// (sooner at first) while it is down. Ends when the pool is dropped.
async fn keep(pool: std::sync::Weak<Inner>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let wait = {
            let Some(inner) = pool.upgrade() else { return };
            let result = inner.check().await;
            if inner.note(result) {
                delay = Duration::from_millis(100);
                CHECK_EVERY
            } else {
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                delay
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn timed_out(what: &str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{what} timed out")))
}
