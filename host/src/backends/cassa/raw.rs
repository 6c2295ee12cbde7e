//! Raw CQL actions (`{"cql": [...]}`): `${name}` placeholders compiled once,
//! at load, into `?` markers with the event's values bound to them. A value
//! can never change a statement's text.

use super::operations::{self, Bind, CassaError};
use super::CassaPool;
use crate::actions::params::{bind_markers, Param, Value};
use crate::backends::{RawAction, RawError};
use crate::model::{Event, HookPoint};

/// A statement ready to run: its text with `?` markers, and what to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub text: String,
    params: Vec<Param>,
}

/// Compiles a statement for `point`: placeholders become `?` markers (see
/// [`bind_markers`]).
pub fn compile(template: &str, point: HookPoint) -> Result<Statement, String> {
    let (text, params) = bind_markers(template, point, |_| "?".to_string())?;
    Ok(Statement { text, params })
}

impl Statement {
    /// The values of this statement's markers for one event.
    pub fn bind(&self, event: &Event) -> Vec<Bind> {
        self.params
            .iter()
            .map(|p| match p.value(event) {
                Value::Absent => Bind::Null,
                Value::Text(t) => Bind::Text(t.to_string()),
                Value::Int(i) => Bind::BigInt(i),
                // Text where it is text, so it lands in the seed's text columns.
                Value::Bytes(b) => match std::str::from_utf8(b) {
                    Ok(s) => Bind::Text(s.to_string()),
                    Err(_) => Bind::Blob(b.to_vec()),
                },
                Value::TimestampMs(ms) => Bind::Timestamp(ms as i64),
            })
            .collect()
    }
}

/// `{"cql": [...]}`: its statements, run in order; the first that fails ends it.
pub struct RawCql {
    pool: CassaPool,
    statements: Vec<Statement>,
}

pub fn compile_all(pool: &CassaPool, statements: &[String], point: HookPoint) -> Result<RawCql, String> {
    let statements = statements.iter().map(|s| compile(s, point)).collect::<Result<_, _>>()?;
    Ok(RawCql { pool: pool.clone(), statements })
}

#[async_trait::async_trait]
impl RawAction for RawCql {
    async fn run(&self, event: &Event) -> Result<(), RawError> {
        for (index, statement) in self.statements.iter().enumerate() {
            operations::execute(&self.pool, &statement.text, statement.bind(event)).await.map_err(|e| RawError {
                what: "statement",
                index: Some(index + 1),
                unavailable: matches!(e, CassaError::Unavailable(_)),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's statement: placeholders become markers, in order.
    #[test]
    fn compiles_the_seeds_statement() {
        let s = compile(
            "delete from acked where client_id = ${clientid} and topic = '${topic}'",
            HookPoint::SessionUnsubscribed,
        )
        .unwrap();
        assert_eq!(s.text, "delete from acked where client_id = ? and topic = ?");
        assert_eq!(s.params, [Param::ClientId, Param::Topic]);
    }

    #[test]
    fn refuses_unknown_and_unclosed() {
        let e = compile("insert into t(p) values(${payload})", HookPoint::ClientConnected).unwrap_err();
        assert!(e.contains("not available on client.connected"), "{e}");
        assert!(compile("insert into t values(${clientid)", HookPoint::ClientConnected).is_err());
    }
}
