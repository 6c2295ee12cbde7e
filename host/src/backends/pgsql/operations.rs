//! Statements against a PostgreSQL pool, with bound parameters and typed rows.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres, Row, TypeInfo, ValueRef};

use crate::backends::sql::{read_rows, Batch, SqlError, SqlValue};

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

pub async fn execute(pool: &PgPool, statement: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
    let statement = typed(statement, params);
    Ok(bind_all(sqlx::query(&statement), params).execute(pool).await?.rows_affected())
}

/// Statements, each for its sets of parameters, in one transaction: all or nothing.
pub async fn execute_batches(pool: &PgPool, batches: &[Batch]) -> Result<u64, SqlError> {
    let mut tx = pool.begin().await?;
    let mut affected = 0;
    for (statement, rows) in batches {
        for params in rows {
            let statement = typed(statement, params);
            affected += bind_all(sqlx::query(&statement), params).execute(&mut *tx).await?.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(affected)
}

/// The type PostgreSQL gives each parameter of a statement, from where the
/// parameter goes (`insert into t(b) values($1)` with `b bytea`: `BYTEA`).
pub async fn parameter_types(pool: &PgPool, statement: &str) -> Result<Vec<String>, SqlError> {
    use sqlx::Executor;
    let described = pool.describe(statement).await?;
    Ok(match described.parameters() {
        Some(sqlx::Either::Left(types)) => types.iter().map(|t| t.name().to_string()).collect(),
        _ => Vec::new(),
    })
}

pub async fn query(pool: &PgPool, statement: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
    let statement = typed(statement, params);
    read_rows(bind_all(sqlx::query(&statement), params).fetch(pool), decode).await
}

/// The statement, marked with the types of its parameters.
///
/// sqlx keeps each connection's prepared statements by their text, and a
/// PostgreSQL statement's parameter types are fixed when it is prepared. The
/// same text bound once with a float and later with an integer (as templates
/// do, when JSON has `80` where it had `40.3`) would send an integer's bytes
/// as a float's. The mark makes each combination of types its own statement.
fn typed<'a>(statement: &'a str, params: &[SqlValue]) -> std::borrow::Cow<'a, str> {
    if params.is_empty() {
        return statement.into();
    }
    let mut marked = String::with_capacity(statement.len() + params.len() + 16);
    marked.push_str("/* cistern:");
    for p in params {
        marked.push(match p {
            SqlValue::Null => 'n',
            SqlValue::Bool(_) => 'b',
            SqlValue::Int(_) => 'i',
            SqlValue::Float(_) => 'f',
            SqlValue::Text(_) => 't',
            SqlValue::Bytes(_) => 'y',
            SqlValue::Timestamp(_) => 's',
        });
    }
    marked.push_str(" */ ");
    marked.push_str(statement);
    marked.into()
}

/// Binds borrowed values: a retried call binds the same ones again, and a
/// payload is never copied to be bound.
fn bind_all<'q>(mut query: Query<'q>, params: &'q [SqlValue]) -> Query<'q> {
    for p in params {
        query = match p {
            SqlValue::Null => query.bind(UntypedNull),
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

/// A NULL whose type PostgreSQL infers from where it goes (parameter type 0,
/// "unspecified"), so one NULL fits an integer, a text or a timestamp column.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn decode(row: &PgRow, i: usize) -> Result<SqlValue, SqlError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(SqlValue::Null);
    }
    let name = raw.type_info().name().to_string();
    Ok(match name.as_str() {
        "BOOL" => SqlValue::Bool(row.try_get_unchecked(i)?),
        "INT2" => SqlValue::Int(row.try_get_unchecked::<i16, _>(i)?.into()),
        "INT4" => SqlValue::Int(row.try_get_unchecked::<i32, _>(i)?.into()),
        "INT8" => SqlValue::Int(row.try_get_unchecked(i)?),
        "FLOAT4" => SqlValue::Float(row.try_get_unchecked::<f32, _>(i)?.into()),
        "FLOAT8" => SqlValue::Float(row.try_get_unchecked(i)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => SqlValue::Text(row.try_get_unchecked(i)?),
        "BYTEA" => SqlValue::Bytes(row.try_get_unchecked(i)?),
        "TIMESTAMP" => SqlValue::Timestamp(SqlValue::millis(row.try_get_unchecked(i)?)),
        "TIMESTAMPTZ" => {
            let t: chrono::DateTime<chrono::Utc> = row.try_get_unchecked(i)?;
            SqlValue::Timestamp(t.timestamp_millis())
        }
        other => {
            return Err(SqlError::Statement(format!(
                "column {} has type {other}, which cistern does not read; cast it in the query (::text or ::float8)",
                i + 1
            )))
        }
    })
}
