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
    /// `pool_size`: connections. SQLite serialises writers, so a few suffice.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    /// `busy_timeout`: how long a writer waits for another to finish.
    #[serde(default = "default_busy_timeout", deserialize_with = "values::duration")]
    pub busy_timeout: Duration,
}

const fn default_pool_size() -> u32 {
    4
}

const fn default_busy_timeout() -> Duration {
    Duration::from_secs(5)
}
