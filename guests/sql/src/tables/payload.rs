//! A message's payload as the value its table's payload column takes: bytes
//! into a binary column; into a text column, text, or a refusal when the
//! bytes are not text that column can hold. A refused message is not stored
//! at all, rather than stored altered (a lossy conversion would hand a
//! subscriber different bytes than were published).

use cistern_guest::{Error, Message, Value};

use super::columns::PayloadColumn;

/// The payload of `m` for the column `table.payload`.
pub fn value(column: PayloadColumn, table: &str, m: &Message) -> Result<Value, Error> {
    let PayloadColumn::Text(limits) = column else {
        return Ok(Value::Bytes(m.payload.clone()));
    };
    let refuse = |why: &str| {
        Error::InvalidInput(format!(
            "message {} on topic {:?} not stored: its payload {why}, and {table}.payload is a text column \
             (a binary column, bytea or blob, takes any payload)",
            m.id, m.topic
        ))
    };
    let text = std::str::from_utf8(&m.payload).map_err(|_| refuse("is not UTF-8"))?;
    if limits.no_nul && text.contains('\0') {
        return Err(refuse("holds a NUL byte, which PostgreSQL's text types cannot"));
    }
    if limits.bmp_only && text.chars().any(|c| c > '\u{FFFF}') {
        return Err(refuse("holds a character beyond U+FFFF, which MySQL's utf8 (utf8mb3) cannot"));
    }
    Ok(Value::Text(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::columns::TextLimits;

    /// Limits of no column: a text column of SQLite, or MySQL's utf8mb4.
    const PLAIN: TextLimits = TextLimits { no_nul: false, bmp_only: false };

    fn message(payload: &[u8]) -> Message {
        Message {
            id: "m1".into(),
            topic: "t/1".into(),
            payload: payload.to_vec(),
            qos: 1,
            retain: false,
            sender: "s".into(),
            timestamp_ms: 0,
        }
    }

    /// A binary column takes any bytes as they are.
    #[test]
    fn binary_takes_anything() {
        let v = value(PayloadColumn::Binary, "mqtt_msg", &message(b"\xff\0")).unwrap();
        assert!(matches!(v, Value::Bytes(ref b) if b == b"\xff\0"), "{v:?}");
    }

    /// A text column takes UTF-8 as text.
    #[test]
    fn text_takes_utf8() {
        let v = value(PayloadColumn::Text(PLAIN), "mqtt_msg", &message("21.5 °C".as_bytes())).unwrap();
        assert!(matches!(v, Value::Text(ref t) if t == "21.5 °C"), "{v:?}");
    }

    /// Bytes that are not UTF-8 are refused, naming the message, its topic and the column.
    #[test]
    fn text_refuses_what_is_not_utf8() {
        let Err(Error::InvalidInput(why)) = value(PayloadColumn::Text(PLAIN), "mqtt_msg", &message(b"\xff\xfe")) else {
            panic!("not refused")
        };
        assert!(why.contains("message m1") && why.contains("\"t/1\"") && why.contains("mqtt_msg.payload"), "{why}");
        assert!(why.contains("not UTF-8"), "{why}");
    }

    /// What a dialect's text cannot hold is refused there and taken elsewhere.
    #[test]
    fn dialect_limits() {
        let pg = PayloadColumn::Text(TextLimits { no_nul: true, bmp_only: false });
        let utf8mb3 = PayloadColumn::Text(TextLimits { no_nul: false, bmp_only: true });
        assert!(value(pg, "mqtt_retain", &message(b"a\0b")).is_err());
        assert!(value(utf8mb3, "mqtt_retain", &message(b"a\0b")).is_ok());
        assert!(value(utf8mb3, "mqtt_retain", &message("🌡".as_bytes())).is_err());
        assert!(value(pg, "mqtt_retain", &message("🌡".as_bytes())).is_ok());
    }
}
