//! `backend.mysql.<pool>.*` keys, as the seed names them.

use serde::Deserialize;

use crate::config::values;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `server`: `host:port` (port 3306 when left out).
    pub server: String,
    /// `pool_size`: connections.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    /// `user`
    #[serde(default = "default_user")]
    pub user: String,
    /// `password`
    #[serde(default)]
    pub password: String,
    /// `database`
    pub database: String,
}

const fn default_pool_size() -> u32 {
    8
}

fn default_user() -> String {
    "root".into()
}
