//! `backend.ecql.<pool>.*` keys, the seed's: `nodes` (`host:port`, comma
//! separated), `size`, `auto_reconnect`, `username`, `password`,
//! `keyspace` and `logger`.

use std::fmt;

use serde::Deserialize;

use crate::config::{values, ConfigError, PoolEntry, Secret};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassaConfig {
    /// `nodes`: contact points; the driver finds the rest of the cluster.
    #[serde(deserialize_with = "nodes")]
    pub nodes: Nodes,
    /// `size`: connections per node.
    #[serde(default = "default_size", deserialize_with = "values::parsed")]
    pub size: usize,
    /// `auto_reconnect`: accepted for the seed's files. The driver always
    /// reconnects, and the outbox relies on that to replay deferred writes.
    #[serde(default = "yes", deserialize_with = "values::boolean")]
    pub auto_reconnect: bool,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Secret,
    #[serde(default = "default_keyspace")]
    pub keyspace: String,
    /// `logger`: the seed's Erlang log level; accepted, and cistern's own
    /// log filter decides (`RUST_LOG`).
    #[serde(default = "default_logger")]
    pub logger: String,
}

impl fmt::Debug for CassaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassaConfig")
            .field("nodes", &self.nodes)
            .field("size", &self.size)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("keyspace", &self.keyspace)
            .finish()
    }
}

const fn default_size() -> usize {
    8
}
const fn yes() -> bool {
    true
}
fn default_keyspace() -> String {
    "mqtt".into()
}
fn default_logger() -> String {
    "info".into()
}

/// The seed's logger levels (Erlang's).
const LEVELS: &[&str] = &["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/// `nodes` as written, then as `host:port` pairs once checked by [`CassaConfig::load`].
#[derive(Clone, Debug, Default)]
pub struct Nodes(pub Vec<String>);

fn nodes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Nodes, D::Error> {
    Ok(Nodes(vec![String::deserialize(d)?]))
}

/// `host:port` pairs, comma separated; a node without a port is on 9042.
fn parse_nodes(text: &str) -> Result<Vec<String>, String> {
    let mut nodes = Vec::new();
    for node in text.split(',').map(str::trim) {
        if node.is_empty() {
            return Err(format!("`{text}` has an empty node (expected host:port, comma separated)"));
        }
        if node.contains(['/', ' ', '@', '?', '#']) {
            return Err(format!("`{node}` is not host:port"));
        }
        let bracketed = node.starts_with('[');
        match node.rsplit_once(':') {
            Some((host, port)) if !node.ends_with(']') && (bracketed || !host.contains(':')) => {
                port.parse::<u16>().map_err(|_| format!("`{node}` has a bad port `{port}`"))?;
                if host.is_empty() {
                    return Err(format!("`{node}` has no host"));
                }
                nodes.push(node.to_string());
            }
            _ => nodes.push(if bracketed || node.contains(':') {
                format!("[{}]:9042", node.trim_matches(['[', ']']))
            } else {
                format!("{node}:9042")
            }),
        }
    }
    Ok(nodes)
}

/// A keyspace name as CQL takes it unquoted.
fn check_keyspace(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a keyspace name (a letter, then letters, digits or _, 48 at most)"))
    }
}

impl CassaConfig {
    /// Reads and checks a pool's keys.
    pub fn load(entry: &PoolEntry) -> Result<CassaConfig, ConfigError> {
        let mut config: CassaConfig = crate::config::pool_config(entry, "ecql")?;
        let pool = &entry.name;
        let key_error = |key: &str, m: String| {
            let at = entry.options.iter().find(|(k, _)| k == key).map_or(&entry.at, |(_, e)| &e.at);
            ConfigError::at(at, format!("backend.ecql.{pool}.{key}: {m}"))
        };
        let written = config.nodes.0.concat();
        config.nodes = Nodes(parse_nodes(&written).map_err(|m| key_error("nodes", m))?);
        if config.size == 0 {
            return Err(key_error("size", "must be at least 1".into()));
        }
        if let Err(m) = check_keyspace(&config.keyspace) {
            return Err(key_error("keyspace", m));
        }
        if !LEVELS.contains(&config.logger.trim()) {
            return Err(key_error("logger", format!("`{}` is not one of {}", config.logger, LEVELS.join(", "))));
        }
        if config.username.is_empty() != config.password.expose().is_empty() {
            return Err(key_error("username", "username and password go together".into()));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_lists() {
        assert_eq!(parse_nodes("127.0.0.1:9042").unwrap(), ["127.0.0.1:9042"]);
        assert_eq!(parse_nodes("a:1, b").unwrap(), ["a:1", "b:9042"]);
        assert_eq!(parse_nodes("[::1]:19042,::1").unwrap(), ["[::1]:19042", "[::1]:9042"]);
        for bad in ["", "a:1,", "a:port", ":9042", "a:99999", "http://a:1"] {
            assert!(parse_nodes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keyspaces() {
        assert!(check_keyspace("mqtt").is_ok());
        assert!(check_keyspace("t_1").is_ok());
        for bad in ["", "1a", "a-b", "a;drop", "\"a\"", &"a".repeat(49)] {
            assert!(check_keyspace(bad).is_err(), "{bad}");
        }
    }
}
