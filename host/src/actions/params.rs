//! The `${name}` parameters raw actions (`sql`, `commands`, `cql`) use: their
//! names, which hook points offer them, their values for one event, and how
//! a statement's placeholders become bound markers.

use crate::model::{Event, HookPoint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
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

/// A parameter's value for one event, before a raw action renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// The event has none (no username, say).
    Absent,
    Text(&'a str),
    Int(i64),
    Bytes(&'a [u8]),
    /// Milliseconds since the Unix epoch.
    TimestampMs(u64),
}

/// A statement's `${name}` placeholders, turned into the database's bound
/// markers (`marker(n)` for the n-th, from 1), and the parameters to bind.
/// A placeholder written in quotes (`'${clientid}'`) is bound all the same,
/// quotes dropped; one inside a longer literal (`'pfx-${clientid}'`) is
/// refused, since a bound value can only ever be a whole value.
pub fn bind_markers(
    template: &str,
    point: HookPoint,
    marker: impl Fn(usize) -> String,
) -> Result<(String, Vec<Param>), String> {
    let mut text = String::with_capacity(template.len());
    let mut params = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        let close = after.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in {template:?}"))?;
        let param = Param::at(&after[2..close], point)?;
        let mut after = &after[close + 1..];
        let mut before = before;
        // An odd count of quotes so far means the placeholder sits inside a
        // literal (a doubled quote inside one counts twice, so it cancels).
        // Only a literal that is exactly the placeholder loses its quotes:
        // `'a'${x}'b'` has two literals beside it, which stay as written.
        let in_literal = (text.matches('\'').count() + before.matches('\'').count()) % 2 == 1;
        if in_literal && before.ends_with('\'') && after.starts_with('\'') {
            before = &before[..before.len() - 1];
            after = &after[1..];
        } else if in_literal {
            let name = &rest[start + 2..start + close];
            return Err(format!(
                "`${{{name}}}` is inside a string literal in {template:?}: a value is bound whole, never spliced \
                 into text; build the text in the statement instead, e.g. CONCAT('pfx-', ${{{name}}}) or \
                 'pfx-' || ${{{name}}} in SQL"
            ));
        }
        text.push_str(before);
        params.push(param);
        text.push_str(&marker(params.len()));
        rest = after;
    }
    text.push_str(rest);
    Ok((text, params))
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

    /// The parameter `name`, if `point` offers it; the error lists what it offers.
    pub fn at(name: &str, point: HookPoint) -> Result<Param, String> {
        let offered = point.parameters();
        match Param::parse(name).filter(|_| offered.contains(&name)) {
            Some(p) => Ok(p),
            None => Err(format!(
                "`${{{name}}}` is not available on {point} (available: {})",
                offered.iter().map(|p| format!("${{{p}}}")).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    pub fn value(self, event: &Event) -> Value<'_> {
        fn text(s: Option<&str>) -> Value<'_> {
            s.map_or(Value::Absent, Value::Text)
        }
        let client = event.client();
        let message = event.message();
        match self {
            Param::ClientId => Value::Text(&client.clientid),
            Param::Username => text(client.username.as_deref()),
            Param::Peerhost => text(client.peerhost.as_deref()),
            Param::Node => Value::Text(&client.node),
            Param::Topic => text(event.topic()),
            Param::Qos => match event {
                Event::SessionSubscribed { subscription, .. } => Value::Int(subscription.qos.into()),
                _ => message.map_or(Value::Absent, |m| Value::Int(m.qos.into())),
            },
            Param::MsgId => text(message.map(|m| m.id.as_str())),
            Param::Payload => message.map_or(Value::Absent, |m| Value::Bytes(&m.payload)),
            Param::Retain => message.map_or(Value::Absent, |m| Value::Int(m.retain.into())),
            Param::Sender => text(message.map(|m| m.sender.as_str())),
            Param::Timestamp => message.map_or(Value::Absent, |m| Value::TimestampMs(m.timestamp_ms)),
        }
    }
}
