//! The seed's Cassandra Backend against Apache Cassandra 5.0: the seed's
//! example configuration and tables (a keyspace per test on the shared
//! server, made from `sql/cassandra.cql`), connection state, subscriptions
//! by broker, offline fetch from each client's acknowledged position with
//! `offline_opts`, retained messages, raw `cql` actions, hostile client ids
//! and topics, and a server that is down at start or goes away mid-run
//! (a Cassandra of that test's own, so the other tests keep theirs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cistern_tests::cassandra::{int, text, Keyspace, PrivateCassandra};
use cistern_tests::load::Load;
use cistern_tests::{backlog_arrives_whole, broker, configs, publish, Broker, Received, Subscriber, SubscriberOptions};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
const SOON: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_secs(2);
const NODE: &str = "cistern@127.0.0.1";

fn start(k: &Keyspace) -> Broker {
    Broker::start(BIN, &k.example_config(configs::base()))
}

/// The example configuration with `on_message_fetch`'s hook given `offline_opts`.
fn start_with_fetch_opts(k: &Keyspace, opts: &str) -> Broker {
    let seed = r##"{"topic": "#", "action": {"function": "on_message_fetch"}, "pool": "pool1"}"##;
    let config = k.example_config(configs::base());
    assert!(config.contains(seed));
    let ours = seed.replace(r#""pool": "pool1"}"#, &format!(r#""pool": "pool1", "offline_opts": {opts}}}"#));
    Broker::start(BIN, &config.replace(seed, &ours))
}

fn payloads(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.payload.clone()).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `(msgid, sender, qos, retain, payload)` of the rows of `msg` on `topic`, oldest first.
fn messages_on(k: &Keyspace, topic: &str) -> Vec<(String, String, i64, i64, String)> {
    let rows = k.rows("SELECT msgid, sender, qos, retain, payload FROM {ks}.msg WHERE topic = ?", (topic,));
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                text(&r[0]).unwrap(),
                text(&r[1]).unwrap_or_default(),
                int(&r[2]).unwrap_or(-1),
                int(&r[3]).unwrap_or(-1),
                text(&r[4]).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

fn acked_position(k: &Keyspace, clientid: &str, topic: &str) -> Option<String> {
    let rows = k.rows("SELECT msgid FROM {ks}.acked WHERE client_id = ? AND topic = ?", (clientid, topic));
    rows.first().and_then(|r| text(&r[0]))
}

/// The seed's example file loads as it is; `--check` opens no connection
/// (its nodes, 127.0.0.1:9042, have no server here).
#[test]
fn the_example_configuration_loads_unchanged() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_cassa.conf");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("cistern.conf");
    std::fs::write(&top, format!("cistern.listener.tcp = 127.0.0.1:1\ninclude {example}\n")).unwrap();
    let out = std::process::Command::new(BIN).arg("--check").arg("--config").arg(&top).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("password = cassandra"), "{stderr}");
}

/// The seed's own line for `session.unsubscribed.1`, `action"` without its
/// opening quote, is refused naming the file, the line and the column.
#[test]
fn the_seeds_json_typo_is_refused_with_its_place() {
    let example = include_str!("../../etc/plugins/emqx_backend_cassa.conf");
    let ours = r##"{"topic": "#", "action": {"cql""##;
    let seeds = r##"{"topic": "#", action": {"cql""##;
    assert!(example.contains(ours));
    let config = format!("{}{}", configs::base(), example.replace(ours, seeds));
    let line = config.lines().position(|l| l.contains(seeds)).unwrap() + 1;
    broker::assert_refused(BIN, "the seed's JSON typo", &config, line, "column 16");
}

