//! What InfluxDB and OpenTSDB templates share: a `measurement`, `tags`, the
//! values to store and a `timestamp`, each a template value, read from a
//! template's fields and expanded together so that `$0` makes one point per
//! element.

use serde_json::{Map, Value as Json};

use crate::spec::{expand, Message, Spec, TemplateError, Value};

/// The parsed point-making part of a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub measurement: Spec,
    pub tags: Vec<(String, Spec)>,
    /// InfluxDB's fields, or OpenTSDB's one `value`.
    pub values: Vec<(String, Spec)>,
    pub timestamp: Option<Spec>,
}

/// One point's values, before the database's own rules apply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expanded {
    pub measurement: Value,
    pub tags: Vec<(String, Value)>,
    pub values: Vec<(String, Value)>,
    pub timestamp: Option<Value>,
}

/// The template value under `key`, which must be there.
pub(crate) fn required(fields: &Map<String, Json>, key: &str) -> Result<Spec, String> {
    let value = fields.get(key).ok_or_else(|| format!("\"{key}\" is required"))?;
    Spec::parse(value).map_err(|e| format!("\"{key}\": {e}"))
}

/// The template value under `key`, if there is one.
pub(crate) fn optional(fields: &Map<String, Json>, key: &str) -> Result<Option<Spec>, String> {
    fields.get(key).map(|v| Spec::parse(v).map_err(|e| format!("\"{key}\": {e}"))).transpose()
}

/// An object of named template values (`tags`, `fields`), in file order; no
/// object at all is an empty list.
pub(crate) fn named(fields: &Map<String, Json>, key: &str) -> Result<Vec<(String, Spec)>, String> {
    match fields.get(key) {
        None => Ok(Vec::new()),
        Some(Json::Object(entries)) => entries
            .iter()
            .map(|(name, v)| {
                let spec = Spec::parse(v).map_err(|e| format!("\"{key}\".{name:?}: {e}"))?;
                Ok((name.clone(), spec))
            })
            .collect(),
        Some(other) => Err(format!("\"{key}\" must be an object of names to values, not {other}")),
    }
}

impl Shape {
    /// Expands the shape over a message: one point, or one per element `$0` walks.
    pub fn expand(&self, message: &Message) -> Result<Vec<Expanded>, TemplateError> {
        let mut specs = vec![&self.measurement];
        specs.extend(self.tags.iter().map(|(_, s)| s));
        specs.extend(self.values.iter().map(|(_, s)| s));
        specs.extend(self.timestamp.as_ref());
        let rows = expand(&specs, message)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut row = row.into_iter();
                let measurement = row.next().expect("one value per spec");
                let mut take = |named: &[(String, Spec)]| -> Vec<(String, Value)> {
                    named.iter().map(|(k, _)| (k.clone(), row.next().expect("one value per spec"))).collect()
                };
                let tags = take(&self.tags);
                let values = take(&self.values);
                Expanded { measurement, tags, values, timestamp: row.next() }
            })
            .collect())
    }
}

/// A value as text, as tags and the default field type write it; `None` for null.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Text(s) => Some(s.clone()),
    }
}

/// A timestamp as an integer: a JSON integer, or text holding one.
pub(crate) fn integer(value: &Value, what: &str) -> Result<i64, TemplateError> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Text(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().expect("checked")),
        other => Err(TemplateError::Unwritable(format!("the {what} must be an integer, not {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(template: Json) -> Shape {
        let fields = template.as_object().unwrap();
        Shape {
            measurement: required(fields, "measurement").unwrap(),
            tags: named(fields, "tags").unwrap(),
            values: named(fields, "fields").unwrap(),
            timestamp: optional(fields, "timestamp").unwrap(),
        }
    }

    /// Each expanded value lands back under its own name, and `$0` makes one
    /// point per element while plain values repeat.
    #[test]
    fn splits_rows_back_by_name() {
        let s = shape(json!({
            "measurement": "$topic",
            "tags": {"a": ["$payload", "$0", "a"], "q": "$qos"},
            "fields": {"v": ["$payload", "$0", "v"]},
            "timestamp": 7
        }));
        let message = Message {
            id: "M",
            clientid: "c",
            username: None,
            peerhost: None,
            qos: 2,
            topic: "t",
            payload: br#"[{"a": "x", "v": 1}, {"a": "y", "v": 2.5}]"#,
            timestamp_ns: 0,
        };
        let points = s.expand(&message).unwrap();
        let t = |s: &str| Value::Text(s.into());
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].measurement, t("t"));
        assert_eq!(points[1].tags, vec![("a".into(), t("y")), ("q".into(), Value::Int(2))]);
        assert_eq!(points[1].values, vec![("v".into(), Value::Float(2.5))]);
        assert_eq!(points[1].timestamp, Some(Value::Int(7)));
    }

    /// Malformed parts are named with the key they are under.
    #[test]
    fn names_bad_parts() {
        let fields = json!({"tags": ["x"], "fields": {"v": "$nope"}});
        let fields = fields.as_object().unwrap();
        assert_eq!(required(fields, "measurement").unwrap_err(), "\"measurement\" is required");
        assert!(named(fields, "tags").unwrap_err().contains("must be an object"));
        assert!(named(fields, "fields").unwrap_err().starts_with("\"fields\".\"v\": unknown placeholder"));
    }

    /// Timestamps come as integers or as text holding one, and nothing else.
    #[test]
    fn integers() {
        assert_eq!(integer(&Value::Int(5), "timestamp"), Ok(5));
        assert_eq!(integer(&Value::Text("1560743513626681000".into()), "timestamp"), Ok(1_560_743_513_626_681_000));
        assert!(integer(&Value::Float(1.5), "timestamp").is_err());
        assert!(integer(&Value::Text("soon".into()), "timestamp").is_err());
    }
}
