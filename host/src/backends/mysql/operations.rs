//! Statements against a MySQL pool, with bound parameters and typed rows.

use sqlx::mysql::{MySqlArguments, MySqlRow};
use sqlx::{MySql, MySqlPool, Row, TypeInfo, ValueRef};

use crate::backends::sql::{read_rows, Batch, SqlError, SqlValue};

type Query<'q> = sqlx::query::Query<'q, MySql, MySqlArguments>;

pub async fn execute(pool: &MySqlPool, statement: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
    Ok(bind_all(sqlx::query(statement), params).execute(pool).await?.rows_affected())
}

/// Statements, each for its sets of parameters, in one transaction: all or nothing.
pub async fn execute_batches(pool: &MySqlPool, batches: &[Batch]) -> Result<u64, SqlError> {
    let mut tx = pool.begin().await?;
    let mut affected = 0;
    for (statement, rows) in batches {
        for params in rows {
            affected += bind_all(sqlx::query(statement), params).execute(&mut *tx).await?.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(affected)
}

pub async fn query(pool: &MySqlPool, statement: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
    read_rows(bind_all(sqlx::query(statement), params).fetch(pool), decode).await
}

/// Binds borrowed values: a retried call binds the same ones again, and a
/// payload is never copied to be bound.
fn bind_all<'q>(mut query: Query<'q>, params: &'q [SqlValue]) -> Query<'q> {
    for p in params {
        query = match p {
            SqlValue::Null => query.bind(None::<i64>),
            SqlValue::Bool(b) => query.bind(*b),
            SqlValue::Int(i) => query.bind(*i),
            SqlValue::Float(f) => query.bind(*f),
            SqlValue::Text(s) => query.bind(s.as_str()),
            SqlValue::Bytes(b) => query.bind(b.as_slice()),
            SqlValue::Timestamp(ms) => query.bind(SqlValue::naive_utc(*ms)),
        };
    }
    query
}

fn decode(row: &MySqlRow, i: usize) -> Result<SqlValue, SqlError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(SqlValue::Null);
    }
    let name = raw.type_info().name().to_string();
    Ok(match name.as_str() {
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            SqlValue::Int(row.try_get_unchecked(i)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" | "BIGINT UNSIGNED" => {
            let u: u64 = row.try_get_unchecked(i)?;
            SqlValue::Int(i64::try_from(u).map_err(|_| SqlError::Statement(format!("column {i}: {u} is too large")))?)
        }
        "FLOAT" => SqlValue::Float(row.try_get_unchecked::<f32, _>(i)?.into()),
        "DOUBLE" => SqlValue::Float(row.try_get_unchecked(i)?),
        "DATETIME" | "TIMESTAMP" => SqlValue::Timestamp(SqlValue::millis(row.try_get_unchecked(i)?)),
        "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" => {
            SqlValue::Bytes(row.try_get_unchecked(i)?)
        }
        // DECIMAL arrives as text on the wire; so do VARCHAR, TEXT, CHAR, JSON, ENUM.
        _ => SqlValue::Text(row.try_get_unchecked(i)?),
    })
}
