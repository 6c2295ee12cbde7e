//! PostgreSQL: the seed's `backend.pgsql.*`, and TimescaleDB's
//! `backend.timescale.*` (the same server, the same keys), over sqlx.

pub mod config;
pub mod operations;
pub mod pool;

use async_trait::async_trait;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use super::sql::SqlPool;
use crate::config::ConfigError;

/// `backend.pgsql.*`.
pub struct Pgsql;

/// `backend.timescale.*`: PostgreSQL with an extension, the same pool and
/// keys, and a template file for `on_message_publish`.
pub struct Timescale;

#[async_trait]
impl Backend for Pgsql {
    fn name(&self) -> &'static str {
        "pgsql"
    }

    fn stock_guest(&self) -> &'static str {
        "sql"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        Ok(AnyPool::new(SqlPool::Postgres(pool::connect(self.name(), cx.entry, cx.base_dir, !cx.check_only)?)))
    }
}

#[async_trait]
impl Backend for Timescale {
    fn name(&self) -> &'static str {
        "timescale"
    }

    fn backend_keys(&self) -> &'static [&'static str] {
        &["max_returned_count", "time_range", "template"]
    }

    fn stock_guest(&self) -> &'static str {
        "sql"
    }

    fn template(&self) -> Option<super::registry::TemplateCheck> {
        Some(|text| cistern_template::timescale::parse(text).map(drop))
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        Ok(AnyPool::new(SqlPool::Postgres(pool::connect(self.name(), cx.entry, cx.base_dir, !cx.check_only)?)))
    }
}
