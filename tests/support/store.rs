//! A look into a test broker's store, every value read back as text, so the
//! same scenario can assert on any SQL database. Queries use `?` placeholders
//! in every dialect (turned into `$n` for PostgreSQL).

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{MySqlPool, PgPool, Row, SqlitePool, TypeInfo, ValueRef};

#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Mysql(MySqlPool),
    Postgres(PgPool),
}

type Rows = Vec<Vec<Option<String>>>;

impl Store {
    /// Opens a SQLite store (WAL, so reading alongside the broker is safe).
    pub async fn sqlite(path: &Path) -> Store {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("the store opens");
        Store::Sqlite(pool)
    }

    /// Connects to a MySQL or PostgreSQL test database.
    pub async fn connect(db: &crate::databases::TestDb) -> Store {
        match db.kind {
            crate::databases::Kind::Mysql => Store::Mysql(MySqlPool::connect(&db.url()).await.expect("MySQL")),
            crate::databases::Kind::Postgres => Store::Postgres(PgPool::connect(&db.url()).await.expect("PostgreSQL")),
        }
    }

    /// Runs a statement with text parameters.
    pub async fn execute(&self, sql: &str, params: &[&str]) {
        macro_rules! run {
            ($pool:expr, $sql:expr) => {{
                let mut q = sqlx::query($sql);
                for p in params {
                    q = q.bind(p.to_string());
                }
                q.execute($pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }};
        }
        match self {
            Store::Sqlite(pool) => run!(pool, sql),
            Store::Mysql(pool) => run!(pool, sql),
            Store::Postgres(pool) => {
                let sql = numbered(sql);
                run!(pool, &sql)
            }
        }
    }

    /// Rows of a query, each value as text; NULL is `None`.
    pub async fn rows(&self, sql: &str, params: &[&str]) -> Rows {
        macro_rules! fetch {
            ($pool:expr, $sql:expr, $texts:expr) => {{
                let mut q = sqlx::query($sql);
                for p in params {
                    q = q.bind(p.to_string());
                }
                let rows = q.fetch_all($pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter().map($texts).collect()
            }};
        }
        match self {
            Store::Sqlite(pool) => fetch!(pool, sql, sqlite_texts),
            Store::Mysql(pool) => fetch!(pool, sql, mysql_texts),
            Store::Postgres(pool) => {
                let sql = numbered(sql);
                fetch!(pool, &sql, pg_texts)
            }
        }
    }

    /// The one row of a query, or `None` when it has none.
    pub async fn row(&self, sql: &str, params: &[&str]) -> Option<Vec<Option<String>>> {
        let mut rows = self.rows(sql, params).await;
        assert!(rows.len() <= 1, "{sql} returned {} rows", rows.len());
        rows.pop()
    }

    /// Polls `sql` until `done` holds for its rows, or panics after `limit`.
    pub async fn eventually(
        &self,
        sql: &str,
        params: &[&str],
        limit: Duration,
        done: impl Fn(&[Vec<Option<String>>]) -> bool,
    ) -> Rows {
        let started = Instant::now();
        loop {
            let rows = self.rows(sql, params).await;
            if done(&rows) {
                return rows;
            }
            if started.elapsed() > limit {
                panic!("{sql} {params:?}: still {rows:?} after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The names of the tables in the store.
    pub async fn tables(&self) -> Vec<String> {
        let sql = match self {
            Store::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            Store::Mysql(_) => {
                "SELECT table_name FROM information_schema.tables WHERE table_schema = database() ORDER BY 1"
            }
            Store::Postgres(_) => "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        };
        let rows = self.rows(sql, &[]).await;
        rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect()
    }
}

/// `?` placeholders as PostgreSQL's `$1, $2, ...`.
fn numbered(sql: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_texts(row: &SqliteRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).unwrap();
            if raw.is_null() {
                return None;
            }
            Some(match raw.type_info().name() {
                "INTEGER" => row.get::<i64, _>(i).to_string(),
                "REAL" => row.get::<f64, _>(i).to_string(),
                "BLOB" => String::from_utf8_lossy(&row.get::<Vec<u8>, _>(i)).into_owned(),
                _ => row.get::<String, _>(i),
            })
        })
        .collect()
}

fn mysql_texts(row: &MySqlRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).unwrap();
            if raw.is_null() {
                return None;
            }
            let name = raw.type_info().name().to_string();
            Some(match name.as_str() {
                "BOOLEAN" | "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => {
                    row.get_unchecked::<i64, _>(i).to_string()
                }
                n if n.ends_with("UNSIGNED") => row.get_unchecked::<u64, _>(i).to_string(),
                "FLOAT" | "DOUBLE" => row.get_unchecked::<f64, _>(i).to_string(),
                "DATETIME" | "TIMESTAMP" => row.get_unchecked::<chrono::NaiveDateTime, _>(i).to_string(),
                n if n.contains("BLOB") || n.contains("BINARY") => {
                    String::from_utf8_lossy(&row.get_unchecked::<Vec<u8>, _>(i)).into_owned()
                }
                _ => row.get_unchecked::<String, _>(i),
            })
        })
        .collect()
}

fn pg_texts(row: &PgRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).unwrap();
            if raw.is_null() {
                return None;
            }
            let name = raw.type_info().name().to_string();
            Some(match name.as_str() {
                "INT2" => row.get::<i16, _>(i).to_string(),
                "INT4" => row.get::<i32, _>(i).to_string(),
                "INT8" => row.get::<i64, _>(i).to_string(),
                "FLOAT4" => row.get::<f32, _>(i).to_string(),
                "FLOAT8" => row.get::<f64, _>(i).to_string(),
                "BOOL" => row.get::<bool, _>(i).to_string(),
                "BYTEA" => String::from_utf8_lossy(&row.get::<Vec<u8>, _>(i)).into_owned(),
                "TIMESTAMP" => row.get::<chrono::NaiveDateTime, _>(i).to_string(),
                "TIMESTAMPTZ" => row.get::<chrono::DateTime<chrono::Utc>, _>(i).to_string(),
                _ => row.get_unchecked::<String, _>(i),
            })
        })
        .collect()
}
