//! A PostgreSQL pool that connects lazily: cistern starts while the server is down.

use std::path::Path;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::PgPool;

use super::config::PgConfig;
use crate::backends::sql::server;
use crate::config::{ConfigError, PoolEntry};

/// `probe`: try a connection in the background, to log whether the server is there.
pub fn connect(kind: &str, entry: &PoolEntry, base_dir: &Path, probe: bool) -> Result<PgPool, ConfigError> {
    let config: PgConfig = crate::config::pool_config(entry, kind)?;
    let (host, port) = server::host_port(entry, &config.server, 5432)?;
    let mut options = PgConnectOptions::new()
        .host(&host)
        .port(port)
        .username(&config.username)
        .password(&config.password)
        .database(&config.database)
        .application_name("cistern");
    options = match (config.ssl, &config.cacertfile) {
        (false, _) => options.ssl_mode(PgSslMode::Disable),
        (true, None) => options.ssl_mode(PgSslMode::Require),
        (true, Some(ca)) => options.ssl_mode(PgSslMode::VerifyFull).ssl_root_cert(base_dir.join(ca)),
    };
    if let (Some(cert), Some(key)) = (&config.certfile, &config.keyfile) {
        options = options.ssl_client_cert(base_dir.join(cert)).ssl_client_key(base_dir.join(key));
    } else if config.certfile.is_some() != config.keyfile.is_some() {
        return Err(ConfigError::at(&entry.at, "certfile and keyfile go together: give both or neither"));
    }
    for file in [&config.cacertfile, &config.certfile, &config.keyfile].into_iter().flatten() {
        if !base_dir.join(file).is_file() {
            return Err(ConfigError::at(&entry.at, format!("{file}: no such file")));
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(config.pool_size.max(1))
        .acquire_timeout(server::ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    if probe {
        server::report_reachability(pool.clone(), format!("{kind}.{}", entry.name), config.server.clone());
    }
    Ok(pool)
}
