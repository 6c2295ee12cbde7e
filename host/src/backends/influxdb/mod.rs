//! InfluxDB: a pool writes line protocol over UDP (the seed's way) or HTTP
//! `/write` (ours: only HTTP says that a point was stored), batching the
//! points of concurrent calls (`pool.rs`); `config.rs` holds its keys and
//! `operations.rs` the plain functions the host interface calls.

pub mod config;
pub mod operations;
pub mod pool;

pub use pool::InfluxPool;
