//! Redis: pools of multiplexed connections that reconnect by themselves
//! (`pool.rs`), the commands guests and raw actions run (`operations.rs`),
//! and the control channel a pool may listen on (`channel.rs`).

pub mod channel;
pub mod config;
pub mod operations;
pub mod pool;

pub use pool::RedisPool;

/// The most nodes one reply may hold (an array counts as one, and so does
/// each of its elements); a guest pages past it (SCAN, LIMIT).
pub const MAX_REPLY_NODES: usize = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The server could not be reached; a later call may succeed.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The server refused the command.
    #[error("{0}")]
    Command(String),
    #[error("the reply has more than {MAX_REPLY_NODES} values; page it (SCAN, LIMIT)")]
    TooLarge,
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
