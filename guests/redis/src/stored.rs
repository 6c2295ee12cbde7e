//! A message as the seed's hashes hold it (`mqtt:msg:${msgid}` and
//! `mqtt:retain:${topic}`): fields `id`, `from`, `qos`, `topic`, `retain`
//! (`1` or `0`), `payload` (the bytes as published) and `ts` (seconds, as
//! the seed's examples show); and its score in the topic's sorted set.

use cistern_guest::redis::{Cmd, Reply};
use cistern_guest::{settings, Context, Error, Message};

/// The seed's default time to live of stored messages, in seconds.
const DEFAULT_TTL: u64 = 3600;

/// `msg.expired_after`: seconds; absent, or `=< 0`, takes the seed's default.
pub fn ttl(ctx: &Context) -> Result<u64, Error> {
    match settings::get(ctx, "msg.expired_after") {
        None => Ok(DEFAULT_TTL),
        Some(v) => {
            let secs: i64 = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidInput(format!("msg.expired_after = {v:?} is not a number of seconds")))?;
            Ok(if secs <= 0 { DEFAULT_TTL } else { secs as u64 })
        }
    }
}

/// The message's fields appended to an `HSET key`.
pub fn hset(cmd: Cmd, m: &Message) -> Cmd {
    cmd.arg("id")
        .arg(&m.id)
        .arg("from")
        .arg(&m.sender)
        .arg("qos")
        .num(m.qos)
        .arg("topic")
        .arg(&m.topic)
        .arg("retain")
        .arg(if m.retain { "1" } else { "0" })
        .arg("payload")
        .arg(&m.payload)
        .arg("ts")
        .num(m.timestamp_ms / 1000)
}

/// A message from an HGETALL of its hash; `None` when the hash is gone
/// (expired) or is not a message.
pub fn from_hash(reply: Reply) -> Option<Message> {
    let mut m = Message {
        id: String::new(),
        topic: String::new(),
        payload: Vec::new(),
        qos: 0,
        retain: false,
        sender: String::new(),
        timestamp_ms: 0,
    };
    let text = |r: Reply| r.into_bytes().and_then(|b| String::from_utf8(b).ok());
    for (field, value) in reply.into_pairs() {
        match field.as_slice() {
            b"id" => m.id = text(value)?,
            b"from" => m.sender = text(value).unwrap_or_default(),
            b"qos" => m.qos = value.as_int().unwrap_or(0).clamp(0, 2) as u8,
            b"topic" => m.topic = text(value)?,
            b"retain" => m.retain = matches!(value.into_bytes().as_deref(), Some(b"1" | b"true")),
            b"payload" => m.payload = value.into_bytes().unwrap_or_default(),
            b"ts" => m.timestamp_ms = value.as_int().unwrap_or(0).max(0) as u64 * 1000,
            _ => {}
        }
    }
    (!m.id.is_empty() && !m.topic.is_empty()).then_some(m)
}

/// The message's score in `mqtt:msg:${topic}`: the microseconds of its id.
///
/// The host's ids begin with 16 hex digits of microseconds
/// ([`cistern_guest::id_micros`]), so a score is exact in a double (until the year 2255), and Redis orders
/// members of equal score by the member itself: reading by score gives the
/// messages in id order, which is the order they were published in. An id
/// of another shape falls back to the message's timestamp.
pub fn score(id: &str, timestamp_ms: u64) -> u64 {
    cistern_guest::id_micros(id).unwrap_or(timestamp_ms.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores follow ids in time; an odd id takes its timestamp.
    #[test]
    fn scores() {
        assert_eq!(score("00060A24181E4000ABCD", 0), 0x00060A24181E4000);
        assert!(score("00060A24181E4001ABCD", 0) > score("00060A24181E4000FFFF", 0));
        assert_eq!(score("00060A24181E40000123456789ABCDEF", 0), 0x00060A24181E4000);
        assert_eq!(score("not-an-id", 1_700_000_000_123), 1_700_000_000_123_000);
    }
}
