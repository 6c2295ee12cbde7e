//! What the network SQL databases share: the seed's `server = host:port`,
//! pools that connect lazily, and saying so when a server is not there yet.

use std::time::Duration;

use crate::config::{ConfigError, PoolEntry};

/// How long a call waits for a connection before the action fails as
/// `unavailable`; short, since hooks hold up the client that caused them.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// `host:port` (or `host`, with the database's default port).
pub fn host_port(entry: &PoolEntry, server: &str, default_port: u16) -> Result<(String, u16), ConfigError> {
    let server = server.trim();
    let bad = || ConfigError::at(&entry.at, format!("server {server:?}: expected host:port"));
    match server.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            let port = port.parse().map_err(|_| bad())?;
            Ok((host.trim_matches(['[', ']']).to_string(), port))
        }
        Some(_) => Err(bad()),
        None if !server.is_empty() => Ok((server.to_string(), default_port)),
        None => Err(bad()),
    }
}

/// Checks a lazily connected pool in the background: a server that is down
/// at start is reported, and cistern serves on; the pool connects when the
/// server comes.
pub fn report_reachability<DB: sqlx::Database>(pool: sqlx::Pool<DB>, name: String, server: String) {
    tokio::spawn(async move {
        match pool.acquire().await {
            Ok(_) => tracing::info!(pool = %name, %server, "connected"),
            Err(e) => tracing::warn!(
                pool = %name, %server,
                "not reachable yet ({e}); cistern serves on and connects when the server is there"
            ),
        }
    });
}
