//! InfluxDB: the seed's example configuration and template against a real
//! InfluxDB 1.6, over UDP (the seed's) and HTTP `/write` (ours); `$0` and
//! `$N`; messages that fit no template or do not fit one; hostile client
//! ids and topics; and a server that goes away while QoS 1 publishes go on.
//! Every point is read back over InfluxDB's `/query`.

use std::time::Duration;

use cistern_tests::influx::{self, PrivateInflux, Proxy};
use cistern_tests::{configs, publish, Broker};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
const SOON: Duration = Duration::from_secs(10);

fn etc(file: &str) -> String {
    format!("{}/../etc/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The seed's example file as cistern ships it, with its server changed
/// and `extra` lines (our keys) added, on the template file `template`.
fn config(server: &str, extra: &str, template: &str) -> String {
    let seed = std::fs::read_to_string(etc("plugins/emqx_backend_influxdb.conf")).unwrap();
    let seed = seed.replace(
        "backend.influxdb.pool1.server = 127.0.0.1:8089",
        &format!("backend.influxdb.pool1.server = {server}"),
    );
    format!("{}{seed}\n{extra}\nbackend.influxdb.template = {template}\n", configs::base())
}

fn http(db: &str) -> String {
    format!("backend.influxdb.pool1.protocol = http\nbackend.influxdb.pool1.database = {db}\n")
}

const SEED_PAYLOAD: &str = r#"{"data": [{"temp": 1, "host": "serverA", "region": "hangzhou"}, {"temp": 2, "host": "serverB", "region": "ningbo"}]}"#;

/// The two points of the seed's manual, as they are stored: measurement
/// `sample`, the tags, `temperature` as a string, the message's time.
async fn assert_seed_points(db: &str, clientid: &str, qos: &str) {
    let q = format!("SELECT * FROM sample WHERE clientid = '{clientid}' ORDER BY time");
    let rows = influx::eventually(db, &q, SOON, |r| r.len() == 2).await;
    let fields: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("host"), s("region"), s("qos"), s("temperature"))
        })
        .collect();
    let mut fields = fields;
    fields.sort();
    assert_eq!(
        fields,
        [
            ("serverA".into(), "hangzhou".into(), qos.into(), "1".into()),
            ("serverB".into(), "ningbo".into(), qos.into(), "2".into())
        ]
    );
    // Both points carry the message's timestamp: the same, and recent.
    assert_eq!(rows[0]["time"], rows[1]["time"]);
}

/// The seed's example, verbatim, over UDP: the two points its manual shows.
#[tokio::test(flavor = "multi_thread")]
async fn seed_example_over_udp() {
    let server = format!("127.0.0.1:{}", influx::udp_port());
    let broker = Broker::start(BIN, &config(&server, "", &etc("emqx_backend_influxdb.tmpl")));
    let clientid = influx::unique("udp");
    publish(broker.port, &clientid, "sample", SEED_PAYLOAD.as_bytes(), 0, false);
    assert_seed_points("mqtt", &clientid, "0").await;
}

/// The seed's example over HTTP `/write`, into a database of the test's own;
/// a QoS 1 publish is acknowledged once InfluxDB has the points.
#[tokio::test(flavor = "multi_thread")]
async fn seed_example_over_http() {
    let db = influx::create_database("seed").await;
    let server = format!("127.0.0.1:{}", influx::http_port());
    let broker = Broker::start(BIN, &config(&server, &http(&db), &etc("emqx_backend_influxdb.tmpl")));
    let clientid = influx::unique("http");
    publish(broker.port, &clientid, "sample", SEED_PAYLOAD.as_bytes(), 1, false);
    assert_seed_points(&db, &clientid, "1").await;
}

