//! `backend.redis.<pool>.*` keys, and the backend-wide Sentinel keys
//! (`backend.redis.server`, `backend.redis.sentinel`) that apply to every pool.

use serde::Deserialize;

use crate::config::{values, BackendConfig, ConfigError, PoolEntry};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `server`: `host:port` of the Redis server (port 6379 when left out).
    /// With `sentinel`, the Sentinels' addresses instead, comma-separated.
    /// Not needed when the backend-wide `backend.redis.sentinel` is set.
    #[serde(default)]
    pub server: Option<String>,
    /// `pool_size`: connections. Each is multiplexed (many calls in flight
    /// on one connection), so a few go a long way.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    /// `database`: the logical database the pool selects.
    #[serde(default, deserialize_with = "values::parsed")]
    pub database: i64,
    /// `password`: sent with AUTH when given.
    #[serde(default)]
    pub password: Option<String>,
    /// `username` (ours; the seed has only `password`): the Redis 6 ACL user
    /// to AUTH as, so cistern can run as a user allowed only what it needs
    /// (README, "Least privilege"). Without it, AUTH names no user (`default`).
    #[serde(default)]
    pub username: Option<String>,
    /// `channel`: a Pub/Sub channel cistern listens on for subscribe and
    /// unsubscribe requests (the seed's "Redis SUB/UNSUB Publish").
    #[serde(default)]
    pub channel: Option<String>,
    /// `sentinel`: the master's name at the Sentinels named by `server`,
    /// for this pool alone.
    #[serde(default)]
    pub sentinel: Option<String>,
}

const fn default_pool_size() -> u32 {
    8
}

/// Where a pool's connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One server.
    Server { host: String, port: u16 },
    /// The master of `master`, as the Sentinels report it now.
    Sentinel { sentinels: Vec<(String, u16)>, master: String },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Server { host, port } => write!(f, "{host}:{port}"),
            Target::Sentinel { sentinels, master } => {
                let list: Vec<String> = sentinels.iter().map(|(h, p)| format!("{h}:{p}")).collect();
                write!(f, "master `{master}` via Sentinel {}", list.join(","))
            }
        }
    }
}

impl RedisConfig {
    /// Reads a pool's keys and works out where it connects: its own server,
    /// its own Sentinels, or the backend-wide Sentinels.
    pub fn load(entry: &PoolEntry, backend: &BackendConfig) -> Result<(RedisConfig, Target), ConfigError> {
        let config: RedisConfig = crate::config::pool_config(entry, "redis")?;
        let err = |m: String| ConfigError::at(&entry.at, m);
        if config.pool_size == 0 {
            return Err(err(format!("backend.redis.{}.pool_size must be at least 1", entry.name)));
        }
        if config.channel.as_deref().is_some_and(str::is_empty) {
            return Err(err(format!("backend.redis.{}.channel is empty", entry.name)));
        }
        let target = match (&config.sentinel, backend.option("sentinel")) {
            (Some(master), _) => {
                let server = config.server.as_deref().ok_or_else(|| {
                    err(format!("backend.redis.{}.sentinel needs the Sentinels' addresses in `server`", entry.name))
                })?;
                Target::Sentinel { sentinels: addresses(server, 26379).map_err(err)?, master: master.clone() }
            }
            (None, Some(master)) => {
                let at = |m: String| ConfigError::at(&master.at, m);
                let server = backend.option("server").ok_or_else(|| {
                    at("backend.redis.sentinel needs the Sentinels' addresses in backend.redis.server".into())
                })?;
                let sentinels = addresses(&server.value, 26379).map_err(|m| ConfigError::at(&server.at, m))?;
                if config.server.is_some() {
                    // The seed's file keeps the pool's server line while the
                    // Sentinel lines are switched on; the Sentinels win.
                    tracing::info!(pool = %entry.name, "backend.redis.sentinel is set: the pool's own server is not used");
                }
                Target::Sentinel { sentinels, master: master.value.clone() }
            }
            (None, None) => {
                if let Some(server) = backend.option("server") {
                    return Err(ConfigError::at(
                        &server.at,
                        "backend.redis.server names the Sentinels; set backend.redis.sentinel to the master's name",
                    ));
                }
                let server = config
                    .server
                    .as_deref()
                    .ok_or_else(|| err(format!("backend.redis.{}.server is not set", entry.name)))?;
                let mut list = addresses(server, 6379).map_err(err)?;
                if list.len() != 1 {
                    return Err(err(format!("backend.redis.{}.server names one server, not {server:?}", entry.name)));
                }
                let (host, port) = list.remove(0);
                Target::Server { host, port }
            }
        };
        Ok((config, target))
    }
}

/// `host:port[,host:port...]`; a missing port is `default_port`.
fn addresses(text: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("server {text:?} has an empty address"));
        }
        let (host, port) = match part.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port = p.parse::<u16>().map_err(|_| format!("server {part:?}: the port `{p}` is not a port"))?;
                (h.trim_start_matches('[').trim_end_matches(']').to_string(), port)
            }
            _ => (part.to_string(), default_port),
        };
        if host.is_empty() {
            return Err(format!("server {part:?} has no host"));
        }
        out.push((host, port));
    }
    Ok(out)
}

/// `backend.redis.msg.expired_after`: seconds; `=< 0` (or unset) takes the seed's default.
pub fn expired_after(backend: &BackendConfig) -> Result<u64, ConfigError> {
    const DEFAULT: u64 = 3600;
    let Some(e) = backend.option("msg.expired_after") else { return Ok(DEFAULT) };
    let secs: i64 = e.value.trim().parse().map_err(|_| {
        ConfigError::at(&e.at, format!("backend.redis.msg.expired_after = {:?} is not a number of seconds", e.value))
    })?;
    Ok(if secs <= 0 { DEFAULT } else { secs as u64 })
}

/// `backend.redis.queue.claim_time` (ours): seconds a queue message fetched
/// for one subscriber stays its own before another may be given it; above 0.
pub fn claim_time(backend: &BackendConfig) -> Result<(), ConfigError> {
    let Some(e) = backend.option("queue.claim_time") else { return Ok(()) };
    match e.value.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(()),
        _ => Err(ConfigError::at(
            &e.at,
            format!("backend.redis.queue.claim_time = {:?} is not a number of seconds above 0", e.value),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses read with and without ports, in lists, and bad ones are refused.
    #[test]
    fn reads_addresses() {
        assert_eq!(addresses("127.0.0.1:6380", 6379).unwrap(), [("127.0.0.1".to_string(), 6380)]);
        assert_eq!(addresses("redis", 6379).unwrap(), [("redis".to_string(), 6379)]);
        assert_eq!(addresses("a:26378, b", 26379).unwrap(), [("a".to_string(), 26378), ("b".to_string(), 26379)]);
        assert_eq!(addresses("[::1]:7000", 6379).unwrap(), [("::1".to_string(), 7000)]);
        assert!(addresses("a:port", 6379).is_err());
        assert!(addresses("a,,b", 6379).is_err());
    }
}
