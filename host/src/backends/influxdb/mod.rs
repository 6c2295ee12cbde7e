//! InfluxDB: a pool writes line protocol over UDP (the seed's way) or HTTP
//! `/write` (ours: only HTTP says that a point was stored), batching the
//! points of concurrent calls (`pool.rs`); `config.rs` holds its keys and
//! `operations.rs` the plain functions the host interface calls.

pub mod config;
pub mod interface;
pub mod operations;
pub mod pool;

pub use pool::InfluxPool;

use async_trait::async_trait;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use crate::config::ConfigError;

/// `backend.influxdb.*`.
pub struct Influxdb;

#[async_trait]
impl Backend for Influxdb {
    fn name(&self) -> &'static str {
        "influxdb"
    }

    fn backend_keys(&self) -> &'static [&'static str] {
        &["max_returned_count", "time_range", "template"]
    }

    fn stock_guest(&self) -> &'static str {
        "tsdb"
    }

    fn template(&self) -> Option<super::registry::TemplateCheck> {
        Some(|text| cistern_template::influxdb::parse(text).map(drop))
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        Ok(AnyPool::new(pool::connect(cx.entry)?))
    }
}

#[async_trait]
impl super::Pool for InfluxPool {
    async fn ping(&self) -> Result<(), String> {
        operations::ping(self).await
    }

    fn guest_settings(&self) -> Vec<(String, String)> {
        self.settings()
    }
}