/// Bad keys are refused naming file, line and key.
#[test]
fn bad_keys_are_refused() {
    let hook = "backend.cassa.hook.client.connected.1 = {\"action\": {\"function\": \"on_client_connected\"}, \"pool\": \"pool1\"}\n";
    for (what, line, words) in [
        ("backend.ecql.pool1.nodes = 127.0.0.1:port", 4, "backend.ecql.pool1.nodes"),
        ("backend.ecql.pool1.size = many", 4, "many"),
        ("backend.ecql.pool1.keyspace = a;drop", 4, "backend.ecql.pool1.keyspace"),
        ("backend.ecql.pool1.logger = loud", 4, "backend.ecql.pool1.logger"),
        ("backend.ecql.pool1.colour = red", 4, "colour"),
    ] {
        let nodes = if what.contains(".nodes") { "" } else { "backend.ecql.pool1.nodes = 127.0.0.1:9042\n" };
        let config = format!("{}{what}\n{nodes}{hook}", configs::base());
        broker::assert_refused(BIN, what, &config, line, words);
    }
}

/// A backlog many pages long (the session queue made 40 messages, so a page
/// is 10) reaches a new subscriber whole, in order, once each.
#[test]
fn a_backlog_of_many_pages_arrives_whole() {
    let k = Keyspace::create();
    let broker =
        Broker::start(BIN, &k.example_config(&format!("{}cistern.mqtt.max_mqueue_len = 40\n", configs::base())));
    backlog_arrives_whole(broker.port, "backlog/t", "backlog-sub", 600, 1024);
    assert_eq!(broker.metric("cistern_queue_dropped_total"), 0, "nothing dropped from the session's queue");
}

/// `client` reads as the seed's query shows: state 1, node, `connected`,
/// `disconnected` null; then state 0 and `disconnected`, `connected` unchanged.
#[test]
fn connection_state() {
    let k = Keyspace::create();
    let broker = start(&k);
    let sub = Subscriber::start(broker.port, &SubscriberOptions::new("cq-conn", "conn/x").timeout(30));
    let q = "SELECT state, node, connected, disconnected FROM {ks}.client WHERE client_id = ?";
    let online = k.eventually("the client is online", SOON, |k| k.rows(q, ("cq-conn",)).into_iter().next());
    assert_eq!((int(&online[0]), text(&online[1]).as_deref()), (Some(1), Some(NODE)));
    let connected = int(&online[2]).unwrap();
    assert!((connected - now_ms()).abs() < 60_000, "connected {connected} is now");
    assert_eq!(online[3], None);

    sub.kill();
    let offline = k.eventually("the client is offline", SOON, |k| {
        k.rows(q, ("cq-conn",)).into_iter().next().filter(|r| int(&r[0]) == Some(0))
    });
    assert_eq!(int(&offline[2]), Some(connected), "connected stays");
    assert!(int(&offline[3]).unwrap() >= connected);
}

