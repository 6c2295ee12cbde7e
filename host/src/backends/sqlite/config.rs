//! `backend.sqlite.<pool>.*` keys.

use std::time::Duration;

use serde::Deserialize;

use crate::config::values;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// `database`: the file; made, with the seed's tables, when missing.
    /// Relative to the directory of the top configuration file.
    /// `:memory:` keeps the store in memory, gone when cistern stops.
    pub database: String,
    /// `pool_size`: accepted as the other databases take it. SQLite has one
    /// writer at a time, so one connection serves (see the module's header).
    #[serde(default, deserialize_with = "values::parsed")]
    #[allow(dead_code)]
    pub pool_size: u32,
    /// `busy_timeout`: how long to wait for another process writing the file.
    #[serde(default = "default_busy_timeout", deserialize_with = "values::duration")]
    pub busy_timeout: Duration,
    /// `statement_timeout` (ours): how long one action's statement may run
    /// before SQLite interrupts it and the action fails.
    #[serde(default = "default_statement_timeout", deserialize_with = "values::duration")]
    pub statement_timeout: Duration,
}

const fn default_statement_timeout() -> Duration {
    Duration::from_secs(10)
}

const fn default_busy_timeout() -> Duration {
    Duration::from_secs(5)
}
