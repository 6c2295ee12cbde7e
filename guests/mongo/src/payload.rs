//! How a message's payload is stored, by the hook's `payload_format`:
//! `mongo_json` stores a payload that is a JSON object as a document (its
//! fields queryable), anything else as a string; `plain_text` (the default)
//! always as a string. A payload that is not UTF-8 cannot be a BSON string
//! and is stored as binary data, its bytes as they are.

use cistern_guest::{Context, Error};
use serde_json::Value;

use crate::db::Doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    MongoJson,
    PlainText,
}

/// The hook's `payload_format`, from its JSON entry (the host has checked the value).
pub fn format(ctx: &Context) -> Result<Format, Error> {
    let entry: Value = serde_json::from_str(&ctx.options)
        .map_err(|e| Error::InvalidInput(format!("the action's options are not JSON: {e}")))?;
    match entry.get("payload_format").and_then(Value::as_str) {
        Some("mongo_json") => Ok(Format::MongoJson),
        None | Some("plain_text") => Ok(Format::PlainText),
        Some(other) => Err(Error::InvalidInput(format!("payload_format {other:?}: expected mongo_json or plain_text"))),
    }
}

/// Sets `payload` on `doc`; true when it went in as a document.
pub fn set(doc: &mut Doc, payload: &[u8], format: Format) -> bool {
    if format == Format::MongoJson {
        if let Ok(object @ Value::Object(_)) = serde_json::from_slice::<Value>(payload) {
            doc.fields.insert("payload".into(), object);
            return true;
        }
    }
    set_text(doc, payload);
    false
}

/// Sets `payload` on `doc` as a string, or as binary data when it is not UTF-8.
pub fn set_text(doc: &mut Doc, payload: &[u8]) {
    doc.binary.retain(|(k, _)| k != "payload");
    match std::str::from_utf8(payload) {
        Ok(s) => {
            doc.fields.insert("payload".into(), Value::String(s.to_string()));
        }
        Err(_) => {
            doc.fields.insert("payload".into(), Value::Null);
            doc.binary.push(("payload".into(), payload.to_vec()));
        }
    }
}

/// A stored payload's bytes: a string's or binary data's as they are, a
/// document's (or any other value's) as compact JSON.
pub fn read(doc: &Doc) -> Vec<u8> {
    if let Some(b) = doc.bytes("payload") {
        return b;
    }
    match doc.fields.get("payload") {
        None | Some(Value::Null) => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mongo_json keeps an object as a document; text, arrays, numbers and
    /// broken JSON stay strings; bytes that are not UTF-8 are binary.
    #[test]
    fn stores_by_format() {
        let mut d = Doc::default();
        assert!(set(&mut d, br#"{"t": 21, "$oid": "x"}"#, Format::MongoJson));
        assert_eq!(d.fields["payload"]["t"], 21);
        assert_eq!(read(&d), br#"{"t":21,"$oid":"x"}"#);
        for text in [&b"[1, 2]"[..], b"42", b"{not json", b"\"s\""] {
            let mut d = Doc::default();
            assert!(!set(&mut d, text, Format::MongoJson));
            assert_eq!(d.fields["payload"], Value::String(String::from_utf8(text.to_vec()).unwrap()));
            assert_eq!(read(&d), text);
        }
        let mut d = Doc::default();
        assert!(!set(&mut d, br#"{"t": 1}"#, Format::PlainText));
        assert_eq!(d.fields["payload"], r#"{"t": 1}"#);
        let mut d = Doc::default();
        assert!(!set(&mut d, &[0xff, 0, 0xfe], Format::MongoJson));
        assert_eq!(d.binary, [("payload".to_string(), vec![0xff, 0, 0xfe])]);
        assert_eq!(read(&d), [0xff, 0, 0xfe]);
    }
}
