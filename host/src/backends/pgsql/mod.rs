//! PostgreSQL: the seed's `backend.pgsql.*`, and TimescaleDB's
//! `backend.timescale.*` (the same server, the same keys), over sqlx.

pub mod config;
pub mod operations;
pub mod pool;
