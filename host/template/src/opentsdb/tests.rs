//! Tests of the OpenTSDB template: the seed's example, timestamps, values,
//! hostile text and what is refused at load and per message.

use serde_json::{json, Value as Json};

use super::*;

/// The seed's example template file, verbatim.
const SEED_EXAMPLE: &str = r##"{
    "sample": {
        "measurement": "$topic",
        "tags": {
            "host": ["$payload", "data", "$0", "host"],
            "region": ["$payload", "data", "$0", "region"],
            "qos": "$qos",
            "clientid": "$clientid"
        },
        "value": ["$payload", "data", "$0", "temp"],
        "timestamp": "$timestamp"
    }
}"##;

/// The seed's example payload, verbatim.
const SEED_PAYLOAD: &[u8] = br#"{
    "data": [
        {
            "temp": 1,
            "host": "serverA",
            "region": "hangzhou"
        },
        {
            "temp": 2,
            "host": "serverB",
            "region": "ningbo"
        }
    ]
}"#;

fn message<'a>(clientid: &'a str, payload: &'a [u8]) -> Message<'a> {
    Message {
        id: "M",
        clientid,
        username: None,
        peerhost: None,
        qos: 0,
        topic: "sample",
        payload,
        timestamp_ns: 1_560_743_513_626_681_000,
    }
}

fn template(text: &str) -> Template {
    let mut all = parse(text).unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// The seed's example makes its two points, in one `/api/put` body, with the
/// nanosecond `$timestamp` brought to the milliseconds OpenTSDB takes.
#[test]
fn seed_example() {
    let t = template(SEED_EXAMPLE);
    let points = t.points(&message("mqttjs_ebcc36079a", SEED_PAYLOAD)).unwrap();
    let body = bodies(&points, 20);
    assert_eq!(body.len(), 1);
    let sent: Json = serde_json::from_str(&body[0]).unwrap();
    let tags =
        |host: &str, region: &str| json!({"host": host, "region": region, "qos": "0", "clientid": "mqttjs_ebcc36079a"});
    assert_eq!(
        sent,
        json!([
            {"metric": "sample", "timestamp": 1_560_743_513_626_i64, "value": 1, "tags": tags("serverA", "hangzhou")},
            {"metric": "sample", "timestamp": 1_560_743_513_626_i64, "value": 2, "tags": tags("serverB", "ningbo")},
        ])
    );
}

/// Seconds and milliseconds pass as they are, finer units become
/// milliseconds, and no timestamp in the template means the message's time.
#[test]
fn timestamps() {
    let at = |ts: &str| {
        let t = template(&format!(
            r#"{{"t": {{"measurement": "m", "tags": {{"a": "b"}}, "value": 1, "timestamp": {ts}}}}}"#
        ));
        t.points(&message("c", b"")).unwrap()[0].timestamp
    };
    assert_eq!(at("1365465600"), 1_365_465_600);
    assert_eq!(at("1365465600123"), 1_365_465_600_123);
    assert_eq!(at("1365465600123456"), 1_365_465_600_123);
    assert_eq!(at("\"1365465600123456789\""), 1_365_465_600_123);
    let none = template(r#"{"t": {"measurement": "m", "tags": {"a": "b"}, "value": 1}}"#);
    assert_eq!(none.points(&message("c", b"")).unwrap()[0].timestamp, 1_560_743_513_626);
}

/// Values are numbers, or text holding one; anything else refuses the message.
#[test]
fn values() {
    let t = template(r#"{"t": {"measurement": "m", "tags": {"a": "b"}, "value": ["$payload", "v"]}}"#);
    let value = |payload: &[u8]| t.points(&message("c", payload)).map(|p| p[0].value);
    assert_eq!(value(br#"{"v": 23.9}"#), Ok(Number::Float(23.9)));
    assert_eq!(value(br#"{"v": "42"}"#), Ok(Number::Int(42)));
    assert_eq!(value(br#"{"v": " 1.5 "}"#), Ok(Number::Float(1.5)));
    assert!(value(br#"{"v": "warm"}"#).unwrap_err().to_string().contains("\"warm\" is not a number"));
    assert!(value(br#"{"v": true}"#).is_err());
    assert!(value(br#"{"v": "NaN"}"#).unwrap_err().to_string().contains("not a finite number"));
}

/// A hostile client id stays one tag value; null tags are left out, and a
/// point left with none is refused.
#[test]
fn tags() {
    let t = template(r#"{"t": {"measurement": "m", "tags": {"c": "$clientid", "u": "$username"}, "value": 1}}"#);
    let hostile = "x\",\"evil\":\"1\"}, {\n\\ ü";
    let points = t.points(&message(hostile, b"")).unwrap();
    assert_eq!(points[0].tags, vec![("c".to_string(), hostile.to_string())]);
    let back: Json = serde_json::from_str(&bodies(&points, 20)[0]).unwrap();
    assert_eq!(back[0]["tags"], json!({"c": hostile}));
    let err = t.points(&message("", b"")).unwrap_err();
    assert!(err.to_string().contains("needs at least one"), "{err}");
}

/// A template with no tags, no value or no measurement is refused at load,
/// naming the template and the problem; arrays of different lengths refuse
/// a message.
#[test]
fn load_errors_and_uneven_arrays() {
    let err = |text: &str| parse(text).unwrap_err();
    assert_eq!(
        err(r#"{"t": {"measurement": "m", "value": 1}}"#),
        "template for \"t\": \"tags\" must name at least one tag: OpenTSDB stores no data point without one"
    );
    assert!(err(r#"{"t": {"measurement": "m", "tags": {}, "value": 1}}"#).contains("at least one tag"));
    assert!(err(r#"{"t": {"measurement": "m", "tags": {"a": "b"}}}"#).contains("\"value\" is required"));
    assert!(err(r#"{"t": {"tags": {"a": "b"}, "value": 1}}"#).contains("\"measurement\" is required"));
    assert!(
        err(r#"{"t": {"measurement": "m", "tags": {"a": "b"}, "value": 1, "fields": {}}}"#).contains("unknown field")
    );
    let t = template(
        r#"{"t": {"measurement": "m", "tags": {"h": ["$payload", "h", "$0"]}, "value": ["$payload", "v", "$0"]}}"#,
    );
    let err = t.points(&message("c", br#"{"h": ["a"], "v": [1, 2]}"#)).unwrap_err();
    assert!(matches!(err, TemplateError::Mismatch(_)), "{err:?}");
}

/// The example file shipped in `etc/` is the seed's example, unchanged.
#[test]
fn shipped_example_is_the_seed() {
    assert_eq!(include_str!("../../../../etc/emqx_backend_opentsdb.tmpl").trim_end(), SEED_EXAMPLE);
}
