//! Plain async functions over a [`CassaPool`]: statements prepared once per
//! pool, their values bound to `?` markers after conversion to the column
//! types the server declares for them. Errors say whether the cluster could
//! not be reached (the write may be replayed) or refused the statement.

use futures_util::stream::FuturesOrdered;
use futures_util::{StreamExt, TryStreamExt};
use scylla::errors::{
    DbError, ExecutionError, NewSessionError, NextPageError, NextRowError, PagerExecutionError, PrepareError,
    RequestAttemptError, RequestError, UseKeyspaceError,
};
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue, Row};

use super::CassaPool;
use crate::backends::pool::MAX_RESULT_BYTES;

/// A value to bind, or one read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Null,
    Text(String),
    Int(i32),
    BigInt(i64),
    Boolean(bool),
    Blob(Vec<u8>),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
}

impl Bind {
    /// What the value weighs in a result: text and blobs their length, anything else 8.
    fn size(&self) -> usize {
        match self {
            Bind::Text(s) => s.len(),
            Bind::Blob(b) => b.len(),
            _ => 8,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CassaError {
    /// Not reached, timed out, or too busy to answer (unavailable replicas, overloaded).
    #[error("{0}")]
    Unavailable(String),
    /// It answered and refused the statement (syntax, a missing table, a bad value).
    #[error("{0}")]
    Refused(String),
}

/// More rows than a read may bring back at once; a guest pages with `LIMIT`.
const MAX_ROWS: usize = 100_000;

fn attempt_unavailable(e: &RequestAttemptError) -> bool {
    match e {
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => true,
        RequestAttemptError::DbError(db, _) => matches!(
            db,
            DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ReadTimeout { .. }
                | DbError::WriteTimeout { .. }
                | DbError::RateLimitReached { .. }
        ),
        _ => false,
    }
}

fn prepare_unavailable(e: &PrepareError) -> bool {
    match e {
        PrepareError::ConnectionPoolError(_) => true,
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_unavailable(first_attempt),
        _ => false,
    }
}

fn request_unavailable(e: &RequestError) -> bool {
    match e {
        RequestError::LastAttemptError(a) => attempt_unavailable(a),
        RequestError::EmptyPlan | RequestError::ConnectionPoolError(_) | RequestError::RequestTimeout(_) => true,
        _ => false,
    }
}

fn execution_unavailable(e: &ExecutionError) -> bool {
    match e {
        ExecutionError::EmptyPlan
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::SchemaAgreementError(_)
        | ExecutionError::MetadataError(_) => true,
        ExecutionError::LastAttemptError(a) => attempt_unavailable(a),
        ExecutionError::PrepareError(p) => prepare_unavailable(p),
        _ => false,
    }
}

fn pager_unavailable(e: &PagerExecutionError) -> bool {
    match e {
        PagerExecutionError::PrepareError(p) => prepare_unavailable(p),
        PagerExecutionError::NextPageError(n) => next_page_unavailable(n),
        _ => false,
    }
}

fn next_page_unavailable(e: &NextPageError) -> bool {
    matches!(e, NextPageError::RequestFailure(r) if request_unavailable(r))
}

/// Whether a failure to open the session is the cluster being away (no
/// node answers) rather than a configuration it refuses (a missing keyspace).
pub(super) fn session_unavailable(e: &NewSessionError) -> bool {
    match e {
        NewSessionError::FailedToResolveAnyHostname(_) | NewSessionError::MetadataError(_) => true,
        NewSessionError::UseKeyspaceError(UseKeyspaceError::RequestError(a)) => attempt_unavailable(a),
        _ => false,
    }
}

impl CassaPool {
    fn error(&self, unavailable: bool, what: &str, e: impl std::fmt::Display) -> CassaError {
        let m = format!("{}: {what}: {e}", self.name);
        if unavailable {
            CassaError::Unavailable(m)
        } else {
            CassaError::Refused(m)
        }
    }

    async fn prepare(&self, statement: &str) -> Result<PreparedStatement, CassaError> {
        let session = self.session().await?;
        session.add_prepared_statement(&scylla::statement::Statement::new(statement)).await.map_err(|e| {
            let unavailable = prepare_unavailable(&e);
            self.error(unavailable, "prepare", e)
        })
    }
}

/// The values for a prepared statement's markers, each converted to its
/// column's type.
fn bind(prepared: &PreparedStatement, values: Vec<Bind>) -> Result<Vec<Option<CqlValue>>, String> {
    let specs = prepared.get_variable_col_specs();
    if specs.len() != values.len() {
        return Err(format!("the statement has {} markers, {} values were given", specs.len(), values.len()));
    }
    specs
        .iter()
        .zip(values)
        .map(|(spec, v)| to_cql(v, spec.typ()).map_err(|m| format!("value for {}: {m}", spec.name())))
        .collect()
}

/// A value as the column's type takes it, where the conversion is exact.
fn to_cql(v: Bind, typ: &ColumnType<'_>) -> Result<Option<CqlValue>, String> {
    use NativeType as N;
    let ColumnType::Native(native) = typ else {
        return Err(format!("column type {typ:?} is not supported"));
    };
    let int = |i: i64| -> Result<CqlValue, String> {
        Ok(match native {
            N::Int => CqlValue::Int(i32::try_from(i).map_err(|_| format!("{i} does not fit an int"))?),
            N::BigInt => CqlValue::BigInt(i),
            N::SmallInt => CqlValue::SmallInt(i16::try_from(i).map_err(|_| format!("{i} does not fit a smallint"))?),
            N::TinyInt => CqlValue::TinyInt(i8::try_from(i).map_err(|_| format!("{i} does not fit a tinyint"))?),
            N::Timestamp => CqlValue::Timestamp(CqlTimestamp(i)),
            N::Boolean => CqlValue::Boolean(i != 0),
            N::Text | N::Ascii => CqlValue::Text(i.to_string()),
            other => return Err(format!("a number cannot go into a {other:?} column")),
        })
    };
    let value = match v {
        Bind::Null => return Ok(None),
        Bind::Int(i) => int(i.into())?,
        Bind::BigInt(i) | Bind::Timestamp(i) => int(i)?,
        Bind::Boolean(b) => match native {
            N::Boolean => CqlValue::Boolean(b),
            _ => int(b.into())?,
        },
        Bind::Text(t) => match native {
            N::Text => CqlValue::Text(t),
            N::Ascii if t.is_ascii() => CqlValue::Ascii(t),
            N::Blob => CqlValue::Blob(t.into_bytes()),
            N::Int | N::BigInt | N::SmallInt | N::TinyInt | N::Timestamp | N::Boolean => {
                int(t.trim().parse::<i64>().map_err(|_| format!("{t:?} is not a whole number"))?)?
            }
            other => return Err(format!("text cannot go into a {other:?} column")),
        },
        Bind::Blob(b) => match native {
            N::Blob => CqlValue::Blob(b),
            N::Text => CqlValue::Text(
                String::from_utf8(b).map_err(|_| "bytes that are not UTF-8 cannot go into a text column")?,
            ),
            other => return Err(format!("bytes cannot go into a {other:?} column")),
        },
    };
    Ok(Some(value))
}

/// A column's value; types the stock tables never hold are refused.
fn from_cql(v: Option<CqlValue>) -> Result<Bind, String> {
    Ok(match v {
        None | Some(CqlValue::Empty) => Bind::Null,
        Some(CqlValue::Text(t) | CqlValue::Ascii(t)) => Bind::Text(t),
        Some(CqlValue::Int(i)) => Bind::Int(i),
        Some(CqlValue::SmallInt(i)) => Bind::Int(i.into()),
        Some(CqlValue::TinyInt(i)) => Bind::Int(i.into()),
        Some(CqlValue::BigInt(i)) => Bind::BigInt(i),
        Some(CqlValue::Counter(c)) => Bind::BigInt(c.0),
        Some(CqlValue::Boolean(b)) => Bind::Boolean(b),
        Some(CqlValue::Blob(b)) => Bind::Blob(b),
        Some(CqlValue::Timestamp(t)) => Bind::Timestamp(t.0),
        Some(other) => return Err(format!("a column of type {other:?} cannot be read")),
    })
}

/// The cluster answers a trivial query.
pub async fn ping(pool: &CassaPool) -> Result<(), CassaError> {
    query(pool, "SELECT release_version FROM system.local", Vec::new()).await.map(drop)
}

/// Runs a statement with bound values.
pub async fn execute(pool: &CassaPool, statement: &str, values: Vec<Bind>) -> Result<(), CassaError> {
    let prepared = pool.prepare(statement).await?;
    let values = bind(&prepared, values).map_err(|m| pool.error(false, "bind", m))?;
    let session = pool.session().await?;
    session.get_session().execute_unpaged(&prepared, values).await.map(drop).map_err(|e| {
        let unavailable = execution_unavailable(&e);
        pool.error(unavailable, "execute", e)
    })
}

/// Runs a statement once for each list of values, side by side on the
/// session's connections; one result per list, in order. Prepared once.
pub async fn execute_each(pool: &CassaPool, statement: &str, rows: Vec<Vec<Bind>>) -> Vec<Result<(), CassaError>> {
    let n = rows.len();
    let prepared = match pool.prepare(statement).await {
        Ok(p) => p,
        Err(e) => return (0..n).map(|_| Err(e.clone())).collect(),
    };
    let session = match pool.session().await {
        Ok(s) => s,
        Err(e) => return (0..n).map(|_| Err(e.clone())).collect(),
    };
    let runs = rows.into_iter().map(|values| {
        let (prepared, session) = (&prepared, &session);
        async move {
            let values = bind(prepared, values).map_err(|m| pool.error(false, "bind", m))?;
            session.get_session().execute_unpaged(prepared, values).await.map(drop).map_err(|e| {
                let unavailable = execution_unavailable(&e);
                pool.error(unavailable, "execute", e)
            })
        }
    });
    // Not `join_all`: for a batch's few dozen runs it polls every one of
    // them each time any is woken, and each answer wakes it.
    runs.collect::<FuturesOrdered<_>>().collect().await
}

/// Runs a SELECT with bound values and reads all its pages.
pub async fn query(pool: &CassaPool, statement: &str, values: Vec<Bind>) -> Result<Vec<Vec<Bind>>, CassaError> {
    let prepared = pool.prepare(statement).await?;
    let values = bind(&prepared, values).map_err(|m| pool.error(false, "bind", m))?;
    let session = pool.session().await?;
    let pager = session.get_session().execute_iter(prepared, values).await.map_err(|e| {
        let unavailable = pager_unavailable(&e);
        pool.error(unavailable, "query", e)
    })?;
    let mut stream = pager.rows_stream::<Row>().map_err(|e| pool.error(false, "query", e))?;
    let mut rows = Vec::new();
    let mut bytes = 0;
    while let Some(row) = stream.try_next().await.map_err(|e| {
        let unavailable = matches!(&e, NextRowError::NextPageError(n) if next_page_unavailable(n));
        pool.error(unavailable, "query", e)
    })? {
        if rows.len() == MAX_ROWS {
            return Err(pool.error(false, "query", format!("more than {MAX_ROWS} rows; page with LIMIT")));
        }
        let row = row.columns.into_iter().map(from_cql).collect::<Result<Vec<_>, _>>();
        let row = row.map_err(|m| pool.error(false, "query", m))?;
        bytes += row.iter().map(Bind::size).sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            let why = format!("more than {} MiB after {} rows; page with LIMIT", MAX_RESULT_BYTES >> 20, rows.len());
            return Err(pool.error(false, "query", why));
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_exact() {
        let int = ColumnType::Native(NativeType::Int);
        let text = ColumnType::Native(NativeType::Text);
        assert_eq!(to_cql(Bind::BigInt(3), &int).unwrap(), Some(CqlValue::Int(3)));
        assert_eq!(to_cql(Bind::Text("2".into()), &int).unwrap(), Some(CqlValue::Int(2)));
        assert!(to_cql(Bind::BigInt(1 << 40), &int).is_err());
        assert!(to_cql(Bind::Text("2; drop".into()), &int).is_err());
        assert_eq!(to_cql(Bind::Int(1), &text).unwrap(), Some(CqlValue::Text("1".into())));
        assert!(to_cql(Bind::Blob(vec![0xff]), &text).is_err());
        assert_eq!(to_cql(Bind::Null, &text).unwrap(), None);
    }
}
