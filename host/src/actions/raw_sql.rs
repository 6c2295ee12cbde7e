//! Raw SQL actions: `${name}` placeholders compiled once, at load, into the
//! dialect's bound parameters. A value can never change a statement's text.

use crate::backends::sql::{Dialect, SqlValue};
use crate::model::{Event, HookPoint};

/// A statement ready to run: its text with placeholders, and what to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub text: String,
    params: Vec<Param>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    ClientId,
    Username,
    Peerhost,
    Node,
    Topic,
    Qos,
    MsgId,
    Payload,
    Retain,
    Sender,
    Timestamp,
}

impl Param {
    fn parse(name: &str) -> Option<Param> {
        Some(match name {
            "clientid" => Param::ClientId,
            "username" => Param::Username,
            "peerhost" => Param::Peerhost,
            "node" => Param::Node,
            "topic" => Param::Topic,
            "qos" => Param::Qos,
            "msgid" => Param::MsgId,
            "payload" => Param::Payload,
            "retain" => Param::Retain,
            "sender" => Param::Sender,
            "timestamp" => Param::Timestamp,
            _ => return None,
        })
    }
}

/// Compiles a statement for `point` in `dialect`. A placeholder written in
/// quotes (`'${clientid}'`) is bound all the same, quotes dropped.
pub fn compile(template: &str, dialect: Dialect, point: HookPoint) -> Result<Statement, String> {
    let mut text = String::with_capacity(template.len());
    let mut params = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        let close = after.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in {template:?}"))?;
        let name = &after[2..close];
        let allowed = point.parameters();
        if !allowed.contains(&name) {
            return Err(format!(
                "`${{{name}}}` is not available on {point} (available: {})",
                allowed.iter().map(|p| format!("${{{p}}}")).collect::<Vec<_>>().join(", ")
            ));
        }
        let param = Param::parse(name).expect("every listed parameter parses");
        let mut after = &after[close + 1..];
        let mut before = before;
        if before.ends_with('\'') && after.starts_with('\'') {
            before = &before[..before.len() - 1];
            after = &after[1..];
        }
        text.push_str(before);
        params.push(param);
        match dialect {
            Dialect::Postgres => text.push_str(&format!("${}", params.len())),
            Dialect::Sqlite | Dialect::Mysql => text.push('?'),
        }
        rest = after;
    }
    text.push_str(rest);
    Ok(Statement { text, params })
}

impl Statement {
    /// The values of this statement's parameters for one event.
    pub fn bind(&self, event: &Event) -> Vec<SqlValue> {
        let client = event.client();
        let message = event.message();
        let text_or_null = |s: Option<&String>| s.map_or(SqlValue::Null, |s| SqlValue::Text(s.clone()));
        self.params
            .iter()
            .map(|p| match p {
                Param::ClientId => SqlValue::Text(client.clientid.clone()),
                Param::Username => text_or_null(client.username.as_ref()),
                Param::Peerhost => text_or_null(client.peerhost.as_ref()),
                Param::Node => SqlValue::Text(client.node.clone()),
                Param::Topic => event.topic().map_or(SqlValue::Null, |t| SqlValue::Text(t.to_string())),
                Param::Qos => match event {
                    Event::SessionSubscribed { subscription, .. } => SqlValue::Int(subscription.qos.into()),
                    _ => message.map_or(SqlValue::Null, |m| SqlValue::Int(m.qos.into())),
                },
                Param::MsgId => message.map_or(SqlValue::Null, |m| SqlValue::Text(m.id.clone())),
                // Text where it is text, so it lands in text columns as the seed's tables expect.
                Param::Payload => message.map_or(SqlValue::Null, |m| match std::str::from_utf8(&m.payload) {
                    Ok(s) => SqlValue::Text(s.to_string()),
                    Err(_) => SqlValue::Bytes(m.payload.to_vec()),
                }),
                Param::Retain => message.map_or(SqlValue::Null, |m| SqlValue::Int(m.retain.into())),
                Param::Sender => message.map_or(SqlValue::Null, |m| SqlValue::Text(m.sender.clone())),
                Param::Timestamp => message.map_or(SqlValue::Null, |m| SqlValue::Timestamp(m.timestamp_ms as i64)),
            })
            .collect()
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
}
