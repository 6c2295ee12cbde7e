//! A value bound to a statement or read from a row.

use chrono::{DateTime, NaiveDateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

impl SqlValue {
    /// The timestamp as a UTC date and time without zone, as the seed's
    /// `datetime` / `timestamp without time zone` columns hold it.
    pub fn naive_utc(ms: i64) -> NaiveDateTime {
        DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().naive_utc()
    }

    pub fn millis(t: NaiveDateTime) -> i64 {
        t.and_utc().timestamp_millis()
    }

    /// What the value weighs in a result: text and blobs their length, anything else 8.
    pub fn size(&self) -> usize {
        match self {
            SqlValue::Text(s) => s.len(),
            SqlValue::Bytes(b) => b.len(),
            _ => 8,
        }
    }
}
