//! One template value (`Spec`), and expanding a set of them over a message.

use serde_json::Value as Json;

use crate::payload::Node;

/// A value a template produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// What a template may read of a message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub id: &'a str,
    pub clientid: &'a str,
    pub username: Option<&'a str>,
    pub peerhost: Option<&'a str>,
    pub qos: u8,
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    Id,
    ClientId,
    Username,
    Peerhost,
    Qos,
    Topic,
    Payload,
    Timestamp,
}

impl Placeholder {
    fn parse(s: &str) -> Option<Placeholder> {
        Some(match s {
            "$id" => Placeholder::Id,
            "$clientid" => Placeholder::ClientId,
            "$username" => Placeholder::Username,
            "$peerhost" => Placeholder::Peerhost,
            "$qos" => Placeholder::Qos,
            "$topic" => Placeholder::Topic,
            "$payload" | "$content" => Placeholder::Payload,
            "$timestamp" => Placeholder::Timestamp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    /// `$0`: every element.
    All,
    /// `$N`: the Nth element, from 1.
    Nth(usize),
}

/// One value of a template, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec(Kind);

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Fixed(Json),
    Placeholder(Placeholder),
    Path(Vec<Step>),
}

/// Why a message could not be turned into rows.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    /// The payload is not JSON (or not UTF-8 where text is needed).
    Payload(String),
    /// A path leads nowhere in this payload.
    Missing(String),
    /// Paths through `$0` give different numbers of elements.
    Mismatch(String),
    /// A value the database cannot take as it is (a line break in an
    /// InfluxDB tag, an OpenTSDB value that is not a number, ...).
    Unwritable(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Payload(m)
            | TemplateError::Missing(m)
            | TemplateError::Mismatch(m)
            | TemplateError::Unwritable(m) => f.write_str(m),
        }
    }
}

impl Spec {
    /// Parses one template value; the error says what is wrong with it.
    pub fn parse(json: &Json) -> Result<Spec, String> {
        match json {
            Json::String(s) if s.starts_with('$') => Placeholder::parse(s)
                .map(|p| Spec(Kind::Placeholder(p)))
                .ok_or_else(|| format!("unknown placeholder {s:?} (known: $id, $clientid, $username, $peerhost, $qos, $topic, $payload, $content, $timestamp)")),
            Json::Array(parts) => {
                let Some(Json::String(first)) = parts.first() else {
                    return Err(format!("a path must start with \"$payload\": {json}"));
                };
                if first != "$payload" {
                    return Err(format!("a path must start with \"$payload\", not {first:?}"));
                }
                let mut steps = Vec::new();
                for part in &parts[1..] {
                    let step = match part {
                        Json::String(s) if s == "$0" => Step::All,
                        Json::String(s) if s.starts_with('$') => match s[1..].parse::<usize>() {
                            Ok(n) if n > 0 => Step::Nth(n),
                            _ => return Err(format!("{s:?} in a path: use $0 (every element) or $1, $2, ... (one element)")),
                        },
                        Json::String(s) => Step::Key(s.clone()),
                        other => return Err(format!("{other} in a path: path steps are strings")),
                    };
                    steps.push(step);
                }
                if steps.iter().filter(|s| **s == Step::All).count() > 1 {
                    return Err(format!("{json}: at most one $0 in a path"));
                }
                Ok(Spec(Kind::Path(steps)))
            }
            other => Ok(Spec(Kind::Fixed(other.clone()))),
        }
    }

    /// Whether this value needs the payload parsed as JSON.
    fn reads_json(&self) -> bool {
        matches!(&self.0, Kind::Path(steps) if !steps.is_empty())
    }
}

/// What one spec gives for one message: a value, or (through `$0`) many.
enum Got {
    One(Value),
    Many(Vec<Value>),
}

