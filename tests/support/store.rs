//! A look into a test broker's store, every value read back as text, so the
//! same scenario can assert on any SQL database.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool, TypeInfo, ValueRef};

#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
}

impl Store {
    /// Opens a SQLite store (WAL, so reading alongside the broker is safe).
    pub async fn sqlite(path: &Path) -> Store {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("the store opens");
        Store::Sqlite(pool)
    }

    /// Runs a statement (`?` placeholders) with text parameters.
    pub async fn execute(&self, sql: &str, params: &[&str]) {
        match self {
            Store::Sqlite(pool) => {
                let mut q = sqlx::query(sql);
                for p in params {
                    q = q.bind(p.to_string());
                }
                q.execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// Rows of a query (`?` placeholders), each value as text; NULL is `None`.
    pub async fn rows(&self, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
        match self {
            Store::Sqlite(pool) => {
                let mut q = sqlx::query(sql);
                for p in params {
                    q = q.bind(p.to_string());
                }
                let rows = q.fetch_all(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter().map(sqlite_texts).collect()
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
    ) -> Vec<Vec<Option<String>>> {
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
        let rows = self.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", &[]).await;
        rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect()
    }
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
