//! A MySQL pool that connects lazily: cistern starts while the server is down.

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::MySqlPool;

use super::config::MysqlConfig;
use crate::backends::sql::server;
use crate::config::{ConfigError, PoolEntry};

/// `probe`: try a connection in the background, to log whether the server is there.
pub fn connect(entry: &PoolEntry, probe: bool) -> Result<MySqlPool, ConfigError> {
    let config: MysqlConfig = crate::config::pool_config(entry, "mysql")?;
    let (host, port) = server::host_port(entry, &config.server, 3306)?;
    let options = MySqlConnectOptions::new()
        .host(&host)
        .port(port)
        .username(&config.user)
        .password(&config.password)
        .database(&config.database)
        .charset("utf8mb4");
    let pool = MySqlPoolOptions::new()
        .max_connections(config.pool_size.max(1))
        .acquire_timeout(server::ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    if probe {
        server::report_reachability(pool.clone(), format!("mysql.{}", entry.name), config.server.clone());
    }
    Ok(pool)
}
