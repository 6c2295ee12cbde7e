//! DynamoDB (`backend.dynamo.*`): a pool is an SDK client on the configured
//! endpoint (`pool.rs`, keys in `config.rs`); `operations.rs` holds the item
//! operations and `interface.rs` the `dynamo` WIT interface over them. The
//! stock guest `dynamo` keeps the seed's tables (`sql/dynamodb/`).

pub mod config;
mod interface;
pub mod operations;
pub mod pool;

use async_trait::async_trait;

pub use pool::DynamoPool;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use crate::config::ConfigError;

pub struct Dynamo;

#[async_trait]
impl Backend for Dynamo {
    fn name(&self) -> &'static str {
        "dynamo"
    }

    fn backend_keys(&self) -> &'static [&'static str] {
        &["region", "max_returned_count", "time_range"]
    }

    fn pool_wide_keys(&self) -> &'static [&'static str] {
        &["region"]
    }

    fn stock_guest(&self) -> &'static str {
        "dynamo"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        let config = config::DynamoConfig::load(cx.entry, cx.backend)?;
        Ok(AnyPool::new(pool::connect(&cx.entry.name, &config)))
    }
}
