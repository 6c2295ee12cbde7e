//! Plain JSON to BSON and back, for documents a guest sends as JSON text.
//!
//! Nothing is read as MongoDB's extended JSON (the `bson` crate's own
//! conversion would turn `{"$oid": "..."}` into an ObjectId): an object is a
//! document whatever its keys, so a payload holding such keys is stored as
//! written. Integers stay integers (32-bit when they fit, else 64-bit);
//! other numbers are doubles.

use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

/// A JSON object's text as a document; `binary` fields (bytes JSON cannot
/// carry) are set after it, replacing fields of the same name in place.
pub fn document(text: &str, binary: Vec<(String, Vec<u8>)>) -> Result<Document, String> {
    let mut doc = object(text)?;
    for (name, bytes) in binary {
        doc.insert(
            name,
            Bson::Binary(mongodb::bson::Binary { subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes }),
        );
    }
    Ok(doc)
}

/// A filter, update or sort: a JSON object's text, or empty text for none.
pub fn object(text: &str) -> Result<Document, String> {
    if text.trim().is_empty() {
        return Ok(Document::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => from_map(map),
        Ok(_) => Err("a document must be a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn from_map(map: Map<String, Value>) -> Result<Document, String> {
    let mut doc = Document::new();
    for (k, v) in map {
        // BSON keys are C strings: one with a NUL cannot be written.
        if k.contains('\0') {
            return Err(format!("field name {k:?} holds a NUL character, which BSON cannot store"));
        }
        doc.insert(k, to_bson(v)?);
    }
    Ok(doc)
}

fn to_bson(v: Value) -> Result<Bson, String> {
    Ok(match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => number(&n),
        Value::String(s) => Bson::String(s),
        Value::Array(items) => Bson::Array(items.into_iter().map(to_bson).collect::<Result<_, _>>()?),
        Value::Object(map) => Bson::Document(from_map(map)?),
    })
}

fn number(n: &Number) -> Bson {
    if let Some(i) = n.as_i64() {
        return match i32::try_from(i) {
            Ok(small) => Bson::Int32(small),
            Err(_) => Bson::Int64(i),
        };
    }
    // Above i64's range, or not whole: the nearest double, as MongoDB's own shell does.
    Bson::Double(n.as_f64().unwrap_or(f64::NAN))
}

/// A document as JSON text, with its top-level binary fields apart.
pub fn to_text(doc: Document) -> (String, Vec<(String, Vec<u8>)>) {
    let mut map = Map::new();
    let mut binary = Vec::new();
    for (k, v) in doc {
        match v {
            Bson::Binary(b) => binary.push((k, b.bytes)),
            other => {
                map.insert(k, to_json(other));
            }
        }
    }
    (Value::Object(map).to_string(), binary)
}

/// BSON's other types as the nearest plain JSON: an ObjectId its hex, a
/// date its milliseconds, a nested binary its bytes as numbers, what is
/// left (regular expressions, code, decimals) its text.
fn to_json(v: Bson) -> Value {
    match v {
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => Value::String(s),
        Bson::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Bson::Document(d) => Value::Object(d.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        Bson::DateTime(t) => Value::from(t.timestamp_millis()),
        Bson::Timestamp(t) => Value::from(u64::from(t.time) << 32 | u64::from(t.increment)),
        Bson::Binary(b) => Value::Array(b.bytes.into_iter().map(Value::from).collect()),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extended JSON's keys are plain field names; integers keep their
    /// type; binary fields replace their JSON placeholder.
    #[test]
    fn plain_json_round_trip() {
        let text = r#"{"a":{"$oid":"5f0000000000000000000000"},"n":1,"big":5000000000,"f":1.5,"s":"x\u0000y","l":[true,null]}"#;
        let doc = document(text, vec![]).unwrap();
        assert_eq!(doc.get_document("a").unwrap().get_str("$oid").unwrap(), "5f0000000000000000000000");
        assert_eq!(doc.get("n"), Some(&Bson::Int32(1)));
        assert_eq!(doc.get("big"), Some(&Bson::Int64(5_000_000_000)));
        assert_eq!(doc.get_str("s").unwrap(), "x\0y");
        assert_eq!(to_text(doc), (text.to_string(), vec![]));

        let doc = document(r#"{"p":null,"q":1}"#, vec![("p".into(), vec![0xff, 0])]).unwrap();
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["p", "q"]);
        assert_eq!(to_text(doc), (r#"{"q":1}"#.to_string(), vec![("p".to_string(), vec![0xff, 0])]));
    }

    /// What BSON cannot hold, and what is not an object, is refused.
    #[test]
    fn refuses_what_bson_cannot_hold() {
        assert!(document(r#"{"a\u0000b": 1}"#, vec![]).is_err());
        assert!(object("[1]").is_err());
        assert!(object("{").is_err());
        assert_eq!(object("").unwrap(), Document::new());
    }
}
