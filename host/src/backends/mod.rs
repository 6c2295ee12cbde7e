//! The databases. Each is one folder (`config.rs` its typed pool keys,
//! `pool.rs` connecting, `operations.rs` the plain async functions,
//! `interface.rs` its WIT host interface, `mod.rs` its [`registry::Backend`])
//! and one line in [`registry::BACKENDS`]; the rest of cistern knows a
//! database only through [`registry::Backend`] and [`pool::Pool`].
//! [`Pools`] holds every pool the configuration names, owned by the host:
//! guests never see a connection or a credential, only a pool's name.

pub mod batch;
pub mod cassa;
pub mod dynamo;
pub mod influxdb;
pub mod mongo;
pub mod mysql;
pub mod opentsdb;
pub mod pgsql;
pub mod pool;
pub mod reachability;
pub mod redis;
pub mod registry;
pub mod sql;
pub mod sqlite;

use crate::config::{BackendConfig, BackendKind, Config, ConfigError};
use crate::control::ControlSlot;
use std::collections::HashMap;

pub use self::redis::RedisPool;
pub use pool::{AnyPool, Pool, RawAction, RawError};
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

/// Every pool of a configuration.
#[derive(Clone, Default)]
pub struct Pools {
    pools: HashMap<PoolKey, Built>,
}

impl Pools {
    /// Builds every configured pool, reusing those of `previous` whose keys
    /// are unchanged. `control` is handed to pools that listen for requests
    /// to the broker (Redis's control channel).
    pub async fn build(
        config: &Config,
        previous: Option<&Pools>,
        control: &ControlSlot,
        check_only: bool,
    ) -> Result<Pools, ConfigError> {
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
                let connect = registry::Connect { entry, backend, base_dir: &config.base_dir, control, check_only };
                let pool = backend.kind.backend().connect(connect).await?;
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
    let names = backend.kind.backend().pool_wide_keys();
    names.iter().filter_map(|n| backend.option(n).map(|e| (format!("backend.{n}"), e.value.clone()))).collect()
}