/// The client's rows in `sub` subscribe it when it connects
/// (`on_subscription_lookup`, as the seed's configuration spells it).
#[test]
fn subscriptions_by_broker() {
    let k = Keyspace::create();
    let broker = start(&k);
    for (topic, qos) in [("sb/news", 1), ("sb/alerts/+", 0)] {
        k.run(&format!("INSERT INTO {}.sub (client_id, topic, qos) VALUES (?, ?, ?)", k.name), ("sb-x", topic, qos));
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

/// Messages are rows of `msg` with the seed's columns; a subscriber gets
/// them in order and its position in `acked` moves to the last; a second
/// connection gets only what came after it; the seed's raw `cql` delete
/// on unsubscribe forgets the position.
#[test]
fn fetch_ack_and_unsubscribe() {
    let k = Keyspace::create();
    let broker = start(&k);
    for p in ["q1", "q2", "q3"] {
        publish(broker.port, "q-pub", "cq/a", p.as_bytes(), 1, false);
    }
    publish(broker.port, "q-pub", "cq/a", b"q0 not kept", 0, false);
    let stored = k.eventually("three are stored", SOON, |k| Some(messages_on(k, "cq/a")).filter(|m| m.len() == 3));
    let (id3, sender, qos, retain, payload) = stored[2].clone();
    assert_eq!((sender.as_str(), qos, retain, payload.as_str()), ("q-pub", 1, 0, "q3"));
    let arrived = k.rows("SELECT arrived FROM {ks}.msg WHERE topic = ? AND msgid = ?", ("cq/a", id3.as_str()));
    assert!((int(&arrived[0][0]).unwrap() - now_ms()).abs() < 60_000);

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub", "cq/a").persistent().count(3)).finish();
    assert_eq!(payloads(&got), ["q1", "q2", "q3"]);
    k.eventually("the position is the last message", SOON, |k| {
        (acked_position(k, "q-sub", "cq/a").as_ref() == Some(&id3)).then_some(())
    });
    assert_eq!(messages_on(&k, "cq/a").len(), 3, "one-to-many: acknowledged messages stay for others");

    publish(broker.port, "q-pub", "cq/a", b"q4", 1, false);
    k.eventually("q4 is stored", SOON, |k| (messages_on(k, "cq/a").len() == 4).then_some(()));
    // A new session of q-sub: what it acknowledged does not come again.
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub", "cq/a")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["q4"]);
    let other = Subscriber::start(broker.port, &SubscriberOptions::new("q-other", "cq/a").count(4)).finish();
    assert_eq!(payloads(&other), ["q1", "q2", "q3", "q4"], "another client has its own position");

    k.eventually("q-sub acknowledged q4", SOON, |k| acked_position(k, "q-sub", "cq/a").filter(|p| *p > id3).map(drop));
    // A persistent session holding cq/a, then mosquitto_sub's -U takes it away.
    let _ = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub", "cq/a").persistent())
        .collect_for(Duration::from_millis(500));
    let _ =
        Subscriber::start_with(broker.port, &SubscriberOptions::new("q-sub", "cq/other").persistent(), &["-U", "cq/a"])
            .collect_for(Duration::from_millis(500));
    k.eventually("the raw cql delete forgot the position", SOON, |k| {
        acked_position(k, "q-sub", "cq/a").is_none().then_some(())
    });
    assert!(acked_position(&k, "q-other", "cq/a").is_some(), "only q-sub's position went");
}

/// A wildcard subscription fetches from every topic it matches, oldest
/// first; `max_returned_count` keeps the oldest ones; `time_range` leaves
/// out a message older than it.
#[test]
fn offline_opts_limit_the_fetch() {
    let k = Keyspace::create();
    let broker = start_with_fetch_opts(&k, r#"{"max_returned_count": 3, "time_range": "1h"}"#);
    for (topic, p) in [("oo/a/1", "m1"), ("oo/b/1", "m2"), ("oo/a/2", "m3"), ("oo/a/1", "m4")] {
        publish(broker.port, "oo-pub", topic, p.as_bytes(), 1, false);
    }
    // A message of two hours ago, with an id of cistern's shape for then.
    let old_id = format!("{:016X}0001", (now_ms() - 7_200_000) * 1000);
    k.run(
        &format!(
            "INSERT INTO {}.msg (topic, msgid, sender, qos, retain, payload) VALUES (?, ?, 'old', 1, 0, 'too old')",
            k.name
        ),
        ("oo/a/old", old_id.as_str()),
    );
    let count = |k: &Keyspace| k.rows("SELECT msgid FROM {ks}.msg", ()).len();
    k.eventually("five messages are stored", SOON, |k| (count(k) == 5).then_some(()));
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("oo-sub", "oo/#")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["m1", "m2", "m3"], "the three oldest of the last hour, in order");
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("oo-sub2", "oo/a/+")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["m1", "m3", "m4"], "the old one is out of range");
}

/// `retain` holds the topic's message id, the message is its `msg` row; a
/// wildcard subscriber gets what it matches; an empty retained publish deletes.
#[test]
fn retained_lookup_and_delete() {
    let k = Keyspace::create();
    // Without on_message_fetch: the retained messages' msg rows would come as offline messages too.
    let fetch = r##"backend.cassa.hook.session.subscribed.1  = {"topic": "#", "action": {"function": "on_message_fetch"}, "pool": "pool1"}"##;
    let config = k.example_config(configs::base());
    assert!(config.contains(fetch));
    let broker = Broker::start(BIN, &config.replace(fetch, ""));
    publish(broker.port, "ret-pub", "cr/x/1", b"v1", 1, true);
    publish(broker.port, "ret-pub", "cr/x/2", b"v2", 0, true);
    publish(broker.port, "ret-pub", "cr/y", b"v3", 1, true);
    let retained = |k: &Keyspace| k.rows("SELECT topic, msgid FROM {ks}.retain", ());
    k.eventually("three are retained", SOON, |k| (retained(k).len() == 3).then_some(()));
    let row = k.rows("SELECT msgid FROM {ks}.retain WHERE topic = ?", ("cr/x/2",));
    let id = text(&row[0][0]).unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(messages_on(&k, "cr/x/2"), [(id, "ret-pub".into(), 0, 1, "v2".into())]);

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-1", "cr/x/+").count(2)).finish();
    let mut seen: Vec<(String, String, bool)> =
        got.iter().map(|r| (r.topic.clone(), r.payload.clone(), r.retained)).collect();
    seen.sort();
    assert_eq!(seen, [("cr/x/1".into(), "v1".into(), true), ("cr/x/2".into(), "v2".into(), true)]);

    publish(broker.port, "ret-pub", "cr/x/1", b"", 0, true);
    k.eventually("the empty retained publish deleted cr/x/1", SOON, |k| {
        k.rows("SELECT msgid FROM {ks}.retain WHERE topic = ?", ("cr/x/1",)).is_empty().then_some(())
    });
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-3", "cr/+/+")).collect_for(QUIET);
    let retained: Vec<&Received> = got.iter().filter(|r| r.retained).collect();
    assert_eq!(retained.len(), 1, "{got:?}");
    assert_eq!(retained[0].payload, "v2");
}

/// A raw `cql` action binds hostile values (quotes, a statement's end, a
/// comment) as values: they are stored verbatim and the table survives.
#[test]
fn raw_cql_binds_hostile_values() {
    let k = Keyspace::create();
    k.run(&format!("CREATE TABLE {}.conn (clientid text PRIMARY KEY, topic text)", k.name), ());
    let raw = r#"backend.cassa.hook.client.connected.3 = {"action": {"cql": ["insert into conn(clientid) values(${clientid})"]}, "pool": "pool1"}"#;
    let broker = Broker::start(BIN, &format!("{}\n{raw}\n", k.example_config(configs::base())));
    let client = r#"x'); DROP TABLE conn; -- "é" $1 ?"#;
    let _ = Subscriber::start(broker.port, &SubscriberOptions::new(client, "raw/x"))
        .collect_for(Duration::from_millis(500));
    let _ = Subscriber::start(broker.port, &SubscriberOptions::new("plain", "raw/x"))
        .collect_for(Duration::from_millis(500));
    let rows = k
        .eventually("both rows", SOON, |k| Some(k.rows("SELECT clientid FROM {ks}.conn", ())).filter(|r| r.len() == 2));
    let mut ids: Vec<String> = rows.iter().map(|r| text(&r[0]).unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["plain".to_string(), client.to_string()]);
}

/// Client ids and topics with quotes, dollars, dots, markers and unicode
/// are stored as they are and come back as they went; a payload that is
/// not UTF-8 (the seed's payload column is text) is refused, counted, and
/// leaves the earlier writes in place.
#[test]
fn hostile_values_are_stored_verbatim() {
    let k = Keyspace::create();
    let broker = start(&k);
    let client = "it's \"x\" $c.d ? é";
    // No NUL: mosquitto_pub takes its topic as an argument.
    let topic = "h/'q\" $t.u ?; ü/日本";
    publish(broker.port, client, topic, b"text ?", 1, false);
    publish(broker.port, client, topic, b"kept", 1, true);
    publish(broker.port, client, topic, &[0xff, 0x00, 0xfe], 1, false);
    let stored = k.eventually("two are stored", SOON, |k| Some(messages_on(k, topic)).filter(|m| m.len() == 2));
    assert!(stored.iter().all(|m| m.1 == client), "{stored:?}");
    let payloads: Vec<&str> = stored.iter().map(|m| m.4.as_str()).collect();
    assert_eq!(payloads, ["text ?", "kept"]);
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.cassa.hook.message.publish.1\"}"), 1);
    assert!(broker.log().contains("not UTF-8"), "the refusal says why");

    let mut sub = Subscriber::start(broker.port, &SubscriberOptions::new(client, "h/#").timeout(30));
    let q = "SELECT state FROM {ks}.client WHERE client_id = ?";
    k.eventually("the hostile client's state", SOON, |k| k.rows(q, (client,)).into_iter().next());
    let got = sub.expect(2, SOON);
    assert!(got.iter().all(|r| r.topic == topic), "{got:?}");
}