/// Expands `specs` over `message` into rows: one row, or one per element of
/// the arrays `$0` walks. Each row holds one value per spec, in order.
pub fn expand(specs: &[&Spec], message: &Message) -> Result<Vec<Vec<Value>>, TemplateError> {
    let json = if specs.iter().any(|s| s.reads_json()) {
        let parsed = Node::parse(message.payload)
            .map_err(|e| TemplateError::Payload(format!("the payload is not JSON: {e}")))?;
        Some(parsed)
    } else {
        None
    };
    let mut got = Vec::with_capacity(specs.len());
    for spec in specs {
        got.push(evaluate(spec, message, json.as_ref())?);
    }
    let mut count: Option<usize> = None;
    for g in &got {
        if let Got::Many(v) = g {
            match count {
                None => count = Some(v.len()),
                Some(c) if c != v.len() => {
                    return Err(TemplateError::Mismatch(format!(
                        "$0 gives {c} elements in one place and {} in another; rows cannot be made",
                        v.len()
                    )))
                }
                Some(_) => {}
            }
        }
    }
    let rows = count.unwrap_or(1);
    Ok((0..rows)
        .map(|r| {
            got.iter()
                .map(|g| match g {
                    Got::One(v) => v.clone(),
                    Got::Many(v) => v[r].clone(),
                })
                .collect()
        })
        .collect())
}

fn evaluate(spec: &Spec, m: &Message, json: Option<&Node>) -> Result<Got, TemplateError> {
    let text = |s: &str| Value::Text(s.to_string());
    Ok(Got::One(match &spec.0 {
        Kind::Fixed(j) => from_json(j),
        Kind::Placeholder(p) => match p {
            Placeholder::Id => text(m.id),
            Placeholder::ClientId => text(m.clientid),
            Placeholder::Username => m.username.map_or(Value::Null, text),
            Placeholder::Peerhost => m.peerhost.map_or(Value::Null, text),
            Placeholder::Qos => Value::Int(m.qos.into()),
            Placeholder::Topic => text(m.topic),
            Placeholder::Timestamp => Value::Int(m.timestamp_ns),
            Placeholder::Payload => Value::Text(
                std::str::from_utf8(m.payload)
                    .map_err(|_| TemplateError::Payload("the payload is not UTF-8 text".into()))?
                    .to_string(),
            ),
        },
        Kind::Path(steps) if steps.is_empty() => {
            return evaluate(&Spec(Kind::Placeholder(Placeholder::Payload)), m, json)
        }
        Kind::Path(steps) => {
            let root = json.expect("parsed when a path reads it");
            return walk(root, steps, &Trail::Root);
        }
    }))
}

/// Where a walk is in the payload, for its error messages: rendered
/// (`$payload.data[2]`) only when a step fails, so that a walk that succeeds
/// allocates nothing for it.
enum Trail<'a> {
    Root,
    Key(&'a Trail<'a>, &'a str),
    Index(&'a Trail<'a>, usize),
}

impl std::fmt::Display for Trail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trail::Root => f.write_str("$payload"),
            Trail::Key(up, k) => write!(f, "{up}.{k}"),
            Trail::Index(up, n) => write!(f, "{up}[{n}]"),
        }
    }
}

fn walk(at: &Node, steps: &[Step], trail: &Trail<'_>) -> Result<Got, TemplateError> {
    let Some((step, rest)) = steps.split_first() else {
        return Ok(Got::One(from_node(at)));
    };
    match step {
        Step::Key(k) => {
            let next = at.get(k).ok_or_else(|| TemplateError::Missing(format!("the payload has no {trail}.{k}")))?;
            walk(next, rest, &Trail::Key(trail, k))
        }
        Step::Nth(n) => {
            let items = at.as_array().ok_or_else(|| TemplateError::Missing(format!("{trail} is not an array")))?;
            let next = items
                .get(n - 1)
                .ok_or_else(|| TemplateError::Missing(format!("{trail} has {} elements, not {n}", items.len())))?;
            walk(next, rest, &Trail::Index(trail, *n))
        }
        Step::All => {
            let items = at.as_array().ok_or_else(|| TemplateError::Missing(format!("{trail} is not an array")))?;
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match walk(item, rest, &Trail::Index(trail, i + 1))? {
                    Got::One(v) => values.push(v),
                    Got::Many(_) => unreachable!("one $0 per path"),
                }
            }
            Ok(Got::Many(values))
        }
    }
}

fn from_node(n: &Node) -> Value {
    match n {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Node::Text(s) => Value::Text(s.to_string()),
        other => Value::Text(other.to_json()),
    }
}

fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(payload: &[u8]) -> Message<'_> {
        Message {
            id: "M1",
            clientid: "c1",
            username: None,
            peerhost: Some("10.0.0.1"),
            qos: 1,
            topic: "sample",
            payload,
            timestamp_ns: 1_560_743_513_626_681_000,
        }
    }

    fn specs(values: &[Json]) -> Vec<Spec> {
        values.iter().map(|v| Spec::parse(v).unwrap()).collect()
    }

    fn run(values: &[Json], payload: &[u8]) -> Result<Vec<Vec<Value>>, TemplateError> {
        let owned = specs(values);
        let refs: Vec<&Spec> = owned.iter().collect();
        expand(&refs, &msg(payload))
    }

    /// The seed's InfluxDB example: `$0` fans two readings out to two rows,
    /// plain placeholders repeat on each.
    #[test]
    fn fans_out_over_arrays() {
        let payload = br#"{"data": [{"temp": 1, "host": "serverA"}, {"temp": 2, "host": "serverB"}]}"#;
        let rows = run(
            &[json!(["$payload", "data", "$0", "host"]), json!("$qos"), json!(["$payload", "data", "$0", "temp"])],
            payload,
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Value::Text("serverA".into()), Value::Int(1), Value::Int(1)],
                vec![Value::Text("serverB".into()), Value::Int(1), Value::Int(2)],
            ]
        );
    }

    /// `$N` picks one element, from 1.
    #[test]
    fn picks_the_nth_element() {
        let rows = run(&[json!(["$payload", "$1", "temp"])], br#"[{"temp": 20}, {"temp": 21}]"#).unwrap();
        assert_eq!(rows, vec![vec![Value::Int(20)]]);
        let err = run(&[json!(["$payload", "$3", "temp"])], br#"[{"temp": 20}, {"temp": 21}]"#).unwrap_err();
        assert!(matches!(err, TemplateError::Missing(_)), "{err:?}");
    }

    /// A payload that is not JSON, a missing key and arrays of different
    /// lengths are each refused with a reason, and no rows come out.
    #[test]
    fn refuses_what_does_not_fit() {
        let path = json!(["$payload", "data", "temperature"]);
        assert!(matches!(run(std::slice::from_ref(&path), b"not json").unwrap_err(), TemplateError::Payload(_)));
        let missing = run(&[path], br#"{"data": {}}"#).unwrap_err();
        assert_eq!(missing, TemplateError::Missing("the payload has no $payload.data.temperature".into()));
        let uneven =
            run(&[json!(["$payload", "a", "$0"]), json!(["$payload", "b", "$0"])], br#"{"a": [1, 2, 3], "b": [1, 2]}"#)
                .unwrap_err();
        assert!(matches!(uneven, TemplateError::Mismatch(_)), "{uneven:?}");
    }

    /// Placeholders and fixed values need no JSON payload at all.
    #[test]
    fn placeholders_and_fixed_values() {
        let rows =
            run(&[json!("$payload"), json!("$topic"), json!(42), json!("room"), json!("$timestamp")], b"plain text")
                .unwrap();
        assert_eq!(
            rows,
            vec![vec![
                Value::Text("plain text".into()),
                Value::Text("sample".into()),
                Value::Int(42),
                Value::Text("room".into()),
                Value::Int(1_560_743_513_626_681_000),
            ]]
        );
    }

    /// `$content`, the seed's name for the whole payload, reads as `$payload` does.
    #[test]
    fn content_is_the_whole_payload() {
        assert_eq!(Spec::parse(&json!("$content")), Spec::parse(&json!("$payload")));
        assert_eq!(run(&[json!("$content")], b"raw").unwrap(), vec![vec![Value::Text("raw".into())]]);
    }

    /// Malformed template values are named when the template is read.
    #[test]
    fn parse_errors() {
        assert!(Spec::parse(&json!("$nope")).unwrap_err().contains("unknown placeholder"));
        assert!(Spec::parse(&json!(["data", "x"])).unwrap_err().contains("must start with"));
        assert!(Spec::parse(&json!(["$payload", "$x"])).is_err());
        assert!(Spec::parse(&json!(["$payload", "$0", "a", "$0"])).is_err());
    }
}
