//! Raw SQL actions: `${name}` placeholders compiled once, at load, into the
//! dialect's bound parameters. A value can never change a statement's text.

use crate::actions::params::{bind_markers, Param, Value};
use crate::backends::sql::{Dialect, SqlValue};
use crate::model::{Event, HookPoint};

/// A statement ready to run: its text with placeholders, and what to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub text: String,
    params: Vec<Param>,
}

/// Compiles a statement for `point` in `dialect`. A placeholder written in
/// quotes (`'${clientid}'`) is bound all the same, quotes dropped; one inside
/// a longer literal (`'pfx-${clientid}'`) is refused, since a bound value can
/// only ever be a whole value.
pub fn compile(template: &str, dialect: Dialect, point: HookPoint) -> Result<Statement, String> {
    let (text, params) = bind_markers(template, point, |n| match dialect {
        Dialect::Postgres => format!("${n}"),
        Dialect::Sqlite | Dialect::Mysql => "?".to_string(),
    })?;
    Ok(Statement { text, params })
}

/// How a payload is bound: as the statement's parameter needs it, where
/// the database says (PostgreSQL types each parameter from where it goes);
/// otherwise text where it is UTF-8 and bytes where it is not, which MySQL
/// and SQLite take in text and binary columns alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadAs {
    Bytes,
    Text,
    AsItIs,
}

impl Statement {
    /// The values of this statement's parameters for one event; `payload`
    /// says, per parameter, how a payload goes (all [`PayloadAs::AsItIs`] when
    /// shorter). A payload that is not UTF-8 for a text parameter is refused.
    pub fn bind(&self, event: &Event, payload: &[PayloadAs]) -> Result<Vec<SqlValue>, String> {
        self.params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(match p.value(event) {
                    Value::Absent => SqlValue::Null,
                    Value::Text(t) => SqlValue::Text(t.to_string()),
                    Value::Int(i) => SqlValue::Int(i),
                    Value::Bytes(b) => {
                        match (payload.get(i).copied().unwrap_or(PayloadAs::AsItIs), std::str::from_utf8(b)) {
                            (PayloadAs::Bytes, _) => SqlValue::Bytes(b.to_vec()),
                            (PayloadAs::Text | PayloadAs::AsItIs, Ok(s)) => SqlValue::Text(s.to_string()),
                            (PayloadAs::AsItIs, Err(_)) => SqlValue::Bytes(b.to_vec()),
                            (PayloadAs::Text, Err(_)) => {
                                return Err(format!(
                                "parameter {} (${{payload}}) is text in this statement, and the payload is not UTF-8",
                                i + 1
                            ))
                            }
                        }
                    }
                    Value::TimestampMs(ms) => SqlValue::Timestamp(ms as i64),
                })
            })
            .collect()
    }

    /// Whether `${payload}` is among the parameters.
    fn binds_payload(&self) -> bool {
        self.params.contains(&Param::Payload)
    }
}

/// `{"sql": [...]}`: its statements, run in order; the first that fails ends it.
pub struct RawSql {
    pool: super::SqlPool,
    statements: Vec<Statement>,
    /// Per statement, how each parameter takes a payload, learnt once.
    payload: Vec<tokio::sync::OnceCell<Vec<PayloadAs>>>,
}

impl RawSql {
    pub fn new(pool: super::SqlPool, statements: Vec<Statement>) -> RawSql {
        let payload = statements.iter().map(|_| tokio::sync::OnceCell::new()).collect();
        RawSql { pool, statements, payload }
    }

    /// How `statement`'s parameters take a payload: PostgreSQL says what type
    /// each parameter is where it goes (`bytea`, `text`, ...); asked once.
    /// When it cannot say yet (a table that is not there), the statement
    /// runs as it is, and the database's own error says why.
    async fn payload_as(&self, index: usize) -> Vec<PayloadAs> {
        let statement = &self.statements[index];
        let super::SqlPool::Postgres(pg) = &self.pool else { return Vec::new() };
        if !statement.binds_payload() {
            return Vec::new();
        }
        let learnt = self.payload[index]
            .get_or_try_init(|| async {
                let types = crate::backends::pgsql::operations::parameter_types(pg, &statement.text).await?;
                Ok::<_, super::SqlError>(
                    types
                        .iter()
                        .map(|t| match t.as_str() {
                            "BYTEA" => PayloadAs::Bytes,
                            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "JSON" | "JSONB" | "XML" => PayloadAs::Text,
                            _ => PayloadAs::AsItIs,
                        })
                        .collect(),
                )
            })
            .await;
        learnt.cloned().unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl crate::backends::RawAction for RawSql {
    async fn run(&self, event: &Event) -> Result<(), crate::backends::RawError> {
        for (index, statement) in self.statements.iter().enumerate() {
            let error = |unavailable, message| crate::backends::RawError {
                what: "statement",
                index: Some(index + 1),
                unavailable,
                message,
            };
            let params = statement.bind(event, &self.payload_as(index).await).map_err(|m| error(false, m))?;
            self.pool
                .execute(&statement.text, params)
                .await
                .map_err(|e| error(matches!(e, super::SqlError::Unavailable(_)), e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placeholders become the dialect's parameters, in order; quotes around them go.
    #[test]
    fn compiles_per_dialect() {
        let s = compile(
            "insert into t(a, b) values(${clientid}, '${topic}')",
            Dialect::Postgres,
            HookPoint::SessionSubscribed,
        )
        .unwrap();
        assert_eq!(s.text, "insert into t(a, b) values($1, $2)");
        assert_eq!(s.params, [Param::ClientId, Param::Topic]);
        let s =
            compile("delete from sub where topic = ${topic}", Dialect::Mysql, HookPoint::SessionUnsubscribed).unwrap();
        assert_eq!(s.text, "delete from sub where topic = ?");
    }

    /// A placeholder the hook point does not offer, or one left open, is refused at load.
    #[test]
    fn refuses_unknown_and_unclosed() {
        let e = compile("insert into t values(${payload})", Dialect::Sqlite, HookPoint::ClientConnected).unwrap_err();
        assert!(e.contains("not available on client.connected"), "{e}");
        assert!(compile("insert into t values(${clientid)", Dialect::Sqlite, HookPoint::ClientConnected).is_err());
    }

    /// A placeholder inside a longer literal is refused; quoted whole, or
    /// after a literal with an escaped quote, it is bound.
    #[test]
    fn placeholders_inside_literals() {
        let point = HookPoint::ClientConnected;
        for inside in ["values('pfx-${clientid}')", "values('${clientid}-sfx')", "values('a ${clientid} b')"] {
            let e = compile(inside, Dialect::Mysql, point).unwrap_err();
            assert!(e.contains("inside a string literal"), "{inside}: {e}");
        }
        let ok = compile("values('it''s', '${clientid}', ${username})", Dialect::Postgres, point).unwrap();
        assert_eq!(ok.text, "values('it''s', $1, $2)");
        // Between two literals, the quotes belong to them, not to the placeholder.
        let between = compile("values('a'${clientid}'b', ''${username}'')", Dialect::Mysql, point).unwrap();
        assert_eq!(between.text, "values('a'?'b', ''?'')");
    }
}
