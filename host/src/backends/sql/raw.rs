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

impl Statement {
    /// The values of this statement's parameters for one event.
    pub fn bind(&self, event: &Event) -> Vec<SqlValue> {
        self.params
            .iter()
            .map(|p| match p.value(event) {
                Value::Absent => SqlValue::Null,
                Value::Text(t) => SqlValue::Text(t.to_string()),
                Value::Int(i) => SqlValue::Int(i),
                // Text where it is text, so it lands in text columns as the seed's tables expect.
                Value::Bytes(b) => match std::str::from_utf8(b) {
                    Ok(s) => SqlValue::Text(s.to_string()),
                    Err(_) => SqlValue::Bytes(b.to_vec()),
                },
                Value::TimestampMs(ms) => SqlValue::Timestamp(ms as i64),
            })
            .collect()
    }
}

/// `{"sql": [...]}`: its statements, run in order; the first that fails ends it.
pub struct RawSql {
    pub pool: super::SqlPool,
    pub statements: Vec<Statement>,
}

#[async_trait::async_trait]
impl crate::backends::RawAction for RawSql {
    async fn run(&self, event: &Event) -> Result<(), crate::backends::RawError> {
        for (index, statement) in self.statements.iter().enumerate() {
            self.pool.execute(&statement.text, statement.bind(event)).await.map_err(|e| crate::backends::RawError {
                what: "statement",
                index: Some(index + 1),
                unavailable: matches!(e, super::SqlError::Unavailable(_)),
                message: e.to_string(),
            })?;
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
    }
}
