//! `backend.mongo.<pool>.*` keys, and the backend-wide
//! `backend.mongo.topology.*` options every pool is built with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::{values, BackendConfig, ConfigError, PoolEntry, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoConfig {
    /// `type`: `single` (one server, connected to directly), `unknown` and
    /// `sharded` (the driver finds out, from the servers listed), `rs` (a
    /// replica set named by `rs_set_name`).
    #[serde(rename = "type", default)]
    pub kind: Kind,
    #[serde(default)]
    pub rs_set_name: Option<String>,
    /// `server`: `host:port`, comma-separated (port 27017 when left out).
    pub server: String,
    /// `c_pool_size`: connections per server, at most.
    #[serde(default = "default_pool_size", deserialize_with = "values::parsed")]
    pub c_pool_size: u32,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// `auth_source`: where the login is defined; the pool's `database` when left out.
    #[serde(default)]
    pub auth_source: Option<String>,
    #[serde(default, deserialize_with = "values::boolean")]
    pub ssl: bool,
    #[serde(default)]
    pub keyfile: Option<String>,
    #[serde(default)]
    pub certfile: Option<String>,
    #[serde(default)]
    pub cacertfile: Option<String>,
    /// `w_mode`: `safe` (the default) or `unsafe`.
    #[serde(default)]
    pub w_mode: WMode,
    /// `r_mode`: `master` (the default) or `slave_ok`.
    #[serde(default)]
    pub r_mode: RMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Single,
    Unknown,
    Sharded,
    Rs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WMode {
    /// Acknowledged and journaled (w: 1, j: true): what is acknowledged is kept.
    #[default]
    Safe,
    /// Acknowledged, not journaled (w: 1): a write the server took may be
    /// lost if it crashes before its journal is written. (The seed's
    /// unacknowledged w: 0 is not offered by the Rust driver.)
    Unsafe,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RMode {
    /// Reads from the primary.
    #[default]
    Master,
    /// Reads from a secondary when there is one (secondaryPreferred).
    SlaveOk,
}

/// `backend.mongo.topology.*`, the seed's names for its Erlang driver's
/// options; each is mapped onto the Rust driver's option where one exists
/// (see `pool.rs` and the README).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(default, deserialize_with = "number")]
    pub pool_size: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub max_overflow: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub overflow_ttl: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub overflow_check_period: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub local_threshold_ms: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub connect_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub socket_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub server_selection_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub wait_queue_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub heartbeat_frequency_ms: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub min_heartbeat_frequency_ms: Option<u64>,
}

/// The topology keys, as `backend.mongo.<key>`.
pub const TOPOLOGY_KEYS: &[&str] = &[
    "topology.pool_size",
    "topology.max_overflow",
    "topology.overflow_ttl",
    "topology.overflow_check_period",
    "topology.local_threshold_ms",
    "topology.connect_timeout_ms",
    "topology.socket_timeout_ms",
    "topology.server_selection_timeout_ms",
    "topology.wait_queue_timeout_ms",
    "topology.heartbeat_frequency_ms",
    "topology.min_heartbeat_frequency_ms",
];

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let s = String::deserialize(d)?;
    s.trim().parse().map(Some).map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number")))
}

const fn default_pool_size() -> u32 {
    8
}

fn default_database() -> String {
    "mqtt".into()
}

/// A pool's keys, checked, with its servers as `host:port` and its TLS files resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: MongoConfig,
    pub servers: Vec<(String, u16)>,
    pub topology: Topology,
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cacertfile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
}

impl MongoConfig {
    pub fn load(entry: &PoolEntry, backend: &BackendConfig, base_dir: &Path) -> Result<Loaded, ConfigError> {
        let err = |m: String| ConfigError::at(&entry.at, m);
        let pool = &entry.name;
        if pool == "topology" {
            // Keys under backend.mongo.topology.* other than the known ones land here.
            let keys: Vec<&str> = entry.options.iter().map(|(k, _)| k.as_str()).collect();
            return Err(err(format!(
                "unknown topology option backend.mongo.topology.{} (known: {})",
                keys.join(", "),
                TOPOLOGY_KEYS.iter().map(|k| k.trim_start_matches("topology.")).collect::<Vec<_>>().join(", ")
            )));
        }
        let config: MongoConfig = crate::config::pool_config(entry, "mongo")?;
        let at = |key: &str| entry.options.iter().find(|(k, _)| k == key).map_or(&entry.at, |(_, e)| &e.at);
        let key_err = |key: &str, m: String| ConfigError::at(at(key), format!("backend.mongo.{pool}.{key}: {m}"));

        if config.c_pool_size == 0 {
            return Err(key_err("c_pool_size", "must be at least 1".into()));
        }
        if config.database.trim().is_empty() {
            return Err(key_err("database", "names no database".into()));
        }
        let mut servers = Vec::new();
        for s in config.server.split(',').map(str::trim) {
            let parsed = match s.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() => port.parse::<u16>().ok().map(|p| (host.to_string(), p)),
                None if !s.is_empty() => Some((s.to_string(), 27017)),
                _ => None,
            };
            servers.push(parsed.ok_or_else(|| key_err("server", format!("{s:?} is not host:port")))?);
        }
        match config.kind {
            Kind::Single if servers.len() > 1 => {
                return Err(key_err(
                    "server",
                    "type single takes one server; list several with type unknown, sharded or rs".into(),
                ))
            }
            Kind::Rs if config.rs_set_name.as_deref().is_none_or(|n| n.trim().is_empty()) => {
                return Err(key_err("type", format!("type rs needs backend.mongo.{pool}.rs_set_name")))
            }
            _ => {}
        }
        if config.password.is_some() && config.login.is_none() {
            return Err(key_err("password", format!("a password without backend.mongo.{pool}.login")));
        }
        let file = |key: &str, v: &Option<String>| -> Result<Option<PathBuf>, ConfigError> {
            let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
            let path = base_dir.join(v);
            if !path.is_file() {
                return Err(key_err(key, format!("{} is not a readable file", path.display())));
            }
            Ok(Some(path))
        };
        let tls = if config.ssl {
            let files = TlsFiles {
                cacertfile: file("cacertfile", &config.cacertfile)?,
                certfile: file("certfile", &config.certfile)?,
                keyfile: file("keyfile", &config.keyfile)?,
            };
            if files.keyfile.is_some() && files.certfile.is_none() {
                return Err(key_err("keyfile", format!("a key without backend.mongo.{pool}.certfile")));
            }
            Some(files)
        } else {
            None
        };
        Ok(Loaded { config, servers, topology: topology(backend)?, tls })
    }
}

/// The backend-wide topology options.
pub fn topology(backend: &BackendConfig) -> Result<Topology, ConfigError> {
    let options: Vec<(String, crate::config::Entry)> = backend
        .options
        .iter()
        .filter_map(|(k, e)| k.strip_prefix("topology.").map(|k| (k.to_string(), e.clone())))
        .collect();
    let Some((_, first)) = options.first() else { return Ok(Topology::default()) };
    let entry = PoolEntry { name: "topology".into(), at: first.at.clone(), options };
    crate::config::pool_config(&entry, "mongo")
}

impl Topology {
    pub fn ms(v: Option<u64>) -> Option<Duration> {
        v.map(Duration::from_millis)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Single => "single",
            Kind::Unknown => "unknown",
            Kind::Sharded => "sharded",
            Kind::Rs => "rs",
        })
    }
}
