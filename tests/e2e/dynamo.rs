//! The seed's DynamoDB Backend against dynalite (a server speaking
//! DynamoDB's API): the seed's example configuration and tables, connection
//! state, subscriptions by broker, one-to-one offline messages with
//! `offline_opts`, acknowledgements, retained messages, hostile client ids
//! and topics, and a server that is down at start or goes away mid-run.
//!
//! DynamoDB has no databases and the seed fixes the table names, so each
//! test starts a dynalite of its own (its own port and data directory):
//! every assertion sees only what its own test wrote, and tests run side
//! by side.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use cistern_tests::dynamo::{self, item, n, s, ss, Dynalite, SECRET};
use cistern_tests::load::Load;
use cistern_tests::{backlog_arrives_whole, broker, configs, publish, Broker, Received, Subscriber, SubscriberOptions};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
const SOON: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_secs(2);
const NODE: &str = "cistern@127.0.0.1";

fn start(d: &Dynalite) -> Broker {
    Broker::start(BIN, &d.example_config(configs::base()))
}

/// The example configuration with `on_message_fetch_for_queue`'s hook
/// given `offline_opts`.
fn start_with_fetch_opts(d: &Dynalite, opts: &str) -> Broker {
    let seed = r##"{"topic": "#", "action": {"function": "on_message_fetch_for_queue"}, "pool": "pool1"}"##;
    let config = d.example_config(configs::base());
    assert!(config.contains(seed));
    let ours = seed.replace(r#""pool": "pool1"}"#, &format!(r#""pool": "pool1", "offline_opts": {opts}}}"#));
    Broker::start(BIN, &config.replace(seed, &ours))
}

fn payloads(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.payload.clone()).collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The items of `mqtt_msg` on `topic`, oldest first.
fn messages_on(d: &Dynalite, topic: &str) -> Vec<dynamo::Item> {
    let mut items: Vec<_> =
        d.scan("mqtt_msg").into_iter().filter(|i| s(i, "topic").as_deref() == Some(topic)).collect();
    items.sort_by_key(|i| s(i, "msgid"));
    items
}

fn map_ids(d: &Dynalite, topic: &str) -> Vec<String> {
    d.get("mqtt_topic_msg_map", &[("topic", topic)]).map(|i| ss(&i, "MsgId")).unwrap_or_default()
}

/// The seed's example file loads as it is (its server is not asked at
/// start), and its secret shows nowhere in what cistern prints.
#[test]
fn the_example_configuration_loads_unchanged() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_dynamo.conf");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("cistern.conf");
    std::fs::write(&top, format!("cistern.listener.tcp = 127.0.0.1:1\ninclude {example}\n")).unwrap();
    let out = std::process::Command::new(BIN).arg("--check").arg("--config").arg(&top).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("TZt7XoRi"), "the secret is printed: {stderr}");
}

/// Bad keys are refused naming file, line and key.
#[test]
fn bad_keys_are_refused() {
    let pool = "backend.dynamo.region = us-west-2\nbackend.dynamo.pool1.aws_access_key_id = k\nbackend.dynamo.pool1.aws_secret_access_key = s\n";
    let hook = "backend.dynamo.hook.client.connected.1 = {\"action\": {\"function\": \"on_client_connected\"}, \"pool\": \"pool1\"}\n";
    let config = format!("{}{pool}backend.dynamo.pool1.server = localhost:8000\n{hook}", configs::base());
    broker::assert_refused(BIN, "an endpoint without scheme", &config, 7, "backend.dynamo.pool1.server");
    let config = format!(
        "{}{pool}backend.dynamo.pool1.server = http://h:1\nbackend.dynamo.pool1.pool_size = many\n{hook}",
        configs::base()
    );
    broker::assert_refused(BIN, "a pool size that is not a number", &config, 8, "many");
    let config = format!(
        "{}{}backend.dynamo.pool1.server = http://h:1\n{hook}",
        configs::base(),
        pool.replace("backend.dynamo.region = us-west-2\n", "")
    );
    broker::assert_refused(BIN, "no region", &config, 4, "backend.dynamo.region");
}

