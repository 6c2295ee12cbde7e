//! `sql`: statements against the action's own SQL pool, values bound.

use crate::backends::sql::{Dialect, SqlError, SqlPool, SqlValue};
use crate::engine::bindings::{sql, types};
use crate::engine::HostState;

impl HostState {
    fn span(&self, op: &'static str) -> tracing::Span {
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        tracing::debug_span!("cistern.sql", op, action, pool)
    }
}

impl sql::Host for HostState {
    async fn pool_dialect(&mut self, pool: String) -> Result<sql::Dialect, types::Error> {
        Ok(match self.pool::<SqlPool>(&pool, "a SQL pool")?.dialect() {
            Dialect::Sqlite => sql::Dialect::Sqlite,
            Dialect::Mysql => sql::Dialect::Mysql,
            Dialect::Postgres => sql::Dialect::Postgres,
        })
    }

    async fn execute(&mut self, pool: String, statement: String, params: Vec<sql::Value>) -> Result<u64, types::Error> {
        let p = self.pool::<SqlPool>(&pool, "a SQL pool")?;
        let span = self.span("execute");
        let params = params.into_iter().map(from_wit).collect();
        self.in_host(span, p.execute(&statement, params)).await.map_err(to_wit)
    }

    async fn execute_batch(
        &mut self,
        pool: String,
        statement: String,
        rows: Vec<Vec<sql::Value>>,
    ) -> Result<u64, types::Error> {
        let p = self.pool::<SqlPool>(&pool, "a SQL pool")?;
        let span = self.span("execute_batch");
        let rows = rows.into_iter().map(|r| r.into_iter().map(from_wit).collect()).collect();
        self.in_host(span, p.execute_batch(&statement, rows)).await.map_err(to_wit)
    }

    async fn execute_batches(
        &mut self,
        pool: String,
        batches: Vec<(String, Vec<Vec<sql::Value>>)>,
    ) -> Result<u64, types::Error> {
        let p = self.pool::<SqlPool>(&pool, "a SQL pool")?;
        let span = self.span("execute_batches");
        let batches = batches
            .into_iter()
            .map(|(statement, rows)| {
                (statement, rows.into_iter().map(|r| r.into_iter().map(from_wit).collect()).collect())
            })
            .collect();
        self.in_host(span, p.execute_batches(batches)).await.map_err(to_wit)
    }

    async fn query(
        &mut self,
        pool: String,
        statement: String,
        params: Vec<sql::Value>,
    ) -> Result<Vec<Vec<sql::Value>>, types::Error> {
        let p = self.pool::<SqlPool>(&pool, "a SQL pool")?;
        let span = self.span("query");
        let params = params.into_iter().map(from_wit).collect();
        let rows = self.in_host(span, p.query(&statement, params)).await.map_err(to_wit)?;
        Ok(rows.into_iter().map(|row| row.into_iter().map(into_wit).collect()).collect())
    }
}

fn from_wit(v: sql::Value) -> SqlValue {
    match v {
        sql::Value::Null => SqlValue::Null,
        sql::Value::Boolean(b) => SqlValue::Bool(b),
        sql::Value::Int(i) => SqlValue::Int(i),
        sql::Value::Float(f) => SqlValue::Float(f),
        sql::Value::Text(s) => SqlValue::Text(s),
        sql::Value::Bytes(b) => SqlValue::Bytes(b),
        sql::Value::Timestamp(ms) => SqlValue::Timestamp(ms),
    }
}

fn into_wit(v: SqlValue) -> sql::Value {
    match v {
        SqlValue::Null => sql::Value::Null,
        SqlValue::Bool(b) => sql::Value::Boolean(b),
        SqlValue::Int(i) => sql::Value::Int(i),
        SqlValue::Float(f) => sql::Value::Float(f),
        SqlValue::Text(s) => sql::Value::Text(s),
        SqlValue::Bytes(b) => sql::Value::Bytes(b),
        SqlValue::Timestamp(ms) => sql::Value::Timestamp(ms),
    }
}

/// The one place SQL errors become WIT errors.
fn to_wit(e: SqlError) -> types::Error {
    match e {
        SqlError::Unavailable(m) => types::Error::Unavailable(m),
        other => types::Error::Other(other.to_string()),
    }
}
