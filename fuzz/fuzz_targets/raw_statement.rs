//! The raw statement compilers: SQL (`{"sql": [...]}`, in each dialect),
//! Redis (`{"commands": [...]}`) and CQL (`{"cql": [...]}`). Any template
//! either compiles or is refused, never panics, and what compiles keeps
//! the event's values out of the statement:
//! - SQL and CQL: no `${` is left in the text; each placeholder became one
//!   marker (`?`, or `$n` for PostgreSQL) outside quoted text, with one value
//!   bound to it; the dialects accept and refuse the same templates;
//! - Redis: a command has one argument per space-separated field of its
//!   template whatever the values hold (spaces, CR LF), and a field with no
//!   placeholder is sent exactly as written.
//!
//! Input: a byte choosing the hook point, then the template, client id,
//! username, topic and payload, separated by NUL bytes; the values are made
//! hostile (quotes, spaces, CR LF, `${...}`) whatever the input holds.

#![no_main]

use bytes::Bytes;
use cistern::backends::{cassa, redis, sql};
use cistern::model::{Client, Event, HookPoint, Message, Subscription};
use libfuzzer_sys::fuzz_target;

fn event(point: HookPoint, clientid: &str, username: &str, topic: &str, payload: &[u8]) -> Event {
    let hostile = |s: &str| format!("{s}' OR '1'='1 \r\nFLUSHALL ${{clientid}}");
    let client = Client {
        clientid: hostile(clientid),
        username: Some(hostile(username)),
        peerhost: Some("127.0.0.1".into()),
        node: "node 1".into(),
        clean_start: true,
        persistent: false,
    };
    let message = Message {
        id: "0006E3AB6F4B4F8A".into(),
        topic: hostile(topic),
        payload: Bytes::copy_from_slice(payload),
        qos: 1,
        retain: false,
        sender: hostile(clientid),
        timestamp_ms: 1_560_743_513_626,
    };
    match point {
        HookPoint::ClientConnected => Event::ClientConnected(client),
        HookPoint::ClientDisconnected => Event::ClientDisconnected(client),
        HookPoint::SessionCreated => Event::SessionCreated(client),
        HookPoint::SessionTerminated => Event::SessionTerminated(client),
        HookPoint::SessionSubscribed => Event::SessionSubscribed {
            client,
            subscription: Subscription { topic: hostile(topic), qos: 2 },
            resumed: false,
        },
        HookPoint::SessionUnsubscribed => Event::SessionUnsubscribed { client, topic: hostile(topic) },
        HookPoint::MessagePublish => Event::MessagePublish { client, message },
        HookPoint::MessageDelivered => Event::MessageDelivered { client, message },
        HookPoint::MessageAcked => Event::MessageAcked { client, message },
        HookPoint::MessageOffline => Event::MessageOffline { client, message },
    }
}

/// How many times `c` occurs outside single-quoted text.
fn unquoted(text: &str, c: char) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for ch in text.chars() {
        if ch == '\'' {
            quoted = !quoted;
        } else if ch == c && !quoted {
            n += 1;
        }
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let [selector, rest @ ..] = data else { return };
    let point = HookPoint::ALL[usize::from(*selector) % HookPoint::ALL.len()];
    let mut parts = rest.splitn(5, |b| *b == 0);
    let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (template, clientid, username, topic) = (text(), text(), text(), text());
    let payload = parts.next().unwrap_or_default();
    let event = event(point, &clientid, &username, &topic, payload);
    assert_eq!(event.hook_point(), point);

    // SQL, in each dialect, and CQL.
    let placeholders = template.matches("${").count();
    let sqlite = sql::raw::compile(&template, sql::Dialect::Sqlite, point);
    let mysql = sql::raw::compile(&template, sql::Dialect::Mysql, point);
    let postgres = sql::raw::compile(&template, sql::Dialect::Postgres, point);
    let cql = cassa::raw::compile(&template, point);
    assert_eq!(sqlite.is_ok(), postgres.is_ok(), "the dialects disagree on {template:?}");
    assert_eq!(sqlite.is_ok(), cql.is_ok(), "SQL and CQL disagree on {template:?}");
    assert_eq!(sqlite.as_ref().map(|s| &s.text), mysql.as_ref().map(|s| &s.text));
    if let (Ok(sqlite), Ok(postgres), Ok(cql)) = (&sqlite, &postgres, &cql) {
        assert_eq!(sqlite.text, cql.text);
        for s in [&sqlite.text, &postgres.text] {
            assert!(!s.contains("${"), "{template:?} compiled to {s:?}");
        }
        assert_eq!(
            unquoted(&sqlite.text, '?'),
            unquoted(&template, '?') + placeholders,
            "a marker of {template:?} is in quoted text: {:?}",
            sqlite.text
        );
        assert_eq!(
            postgres.text.matches('$').count(),
            template.matches('$').count(),
            "{template:?} compiled to {:?}",
            postgres.text
        );
        for s in [sqlite, postgres] {
            if let Ok(values) = s.bind(&event, &[]) {
                assert_eq!(values.len(), placeholders, "{template:?}: values {values:?}");
            }
            let text = [sql::raw::PayloadAs::Text; 16];
            let _ = s.bind(&event, &text[..placeholders.min(16)]);
        }
        assert_eq!(cql.bind(&event).len(), placeholders);
    }

    // Redis.
    if let Ok(command) = redis::raw::compile(&template, point) {
        let fields: Vec<&str> = template.split(' ').collect();
        let args = command.args(&event);
        assert_eq!(args.len(), fields.len(), "{template:?} sent as {args:?}");
        assert_eq!(args[0], fields[0].as_bytes(), "the command's name");
        let bare = ["clientid", "username", "peerhost", "node", "msgid", "topic", "payload", "qos", "retain", "sender"];
        for (field, arg) in fields.iter().zip(&args).skip(1) {
            if !field.contains("${") && !bare.contains(field) && *field != "timestamp" {
                assert_eq!(arg.as_slice(), field.as_bytes(), "{template:?} sent as {args:?}");
            }
        }
    }
});