/// A backlog many pages long (the session queue made 40 messages, so a page
/// is 10) reaches a new subscriber whole, in order, once each.
#[test]
fn a_backlog_of_many_pages_arrives_whole() {
    let d = Dynalite::start();
    let broker =
        Broker::start(BIN, &d.example_config(&format!("{}cistern.mqtt.max_mqueue_len = 40\n", configs::base())));
    backlog_arrives_whole(broker.port, "backlog/t", "backlog-sub", 600, 1024);
    assert_eq!(broker.metric("cistern_queue_dropped_total"), 0, "nothing dropped from the session's queue");
}

/// `mqtt_client` reads as the seed's scan: connect_state 1, node,
/// online_at (seconds), offline_at 0; then connect_state 0 and offline_at,
/// online_at unchanged. The secret is in neither the log nor /metrics.
#[test]
fn connection_state() {
    let d = Dynalite::start();
    let broker = start(&d);
    let sub = Subscriber::start(broker.port, &SubscriberOptions::new("dyn-conn", "conn/x").timeout(30));
    let online = d.eventually("the client is online", SOON, |d| d.get("mqtt_client", &[("clientid", "dyn-conn")]));
    let mut names: Vec<&str> = online.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["clientid", "connect_state", "node", "offline_at", "online_at"]);
    assert_eq!((n(&online, "connect_state"), n(&online, "offline_at")), (Some(1), Some(0)));
    assert_eq!(s(&online, "node").as_deref(), Some(NODE));
    let online_at = n(&online, "online_at").unwrap();
    assert!((online_at - now_secs()).abs() < 60, "online_at {online_at} is seconds, now");

    sub.kill();
    let offline = d.eventually("the client is offline", SOON, |d| {
        d.get("mqtt_client", &[("clientid", "dyn-conn")]).filter(|i| n(i, "connect_state") == Some(0))
    });
    assert_eq!(n(&offline, "online_at"), Some(online_at), "online_at stays");
    assert!(n(&offline, "offline_at").unwrap() >= online_at);

    assert!(!broker.log().contains(SECRET), "the secret is in the log");
    assert!(!broker.http_get("/metrics").contains(SECRET), "the secret is on /metrics");
}

/// The client's items in `mqtt_sub` subscribe it when its session is
/// created, though it subscribes to nothing of the kind itself.
#[test]
fn subscriptions_by_broker() {
    let d = Dynalite::start();
    let broker = start(&d);
    for (topic, qos) in [("sb/news", "1"), ("sb/alerts/+", "0")] {
        d.put(
            "mqtt_sub",
            item(&[
                ("clientid", AttributeValue::S("sb-x".into())),
                ("topic", AttributeValue::S(topic.into())),
                ("qos", AttributeValue::N(qos.into())),
            ]),
        );
    }
    let mut x = Subscriber::start(broker.port, &SubscriberOptions::new("sb-x", "sb/unrelated").timeout(30));
    std::thread::sleep(Duration::from_millis(500));
    publish(broker.port, "sb-pub", "sb/news", b"extra", 1, false);
    publish(broker.port, "sb-pub", "sb/alerts/fire", b"evacuate", 0, false);
    let mut seen: Vec<(String, String)> =
        x.expect(2, SOON).iter().map(|r| (r.topic.clone(), r.payload.clone())).collect();
    seen.sort();
    assert_eq!(seen, [("sb/alerts/fire".into(), "evacuate".into()), ("sb/news".into(), "extra".into())]);
}

