//! The `${name}` parameters raw actions (`sql`, `commands`) use: their
//! names, which hook points offer them, and their values for one event.

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
