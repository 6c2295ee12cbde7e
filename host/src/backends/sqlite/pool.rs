//! Opening a SQLite pool: WAL journal for concurrent readers, and the
//! seed's tables (`sql/sqlite.sql`) created when missing.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::config::SqliteConfig;
use crate::config::{ConfigError, PoolEntry};

/// A SQLite database: a pool of connections for reading, one writer at a time.
///
/// SQLite lets one writer in at a time and turns the others away with
/// SQLITE_BUSY, whereupon they sleep in its busy handler (1, 2, 5, 10 ms...)
/// and throughput collapses under concurrent publishers. Writers queue here,
/// in the process, instead: each goes the moment the one before is done.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteDb {
    pub fn new(pool: SqlitePool) -> Self {
        SqliteDb { pool, writer: Arc::default() }
    }

    /// Waits for this database's turn to write.
    pub async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }
}

/// The schema, applied on start; every statement is `IF NOT EXISTS`.
pub const SCHEMA: &str = include_str!("../../../../sql/sqlite.sql");

pub async fn connect(entry: &PoolEntry, base_dir: &Path) -> Result<SqliteDb, ConfigError> {
    open(entry, base_dir).await.map(SqliteDb::new)
}

async fn open(entry: &PoolEntry, base_dir: &Path) -> Result<SqlitePool, ConfigError> {
    let config: SqliteConfig = crate::config::pool_config(entry, "sqlite")?;
    if config.database == ":memory:" {
        return connect_memory(entry).await;
    }
    let path = base_dir.join(&config.database);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| ConfigError::at(&entry.at, format!("cannot create {}: {e}", parent.display())))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite:")
        .expect("static URL")
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(config.busy_timeout);
    let pool = SqlitePoolOptions::new()
        .max_connections(config.pool_size.max(1))
        .connect_with(options)
        .await
        .map_err(|e| ConfigError::at(&entry.at, format!("cannot open SQLite database {}: {e}", path.display())))?;
    sqlx::raw_sql(SCHEMA)
        .execute(&pool)
        .await
        .map_err(|e| ConfigError::at(&entry.at, format!("cannot create the tables in {}: {e}", path.display())))?;
    tracing::info!(pool = %entry.name, database = %path.display(), "sqlite pool open");
    Ok(pool)
}

/// `database = :memory:`: one connection, kept open, since each SQLite
/// connection to memory is a database of its own. For tests and benchmarks.
async fn connect_memory(entry: &PoolEntry) -> Result<SqlitePool, ConfigError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(SqliteConnectOptions::from_str("sqlite::memory:").expect("static URL"))
        .await
        .map_err(|e| ConfigError::at(&entry.at, format!("cannot open an in-memory SQLite database: {e}")))?;
    sqlx::raw_sql(SCHEMA)
        .execute(&pool)
        .await
        .map_err(|e| ConfigError::at(&entry.at, format!("cannot create the tables in memory: {e}")))?;
    Ok(pool)
}
