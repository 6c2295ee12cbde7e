//! The JSON bodies of `POST /api/put`: arrays of
//! `{"metric", "timestamp", "value", "tags"}`, at most `max_batch_size`
//! data points each.

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

use super::{DataPoint, Number};

/// The points as request bodies, in order, at most `max_batch_size` per
/// body; a `max_batch_size` of 0 means no batching: one point per body.
pub fn bodies(points: &[DataPoint], max_batch_size: usize) -> Vec<String> {
    points
        .chunks(max_batch_size.max(1))
        .map(|batch| serde_json::to_string(batch).expect("a data point writes as JSON"))
        .collect()
}

impl DataPoint {
    /// The point as one JSON object of a `/api/put` body.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a data point writes as JSON")
    }
}

/// Written straight to text, in the order OpenTSDB documents the fields:
/// a stored message makes one or more points, and building a
/// `serde_json::Value` first cost an allocation for every key.
impl Serialize for DataPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut point = serializer.serialize_struct("DataPoint", 4)?;
        point.serialize_field("metric", &self.metric)?;
        point.serialize_field("timestamp", &self.timestamp)?;
        point.serialize_field("value", &self.value)?;
        point.serialize_field("tags", &Tags(&self.tags))?;
        point.end()
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Int(i) => serializer.serialize_i64(i),
            // As `serde_json::Value` writes a float: JSON has no NaN or infinity.
            Number::Float(f) if f.is_finite() => serializer.serialize_f64(f),
            Number::Float(_) => serializer.serialize_unit(),
        }
    }
}

struct Tags<'a>(&'a [(String, String)]);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value as Json};

    fn point(n: i64) -> DataPoint {
        DataPoint {
            metric: "m".into(),
            timestamp: 1_000 + n,
            value: Number::Int(n),
            tags: vec![("host".into(), format!("h{n}"))],
        }
    }

    /// Five points with a batch size of two make bodies of 2, 2 and 1, in order.
    #[test]
    fn batches() {
        let points: Vec<DataPoint> = (1..=5).map(point).collect();
        let bodies = bodies(&points, 2);
        let sizes: Vec<usize> =
            bodies.iter().map(|b| serde_json::from_str::<Json>(b).unwrap().as_array().unwrap().len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(bodies[2], r#"[{"metric":"m","timestamp":1005,"value":5,"tags":{"host":"h5"}}]"#);
        assert_eq!(super::bodies(&points, 0).len(), 5);
        assert!(super::bodies(&[], 20).is_empty());
    }

    /// Hostile text stays inside its JSON string: quotes, backslashes and
    /// line breaks are escaped by the JSON writer.
    #[test]
    fn escapes_text() {
        let p = DataPoint {
            metric: "a\"b".into(),
            timestamp: 1,
            value: Number::Float(0.5),
            tags: vec![("clientid".into(), "x\\\"},{\n".into())],
        };
        let body = &bodies(&[p], 20)[0];
        let back: Json = serde_json::from_str(body).unwrap();
        assert_eq!(back[0]["metric"], "a\"b");
        assert_eq!(back[0]["tags"]["clientid"], "x\\\"},{\n");
        assert_eq!(back[0]["value"], 0.5);
    }

    /// Written straight to text, a point reads as it did when it was built
    /// as a `serde_json::Value` first: the same fields, in the same order,
    /// the same numbers.
    #[test]
    fn writes_as_a_json_value_would() {
        let points = [
            point(7),
            DataPoint {
                metric: "m \"q\" é".into(),
                timestamp: 1,
                value: Number::Float(21.5),
                tags: vec![("b".into(), "2".into()), ("a".into(), "1\n".into())],
            },
            DataPoint { metric: "x".into(), timestamp: -1, value: Number::Float(1e300), tags: vec![] },
        ];
        for p in &points {
            let value = match p.value {
                Number::Int(i) => json!(i),
                Number::Float(f) => json!(f),
            };
            let tags: Map<String, Json> = p.tags.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect();
            let old = json!({"metric": p.metric, "timestamp": p.timestamp, "value": value, "tags": tags}).to_string();
            assert_eq!(p.json(), old);
        }
    }
}
