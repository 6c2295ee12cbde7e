//! Cassandra: pools are `backend.ecql.<pool>.*` and hooks
//! `backend.cassa.hook.*`, as the seed spells them. A pool is one driver
//! session in its keyspace (`pool.rs`, keys in `config.rs`);
//! `operations.rs` runs prepared statements with bound values, `raw.rs` the
//! `{"cql": [...]}` actions and `interface.rs` the `cql` WIT interface. The
//! stock guest `cassandra` keeps the seed's tables (`sql/cassandra.cql`).

pub mod config;
mod interface;
pub mod operations;
pub mod pool;
pub mod raw;

use async_trait::async_trait;

pub use pool::CassaPool;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use crate::config::ConfigError;

pub struct Cassa;

#[async_trait]
impl Backend for Cassa {
    fn name(&self) -> &'static str {
        "cassa"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["ecql"]
    }

    fn stock_guest(&self) -> &'static str {
        "cassandra"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        // Nothing is opened here: the session opens on first use, so a
        // configuration check (`check_only`) touches no server either.
        let config = config::CassaConfig::load(cx.entry)?;
        Ok(AnyPool::new(pool::new(&cx.entry.name, config)))
    }
}
