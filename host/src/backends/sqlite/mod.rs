//! SQLite, the embedded default store: no server, one file.
//!
//! One connection runs every statement. The statements that queue up while
//! it works run together in one transaction (group commit): a commit costs
//! far more than an insert, so under many publishers its cost is shared.
//! One that fails does not take its neighbours down (the group is then run
//! again with a savepoint for each statement), and every caller hears back
//! only once its transaction is committed.

pub mod config;
mod guard;
pub mod operations;
pub mod pool;
mod writer;

use async_trait::async_trait;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use super::sql::SqlPool;
use crate::config::ConfigError;

/// `backend.sqlite.*`.
pub struct Sqlite;

#[async_trait]
impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn stock_guest(&self) -> &'static str {
        "sql"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        Ok(AnyPool::new(SqlPool::Sqlite(pool::connect(cx.entry, cx.base_dir, cx.check_only).await?)))
    }
}
