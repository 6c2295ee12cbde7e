//! Raw Redis actions: `{"commands": ["SET conn:${clientid} clientid", ...]}`.
//!
//! Each command is split once, at load, into fields separated by exactly one
//! space; at run time each field becomes exactly one argument, sent as its
//! own binary-safe value, so a client id holding spaces or `\r\n` stays one
//! argument and can never add a command. A field is either text with
//! `${name}` placeholders in it (`conn:${clientid}`), or, as the seed's
//! examples write it, a bare parameter name standing for its value
//! (`SET conn:${clientid} clientid` stores the client id).

use crate::actions::params::{Param, Value};
use crate::model::{Event, HookPoint};

/// A command ready to run: its fields, each one argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The template as written, for errors.
    pub text: String,
    fields: Vec<Vec<Part>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Param(Param),
}

/// The bare words that stand for a value at each hook point: the seed's
/// "Redis Command Line Parameters" table. Other words are literal text.
fn bare_words(point: HookPoint) -> &'static [&'static str] {
    match point {
        HookPoint::ClientConnected
        | HookPoint::ClientDisconnected
        | HookPoint::SessionCreated
        | HookPoint::SessionTerminated => &["clientid"],
        HookPoint::SessionSubscribed => &["clientid", "topic", "qos"],
        HookPoint::SessionUnsubscribed => &["clientid", "topic"],
        HookPoint::MessagePublish => &["msgid", "topic", "payload", "qos", "clientid"],
        HookPoint::MessageDelivered | HookPoint::MessageAcked | HookPoint::MessageOffline => {
            &["msgid", "topic", "clientid"]
        }
    }
}

/// Compiles one command for `point`. Refuses empty fields (two spaces in a
/// row), a placeholder in the command's name, and placeholders the hook
/// point does not offer.
pub fn compile(template: &str, point: HookPoint) -> Result<Command, String> {
    let mut fields = Vec::new();
    for (i, field) in template.split(' ').enumerate() {
        if field.is_empty() {
            return Err(format!(
                "command {template:?} has an empty field; its fields are separated by exactly one space"
            ));
        }
        if i == 0 {
            if field.contains("${") {
                return Err(format!("command {template:?}: the command's name cannot be a placeholder"));
            }
            fields.push(vec![Part::Text(field.to_string())]);
        } else if bare_words(point).contains(&field) {
            fields.push(vec![Part::Param(Param::at(field, point).expect("every bare word is a parameter there"))]);
        } else {
            fields.push(parts(field, template, point)?);
        }
    }
    // What is written out is checked now; what placeholders bring, when it is sent.
    let written: Vec<Vec<u8>> =
        template.split(' ').filter(|f| !f.contains("${")).map(|f| f.as_bytes().to_vec()).collect();
    super::policy::check(&written).map_err(|e| format!("command {template:?}: {e}"))?;
    Ok(Command { text: template.to_string(), fields })
}

/// A field's literal text and `${name}` placeholders.
fn parts(field: &str, template: &str, point: HookPoint) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = field;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        let close = after.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in {template:?}"))?;
        let param = Param::at(&after[2..close], point)?;
        if !before.is_empty() {
            parts.push(Part::Text(before.to_string()));
        }
        parts.push(Part::Param(param));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

impl Command {
    /// The command's arguments for one event: one per field, whatever the values hold.
    pub fn args(&self, event: &Event) -> Vec<Vec<u8>> {
        self.fields
            .iter()
            .map(|parts| {
                let mut arg = Vec::new();
                for p in parts {
                    match p {
                        Part::Text(t) => arg.extend_from_slice(t.as_bytes()),
                        Part::Param(p) => value(*p, event, &mut arg),
                    }
                }
                arg
            })
            .collect()
    }
}

