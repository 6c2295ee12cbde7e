//! OpenTSDB: a pool posts data points to `/api/put` with the seed's
//! `summary`, `details`, `sync` and `sync_timeout`, at most
//! `max_batch_size` a request, batching the points of concurrent calls
//! (`pool.rs`); `config.rs` holds its keys and `operations.rs` the plain
//! functions the host interface calls.

pub mod config;
pub mod operations;
pub mod pool;

pub use pool::OpentsdbPool;
