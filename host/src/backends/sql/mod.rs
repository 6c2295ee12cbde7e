//! What the SQL databases share: the value type bound as parameters and read
//! back from rows, the pool of any dialect, and the errors.

mod conflicts;
pub mod interface;
pub mod raw;
pub mod server;
mod value;

pub use value::SqlValue;

/// A statement and the sets of parameters it runs with, once each.
pub type Batch = (String, Vec<Vec<SqlValue>>);

use crate::backends::{mysql, pgsql, sqlite};

/// The most rows one query may return to a guest; a guest pages past it.
pub const MAX_ROWS: usize = 100_000;

/// The most bytes of values one query may return (see
/// [`crate::backends::pool::MAX_RESULT_BYTES`]). One value alone is bounded
/// by the database's own limit (`max_allowed_packet` in MySQL, 1 GB a field
/// in PostgreSQL), which the driver reads whole.
pub use crate::backends::pool::MAX_RESULT_BYTES;

/// A driver's rows, decoded one by one as they come, so that a result too
/// large is given up as it passes [`MAX_ROWS`] or [`MAX_RESULT_BYTES`].
pub async fn read_rows<R: sqlx::Row>(
    mut rows: impl futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
    decode: impl Fn(&R, usize) -> Result<SqlValue, SqlError>,
) -> Result<Vec<Vec<SqlValue>>, SqlError> {
    use futures_util::TryStreamExt;
    let mut size = ResultSize::default();
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let values = (0..row.len()).map(|i| decode(&row, i)).collect::<Result<Vec<_>, _>>()?;
        size.add(&values)?;
        out.push(values);
    }
    Ok(out)
}

/// What a query has returned so far, against [`MAX_ROWS`] and [`MAX_RESULT_BYTES`].
#[derive(Debug, Default)]
pub struct ResultSize {
    rows: usize,
    bytes: usize,
}

impl ResultSize {
    /// Counts one more row; an error once the result is past either limit.
    pub fn add(&mut self, row: &[SqlValue]) -> Result<(), SqlError> {
        self.rows += 1;
        self.bytes += row.iter().map(SqlValue::size).sum::<usize>();
        if self.rows > MAX_ROWS {
            return Err(SqlError::TooLarge(format!(
                "the query returned more than {MAX_ROWS} rows; page it with LIMIT"
            )));
        }
        if self.bytes > MAX_RESULT_BYTES {
            return Err(SqlError::TooLarge(format!(
                "the query returned more than {} MiB (after {} rows); page it with LIMIT",
                MAX_RESULT_BYTES >> 20,
                self.rows
            )));
        }
        Ok(())
    }
}

/// A pool of one of the SQL databases.
#[derive(Clone, Debug)]
pub enum SqlPool {
    Sqlite(sqlite::pool::SqliteDb),
    Mysql(sqlx::MySqlPool),
    Postgres(sqlx::PgPool),
}

/// Which SQL a pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Mysql,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Mysql => "mysql",
            Dialect::Postgres => "postgres",
        }
    }
}

