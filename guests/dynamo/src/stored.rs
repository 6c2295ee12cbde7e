//! A message as the seed's `mqtt_msg` and `mqtt_retain` items hold it:
//! `msgid`, `topic`, `sender` (S), `qos`, `retain` (`1` or `0`), `arrived`
//! (N, seconds, as the seed's examples show) and `payload`: S as the seed
//! shows when the payload is UTF-8 text, B (the bytes as published) when it
//! is not, and left out when it is empty.

use cistern_guest::Message;

use crate::db::{self, n, s, Item, Value};

pub fn to_item(m: &Message) -> Item {
    let mut item = db::item([
        ("msgid", s(&m.id)),
        ("topic", s(&m.topic)),
        ("sender", s(&m.sender)),
        ("qos", n(m.qos)),
        ("retain", n(u8::from(m.retain))),
        ("arrived", n((m.timestamp_ms / 1000) as i64)),
    ]);
    if !m.payload.is_empty() {
        let payload = match std::str::from_utf8(&m.payload) {
            Ok(text) => s(text),
            Err(_) => Value::B(m.payload.clone()),
        };
        item.push(("payload".into(), payload));
    }
    item
}

/// A message from its item; `None` when the item is not one.
pub fn from_item(item: &Item) -> Option<Message> {
    let payload = match db::get(item, "payload") {
        Some(Value::S(text)) => text.clone().into_bytes(),
        Some(Value::B(bytes)) => bytes.clone(),
        _ => Vec::new(),
    };
    Some(Message {
        id: db::text(item, "msgid")?,
        topic: db::text(item, "topic")?,
        payload,
        qos: db::int(item, "qos").unwrap_or(0).clamp(0, 2) as u8,
        retain: db::int(item, "retain").unwrap_or(0) != 0,
        sender: db::text(item, "sender").unwrap_or_default(),
        timestamp_ms: db::int(item, "arrived").unwrap_or(0).max(0) as u64 * 1000,
    })
}

/// Microseconds since the epoch at which the message was made, from its id
/// ([`cistern_guest::id_micros`]); `None` for an id of another shape.
pub fn id_micros(id: &str) -> Option<u64> {
    cistern_guest::id_micros(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> Message {
        Message {
            id: "00060A24181E4000ABCD".into(),
            topic: "a/'b\"/$c.d\0é".into(),
            payload: payload.to_vec(),
            qos: 1,
            retain: true,
            sender: "x'\0".into(),
            timestamp_ms: 1_700_000_000_000,
        }
    }

    /// Text, bytes and empty payloads come back as they went in.
    #[test]
    fn round_trip() {
        for payload in [&b"hello"[..], &[0xff, 0, 1][..], &[][..]] {
            let m = message(payload);
            let back = from_item(&to_item(&m)).unwrap();
            assert_eq!(back.payload, m.payload);
            assert_eq!((back.id, back.topic, back.sender), (m.id.clone(), m.topic.clone(), m.sender.clone()));
            assert_eq!((back.qos, back.retain, back.timestamp_ms), (1, true, m.timestamp_ms));
        }
        assert!(matches!(db::get(&to_item(&message(b"hi")), "payload"), Some(Value::S(_))));
        assert!(matches!(db::get(&to_item(&message(&[0xff])), "payload"), Some(Value::B(_))));
    }

    #[test]
    fn micros() {
        assert_eq!(id_micros("00060A24181E4000ABCD"), Some(0x00060A24181E4000));
        assert_eq!(id_micros("not-an-id"), None);
    }
}