/// Messages published while nobody listens are items of `mqtt_msg` with
/// the seed's attributes, their ids in the topic's `MsgId` set; the first
/// subscriber gets them in order; each acknowledgement removes the message
/// and its id, and leaves the client's position in `mqtt_acked`; a later
/// subscriber gets nothing; an unsubscribe forgets the position.
#[test]
fn queue_fetch_ack_and_unsubscribe() {
    let d = Dynalite::start();
    let broker = start(&d);
    for p in ["q1", "q2", "q3"] {
        publish(broker.port, "q-pub", "dq/a", p.as_bytes(), 1, false);
    }
    publish(broker.port, "q-pub", "dq/a", b"q0 not kept", 0, false);
    let stored =
        d.eventually("three messages are stored", SOON, |d| Some(messages_on(d, "dq/a")).filter(|m| m.len() == 3));
    let first = &stored[0];
    let mut names: Vec<&str> = first.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["arrived", "msgid", "payload", "qos", "retain", "sender", "topic"]);
    assert_eq!(
        (s(first, "sender"), n(first, "qos"), n(first, "retain"), dynamo::payload(first)),
        (Some("q-pub".into()), Some(1), Some(0), b"q1".to_vec())
    );
    assert!((n(first, "arrived").unwrap() - now_secs()).abs() < 60, "arrived is seconds");
    let ids: Vec<String> = stored.iter().map(|i| s(i, "msgid").unwrap()).collect();
    assert_eq!(map_ids(&d, "dq/a"), ids, "the topic's set holds the three ids");

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub", "dq/a").persistent().count(3)).finish();
    assert_eq!(payloads(&got), ["q1", "q2", "q3"]);
    d.eventually("the acknowledged messages are removed", SOON, |d| {
        (messages_on(d, "dq/a").is_empty() && map_ids(d, "dq/a").is_empty()).then_some(())
    });
    let acked = d.eventually("the position is the last message", SOON, |d| {
        d.get("mqtt_acked", &[("topic", "dq/a"), ("clientid", "q-sub")])
            .filter(|i| s(i, "msgid").as_ref() == ids.last())
    });
    assert_eq!(acked.len(), 3, "{acked:?}");

    let later = Subscriber::start(broker.port, &SubscriberOptions::new("q-later", "dq/a")).collect_for(QUIET);
    assert!(later.is_empty(), "an acknowledged queue message came again: {later:?}");

    // The persistent session still holds dq/a: mosquitto_sub's -U takes it away.
    let _ =
        Subscriber::start_with(broker.port, &SubscriberOptions::new("q-sub", "dq/other").persistent(), &["-U", "dq/a"])
            .collect_for(Duration::from_millis(500));
    d.eventually("the unsubscribe deleted the position", SOON, |d| {
        d.get("mqtt_acked", &[("topic", "dq/a"), ("clientid", "q-sub")]).is_none().then_some(())
    });
}

/// A wildcard subscription fetches from every topic it matches, oldest
/// first; `max_returned_count` keeps the oldest ones; `time_range` leaves
/// out a message older than it.
#[test]
fn offline_opts_limit_the_fetch() {
    let d = Dynalite::start();
    let broker = start_with_fetch_opts(&d, r#"{"max_returned_count": 3, "time_range": "1h"}"#);
    for (topic, p) in [("oo/a/1", "m1"), ("oo/b/1", "m2"), ("oo/a/2", "m3"), ("oo/a/1", "m4")] {
        publish(broker.port, "oo-pub", topic, p.as_bytes(), 1, false);
    }
    d.eventually("four messages are stored", SOON, |d| (d.scan("mqtt_msg").len() == 4).then_some(()));
    // A message of two hours ago, written as another EMQX node would have (an id not of cistern's shape).
    d.put(
        "mqtt_msg",
        item(&[
            ("msgid", AttributeValue::S("Mjg4MTk1MDYwNTk0NjYwNzYzMTg4MDk3OTQ2MDU2Nzg1OTD".into())),
            ("topic", AttributeValue::S("oo/a/old".into())),
            ("sender", AttributeValue::S("old".into())),
            ("qos", AttributeValue::N("1".into())),
            ("retain", AttributeValue::N("0".into())),
            ("payload", AttributeValue::S("too old".into())),
            ("arrived", AttributeValue::N((now_secs() - 7200).to_string())),
        ]),
    );
    d.put(
        "mqtt_topic_msg_map",
        item(&[
            ("topic", AttributeValue::S("oo/a/old".into())),
            ("MsgId", AttributeValue::Ss(vec!["Mjg4MTk1MDYwNTk0NjYwNzYzMTg4MDk3OTQ2MDU2Nzg1OTD".into()])),
        ]),
    );
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("oo-sub", "oo/#")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["m1", "m2", "m3"], "the three oldest of the last hour, in order");
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("oo-sub2", "oo/a/+")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["m4"], "what oo-sub acknowledged is gone; the old one is out of range");
}

