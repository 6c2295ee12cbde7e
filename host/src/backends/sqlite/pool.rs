//! Opening a SQLite store: the file (made with the seed's tables,
//! `sql/sqlite.sql`, when missing) and its WAL journal.

use std::path::Path;

use std::sync::{Arc, Mutex};

use super::config::SqliteConfig;
use super::writer::Job;
use crate::config::{ConfigError, PoolEntry};

/// The schema, applied on start; every statement is `IF NOT EXISTS`.
pub const SCHEMA: &str = include_str!("../../../../sql/sqlite.sql");

/// A SQLite store: its connection, and the statements waiting for it.
/// Cheap to clone.
#[derive(Clone)]
pub struct SqliteDb {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub connection: Mutex<rusqlite::Connection>,
    pub waiting: Mutex<Vec<Job>>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteDb")
    }
}

/// `check_only`: the store is checked in memory; its file is not made.
pub async fn connect(entry: &PoolEntry, base_dir: &Path, check_only: bool) -> Result<SqliteDb, ConfigError> {
    let config: SqliteConfig = crate::config::pool_config(entry, "sqlite")?;
    let connection = if config.database == ":memory:" || check_only {
        rusqlite::Connection::open_in_memory()
            .map_err(|e| ConfigError::at(&entry.at, format!("cannot open an in-memory SQLite database: {e}")))?
    } else {
        let path = base_dir.join(&config.database);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| ConfigError::at(&entry.at, format!("cannot create {}: {e}", parent.display())))?;
        }
        let c = rusqlite::Connection::open(&path)
            .map_err(|e| ConfigError::at(&entry.at, format!("cannot open SQLite database {}: {e}", path.display())))?;
        c.pragma_update(None, "journal_mode", "WAL")
            // FULL: a commit reaches the disk (the WAL is fsynced) before it returns, so what is
            // acknowledged survives a power loss, not only a crash of cistern.
            .and_then(|_| c.pragma_update(None, "synchronous", "FULL"))
            .map_err(|e| ConfigError::at(&entry.at, format!("cannot set up {}: {e}", path.display())))?;
        tracing::info!(pool = %entry.name, database = %path.display(), "sqlite store open");
        c
    };
    connection
        .busy_timeout(config.busy_timeout)
        .and_then(|_| connection.execute_batch(SCHEMA))
        .map_err(|e| ConfigError::at(&entry.at, format!("cannot create the tables: {e}")))?;
    super::guard::install(&connection, config.statement_timeout)
        .map_err(|e| ConfigError::at(&entry.at, format!("cannot guard the SQLite connection: {e}")))?;
    connection.set_prepared_statement_cache_capacity(256);
    Ok(open(connection, &entry.name))
}

/// A store over an open connection.
pub(super) fn open(connection: rusqlite::Connection, _name: &str) -> SqliteDb {
    SqliteDb { shared: Arc::new(Shared { connection: Mutex::new(connection), waiting: Mutex::new(Vec::new()) }) }
}