/// Appends a parameter's value. A value the event lacks (no username) is
/// empty, never a missing argument.
fn value(p: Param, event: &Event, out: &mut Vec<u8>) {
    match p.value(event) {
        Value::Absent => {}
        Value::Text(t) => out.extend_from_slice(t.as_bytes()),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Bytes(b) => out.extend_from_slice(b),
        // Seconds, as the seed's stored `ts` fields are.
        Value::TimestampMs(ms) => out.extend_from_slice((ms / 1000).to_string().as_bytes()),
    }
}

/// `{"commands": [...]}`: sent as one pipeline, one round trip for all of them.
pub struct RawCommands {
    pub pool: super::RedisPool,
    pub commands: Vec<Command>,
}

#[async_trait::async_trait]
impl crate::backends::RawAction for RawCommands {
    async fn run(&self, event: &Event) -> Result<(), crate::backends::RawError> {
        use super::{operations, RedisError};
        let failed = |index: Option<usize>, e: RedisError| crate::backends::RawError {
            what: "command",
            index,
            unavailable: matches!(e, RedisError::Unavailable(_)),
            message: e.to_string(),
        };
        let args: Vec<Vec<Vec<u8>>> = self.commands.iter().map(|c| c.args(event)).collect();
        let replies = operations::pipeline(&self.pool, &args, false).await.map_err(|e| failed(None, e))?;
        // Redis refused one command; the others of the pipeline ran.
        for (index, reply) in replies.iter().enumerate() {
            if let Some(e) = operations::server_error(reply) {
                return Err(failed(Some(index + 1), RedisError::Command(e)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Client, Message, Subscription};

    fn client(id: &str) -> Client {
        Client {
            clientid: id.into(),
            username: None,
            peerhost: None,
            node: "n@h".into(),
            clean_start: true,
            persistent: false,
        }
    }

    /// The seed's examples: `${}` inside a field, bare words standing for values.
    #[test]
    fn the_seed_examples() {
        let c = compile("SET conn:${clientid} clientid", HookPoint::ClientConnected).unwrap();
        assert_eq!(c.args(&Event::ClientConnected(client("dev1"))), [&b"SET"[..], b"conn:dev1", b"dev1"]);

        let c = compile("HSET sub:${clientid} topic qos", HookPoint::SessionSubscribed).unwrap();
        let e = Event::SessionSubscribed {
            client: client("d"),
            subscription: Subscription { topic: "a/b".into(), qos: 2 },
            resumed: false,
        };
        assert_eq!(c.args(&e), [&b"HSET"[..], b"sub:d", b"a/b", b"2"]);
    }

    /// A hostile value stays one argument; a binary payload goes as it is.
    #[test]
    fn values_never_split() {
        let c = compile("RPUSH pub:${topic} ${clientid}:${payload}", HookPoint::MessagePublish).unwrap();
        let e = Event::MessagePublish {
            client: client("a b\r\nFLUSHALL\r\n"),
            message: Message {
                id: "00000000000000010000".into(),
                topic: "t x".into(),
                payload: bytes::Bytes::from_static(b"\xff\x00 \r\n"),
                qos: 1,
                retain: false,
                sender: "a b".into(),
                timestamp_ms: 1_500,
            },
        };
        let args = c.args(&e);
        assert_eq!(args.len(), 3);
        assert_eq!(args[1], b"pub:t x");
        assert_eq!(args[2], b"a b\r\nFLUSHALL\r\n:\xff\x00 \r\n");
    }

    /// Empty fields, placeholder command names and unknown placeholders are refused at load.
    #[test]
    fn refuses_at_load() {
        for (bad, point) in [
            ("SET  a b", HookPoint::ClientConnected),
            ("SET a b ", HookPoint::ClientConnected),
            ("${clientid} a", HookPoint::ClientConnected),
            ("SET a ${payload}", HookPoint::ClientConnected),
            ("SET a ${clientid", HookPoint::ClientConnected),
        ] {
            assert!(compile(bad, point).is_err(), "{bad:?} on {point}");
        }
        // Words that are no parameter here are literal text.
        let c = compile("SET k payload", HookPoint::ClientConnected).unwrap();
        assert_eq!(c.args(&Event::ClientConnected(client("x")))[2], b"payload");
    }
}