/// `mqtt_retain` holds one item per topic with the seed's attributes; a
/// wildcard subscriber gets what it matches; an empty retained publish deletes.
#[test]
fn retained_lookup_and_delete() {
    let d = Dynalite::start();
    let broker = start(&d);
    publish(broker.port, "ret-pub", "dr/x/1", b"v1", 1, true);
    publish(broker.port, "ret-pub", "dr/x/2", b"v2", 0, true);
    publish(broker.port, "ret-pub", "dr/y", b"v3", 1, true);
    d.eventually("three are retained", SOON, |d| (d.scan("mqtt_retain").len() == 3).then_some(()));
    let r = d.get("mqtt_retain", &[("topic", "dr/x/1")]).unwrap();
    assert_eq!(
        (s(&r, "sender"), n(&r, "qos"), n(&r, "retain"), dynamo::payload(&r)),
        (Some("ret-pub".into()), Some(1), Some(1), b"v1".to_vec())
    );
    assert_eq!(s(&r, "msgid").map(|m| m.len()), Some(32));

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-1", "dr/x/+").count(2)).finish();
    let mut seen: Vec<(String, String, bool)> =
        got.iter().map(|r| (r.topic.clone(), r.payload.clone(), r.retained)).collect();
    seen.sort();
    assert_eq!(seen, [("dr/x/1".into(), "v1".into(), true), ("dr/x/2".into(), "v2".into(), true)]);
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-2", "dr/y").count(1)).finish();
    assert_eq!(payloads(&got), ["v3"]);

    // QoS 0: on_message_publish keeps it out of mqtt_msg, so no fetch delivers it.
    publish(broker.port, "ret-pub", "dr/x/1", b"", 0, true);
    d.eventually("the empty retained publish deleted dr/x/1", SOON, |d| {
        d.get("mqtt_retain", &[("topic", "dr/x/1")]).is_none().then_some(())
    });
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-3", "dr/#")).collect_for(QUIET);
    let mut left = payloads(&got);
    left.sort();
    assert_eq!(left, ["v2", "v3"]);
}

/// Client ids and topics with quotes, dollars, dots, colons and hashes as
/// DynamoDB expressions use them, backslashes and unicode, and a payload
/// that is not UTF-8, are stored as they are and come back as they went.
#[test]
fn hostile_values_are_stored_verbatim() {
    let d = Dynalite::start();
    let broker = start(&d);
    let client = r#"it's "x" $c.d :v #n \ é"#;
    // `#` and `+` are wildcards, which no topic name may hold.
    let topic = r#"h/'q" $t.u :ids MsgId \ ü/日本"#;
    publish(broker.port, client, topic, b"text :ids", 1, false);
    publish(broker.port, client, topic, &[0xff, 0x00, 0xfe], 1, true);
    let stored = d.eventually("both are stored", SOON, |d| Some(messages_on(d, topic)).filter(|m| m.len() == 2));
    assert!(stored.iter().all(|i| s(i, "sender").as_deref() == Some(client)), "{stored:?}");
    assert_eq!(dynamo::payload(&stored[0]), b"text :ids");
    assert!(matches!(stored[1].get("payload"), Some(AttributeValue::B(_))), "bytes that are not text are B");
    assert_eq!(dynamo::payload(&stored[1]), [0xff, 0x00, 0xfe]);
    assert_eq!(map_ids(&d, topic).len(), 2);
    let retained = d.get("mqtt_retain", &[("topic", topic)]).expect("retained under its topic");
    assert_eq!(dynamo::payload(&retained), [0xff, 0x00, 0xfe]);

    // The hostile client connects: its state is under its id.
    let mut sub = Subscriber::start(broker.port, &SubscriberOptions::new(client, "h/#").timeout(30));
    d.eventually("the hostile client's state", SOON, |d| d.get("mqtt_client", &[("clientid", client)]));
    let got = sub.expect(2, SOON);
    let mut topics: Vec<&str> = got.iter().map(|r| r.topic.as_str()).collect();
    topics.dedup();
    assert_eq!(topics, [topic], "{got:?}");
}

