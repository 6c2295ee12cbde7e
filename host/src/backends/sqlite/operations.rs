//! Statements against a SQLite pool, with bound parameters and typed rows.

use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Column, Row, Sqlite, TypeInfo, ValueRef};

use super::pool::SqliteDb;
use crate::backends::sql::{SqlError, SqlValue, MAX_ROWS};

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// The text form timestamps take in SQLite, the one its date functions read.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

pub async fn execute(db: &SqliteDb, statement: &str, params: Vec<SqlValue>) -> Result<u64, SqlError> {
    let query = bind_all(sqlx::query(statement), params);
    let _turn = db.write_turn().await;
    Ok(query.execute(&db.pool).await?.rows_affected())
}

/// One statement for many sets of parameters, in one transaction: all or nothing.
pub async fn execute_batch(db: &SqliteDb, statement: &str, rows: Vec<Vec<SqlValue>>) -> Result<u64, SqlError> {
    let _turn = db.write_turn().await;
    let mut tx = db.pool.begin().await?;
    let mut affected = 0;
    for params in rows {
        affected += bind_all(sqlx::query(statement), params).execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(affected)
}

pub async fn query(db: &SqliteDb, statement: &str, params: Vec<SqlValue>) -> Result<Vec<Vec<SqlValue>>, SqlError> {
    let query = bind_all(sqlx::query(statement), params);
    // A query may write too (`INSERT ... RETURNING`): only a plain SELECT skips the writers' queue.
    let rows = if reads_only(statement) {
        query.fetch_all(&db.pool).await?
    } else {
        let _turn = db.write_turn().await;
        query.fetch_all(&db.pool).await?
    };
    if rows.len() > MAX_ROWS {
        return Err(SqlError::TooManyRows);
    }
    rows.iter().map(decode_row).collect()
}

fn reads_only(statement: &str) -> bool {
    let head: String = statement.trim_start().chars().take(6).collect();
    head.eq_ignore_ascii_case("select")
}

fn bind_all(mut query: Query<'_>, params: Vec<SqlValue>) -> Query<'_> {
    for p in params {
        query = match p {
            SqlValue::Null => query.bind(None::<i64>),
            SqlValue::Bool(b) => query.bind(b),
            SqlValue::Int(i) => query.bind(i),
            SqlValue::Float(f) => query.bind(f),
            SqlValue::Text(s) => query.bind(s),
            SqlValue::Bytes(b) => query.bind(b),
            SqlValue::Timestamp(ms) => query.bind(SqlValue::naive_utc(ms).format(TIMESTAMP_FORMAT).to_string()),
        };
    }
    query
}

fn decode_row(row: &SqliteRow) -> Result<Vec<SqlValue>, SqlError> {
    (0..row.len()).map(|i| decode(row, i)).collect()
}

/// A column by its stored type; text in a column declared as a date or time
/// comes back as a timestamp.
fn decode(row: &SqliteRow, i: usize) -> Result<SqlValue, SqlError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(SqlValue::Null);
    }
    let stored = raw.type_info().name().to_string();
    let declared = row.column(i).type_info().name().to_ascii_uppercase();
    Ok(match stored.as_str() {
        "INTEGER" | "BOOLEAN" => SqlValue::Int(row.try_get_unchecked(i)?),
        "REAL" | "NUMERIC" => SqlValue::Float(row.try_get_unchecked(i)?),
        "BLOB" => SqlValue::Bytes(row.try_get_unchecked(i)?),
        _ => {
            let text: String = row.try_get_unchecked(i)?;
            if matches!(declared.as_str(), "DATETIME" | "TIMESTAMP" | "DATE") {
                match parse_timestamp(&text) {
                    Some(ms) => SqlValue::Timestamp(ms),
                    None => SqlValue::Text(text),
                }
            } else {
                SqlValue::Text(text)
            }
        }
    })
}

fn parse_timestamp(text: &str) -> Option<i64> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(SqlValue::millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    async fn memory_pool() -> SqliteDb {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql(crate::backends::sqlite::pool::SCHEMA).execute(&pool).await.unwrap();
        SqliteDb::new(pool)
    }

    /// Every value type survives a round trip through the seed's tables, bound, not spliced.
    #[tokio::test]
    async fn values_round_trip() {
        let pool = memory_pool().await;
        let hostile = "x'); DROP TABLE mqtt_msg; --";
        execute(
            &pool,
            "INSERT INTO mqtt_msg(msgid, topic, sender, qos, retain, payload, arrived) VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![
                SqlValue::Text("id1".into()),
                SqlValue::Text(hostile.into()),
                SqlValue::Null,
                SqlValue::Int(1),
                SqlValue::Int(0),
                SqlValue::Bytes(vec![0, 159, 146, 150]),
                SqlValue::Timestamp(1_700_000_000_123),
            ],
        )
        .await
        .unwrap();
        let rows = query(&pool, "SELECT topic, sender, qos, payload, arrived FROM mqtt_msg", vec![]).await.unwrap();
        assert_eq!(
            rows,
            vec![vec![
                SqlValue::Text(hostile.into()),
                SqlValue::Null,
                SqlValue::Int(1),
                SqlValue::Bytes(vec![0, 159, 146, 150]),
                SqlValue::Timestamp(1_700_000_000_123),
            ]]
        );
    }

    /// A statement the database refuses is a statement error, not a panic.
    #[tokio::test]
    async fn refused_statement_is_an_error() {
        let pool = memory_pool().await;
        let err = execute(&pool, "INSERT INTO no_such_table VALUES (1)", vec![]).await.unwrap_err();
        assert!(matches!(err, SqlError::Statement(_)), "{err:?}");
    }
}
