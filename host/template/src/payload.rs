//! A message's JSON payload, parsed for the paths a template walks.
//!
//! `serde_json::Value` would do, but it allocates for every key and keeps
//! each object in a hash map (this crate has `preserve_order`, for the
//! template files), and a stock guest parses every message it stores: in
//! wasm that parse was the largest part of the guest's work per message.
//! Here strings stay borrowed from the payload when they have no escapes,
//! objects are lists of their entries in payload order, and only what a
//! path reaches is turned into a value.
//!
//! It reads as `Value` does: a key given twice means its last value, and an
//! object or array reached by a path is written back as JSON text with each
//! key once, where it first appeared.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Text(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    pub fn parse(payload: &'a [u8]) -> Result<Node<'a>, serde_json::Error> {
        serde_json::from_slice(payload)
    }

    /// The value under `key`, the last one if the key is there twice.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }

    /// As JSON text, compact.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a parsed payload writes back")
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Node<'de>, E> {
        // JSON text has no NaN or infinity, so every parsed float is a Number.
        Ok(Number::from_f64(n).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Text(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Text(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Text(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, value)) = map.next_entry::<Key<'de>, Node<'de>>()? {
            entries.push((key.0, value));
        }
        Ok(Node::Object(entries))
    }
}

/// An object key, borrowed from the payload unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Node::deserialize(deserializer)? {
            Node::Text(s) => Ok(Key(s)),
            _ => Err(serde::de::Error::custom("an object key must be a string")),
        }
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Number(n) => n.serialize(serializer),
            Node::Text(s) => serializer.serialize_str(s),
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(entries) => {
                // Each key once, where it first came, with its last value.
                let last: HashMap<&str, usize> =
                    entries.iter().enumerate().map(|(i, (k, _))| (k.as_ref(), i)).collect();
                let mut map = serializer.serialize_map(Some(last.len()))?;
                let mut written = std::collections::HashSet::with_capacity(last.len());
                for (k, _) in entries {
                    if written.insert(k.as_ref()) {
                        map.serialize_entry(k, &entries[last[k.as_ref()]].1)?;
                    }
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the payload, a path reads what `serde_json::Value` reads,
    /// and an object or array it reaches writes back as `Value` writes it.
    #[test]
    fn reads_as_serde_json_value_reads() {
        let payloads = [
            r#"{"a": 1, "b": [1, 2.5, "x\"y", null, true], "c": {"d": {"e": "é\u00e9"}}}"#,
            r#"{"k": 1, "k": {"z": 2, "y": 3}, "m": "\n"}"#,
            r#"{"dup": {"a": 1, "b": 2, "a": 3}}"#,
            r#"[{"t": 1}, {"t": -2}, {"t": 18446744073709551615}, {"t": 1e400}]"#,
            r#""just text""#,
            "12",
        ];
        for p in payloads {
            let (node, value) = (Node::parse(p.as_bytes()), serde_json::from_str::<serde_json::Value>(p));
            let (node, value) = match (node, value) {
                (Ok(n), Ok(v)) => (n, v),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{p}");
                    continue;
                }
                (n, v) => panic!("{p}: {:?} against {:?}", n.err(), v.err()),
            };
            assert_eq!(node.to_json(), value.to_string(), "{p}");
            for key in ["a", "b", "c", "k", "m", "dup", "nothing"] {
                assert_eq!(node.get(key).map(Node::to_json), value.get(key).map(|v| v.to_string()), "{p} .{key}");
            }
            if let Some(items) = node.as_array() {
                let values = value.as_array().unwrap();
                for (n, v) in items.iter().zip(values) {
                    assert_eq!(n.get("t").map(Node::to_json), v.get("t").map(|v| v.to_string()), "{p}");
                }
            }
        }
    }

    /// What is not JSON fails as it does for `Value`, with the same message.
    #[test]
    fn what_is_not_json_is_refused_alike() {
        for p in ["", "{", "{\"a\": }", "not json", "{\"a\": 1} trailing", "[1, 2", "\u{0}"] {
            let (node, value) = (Node::parse(p.as_bytes()), serde_json::from_str::<serde_json::Value>(p));
            assert_eq!(node.err().map(|e| e.to_string()), value.err().map(|e| e.to_string()), "{p:?}");
        }
    }
}
