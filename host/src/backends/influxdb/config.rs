//! `backend.influxdb.<pool>.*` keys: the seed's (`server`, `pool_size`,
//! `set_timestamp`) and ours (`protocol` and HTTP's `database`,
//! `precision`, `username`, `password`; batching's `batch_size` and
//! `batch_time`).

use std::time::Duration;

use serde::Deserialize;

use crate::config::{values, ConfigError, PoolEntry, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// `server`: `host:port` of InfluxDB's UDP listener (8089 when left
    /// out), or with `protocol = http` of its HTTP API (8086 when left out).
    pub server: String,
    /// `pool_size`: batches in flight at once (HTTP requests, or UDP sends).
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    /// `set_timestamp`: a point whose template gives no `timestamp` gets the
    /// message's time (`true`, the default) or the server's (`false`).
    #[serde(default = "yes", deserialize_with = "values::boolean")]
    pub set_timestamp: bool,
    /// `protocol`: `udp` (the seed's, the default: nothing says a point was
    /// stored) or `http` (`POST /write`: a write is done when InfluxDB says so).
    #[serde(default)]
    pub protocol: Protocol,
    /// `database`: HTTP only, the database written to (`mqtt` by default);
    /// over UDP the listener's own `database` setting decides.
    #[serde(default = "default_database")]
    pub database: String,
    /// `precision`: HTTP only, the unit of the timestamps the template gives,
    /// `ns` (the default, as `$timestamp` is), `u`, `ms` or `s`.
    #[serde(default = "default_precision")]
    pub precision: String,
    /// `username`, `password`: HTTP only, sent with basic authentication.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// `batch_size`: a batch is sent once it holds this many points.
    #[serde(default = "default_batch_size", deserialize_with = "values::parsed")]
    pub batch_size: usize,
    /// `batch_time`: or once this long has passed since its first point
    /// (default 0: what has queued goes at once; see [`crate::backends::batch`]).
    #[serde(default = "default_batch_time", deserialize_with = "values::duration")]
    pub batch_time: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Udp,
    Http,
}

const fn default_pool_size() -> u32 {
    8
}

const fn yes() -> bool {
    true
}

fn default_database() -> String {
    "mqtt".into()
}

fn default_precision() -> String {
    "ns".into()
}

const fn default_batch_size() -> usize {
    1000
}

const fn default_batch_time() -> Duration {
    Duration::ZERO
}

impl InfluxConfig {
    /// Reads and checks a pool's keys; `host:port` is the server with its default port.
    pub fn load(entry: &PoolEntry) -> Result<(InfluxConfig, String), ConfigError> {
        let config: InfluxConfig = crate::config::pool_config(entry, "influxdb")?;
        let err = |m: String| ConfigError::at(&entry.at, m);
        let pool = &entry.name;
        if config.pool_size == 0 || config.batch_size == 0 {
            return Err(err(format!("backend.influxdb.{pool}.pool_size and .batch_size must be at least 1")));
        }
        if !matches!(config.precision.as_str(), "ns" | "u" | "ms" | "s") {
            return Err(err(format!("backend.influxdb.{pool}.precision must be ns, u, ms or s")));
        }
        let default_port = match config.protocol {
            Protocol::Udp => 8089,
            Protocol::Http => 8086,
        };
        let server = config.server.trim();
        let address = match server.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => server.to_string(),
            _ if !server.is_empty() && !server.contains(':') => format!("{server}:{default_port}"),
            _ => return Err(err(format!("backend.influxdb.{pool}.server must be host:port, not {server:?}"))),
        };
        Ok((config, address))
    }

    /// What the stock guest needs to know of the pool.
    pub fn guest_settings(&self) -> Vec<(String, String)> {
        let precision = match self.protocol {
            Protocol::Http => self.precision.clone(),
            Protocol::Udp => "ns".into(),
        };
        vec![("set_timestamp".into(), self.set_timestamp.to_string()), ("precision".into(), precision)]
    }
}