/// The server is down when cistern starts: cistern serves all the same,
/// QoS 1 publishes are acknowledged into the outbox, and once the server
/// answers they are stored, once each.
#[test]
fn server_down_at_start() {
    let d = Dynalite::start();
    d.stop();
    let broker = start(&d);
    for i in 0..5 {
        publish(broker.port, "down-pub", "down/a", format!("d{i}").as_bytes(), 1, false);
    }
    assert_eq!(broker.metric("cistern_action_deferred_total{action=\"backend.dynamo.hook.message.publish.1\"}"), 5);
    d.start_again();
    wait_drained(&broker, Duration::from_secs(60));
    let stored = messages_on(&d, "down/a");
    let mut got: Vec<Vec<u8>> = stored.iter().map(dynamo::payload).collect();
    got.sort();
    assert_eq!(got, (0..5).map(|i| format!("d{i}").into_bytes()).collect::<Vec<_>>());
    assert_eq!(map_ids(&d, "down/a").len(), 5);
}

/// Waits until the pool's lane of the outbox is empty.
fn wait_drained(broker: &Broker, limit: Duration) {
    let started = Instant::now();
    let gauge = "cistern_outbox_entries{pool=\"dynamo.pool1\"}";
    while broker.metric(gauge) > 0 {
        assert!(started.elapsed() < limit, "the outbox did not drain within {limit:?}: {}", broker.metric(gauge));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// dynalite stopped for 8 s while 4 publishers send QoS 1 at a steady
/// rate: afterwards every acknowledged message is in `mqtt_msg` exactly
/// once and its id in the topic's set, and the accounting adds up.
#[test]
fn server_stopped_under_load() {
    let d = Dynalite::start();
    let config = format!("{}cistern.outbox.write_timeout = 1s\n", configs::base());
    let broker = Broker::start(BIN, &d.example_config(&config));
    let mut load = Load::start(broker.port, "dyn", "load/dyn", 4, 20.0, 16.0);
    std::thread::sleep(Duration::from_secs(3));
    d.stop();
    std::thread::sleep(Duration::from_secs(8));
    d.start_again();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    wait_drained(&broker, Duration::from_secs(120));

    let mut stored: Vec<dynamo::Item> =
        d.scan("mqtt_msg").into_iter().filter(|i| s(i, "topic").is_some_and(|t| t.starts_with("load/dyn/"))).collect();
    stored.sort_by_key(|i| s(i, "msgid"));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in &stored {
        *counts.entry(String::from_utf8_lossy(&dynamo::payload(i)).into_owned()).or_insert(0) += 1;
    }
    let missing: Vec<&String> = load.acked.iter().filter(|p| !counts.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages are not stored, e.g. {:?}",
        missing.len(),
        load.acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(counts.values().all(|c| *c == 1), "stored more than once");
    let ids: Vec<String> = stored.iter().map(|i| s(i, "msgid").unwrap()).collect();
    let mut in_sets: Vec<String> = (0..4).flat_map(|n| map_ids(&d, &format!("load/dyn/{n}"))).collect();
    in_sets.sort();
    assert_eq!(in_sets, ids, "the topics' sets hold each stored id, once");

    let action = "backend.dynamo.hook.message.publish.1";
    let m = |name: &str| broker.metric(&format!("{name}{{action=\"{action}\"}}"));
    let (calls, ok, failed, dropped, pending) = (
        m("cistern_action_calls_total"),
        m("cistern_action_succeeded_total"),
        m("cistern_action_failures_total"),
        m("cistern_action_dropped_total"),
        m("cistern_action_pending"),
    );
    assert_eq!(calls, ok + failed + dropped + pending);
    assert!(m("cistern_action_deferred_total") > 0, "the outage deferred writes");
}
