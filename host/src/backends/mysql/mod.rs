//! MySQL (and MariaDB): the seed's `backend.mysql.*`, over sqlx.

pub mod config;
pub mod operations;
pub mod pool;
