//! SQLite, the embedded default store: no server, one file.

pub mod config;
pub mod operations;
pub mod pool;
