//! Reading typed values out of the rows a query returns.

use crate::Value;

/// The value as text, if it is text (or bytes that are UTF-8).
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The value as an integer; text holding a number counts too, since
/// some seed schemas keep numbers in text columns (MySQL's `state varchar(3)`).
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::Boolean(b) => Some(i64::from(*b)),
        Value::Float(f) => Some(*f as i64),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The value as raw bytes: a payload may sit in a blob or, in older schemas, a text column.
pub fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::Bytes(b) => b.clone(),
        Value::Text(s) => s.clone().into_bytes(),
        _ => Vec::new(),
    }
}

/// The value as milliseconds since the epoch.
pub fn timestamp_ms(value: &Value) -> Option<i64> {
    match value {
        Value::Timestamp(ms) => Some(*ms),
        Value::Int(secs) => Some(secs * 1000),
        _ => None,
    }
}
