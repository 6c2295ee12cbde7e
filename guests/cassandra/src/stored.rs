//! A message as the seed's `msg` table holds it: `topic`, `msgid`,
//! `sender`, `qos`, `retain` (1 or 0), `payload` (text) and `arrived` (a
//! timestamp). The seed's payload column is text, so a payload that is
//! not UTF-8 is refused with an error saying so, never stored mangled.

use cistern_guest::{Error, Message};

use crate::db::{self, text, Row, Value};

/// The columns [`from_row`] reads, in its order.
pub const COLUMNS: &str = "topic, msgid, sender, qos, retain, payload, arrived";

/// Inserts (an upsert, keyed on topic and msgid, so a replay stores nothing twice).
pub const INSERT: &str =
    "INSERT INTO msg (topic, msgid, sender, qos, retain, payload, arrived) VALUES (?, ?, ?, ?, ?, ?, ?)";

/// The values of [`INSERT`] for a message.
pub fn values(m: &Message) -> Result<Vec<Value>, Error> {
    let payload = std::str::from_utf8(&m.payload).map_err(|_| {
        Error::InvalidInput(format!(
            "message {} on {:?}: the payload is not UTF-8 text, and the seed's msg.payload column is text",
            m.id, m.topic
        ))
    })?;
    Ok(vec![
        text(&m.topic),
        text(&m.id),
        text(&m.sender),
        Value::Int(m.qos.into()),
        Value::Int(m.retain.into()),
        text(payload),
        Value::Timestamp(m.timestamp_ms as i64),
    ])
}

/// A message from a row of [`COLUMNS`]; `None` when it is not one.
pub fn from_row(row: &Row) -> Option<Message> {
    Some(Message {
        topic: db::get_text(row, 0)?,
        id: db::get_text(row, 1)?,
        sender: db::get_text(row, 2).unwrap_or_default(),
        qos: db::get_int(row, 3).unwrap_or(0).clamp(0, 2) as u8,
        retain: db::get_int(row, 4).unwrap_or(0) != 0,
        payload: db::get_text(row, 5).unwrap_or_default().into_bytes(),
        timestamp_ms: db::get_int(row, 6).unwrap_or(0).max(0) as u64,
    })
}

/// The smallest message id of a message made at or after `ms` (the host's
/// ids are 16 upper-case hex digits of microseconds, then 4 of the node,
/// so they sort as text in the order they were made).
pub fn first_id_at(ms: u64) -> String {
    format!("{:016X}", ms.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let ms = 1_700_000_000_000;
        let made_then = format!("{}00AB", first_id_at(ms));
        let made_before = format!("{}FFFF", first_id_at(ms - 1));
        assert!(made_then > first_id_at(ms));
        assert!(made_before < first_id_at(ms));
    }
}
