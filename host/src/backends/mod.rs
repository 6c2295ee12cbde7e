//! The databases: one folder per database with the same files (`config.rs`
//! the typed pool keys, `pool.rs` connecting, `operations.rs` the plain async
//! functions the host interfaces call), and [`Pools`], every pool the
//! configuration names, owned by the host. Guests never see a connection or
//! a credential, only a pool's name.

pub mod batch;
pub mod dynamo;
pub mod influxdb;
pub mod mysql;
pub mod opentsdb;
pub mod pgsql;
pub mod pool;
pub mod redis;
pub mod registry;
pub mod sql;
pub mod sqlite;

use crate::brokers::ControlSlot;
use crate::config::{BackendConfig, BackendKind, Config, ConfigError, PoolEntry};
use std::collections::HashMap;

pub use self::redis::RedisPool;
pub use sql::{SqlError, SqlPool, SqlValue};

/// A pool's identity: pool names repeat across databases (`pool1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub backend: BackendKind,
    pub name: String,
}

impl std::fmt::Display for PoolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.backend, self.name)
    }
}

/// A built pool of any database, with the keys it was built from, so a
/// reload keeps a pool whose keys did not change (and its connections).
#[derive(Clone)]
struct Built {
    keys: Vec<(String, String)>,
    pool: AnyPool,
}

#[derive(Clone)]
pub enum AnyPool {
    Sql(SqlPool),
    Redis(RedisPool),
    Influx(influxdb::InfluxPool),
    Opentsdb(opentsdb::OpentsdbPool),
    // BRIDGE until the registry refactor lands: a pool of the new kind.
    Dynamo(pool::AnyPool),
}

impl AnyPool {
    /// A health check: the database answers a trivial request.
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            AnyPool::Sql(p) => p.query("SELECT 1", Vec::new()).await.map(drop).map_err(|e| e.to_string()),
            AnyPool::Redis(p) => {
                self::redis::operations::execute(p, &[b"PING".to_vec()]).await.map(drop).map_err(|e| e.to_string())
            }
            AnyPool::Influx(p) => influxdb::operations::ping(p).await,
            AnyPool::Opentsdb(p) => opentsdb::operations::ping(p).await,
            AnyPool::Dynamo(p) => p.ping().await,
        }
    }

    /// BRIDGE: the new-kind pool as its own type.
    pub fn downcast<P: pool::Pool>(&self) -> Option<&P> {
        match self {
            AnyPool::Dynamo(p) => p.downcast(),
            _ => None,
        }
    }

    /// What a stock guest needs to know of its pool, passed in its settings.
    pub fn guest_settings(&self) -> Vec<(String, String)> {
        match self {
            AnyPool::Sql(p) => vec![("dialect".to_string(), p.dialect().name().to_string())],
            AnyPool::Influx(p) => p.guest_settings(),
            AnyPool::Dynamo(p) => p.guest_settings(),
            AnyPool::Redis(_) | AnyPool::Opentsdb(_) => Vec::new(),
        }
    }
}

/// Every pool of a configuration.
#[derive(Clone, Default)]
pub struct Pools {
    pools: HashMap<PoolKey, Built>,
}

impl Pools {
    /// Builds every configured pool, reusing those of `previous` whose keys
    /// are unchanged. `control` is handed to pools that listen for requests
    /// to the broker (Redis's control channel).
    pub async fn build(config: &Config, previous: Option<&Pools>, control: &ControlSlot) -> Result<Pools, ConfigError> {
        let mut pools = HashMap::new();
        for backend in &config.backends {
            for entry in backend.pools.values() {
                let key = PoolKey { backend: backend.kind, name: entry.name.clone() };
                let mut keys: Vec<(String, String)> =
                    entry.options.iter().map(|(k, e)| (k.clone(), e.value.clone())).collect();
                keys.extend(backend_wide_keys(backend));
                if let Some(old) = previous.and_then(|p| p.pools.get(&key)).filter(|b| b.keys == keys) {
                    pools.insert(key, old.clone());
                    continue;
                }
                let pool = build_pool(backend, entry, config, control).await?;
                pools.insert(key, Built { keys, pool });
            }
        }
        Ok(Pools { pools })
    }

    /// A pool by its outbox lane's name, `backend.pool`.
    pub fn by_lane(&self, lane: &str) -> Option<AnyPool> {
        self.pools.iter().find(|(k, _)| k.to_string() == lane).map(|(_, b)| b.pool.clone())
    }

    /// The pool `name` of `backend`, shared.
    pub fn get(&self, backend: BackendKind, name: &str) -> Option<AnyPool> {
        let key = PoolKey { backend, name: name.to_string() };
        self.pools.get(&key).map(|b| b.pool.clone())
    }
}

/// Backend-wide keys a pool is built from too: a pool is rebuilt when they change.
fn backend_wide_keys(backend: &BackendConfig) -> Vec<(String, String)> {
    let names: &[&str] = match backend.kind {
        BackendKind::Redis => &["server", "sentinel", "msg.expired_after"],
        _ => &[],
    };
    names.iter().filter_map(|n| backend.option(n).map(|e| (format!("backend.{n}"), e.value.clone()))).collect()
}

async fn build_pool(
    backend: &BackendConfig,
    entry: &PoolEntry,
    config: &Config,
    control: &ControlSlot,
) -> Result<AnyPool, ConfigError> {
    match backend.kind {
        BackendKind::Sqlite => Ok(AnyPool::Sql(SqlPool::Sqlite(sqlite::pool::connect(entry, &config.base_dir).await?))),
        BackendKind::Mysql => Ok(AnyPool::Sql(SqlPool::Mysql(mysql::pool::connect(entry)?))),
        // TimescaleDB is PostgreSQL with an extension: the same pool, the same keys.
        BackendKind::Pgsql | BackendKind::Timescale => {
            Ok(AnyPool::Sql(SqlPool::Postgres(pgsql::pool::connect(backend.kind, entry, &config.base_dir)?)))
        }
        // Boxed: redis-rs's connection futures are deep, and would otherwise
        // nest inside every future that builds a configuration.
        BackendKind::Redis => Ok(AnyPool::Redis(Box::pin(self::redis::pool::connect(entry, backend, control)).await?)),
        BackendKind::Influxdb => Ok(AnyPool::Influx(influxdb::pool::connect(entry)?)),
        BackendKind::Opentsdb => Ok(AnyPool::Opentsdb(opentsdb::pool::connect(entry)?)),
        BackendKind::Dynamo => {
            use registry::Backend;
            let cx = registry::Connect { entry, backend, base_dir: &config.base_dir, control };
            Ok(AnyPool::Dynamo(dynamo::Dynamo.connect(cx).await?))
        }
        other => Err(ConfigError::at(
            &entry.at,
            format!("the {other} backend is not available in this version of cistern yet"),
        )),
    }
}
