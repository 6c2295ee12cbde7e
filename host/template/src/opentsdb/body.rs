//! The JSON bodies of `POST /api/put`: arrays of
//! `{"metric", "timestamp", "value", "tags"}`, at most `max_batch_size`
//! data points each.

use serde_json::{json, Map, Value as Json};

use super::{DataPoint, Number};

/// The points as request bodies, in order, at most `max_batch_size` per
/// body; a `max_batch_size` of 0 means no batching: one point per body.
pub fn bodies(points: &[DataPoint], max_batch_size: usize) -> Vec<String> {
    points
        .chunks(max_batch_size.max(1))
        .map(|batch| Json::Array(batch.iter().map(to_json).collect()).to_string())
        .collect()
}

impl DataPoint {
    /// The point as one JSON object of a `/api/put` body.
    pub fn json(&self) -> String {
        to_json(self).to_string()
    }
}

fn to_json(p: &DataPoint) -> Json {
    let value = match p.value {
        Number::Int(i) => json!(i),
        Number::Float(f) => json!(f),
    };
    let tags: Map<String, Json> = p.tags.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect();
    json!({"metric": p.metric, "timestamp": p.timestamp, "value": value, "tags": tags})
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
