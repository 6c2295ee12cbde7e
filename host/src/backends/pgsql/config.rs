//! `backend.pgsql.<pool>.*` and `backend.timescale.<pool>.*` keys, as the seed names them.

use serde::Deserialize;

use crate::config::values;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgConfig {
    /// `server`: `host:port` (port 5432 when left out).
    pub server: String,
    /// `pool_size`: connections.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    /// `username`
    #[serde(default = "default_username")]
    pub username: String,
    /// `password`
    #[serde(default)]
    pub password: String,
    /// `database`
    pub database: String,
    /// `ssl`: TLS to the server; with `cacertfile` the server's certificate is verified.
    #[serde(default, deserialize_with = "values::boolean")]
    pub ssl: bool,
    /// `keyfile`: the client key, for client certificate authentication.
    #[serde(default)]
    pub keyfile: Option<String>,
    /// `certfile`: the client certificate.
    #[serde(default)]
    pub certfile: Option<String>,
    /// `cacertfile`: the certificate authority the server's certificate must chain to.
    #[serde(default)]
    pub cacertfile: Option<String>,
}

const fn default_pool_size() -> u32 {
    8
}

fn default_username() -> String {
    "postgres".into()
}
