//! MongoDB (`backend.mongo.*`): a pool is one driver client on the pool's
//! database (`pool.rs`), built from the seed's keys (`config.rs`); the
//! stock guest `mongo` stores the seed's collections through the `mongo`
//! WIT interface (`interface.rs`), whose documents are plain JSON turned
//! into BSON here (`json.rs`) and run by `operations.rs`.

pub mod config;
pub mod interface;
pub mod json;
pub mod operations;
pub mod pool;

use async_trait::async_trait;

pub use pool::MongoPool;

use crate::backends::pool::AnyPool;
use crate::backends::registry::{Backend, Connect};
use crate::config::{ConfigError, HookConfig};

pub struct Mongo;

/// `backend.mongo.<key>` keys that are neither pools nor hooks.
const BACKEND_KEYS: &[&str] = &[
    "max_returned_count",
    "time_range",
    "topology.pool_size",
    "topology.max_overflow",
    "topology.overflow_ttl",
    "topology.overflow_check_period",
    "topology.local_threshold_ms",
    "topology.connect_timeout_ms",
    "topology.socket_timeout_ms",
    "topology.server_selection_timeout_ms",
    "topology.wait_queue_timeout_ms",
    "topology.heartbeat_frequency_ms",
    "topology.min_heartbeat_frequency_ms",
];

#[async_trait]
impl Backend for Mongo {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn backend_keys(&self) -> &'static [&'static str] {
        BACKEND_KEYS
    }

    fn pool_wide_keys(&self) -> &'static [&'static str] {
        config::TOPOLOGY_KEYS
    }

    fn hook_fields(&self) -> &'static [&'static str] {
        &["payload_format"]
    }

    /// `payload_format`: `mongo_json` or `plain_text`.
    fn check_hook(&self, hook: &HookConfig) -> Result<(), String> {
        match hook.extra.get("payload_format") {
            None => Ok(()),
            Some(serde_json::Value::String(f)) if f == "mongo_json" || f == "plain_text" => Ok(()),
            Some(other) => Err(format!("payload_format {other}: expected \"mongo_json\" or \"plain_text\"")),
        }
    }

    fn stock_guest(&self) -> &'static str {
        "mongo"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        pool::connect(cx).await
    }
}

#[cfg(test)]
mod tests {
    use super::config::TOPOLOGY_KEYS;
    use super::BACKEND_KEYS;

    /// Every topology key is a backend key, so none is read as a pool's.
    #[test]
    fn topology_keys_are_backend_keys() {
        assert!(TOPOLOGY_KEYS.iter().all(|k| BACKEND_KEYS.contains(k)));
    }
}
