//! SQLite, the embedded default store: no server, one file.
//!
//! One thread owns the connection and runs every statement, grouping the
//! statements that queue up while it works into one transaction (group
//! commit): a commit costs far more than an insert, so under many publishers
//! the cost of a commit is shared. Each statement runs in a savepoint of its
//! own, so one that fails does not take its neighbours down, and every
//! caller hears back only once its transaction is committed.

pub mod config;
pub mod operations;
pub mod pool;
mod writer;