impl SqlPool {
    pub fn dialect(&self) -> Dialect {
        match self {
            SqlPool::Sqlite(_) => Dialect::Sqlite,
            SqlPool::Mysql(_) => Dialect::Mysql,
            SqlPool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement with bound parameters; returns the rows it affected.
    pub async fn execute(&self, statement: &str, params: Vec<SqlValue>) -> Result<u64, SqlError> {
        conflicts::retried(|| async {
            match self {
                SqlPool::Sqlite(p) => sqlite::operations::execute(p, statement, params.clone()).await,
                SqlPool::Mysql(p) => mysql::operations::execute(p, statement, &params).await,
                SqlPool::Postgres(p) => pgsql::operations::execute(p, statement, &params).await,
            }
        })
        .await
    }

    /// Runs one statement for each set of parameters, in one transaction:
    /// either every row is written or none is.
    pub async fn execute_batch(&self, statement: &str, rows: Vec<Vec<SqlValue>>) -> Result<u64, SqlError> {
        self.execute_batches(vec![(statement.to_string(), rows)]).await
    }

    /// Runs each statement for each of its sets of parameters, in order, all
    /// in one transaction: either every row is written or none is.
    pub async fn execute_batches(&self, batches: Vec<Batch>) -> Result<u64, SqlError> {
        conflicts::retried(|| async {
            match self {
                SqlPool::Sqlite(p) => sqlite::operations::execute_batches(p, batches.clone()).await,
                SqlPool::Mysql(p) => mysql::operations::execute_batches(p, &batches).await,
                SqlPool::Postgres(p) => pgsql::operations::execute_batches(p, &batches).await,
            }
        })
        .await
    }

    /// Runs a query with bound parameters; returns its rows, each value typed.
    pub async fn query(&self, statement: &str, params: Vec<SqlValue>) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        conflicts::retried(|| async {
            match self {
                SqlPool::Sqlite(p) => sqlite::operations::query(p, statement, params.clone()).await,
                SqlPool::Mysql(p) => mysql::operations::query(p, statement, &params).await,
                SqlPool::Postgres(p) => pgsql::operations::query(p, statement, &params).await,
            }
        })
        .await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The database could not be reached; a later call may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the statement.
    #[error("{0}")]
    Statement(String),
    /// The result is past [`MAX_ROWS`] or [`MAX_RESULT_BYTES`].
    #[error("{0}")]
    TooLarge(String),
    /// The statement lost to a concurrent one (a deadlock, a serialization
    /// failure, a lock wait that timed out) and was rolled back: run again,
    /// it succeeds. [`conflicts::retried`] does; callers never see it.
    #[error("conflict with a concurrent statement: {0}")]
    Conflict(String),
}

impl From<sqlx::Error> for SqlError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => SqlError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if server_unavailable(db.code().as_deref()) => {
                SqlError::Unavailable(db.message().to_string())
            }
            sqlx::Error::Database(db) if conflicts::is_conflict(&*db) => SqlError::Conflict(db.message().to_string()),
            sqlx::Error::Database(db) => SqlError::Statement(db.message().to_string()),
            other => SqlError::Statement(other.to_string()),
        }
    }
}

/// Whether a database error code says the server, not the statement, is the
/// trouble: it is shutting down, starting, out of connections, or the
/// connection broke. Such a write may succeed later, so it is deferred
/// rather than counted as refused.
fn server_unavailable(code: Option<&str>) -> bool {
    // SQLSTATE classes (both databases report SQLSTATEs through sqlx): 08
    // connection exception (MySQL's too many connections, 08004, and server
    // shutdown or lost connection, 08S01, among them); PostgreSQL's 53
    // insufficient resources (too many connections, disk full) and 57
    // operator intervention (admin or crash shutdown, cannot connect now).
    code.is_some_and(|c| c.len() == 5 && ["08", "53", "57"].contains(&&c[..2]))
}

#[async_trait::async_trait]
impl crate::backends::Pool for SqlPool {
    async fn ping(&self) -> Result<(), String> {
        self.query("SELECT 1", Vec::new()).await.map(drop).map_err(|e| e.to_string())
    }

    fn guest_settings(&self) -> Vec<(String, String)> {
        vec![("dialect".to_string(), self.dialect().name().to_string())]
    }

    fn raw_action(
        &self,
        spec: &crate::config::ActionSpec,
        point: crate::model::HookPoint,
    ) -> Option<Result<Box<dyn crate::backends::RawAction>, String>> {
        let crate::config::ActionSpec::Sql(statements) = spec else { return None };
        let compiled = statements.iter().map(|s| raw::compile(s, self.dialect(), point)).collect::<Result<Vec<_>, _>>();
        Some(compiled.map(|statements| Box::new(raw::RawSql::new(self.clone(), statements)) as _))
    }
}

#[cfg(test)]
mod tests {
    use super::server_unavailable;

    /// A shutting-down or unreachable server is unavailable; a bad statement is not.
    #[test]
    fn classifies_server_trouble() {
        for code in ["57P01", "57P03", "08006", "53300", "08S01"] {
            assert!(server_unavailable(Some(code)), "{code}");
        }
        for code in ["42P01", "23505", "42000", "23000"] {
            assert!(!server_unavailable(Some(code)), "{code}");
        }
        assert!(!server_unavailable(None));
    }
}
