//! OpenTSDB: a pool posts data points to `/api/put` with the seed's
//! `summary`, `details`, `sync` and `sync_timeout`, at most
//! `max_batch_size` a request, batching the points of concurrent calls
//! (`pool.rs`); `config.rs` holds its keys and `operations.rs` the plain
//! functions the host interface calls.

pub mod config;
pub mod interface;
pub mod operations;
pub mod pool;

pub use pool::OpentsdbPool;

use async_trait::async_trait;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use crate::config::ConfigError;

/// `backend.opentsdb.*`.
pub struct Opentsdb;

#[async_trait]
impl Backend for Opentsdb {
    fn name(&self) -> &'static str {
        "opentsdb"
    }

    fn backend_keys(&self) -> &'static [&'static str] {
        &["max_returned_count", "time_range", "template"]
    }

    fn stock_guest(&self) -> &'static str {
        "tsdb"
    }

    fn template(&self) -> Option<super::registry::TemplateCheck> {
        Some(|text| cistern_template::opentsdb::parse(text).map(drop))
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        Ok(AnyPool::new(pool::connect(cx.entry)?))
    }
}

#[async_trait]
impl super::Pool for OpentsdbPool {
    async fn ping(&self) -> Result<(), String> {
        operations::ping(self).await
    }
}
