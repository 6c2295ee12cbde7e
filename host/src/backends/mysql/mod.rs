//! MySQL (and MariaDB): the seed's `backend.mysql.*`, over sqlx.

pub mod config;
pub mod operations;
pub mod pool;

use async_trait::async_trait;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use super::sql::SqlPool;
use crate::config::ConfigError;

/// `backend.mysql.*`.
pub struct Mysql;

#[async_trait]
impl Backend for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn stock_guest(&self) -> &'static str {
        "sql"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        Ok(AnyPool::new(SqlPool::Mysql(pool::connect(cx.entry, !cx.check_only)?)))
    }
}
