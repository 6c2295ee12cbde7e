//! `backend.dynamo.<pool>.*` keys, the seed's: `server` (the endpoint URL),
//! `pool_size`, `aws_access_key_id`, `aws_secret_access_key`; and the
//! backend-wide `backend.dynamo.region`.

use std::fmt;

use serde::Deserialize;

use crate::config::{values, BackendConfig, ConfigError, PoolEntry, Secret};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoConfig {
    /// `server`: the endpoint, `http://host:port` or `https://host`.
    pub server: String,
    /// `pool_size`: requests in flight at once on this pool.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub pool_size: u32,
    pub aws_access_key_id: String,
    pub aws_secret_access_key: Secret,
    /// `backend.dynamo.region`, filled in by [`DynamoConfig::load`].
    #[serde(skip)]
    pub region: String,
}

impl fmt::Debug for DynamoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoConfig")
            .field("server", &self.server)
            .field("pool_size", &self.pool_size)
            .field("aws_access_key_id", &self.aws_access_key_id)
            .field("aws_secret_access_key", &self.aws_secret_access_key)
            .field("region", &self.region)
            .finish()
    }
}

const fn default_pool_size() -> u32 {
    8
}

impl DynamoConfig {
    /// Reads and checks a pool's keys and the backend's region.
    pub fn load(entry: &PoolEntry, backend: &BackendConfig) -> Result<DynamoConfig, ConfigError> {
        let mut config: DynamoConfig = crate::config::pool_config(entry, "dynamo")?;
        let pool = &entry.name;
        let key_error = |key: &str, m: String| {
            let at = entry.options.iter().find(|(k, _)| k == key).map_or(&entry.at, |(_, e)| &e.at);
            ConfigError::at(at, format!("backend.dynamo.{pool}.{key}: {m}"))
        };
        if config.pool_size == 0 {
            return Err(key_error("pool_size", "must be at least 1".into()));
        }
        config.server = config.server.trim().to_string();
        if let Err(m) = check_endpoint(&config.server) {
            return Err(key_error("server", m));
        }
        if config.aws_access_key_id.trim().is_empty() {
            return Err(key_error("aws_access_key_id", "must not be empty".into()));
        }
        config.region = match backend.option("region") {
            Some(e) if !e.value.trim().is_empty() => e.value.trim().to_string(),
            Some(e) => return Err(ConfigError::at(&e.at, "backend.dynamo.region must not be empty")),
            None => {
                return Err(ConfigError::at(
                    &entry.at,
                    format!("backend.dynamo.{pool} needs backend.dynamo.region (e.g. us-west-2)"),
                ))
            }
        };
        Ok(config)
    }
}

/// An endpoint the SDK can call: `http://` or `https://`, a host, an
/// optional port, no path.
fn check_endpoint(server: &str) -> Result<(), String> {
    let rest = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"))
        .ok_or_else(|| format!("{server:?} is not an endpoint URL like http://localhost:8000"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    // `[::1]` is a host alone; `[::1]:8000` and `h:8000` end in a port.
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => {
            port.parse::<u16>().map_err(|_| format!("{server:?} has a bad port {port:?}"))?;
            host
        }
        _ => authority,
    };
    if host.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("{server:?} is not an endpoint URL like http://localhost:8000"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for good in ["http://localhost:8000", "https://dynamodb.us-west-2.amazonaws.com", "http://127.0.0.1:18000/"] {
            assert!(check_endpoint(good).is_ok(), "{good}");
        }
        for bad in ["localhost:8000", "http://", "http://host:port", "http://h:8000/path", "ftp://h"] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_stays_out_of_debug() {
        let c = DynamoConfig {
            server: "http://h:1".into(),
            pool_size: 1,
            aws_access_key_id: "AKIA".into(),
            aws_secret_access_key: Secret::from("TZt7XoRi+vtCJYQ9".to_string()),
            region: "us-west-2".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("TZt7XoRi"), "{shown}");
        assert!(shown.contains("<hidden>"));
    }
}