/// `$0` makes a point per element and `$N` takes the Nth; typed fields
/// store numbers and booleans as such; a topic no template matches writes
/// nothing; a payload that is not JSON, or arrays of different lengths, is
/// refused (logged and counted) and the next message is still written.
#[tokio::test(flavor = "multi_thread")]
async fn paths_typed_fields_and_refusals() {
    let db = influx::create_database("paths").await;
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.tmpl");
    std::fs::write(
        &template,
        r#"{
  "sensors/#": {"measurement": "readings", "typed_fields": true,
                "tags": {"room": ["$payload", "rooms", "$0"], "first": ["$payload", "rooms", "$1"]},
                "fields": {"t": ["$payload", "temps", "$0"], "ok": ["$payload", "ok"], "n": ["$payload", "n"]}}
}"#,
    )
    .unwrap();
    let server = format!("127.0.0.1:{}", influx::http_port());
    let broker = Broker::start(BIN, &config(&server, &http(&db), &template.display().to_string()));
    let action = "{action=\"backend.influxdb.hook.message.publish.1\"}";

    publish(broker.port, "p1", "elsewhere", br#"{"rooms": ["x"], "temps": [1]}"#, 1, false);
    publish(broker.port, "p1", "sensors/a", b"not json", 1, false);
    publish(broker.port, "p1", "sensors/a", br#"{"rooms": ["a", "b"], "temps": [1.5], "ok": true, "n": 1}"#, 1, false);
    publish(
        broker.port,
        "p1",
        "sensors/a",
        br#"{"rooms": ["kitchen", "attic"], "temps": [21.5, 12.5], "ok": true, "n": 7}"#,
        1,
        false,
    );
    let rows = influx::eventually(&db, "SELECT * FROM readings ORDER BY time", SOON, |r| r.len() == 2).await;
    let mut got: Vec<String> =
        rows.iter().map(|r| format!("{} {} {} {} {}", r["room"], r["first"], r["t"], r["ok"], r["n"])).collect();
    got.sort();
    assert_eq!(got, [r#""attic" "kitchen" 12.5 true 7"#, r#""kitchen" "kitchen" 21.5 true 7"#]);
    // Nothing else was written: no measurement for the unmatched topic.
    let all = influx::rows(&db, "SHOW MEASUREMENTS").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{action}")), 2);
    let log = broker.log();
    assert!(log.contains("not JSON") || log.contains("JSON"), "{log}");
}

/// A hostile client id, topic and payload (commas, equals signs, spaces,
/// quotes, backslashes) are stored verbatim, in one point: escaping never
/// splits a point or adds one.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_values_round_trip() {
    let db = influx::create_database("hostile").await;
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.tmpl");
    std::fs::write(
        &template,
        r##"{"#": {"measurement": "hostile", "tags": {"clientid": "$clientid", "topic": "$topic"},
                 "fields": {"v": ["$payload", "v"], "topic_f": "$topic"}}}"##,
    )
    .unwrap();
    let server = format!("127.0.0.1:{}", influx::http_port());
    let broker = Broker::start(BIN, &config(&server, &http(&db), &template.display().to_string()));
    let clientid = r#"a,b=c d\"x"#;
    let topic = r#"t/ x,y=1 z=2i 3/"q\ end"#;
    let value = r#"v" ,x=1 \" end\"#;
    let payload = serde_json::json!({ "v": value }).to_string();
    publish(broker.port, clientid, topic, payload.as_bytes(), 1, false);
    let rows = influx::eventually(&db, "SELECT * FROM hostile", SOON, |r| !r.is_empty()).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["clientid"], clientid);
    assert_eq!(rows[0]["topic"], topic);
    assert_eq!(rows[0]["topic_f"], topic);
    assert_eq!(rows[0]["v"], value);
    let series = influx::rows(&db, "SHOW SERIES").await;
    assert_eq!(series.len(), 1, "{series:?}");
}

/// InfluxDB goes away (HTTP) while a client publishes at QoS 1: every
/// acknowledged message is in InfluxDB once it is back (the writes waited
/// in the outbox and were replayed), and none is stored twice.
#[tokio::test(flavor = "multi_thread")]
async fn server_away_loses_nothing_acknowledged() {
    let db = influx::create_database("away").await;
    let proxy = Proxy::start(influx::http_port());
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.tmpl");
    std::fs::write(
        &template,
        r#"{"away/#": {"measurement": "away", "tags": {"id": "$id"}, "fields": {"n": ["$payload", "n"]}}}"#,
    )
    .unwrap();
    let server = format!("127.0.0.1:{}", proxy.port);
    let broker = Broker::start(BIN, &config(&server, &http(&db), &template.display().to_string()));
    let mut n = 0;
    let mut send = |count: usize| {
        for _ in 0..count {
            n += 1;
            // A client id each: one id reconnecting at once can meet its previous
            // session still closing, which is not what this test is about.
            publish(broker.port, &format!("away-pub-{n}"), "away/x", format!("{{\"n\": {n}}}").as_bytes(), 1, false);
        }
    };
    send(5);
    proxy.down();
    send(5);
    assert!(broker.metric("cistern_action_deferred_total{action=\"backend.influxdb.hook.message.publish.1\"}") > 0);
    proxy.up();
    send(5);
    let rows = influx::eventually(&db, "SELECT n FROM away", Duration::from_secs(20), |r| r.len() >= 15).await;
    let mut ns: Vec<i64> = rows.iter().map(|r| r["n"].as_str().unwrap().parse().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, (1..=15).collect::<Vec<_>>());
}

