//! SQLite, the embedded default store: no server, one file.
//!
//! One connection runs every statement. The statements that queue up while
//! it works run together in one transaction (group commit): a commit costs
//! far more than an insert, so under many publishers its cost is shared.
//! Each statement runs in a savepoint of its own, so one that fails does not
//! take its neighbours down, and every caller hears back only once its
//! transaction is committed.

pub mod config;
pub mod operations;
pub mod pool;
mod writer;
