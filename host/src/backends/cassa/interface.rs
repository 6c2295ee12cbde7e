//! `cql`: statements on the action's own Cassandra pool, values bound to
//! `?` markers, so nothing a client sends becomes part of a statement.

use super::operations::{self, Bind, CassaError};
use super::CassaPool;
use crate::engine::bindings::cistern::hooks::cql as wit;
use crate::engine::bindings::types;
use crate::engine::HostState;

impl HostState {
    fn cql_span(&self, op: &'static str) -> tracing::Span {
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        tracing::debug_span!("cistern.cql", op, action, pool)
    }
}

impl wit::Host for HostState {
    async fn execute(&mut self, pool: String, statement: String, values: Vec<wit::Value>) -> Result<(), types::Error> {
        let p = self.pool::<CassaPool>(&pool, "a Cassandra pool")?;
        let op = operations::execute(&p, &statement, values.into_iter().map(to_bind).collect());
        self.in_host(self.cql_span("execute"), op).await.map_err(to_wit)
    }

    async fn execute_each(
        &mut self,
        pool: String,
        statement: String,
        rows: Vec<Vec<wit::Value>>,
    ) -> Vec<Result<(), types::Error>> {
        let n = rows.len();
        let p = match self.pool::<CassaPool>(&pool, "a Cassandra pool") {
            Ok(p) => p,
            Err(e) => return (0..n).map(|_| Err(e.clone())).collect(),
        };
        let rows = rows.into_iter().map(|r| r.into_iter().map(to_bind).collect()).collect();
        let op = operations::execute_each(&p, &statement, rows);
        let results = self.in_host(self.cql_span("execute-each"), op).await;
        results.into_iter().map(|r| r.map_err(to_wit)).collect()
    }

    async fn query(
        &mut self,
        pool: String,
        statement: String,
        values: Vec<wit::Value>,
    ) -> Result<Vec<Vec<wit::Value>>, types::Error> {
        let p = self.pool::<CassaPool>(&pool, "a Cassandra pool")?;
        let op = operations::query(&p, &statement, values.into_iter().map(to_bind).collect());
        let rows = self.in_host(self.cql_span("query"), op).await.map_err(to_wit)?;
        Ok(rows.into_iter().map(|r| r.into_iter().map(from_bind).collect()).collect())
    }
}

/// Unreachable or timed out: the outbox keeps a write and replays it.
/// Refused: counted as failed, not retried.
fn to_wit(e: CassaError) -> types::Error {
    match e {
        CassaError::Unavailable(m) => types::Error::Unavailable(m),
        CassaError::Refused(m) => types::Error::Other(m),
    }
}

fn to_bind(v: wit::Value) -> Bind {
    match v {
        wit::Value::Null => Bind::Null,
        wit::Value::Text(t) => Bind::Text(t),
        wit::Value::Int(i) => Bind::Int(i),
        wit::Value::Bigint(i) => Bind::BigInt(i),
        wit::Value::Boolean(b) => Bind::Boolean(b),
        wit::Value::Blob(b) => Bind::Blob(b),
        wit::Value::Timestamp(ms) => Bind::Timestamp(ms),
    }
}

fn from_bind(v: Bind) -> wit::Value {
    match v {
        Bind::Null => wit::Value::Null,
        Bind::Text(t) => wit::Value::Text(t),
        Bind::Int(i) => wit::Value::Int(i),
        Bind::BigInt(i) => wit::Value::Bigint(i),
        Bind::Boolean(b) => wit::Value::Boolean(b),
        Bind::Blob(b) => wit::Value::Blob(b),
        Bind::Timestamp(ms) => wit::Value::Timestamp(ms),
    }
}