/// An InfluxDB that asks for credentials: a pool with the right username
/// and password writes; a pool with a wrong password has its write refused
/// (counted as failed, not deferred: waiting would not make it right), and
/// the password shows in neither the log nor `/metrics`.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_over_http() {
    const PASSWORD: &str = "cIsTeRn-InFlUx/never-shown";
    let server = PrivateInflux::start_with_admin("cistern", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.tmpl");
    std::fs::write(
        &template,
        r##"{"#": {"measurement": "auth", "tags": {"t": "$topic"}, "fields": {"v": ["$payload", "v"]}}}"##,
    )
    .unwrap();
    let pool = |name: &str, password: &str| {
        format!(
            "backend.influxdb.{name}.server = 127.0.0.1:{}\nbackend.influxdb.{name}.protocol = http\n\
             backend.influxdb.{name}.database = mqtt\nbackend.influxdb.{name}.username = cistern\n\
             backend.influxdb.{name}.password = {password}\n",
            server.http_port
        )
    };
    let text = format!(
        "{}{}{}backend.influxdb.template = {}\n\
         backend.influxdb.hook.message.publish.1 = {{\"topic\": \"ok/#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"right\"}}\n\
         backend.influxdb.hook.message.publish.2 = {{\"topic\": \"bad/#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"wrong\"}}\n",
        configs::base(),
        pool("right", PASSWORD),
        pool("wrong", &format!("{PASSWORD}-not")),
        template.display()
    );
    let broker = Broker::start(BIN, &text);
    publish(broker.port, "auth-pub", "bad/x", br#"{"v": 1}"#, 1, false);
    publish(broker.port, "auth-pub", "ok/x", br#"{"v": 2}"#, 1, false);

    let started = std::time::Instant::now();
    let rows = loop {
        let rows = server.rows("mqtt", "SELECT * FROM auth").await;
        if !rows.is_empty() || started.elapsed() > SOON {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let got: Vec<String> = rows.iter().map(|r| format!("{} {}", r["t"], r["v"])).collect();
    assert_eq!(got, [r#""ok/x" "2""#], "only the right pool's point is stored");
    let action = "{action=\"backend.influxdb.hook.message.publish.2\"}";
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{action}")), 1);
    assert_eq!(broker.metric(&format!("cistern_action_deferred_total{action}")), 0);
    let log = broker.log();
    assert!(log.contains("401"), "the refusal is logged with InfluxDB's answer: {log}");
    assert!(!log.contains(PASSWORD), "the password is in the log");
    assert!(!broker.http_get("/metrics").contains(PASSWORD), "the password is in /metrics");
}

/// Over UDP, a point longer than one datagram can carry is refused alone
/// (counted as failed, not deferred for ever); one longer than our usual
/// datagram but within UDP's limit is sent by itself and stored; the next
/// message is written as usual.
#[tokio::test(flavor = "multi_thread")]
async fn udp_points_too_long_are_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.tmpl");
    let measurement = influx::unique("long");
    std::fs::write(
        &template,
        format!(r#"{{"long/#": {{"measurement": "{measurement}", "tags": {{"t": "$topic"}}, "fields": {{"v": ["$payload", "v"]}}}}}}"#),
    )
    .unwrap();
    let server = format!("127.0.0.1:{}", influx::udp_port());
    let broker = Broker::start(BIN, &config(&server, "", &template.display().to_string()));
    let payload = |topic_len: usize| serde_json::json!({ "v": "x".repeat(topic_len) }).to_string();
    publish(broker.port, "long-pub", "long/huge", payload(70_000).as_bytes(), 1, false);
    publish(broker.port, "long-pub", "long/big", payload(40_000).as_bytes(), 1, false);
    publish(broker.port, "long-pub", "long/small", payload(3).as_bytes(), 1, false);
    let q = format!("SELECT t, v FROM \"{measurement}\"");
    let rows = influx::eventually("mqtt", &q, SOON, |r| r.len() >= 2).await;
    let mut got: Vec<(String, usize)> =
        rows.iter().map(|r| (r["t"].as_str().unwrap().to_string(), r["v"].as_str().unwrap().len())).collect();
    got.sort();
    assert_eq!(got, [("long/big".to_string(), 40_000), ("long/small".to_string(), 3)]);
    let action = "{action=\"backend.influxdb.hook.message.publish.1\"}";
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{action}")), 1);
    assert_eq!(broker.metric(&format!("cistern_action_deferred_total{action}")), 0);
    assert!(broker.log().contains("longer than one UDP datagram"), "{}", broker.log());
}
