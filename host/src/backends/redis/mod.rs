//! Redis: pools of multiplexed connections that reconnect by themselves
//! (`pool.rs`), the commands guests and raw actions run (`operations.rs`),
//! and the control channel a pool may listen on (`channel.rs`).

pub mod channel;
pub mod config;
pub mod interface;
pub mod operations;
pub mod policy;
pub mod pool;
pub mod raw;

pub use pool::RedisPool;

/// The most nodes one reply may hold (an array counts as one, and so does
/// each of its elements); a guest pages past it (SCAN, LIMIT).
pub const MAX_REPLY_NODES: usize = 1_000_000;

/// The most bytes of strings one reply (or one pipeline's replies) may hold
/// before it is handed to a guest ([`crate::backends::pool::MAX_RESULT_BYTES`]).
/// The driver reads a reply whole, so this guards the guest and what the
/// host copies on; one value alone is bounded by the server
/// (`proto-max-bulk-len`, and `client-output-buffer-limit normal`, which
/// the README suggests setting).
pub use crate::backends::pool::MAX_RESULT_BYTES as MAX_REPLY_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The server could not be reached; a later call may succeed.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The server refused the command.
    #[error("{0}")]
    Command(String),
    /// The reply is past [`MAX_REPLY_NODES`] or [`MAX_REPLY_BYTES`].
    #[error("{0}")]
    TooLarge(String),
}

impl From<redis::RedisError> for RedisError {
    fn from(e: redis::RedisError) -> Self {
        use redis::ErrorKind;
        let unreachable = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
            || matches!(
                e.kind(),
                ErrorKind::BusyLoadingError
                    | ErrorKind::TryAgain
                    | ErrorKind::MasterDown
                    | ErrorKind::ReadOnly
                    | ErrorKind::MasterNameNotFoundBySentinel
                    | ErrorKind::EmptySentinelList
            );
        if unreachable {
            RedisError::Unavailable(e.to_string())
        } else {
            RedisError::Command(e.to_string())
        }
    }
}

use async_trait::async_trait;

use super::pool::AnyPool;
use super::registry::{Backend, Connect};
use crate::config::ConfigError;

/// `backend.redis.*`.
pub struct Redis;

#[async_trait]
impl Backend for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn backend_keys(&self) -> &'static [&'static str] {
        &["server", "sentinel", "msg.expired_after", "queue.claim_time", "max_returned_count", "time_range"]
    }

    fn pool_wide_keys(&self) -> &'static [&'static str] {
        &["server", "sentinel", "msg.expired_after", "queue.claim_time"]
    }

    fn stock_guest(&self) -> &'static str {
        "redis"
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
        // Boxed: redis-rs's connection futures are deep, and would otherwise
        // nest inside every future that builds a configuration.
        Ok(AnyPool::new(Box::pin(pool::connect(cx.entry, cx.backend, cx.control, cx.check_only)).await?))
    }
}

#[async_trait]
impl super::Pool for RedisPool {
    async fn ping(&self) -> Result<(), String> {
        operations::execute(self, &[b"PING".to_vec()]).await.map(drop).map_err(|e| e.to_string())
    }

    fn raw_action(
        &self,
        spec: &crate::config::ActionSpec,
        point: crate::model::HookPoint,
    ) -> Option<Result<Box<dyn super::RawAction>, String>> {
        let crate::config::ActionSpec::Commands(commands) = spec else { return None };
        let compiled = commands.iter().map(|c| raw::compile(c, point)).collect::<Result<Vec<_>, _>>();
        Some(compiled.map(|commands| Box::new(raw::RawCommands { pool: self.clone(), commands }) as _))
    }
}
