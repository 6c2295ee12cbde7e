//! The outer shape every template file shares: a JSON object keyed by topic
//! filter (MQTT wildcards allowed), each value an object of known fields.
//!
//! The seed allows "multiple templates for the same topic", which in a JSON
//! object means the same key more than once; so entries are read in file
//! order and a repeated key is kept as a further template, not dropped.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value as Json};

/// One template of a file, before its own fields are checked.
pub(crate) struct Entry {
    /// The topic filter the template is for.
    pub filter: String,
    /// Its fields, each one of the `expected` names.
    pub fields: Map<String, Json>,
}

impl Entry {
    /// Prefixes a problem with the template it is in.
    pub fn at(&self, problem: impl fmt::Display) -> String {
        format!("template for {:?}: {problem}", self.filter)
    }
}

/// Reads a template file's text into its entries, in file order; every field
/// must be one of `expected`. The error names the template and what is wrong.
pub(crate) fn entries(text: &str, expected: &[&str]) -> Result<Vec<Entry>, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let root = de.deserialize_any(EntriesVisitor).map_err(|e| format!("not JSON: {e}"))?;
    de.end().map_err(|e| format!("not JSON: {e}"))?;
    let Some(raw) = root else {
        return Err("expected an object keyed by topic filter".into());
    };
    raw.into_iter()
        .map(|(filter, body)| {
            let entry = Entry { filter, fields: Map::new() };
            if let Some(problem) = cistern_topic::filter_error(&entry.filter) {
                return Err(entry.at(problem));
            }
            let Json::Object(fields) = body else {
                return Err(entry.at(format!("expected an object with {}", listed(expected))));
            };
            if let Some(unknown) = fields.keys().find(|k| !expected.contains(&k.as_str())) {
                return Err(entry.at(format!("unknown field {unknown:?} (expected {})", expected.join(", "))));
            }
            Ok(Entry { fields, ..entry })
        })
        .collect()
}

/// `a, b and c`.
fn listed(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
}

/// Reads the top level: an object's entries with repeated keys kept, or
/// `None` for any other JSON value.
struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Option<Vec<(String, Json)>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Some(entries))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repeated topic filter gives two templates, in file order.
    #[test]
    fn keeps_repeated_filters() {
        let e = entries(r#"{"a/#": {"x": 1}, "b": {}, "a/#": {"x": 2}}"#, &["x"]).unwrap();
        let seen: Vec<(&str, Option<&Json>)> = e.iter().map(|e| (e.filter.as_str(), e.fields.get("x"))).collect();
        assert_eq!(seen, vec![("a/#", Some(&Json::from(1))), ("b", None), ("a/#", Some(&Json::from(2)))]);
    }

    /// Not JSON, not an object, a bad filter, a body that is not an object
    /// and an unknown field are each named.
    #[test]
    fn names_what_is_wrong() {
        let err = |t: &str| entries(t, &["name", "sql", "param_keys"]).err().unwrap();
        assert!(err("{").starts_with("not JSON"));
        assert!(err("{} x").starts_with("not JSON"));
        assert_eq!(err("[1]"), "expected an object keyed by topic filter");
        assert!(err(r#"{"a/#/b": {}}"#).starts_with("template for \"a/#/b\": "));
        assert_eq!(err(r#"{"t": 1}"#), "template for \"t\": expected an object with name, sql and param_keys");
        assert_eq!(
            err(r#"{"t": {"extra": 1}}"#),
            "template for \"t\": unknown field \"extra\" (expected name, sql, param_keys)"
        );
    }
}
