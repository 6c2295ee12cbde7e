//! The databases: one folder per database with the same files (`config.rs`
//! the typed pool keys, `pool.rs` connecting, `operations.rs` the plain async
//! functions the host interfaces call), and [`Pools`], every pool the
//! configuration names, owned by the host. Guests never see a connection or
//! a credential, only a pool's name.

pub mod mysql;
pub mod pgsql;
pub mod sql;
pub mod sqlite;

use crate::config::{BackendKind, Config, ConfigError, PoolEntry};
use std::collections::HashMap;

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
}

/// Every pool of a configuration.
#[derive(Clone, Default)]
pub struct Pools {
    pools: HashMap<PoolKey, Built>,
}

impl Pools {
    /// Builds every configured pool, reusing those of `previous` whose keys are unchanged.
    pub async fn build(config: &Config, previous: Option<&Pools>) -> Result<Pools, ConfigError> {
        let mut pools = HashMap::new();
        for backend in &config.backends {
            for entry in backend.pools.values() {
                let key = PoolKey { backend: backend.kind, name: entry.name.clone() };
                let keys: Vec<(String, String)> =
                    entry.options.iter().map(|(k, e)| (k.clone(), e.value.clone())).collect();
                if let Some(old) = previous.and_then(|p| p.pools.get(&key)).filter(|b| b.keys == keys) {
                    pools.insert(key, old.clone());
                    continue;
                }
                let pool = build_pool(backend.kind, entry, config).await?;
                pools.insert(key, Built { keys, pool });
            }
        }
        Ok(Pools { pools })
    }

    /// The pool `name` of `backend`, shared.
    pub fn get(&self, backend: BackendKind, name: &str) -> Option<AnyPool> {
        let key = PoolKey { backend, name: name.to_string() };
        self.pools.get(&key).map(|b| b.pool.clone())
    }
}

async fn build_pool(kind: BackendKind, entry: &PoolEntry, config: &Config) -> Result<AnyPool, ConfigError> {
    match kind {
        BackendKind::Sqlite => Ok(AnyPool::Sql(SqlPool::Sqlite(sqlite::pool::connect(entry, &config.base_dir).await?))),
        BackendKind::Mysql => Ok(AnyPool::Sql(SqlPool::Mysql(mysql::pool::connect(entry)?))),
        // TimescaleDB is PostgreSQL with an extension: the same pool, the same keys.
        BackendKind::Pgsql | BackendKind::Timescale => {
            Ok(AnyPool::Sql(SqlPool::Postgres(pgsql::pool::connect(kind, entry, &config.base_dir)?)))
        }
        other => Err(ConfigError::at(
            &entry.at,
            format!("the {other} backend is not available in this version of cistern yet"),
        )),
    }
}
