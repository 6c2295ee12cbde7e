//! `backend.opentsdb.<pool>.*` keys: the seed's (`server`, `pool_size`,
//! `summary`, `details`, `sync`, `sync_timeout`, `max_batch_size`) and
//! ours (`batch_time`).

use std::time::Duration;

use serde::Deserialize;

use crate::config::{values, ConfigError, PoolEntry};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpentsdbConfig {
    /// `server`: `host:port` of OpenTSDB's HTTP API (4242 when left out).
    pub server: String,
    /// `pool_size`: requests in flight at once.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    /// `summary`: ask for `{"success", "failed"}` counts (`?summary`).
    #[serde(default, deserialize_with = "values::boolean")]
    pub summary: bool,
    /// `details`: ask for the counts and why each refused point was refused (`?details`).
    #[serde(default, deserialize_with = "values::boolean")]
    pub details: bool,
    /// `sync`: OpenTSDB answers once the points are stored (`?sync`).
    #[serde(default, deserialize_with = "values::boolean")]
    pub sync: bool,
    /// `sync_timeout`: with `sync`, how long OpenTSDB may take, in
    /// milliseconds (`0`, the default, waits as long as it takes).
    #[serde(default, deserialize_with = "values::parsed")]
    pub sync_timeout: u64,
    /// `max_batch_size`: the most data points one request carries (default
    /// 20); a batch is sent once it holds this many.
    #[serde(default = "default_max_batch_size", deserialize_with = "values::parsed")]
    pub max_batch_size: usize,
    /// `batch_time`: or once this long has passed since its first point
    /// (default 0: what has queued goes at once; see [`crate::backends::batch`]).
    #[serde(default = "default_batch_time", deserialize_with = "values::duration")]
    pub batch_time: Duration,
}

const fn default_pool_size() -> u32 {
    8
}

const fn default_max_batch_size() -> usize {
    20
}

const fn default_batch_time() -> Duration {
    Duration::ZERO
}

impl OpentsdbConfig {
    /// Reads and checks a pool's keys; the URL is `/api/put` with the query the keys ask for.
    pub fn load(entry: &PoolEntry) -> Result<(OpentsdbConfig, String), ConfigError> {
        let config: OpentsdbConfig = crate::config::pool_config(entry, "opentsdb")?;
        let err = |m: String| ConfigError::at(&entry.at, m);
        let pool = &entry.name;
        if config.pool_size == 0 {
            return Err(err(format!("backend.opentsdb.{pool}.pool_size must be at least 1")));
        }
        let server = config.server.trim();
        let address = match server.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => server.to_string(),
            _ if !server.is_empty() && !server.contains(':') => format!("{server}:4242"),
            _ => return Err(err(format!("backend.opentsdb.{pool}.server must be host:port, not {server:?}"))),
        };
        let url = format!("http://{address}/api/put{}", config.query());
        Ok((config, url))
    }

    /// `?summary&details&sync&sync_timeout=N`, as configured.
    fn query(&self) -> String {
        let mut q = Vec::new();
        if self.summary {
            q.push("summary".to_string());
        }
        if self.details {
            q.push("details".to_string());
        }
        if self.sync {
            q.push("sync".to_string());
            if self.sync_timeout > 0 {
                q.push(format!("sync_timeout={}", self.sync_timeout));
            }
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }
}