/// The server is down when cistern starts (a pool names a keyspace on a
/// server that is not running yet): cistern serves all the same, QoS 1
/// publishes are acknowledged into the outbox, and once the server answers
/// they are stored, once each.
#[test]
fn server_down_at_start_and_stopped_under_load() {
    let c = PrivateCassandra::start();
    let k = Keyspace::create_on(&c.nodes());
    c.stop();
    let config = format!("{}cistern.outbox.write_timeout = 1s\n", configs::base());
    let broker = Broker::start(BIN, &k.example_config(&config));
    for i in 0..5 {
        publish(broker.port, "down-pub", "down/a", format!("d{i}").as_bytes(), 1, false);
    }
    assert_eq!(broker.metric("cistern_action_deferred_total{action=\"backend.cassa.hook.message.publish.1\"}"), 5);
    c.start_again();
    wait_drained(&broker, Duration::from_secs(90));
    let got: Vec<String> = messages_on(&k, "down/a").into_iter().map(|m| m.4).collect();
    assert_eq!(got, (0..5).map(|i| format!("d{i}")).collect::<Vec<_>>());

    // Then it goes away mid-run, under load.
    let mut load = Load::start(broker.port, "cq", "load/cq", 4, 20.0, 16.0);
    std::thread::sleep(Duration::from_secs(3));
    c.stop();
    std::thread::sleep(Duration::from_secs(6));
    c.start_again();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    wait_drained(&broker, Duration::from_secs(120));

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in 0..4 {
        for m in messages_on(&k, &format!("load/cq/{n}")) {
            *counts.entry(m.4).or_insert(0) += 1;
        }
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
    assert!(
        broker.metric("cistern_action_deferred_total{action=\"backend.cassa.hook.message.publish.1\"}") > 5,
        "the outage deferred writes"
    );
}

/// Waits until the pool's lane of the outbox is empty.
fn wait_drained(broker: &Broker, limit: Duration) {
    let started = Instant::now();
    let gauge = "cistern_outbox_entries{pool=\"cassa.pool1\"}";
    while broker.metric(gauge) > 0 {
        assert!(started.elapsed() < limit, "the outbox did not drain within {limit:?}: {}", broker.metric(gauge));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A query whose result passes 32 MiB is given up as its pages come, with
/// an error that says so; 30 of the same 1 MiB rows come whole.
#[test]
fn a_result_too_large_is_refused() {
    use cistern::backends::cassa::operations::{query, Bind};
    let k = Keyspace::create();
    let big = "x".repeat(1 << 20);
    for i in 0..40 {
        k.run(
            &format!("INSERT INTO {}.msg (topic, msgid, payload) VALUES ('big', ?, ?)", k.name),
            (format!("m{i:02}"), &big),
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let text = format!("backend.ecql.pool1.nodes = {}\nbackend.ecql.pool1.keyspace = {}\n", k.nodes, k.name);
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = cistern::config::Config::from_text("size.conf", &text, dir.path()).expect("config");
        let runtime = cistern::runtime::Runtime::with_config(config, None).await.expect("runtime");
        let pool: cistern::backends::cassa::CassaPool = runtime.loaded().pool_as("ecql", "pool1").expect("the pool");
        let all = format!("SELECT payload FROM {}.msg WHERE topic = ?", k.name);
        let e = query(&pool, &all, vec![Bind::Text("big".into())]).await.unwrap_err();
        assert!(e.to_string().contains("more than 32 MiB after 32 rows; page with LIMIT"), "{e}");
        let rows = query(&pool, &format!("{all} LIMIT 30"), vec![Bind::Text("big".into())]).await.expect("30 rows");
        assert_eq!(rows.len(), 30);
        assert!(rows.iter().all(|r| matches!(&r[0], Bind::Text(t) if t.len() == 1 << 20)));
    });
}
