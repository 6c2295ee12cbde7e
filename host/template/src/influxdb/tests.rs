//! Tests of the InfluxDB template: the seed's example, field types, hostile
//! client ids and topics, and what is refused at load and per message.

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
        "fields": {
            "temperature": ["$payload", "data", "$0", "temp"]
        },
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

fn message<'a>(clientid: &'a str, topic: &'a str, payload: &'a [u8]) -> Message<'a> {
    Message {
        id: "M",
        clientid,
        username: None,
        peerhost: None,
        qos: 0,
        topic,
        payload,
        timestamp_ns: 1_560_745_505_429_670_000,
    }
}

fn template(text: &str) -> Template {
    let mut all = parse(text).unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// The seed's example makes exactly the two points its manual shows, in
/// its exact line protocol.
#[test]
fn seed_example() {
    let t = template(SEED_EXAMPLE);
    assert_eq!(t.filter, "sample");
    let body = t.lines(&message("mqttjs_6990f0e886", "sample", SEED_PAYLOAD)).unwrap();
    assert_eq!(
        body,
        "sample,clientid=mqttjs_6990f0e886,host=serverA,qos=0,region=hangzhou temperature=\"1\" 1560745505429670000\nsample,clientid=mqttjs_6990f0e886,host=serverB,qos=0,region=ningbo temperature=\"2\" 1560745505429670000\n"
    );
}

/// `"typed_fields": true` writes integers with `i`, floats as floats,
/// booleans as booleans and text as strings.
#[test]
fn typed_fields() {
    let t = template(
        r#"{"t": {"measurement": "m", "typed_fields": true,
            "fields": {"i": ["$payload", "i"], "f": ["$payload", "f"], "b": ["$payload", "b"], "s": ["$payload", "s"]}}}"#,
    );
    let body = t.lines(&message("c", "t", br#"{"i": 1, "f": 23.9, "b": true, "s": "x"}"#)).unwrap();
    assert_eq!(body, "m i=1i,f=23.9,b=true,s=\"x\"\n");
    let untyped =
        template(r#"{"t": {"measurement": "m", "fields": {"b": ["$payload", "b"], "f": ["$payload", "f"]}}}"#);
    let body = untyped.lines(&message("c", "t", br#"{"b": true, "f": 23.9}"#)).unwrap();
    assert_eq!(body, "m b=\"true\",f=\"23.9\"\n");
}

/// A client id and a topic full of line protocol's special characters
/// (quotes, backslashes, commas, spaces, `=`, unicode) come out escaped in
/// one line that InfluxDB reads back verbatim: no extra tag, field or point.
#[test]
fn hostile_clientid_and_topic() {
    let t = template(
        r##"{"#": {"measurement": "$topic", "tags": {"clientid": "$clientid"},
            "fields": {"who": "$clientid", "topic": "$topic"}, "timestamp": "$timestamp"}}"##,
    );
    let clientid = r#"c,evil=1 temperature="9" 1\q ünï"#;
    let topic = r#"a,b c=d"e\f/ü"#;
    let body = t.lines(&message(clientid, topic, b"")).unwrap();
    assert_eq!(
        body,
        concat!(
            r#"a\,b\ c=d"e\f/ü,clientid=c\,evil\=1\ temperature\="9"\ 1\q\ ünï "#,
            r#"who="c,evil=1 temperature=\"9\" 1\\q ünï",topic="a,b c=d\"e\\f/ü" 1560745505429670000"#,
            "\n"
        )
    );
}

/// A client id or topic with a line break is refused with a clear reason,
/// never written as a second line.
#[test]
fn refuses_line_breaks() {
    let t = template(r##"{"#": {"measurement": "m", "tags": {"c": "$clientid"}, "fields": {"t": "$topic"}}}"##);
    let err = t.lines(&message("a\nevil f=1i 1", "t", b"")).unwrap_err();
    assert!(matches!(err, TemplateError::Unwritable(_)), "{err:?}");
    assert!(err.to_string().contains("tag \"c\" holds a line break"), "{err}");
    let err = t.lines(&message("c", "t\r\nx", b"")).unwrap_err();
    assert!(err.to_string().contains("field \"t\" holds a line break"), "{err}");
}

/// Null and empty tags are left out, null fields too; a point left with no
/// field, or arrays of different lengths under `$0`, refuse the message.
#[test]
fn leaves_out_nulls_and_refuses_uneven_arrays() {
    let t = template(
        r#"{"t": {"measurement": "m", "tags": {"u": "$username", "e": ["$payload", "e"]},
            "fields": {"a": ["$payload", "a"], "b": ["$payload", "b"]}}}"#,
    );
    let body = t.lines(&message("c", "t", br#"{"e": "", "a": null, "b": 2}"#)).unwrap();
    assert_eq!(body, "m b=\"2\"\n");
    let err = t.lines(&message("c", "t", br#"{"e": "x", "a": null, "b": null}"#)).unwrap_err();
    assert!(err.to_string().contains("at least one field"), "{err}");
    let uneven = template(
        r#"{"t": {"measurement": "m", "tags": {"h": ["$payload", "h", "$0"]}, "fields": {"v": ["$payload", "v", "$0"]}}}"#,
    );
    let err = uneven.points(&message("c", "t", br#"{"h": ["a", "b"], "v": [1, 2, 3]}"#)).unwrap_err();
    assert!(matches!(err, TemplateError::Mismatch(_)), "{err:?}");
}

/// `$content` is the whole payload, `$N` one element, and a timestamp that
/// is not an integer refuses the message.
#[test]
fn content_nth_and_timestamps() {
    let t = template(
        r#"{"t": {"measurement": "m", "fields": {"all": "$content", "second": ["$payload", "$2"]}, "timestamp": ["$payload", "$1"]}}"#,
    );
    let body = t.lines(&message("c", "t", br#"["17", 5]"#)).unwrap();
    assert_eq!(body, "m all=\"[\\\"17\\\", 5]\",second=\"5\" 17\n");
    let err = t.lines(&message("c", "t", br#"["soon", 5]"#)).unwrap_err();
    assert!(err.to_string().contains("timestamp must be an integer"), "{err}");
}

/// A template without measurement or fields, with a bad key or option, is
/// refused at load with the template and the problem named.
#[test]
fn load_errors() {
    let err = |text: &str| parse(text).unwrap_err();
    assert_eq!(err(r#"{"t": {"fields": {"a": 1}}}"#), "template for \"t\": \"measurement\" is required");
    assert!(err(r#"{"t": {"measurement": "m"}}"#).contains("\"fields\" is required"));
    assert!(err(r#"{"t": {"measurement": "m", "fields": {}}}"#).contains("\"fields\" is required"));
    assert!(err(r#"{"t": {"measurement": "m", "fields": {"a\\": 1}}}"#).contains("ends in a backslash"));
    assert!(err(r#"{"t": {"measurement": "m", "fields": {"a": 1}, "typed_fields": "yes"}}"#).contains("true or false"));
    assert!(err(r#"{"t": {"measurement": "$nope", "fields": {"a": 1}}}"#).contains("unknown placeholder"));
    assert!(err(r#"{"t": {"measurement": "m", "fields": {"a": 1}, "field": 1}}"#).contains("unknown field \"field\""));
}

/// The example file shipped in `etc/` is the seed's example, unchanged.
#[test]
fn shipped_example_is_the_seed() {
    assert_eq!(include_str!("../../../../etc/emqx_backend_influxdb.tmpl").trim_end(), SEED_EXAMPLE);
}
