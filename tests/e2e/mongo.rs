//! The seed's MongoDB Backend against a real MongoDB-protocol server
//! (FerretDB): the seed's collections and their fields, connection state,
//! subscriptions by broker, offline messages with `offline_opts` and read
//! positions, retained messages, `payload_format`, hostile values, and a
//! server that is down at start or goes away mid-run. Each test has a
//! database of its own, made with `sql/mongo.js`, so they run side by side.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cistern_tests::broker::check_config;
use cistern_tests::load::Load;
use cistern_tests::mongo::{FerretServer, Mongo};
use cistern_tests::raw::{Connect, RawClient};
use cistern_tests::{
    backlog_arrives_whole, configs, publish, publish_paho, Broker, Received, Subscriber, SubscriberOptions,
};
use mongodb::bson::{doc, Bson, Document};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
/// How long a test waits for something that should happen.
const SOON: Duration = Duration::from_secs(10);
/// How long it listens to show that something does not happen.
const QUIET: Duration = Duration::from_secs(2);
/// The node name cistern stores when none is configured.
const NODE: &str = "cistern@127.0.0.1";
const PUBLISH: &str = "backend.mongo.hook.message.publish.1";

/// The seed's example configuration as cistern ships it, after the
/// listener lines, on the test's database; `replace` changes lines
/// (`(as written, instead)`), and `extra` is added at the end.
fn example(mongo: &Mongo, replace: &[(&str, &str)], extra: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_mongo.conf");
    let mut text = std::fs::read_to_string(path).expect("etc/plugins/emqx_backend_mongo.conf");
    let server = format!("backend.mongo.pool1.server = 127.0.0.1:{}", mongo.port);
    let database = format!("backend.mongo.pool1.database = {}", mongo.name);
    let mut changes = vec![
        ("backend.mongo.pool1.server = 127.0.0.1:27017", server.as_str()),
        ("backend.mongo.pool1.database = mqtt", database.as_str()),
    ];
    changes.extend_from_slice(replace);
    for (from, to) in changes {
        assert!(text.contains(from), "the example configuration has no line {from:?}");
        text = text.replace(from, to);
    }
    format!("{}cistern.outbox.write_timeout = 1s\n{text}{extra}", configs::base())
}

fn start(mongo: &Mongo) -> Broker {
    Broker::start(BIN, &example(mongo, &[], ""))
}

fn payloads(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.payload.clone()).collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(i)) => i64::from(*i),
        Some(Bson::Int64(i)) => *i,
        other => panic!("{key} is not an integer: {other:?} in {d:?}"),
    }
}

/// Waits until the broker has logged `line`.
fn logged(broker: &Broker, line: &str) {
    let started = Instant::now();
    while !broker.log().contains(line) {
        assert!(started.elapsed() < SOON, "cistern did not log {line:?}:\n{}", broker.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// mqtt_client holds the seed's fields: state 1, the node, online_at now
/// and offline_at null while connected; then state 0 and offline_at, with
/// online_at as it was.
#[tokio::test(flavor = "multi_thread")]
async fn connection_state() {
    let mongo = Mongo::for_test("conn").await;
    let broker = start(&mongo);
    let sub = Subscriber::start(broker.port, &SubscriberOptions::new("mongo-conn", "conn/x").timeout(30));
    let filter = doc! {"clientid": "mongo-conn"};
    let online =
        mongo.eventually("the client is online", SOON, "mqtt_client", filter.clone(), |d| d.first().cloned()).await;
    // An upsert's fields are in the server's order (MongoDB sorts an update's fields).
    let mut fields: Vec<&str> = online.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["_id", "clientid", "node", "offline_at", "online_at", "state"], "{online:?}");
    assert_eq!(int(&online, "state"), 1);
    assert_eq!(online.get_str("node").unwrap(), NODE);
    assert!((int(&online, "online_at") - now_secs()).abs() < 60, "online_at is now, in seconds: {online:?}");
    assert_eq!(online.get("offline_at"), Some(&Bson::Null));

    sub.kill();
    let offline = mongo
        .eventually("the client is offline", SOON, "mqtt_client", filter, |d| {
            d.first().filter(|c| int(c, "state") == 0).cloned()
        })
        .await;
    assert_eq!(offline.get("online_at"), online.get("online_at"), "online_at stays");
    assert!(int(&offline, "offline_at") >= int(&online, "online_at"));
    assert_eq!(mongo.find("mqtt_client", doc! {}).await.len(), 1, "one document per client");
}

/// Documents in mqtt_sub subscribe their client when it connects, though it
/// subscribes to nothing of the kind itself.
#[tokio::test(flavor = "multi_thread")]
async fn subscription_by_broker() {
    let mongo = Mongo::for_test("sub").await;
    mongo.insert("mqtt_sub", doc! {"clientid": "sbb-x", "topic": "sbb/news", "qos": 1}).await;
    mongo.insert("mqtt_sub", doc! {"clientid": "sbb-x", "topic": "sbb/alerts/+", "qos": 0}).await;
    mongo.insert("mqtt_sub", doc! {"clientid": "sbb-other", "topic": "sbb/#", "qos": 0}).await;
    let broker = start(&mongo);
    let mut x = Subscriber::start(broker.port, &SubscriberOptions::new("sbb-x", "sbb/unrelated").timeout(30));
    std::thread::sleep(Duration::from_millis(500));
    publish(broker.port, "sbb-pub", "sbb/news", b"extra", 1, false);
    publish(broker.port, "sbb-pub", "sbb/alerts/fire", b"evacuate", 0, false);
    publish(broker.port, "sbb-pub", "sbb/other", b"not for x", 0, false);
    let mut seen: Vec<(String, String)> =
        x.expect(2, SOON).iter().map(|r| (r.topic.clone(), r.payload.clone())).collect();
    seen.sort();
    assert_eq!(
        seen,
        [("sbb/alerts/fire".to_string(), "evacuate".to_string()), ("sbb/news".to_string(), "extra".to_string())]
    );
    let all = x.collect_for(QUIET);
    assert_eq!(all.len(), 2, "another client's subscription reached x: {all:?}");
}

/// QoS 1 messages published while a persistent subscriber is away reach it,
/// across a broker restart (from the store alone), in order, once; the
/// stored messages have the seed's fields; the read position is the `_id`
/// of the last one acknowledged; once acknowledged, nothing comes again.
/// A backlog many pages long (the session queue made 40 messages, so a page
/// is 10) reaches a new subscriber whole, in order, once each.
#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_of_many_pages_arrives_whole() {
    let mongo = Mongo::for_test("backlog").await;
    let broker = Broker::start(BIN, &example(&mongo, &[], "cistern.mqtt.max_mqueue_len = 40\n"));
    backlog_arrives_whole(broker.port, "backlog/t", "backlog-sub", 600, 1024);
    assert_eq!(broker.metric("cistern_queue_dropped_total"), 0, "nothing dropped from the session's queue");
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_messages_and_read_positions() {
    let mongo = Mongo::for_test("offline").await;
    let mut broker = start(&mongo);
    let opts = SubscriberOptions::new("away-sub", "away/#").persistent();
    Subscriber::start(broker.port, &opts).kill();
    let sent: Vec<String> = (1..=4).map(|i| format!("m{i}")).collect();
    for (i, m) in sent.iter().enumerate() {
        publish(broker.port, "away-pub", &format!("away/{}", i % 2), m.as_bytes(), 1, false);
    }
    publish(broker.port, "away-pub", "away/0", b"qos0 is not stored", 0, false);
    let stored = mongo
        .eventually("4 messages are stored", SOON, "mqtt_msg", doc! {}, |d| (d.len() == 4).then(|| d.to_vec()))
        .await;
    let first = &stored[0];
    let fields: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(fields, ["_id", "topic", "msgid", "sender", "qos", "retain", "payload", "arrived"]);
    assert_eq!(
        (first.get_str("topic").unwrap(), first.get_str("sender").unwrap(), int(first, "qos")),
        ("away/0", "away-pub", 1)
    );
    assert_eq!(first.get("retain"), Some(&Bson::Boolean(false)));
    assert_eq!(first.get_str("msgid").unwrap().len(), 32);
    assert!((int(first, "arrived") - now_secs()).abs() < 60, "arrived is now, in seconds");
    let ids: Vec<i64> = stored.iter().map(|d| int(d, "_id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "_id orders the messages: {ids:?}");
    let stored_payloads: Vec<&str> = stored.iter().map(|d| d.get_str("payload").unwrap()).collect();
    assert_eq!(stored_payloads, sent);

    broker.restart();
    let mut back = Subscriber::start(broker.port, &opts.clone().timeout(30));
    assert_eq!(payloads(&back.expect(4, SOON)), sent, "everything missed, from the store, in order");
    let positions = mongo
        .eventually("both read positions are stored", SOON, "mqtt_acked", doc! {"clientid": "away-sub"}, |d| {
            (d.len() == 2 && d.iter().all(|a| a.get("mongo_id").is_some())).then(|| d.to_vec())
        })
        .await;
    let mut at: BTreeMap<String, i64> =
        positions.iter().map(|a| (a.get_str("topic").unwrap().to_string(), int(a, "mongo_id"))).collect();
    let expected = BTreeMap::from([("away/0".to_string(), ids[2]), ("away/1".to_string(), ids[3])]);
    let started = Instant::now();
    while at != expected && started.elapsed() < SOON {
        std::thread::sleep(Duration::from_millis(100));
        let docs = mongo.find("mqtt_acked", doc! {"clientid": "away-sub"}).await;
        at = docs.iter().map(|a| (a.get_str("topic").unwrap().to_string(), int(a, "mongo_id"))).collect();
    }
    assert_eq!(at, expected, "each topic's position is the _id of its last message");
    back.kill();

    broker.restart();
    let again = Subscriber::start(broker.port, &opts).collect_for(QUIET);
    assert!(again.is_empty(), "acknowledged messages came again: {again:?}");
}

/// A subscriber with a read position that comes back as a new session, so
/// the store (not the broker's session) supplies what it missed.
async fn returning_subscriber(broker: &Broker, mongo: &Mongo, client: &str, filter: &str, topic: &str) {
    let mut first = Subscriber::start(broker.port, &SubscriberOptions::new(client, filter).timeout(30));
    publish(broker.port, "opts-pub", topic, b"seen", 1, false);
    assert_eq!(payloads(&first.expect(1, SOON)), ["seen"]);
    mongo
        .eventually("the position is stored", SOON, "mqtt_acked", doc! {"clientid": client}, |d| d.first().cloned())
        .await;
    first.kill();
}

/// `offline_opts.max_returned_count = 2` on a wildcard subscription: a
/// returning subscriber gets exactly the 2 oldest messages it has not
/// acknowledged, whichever topics they are on.
#[tokio::test(flavor = "multi_thread")]
async fn offline_opts_max_returned_count() {
    let mongo = Mongo::for_test("count").await;
    let fetch = r##"backend.mongo.hook.session.subscribed.1  = {"topic": "#", "action": {"function": "on_message_fetch"}, "pool": "pool1"}"##;
    let with_opts = r##"backend.mongo.hook.session.subscribed.1  = {"topic": "#", "action": {"function": "on_message_fetch"}, "offline_opts": {"max_returned_count": 2}, "pool": "pool1"}"##;
    let broker = Broker::start(BIN, &example(&mongo, &[(fetch, with_opts)], ""));
    returning_subscriber(&broker, &mongo, "count-sub", "count/#", "count/0").await;
    for i in 1..=5 {
        publish(broker.port, "opts-pub", &format!("count/{}", i % 2), format!("c{i}").as_bytes(), 1, false);
    }
    publish(broker.port, "opts-pub", "countless/x", b"not under count/", 1, false);
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("count-sub", "count/#")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["c1", "c2"], "the two oldest unacknowledged, no more");
}

/// `backend.mongo.max_returned_count = 0` turns the offline fetch off.
#[tokio::test(flavor = "multi_thread")]
async fn max_returned_count_zero_fetches_nothing() {
    let mongo = Mongo::for_test("zero").await;
    let broker = Broker::start(BIN, &example(&mongo, &[], "backend.mongo.max_returned_count = 0\n"));
    publish(broker.port, "opts-pub", "zero/t", b"z1", 1, false);
    mongo.eventually("z1 is stored", SOON, "mqtt_msg", doc! {"topic": "zero/t"}, |d| d.first().cloned()).await;
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("zero-sub", "zero/t")).collect_for(QUIET);
    assert!(got.is_empty(), "fetched with max_returned_count 0: {got:?}");
}

/// `backend.mongo.time_range = 2s`: messages older than that are not delivered.
#[tokio::test(flavor = "multi_thread")]
async fn offline_opts_time_range() {
    let mongo = Mongo::for_test("range").await;
    let broker = Broker::start(BIN, &example(&mongo, &[], "backend.mongo.time_range = 2s\n"));
    returning_subscriber(&broker, &mongo, "range-sub", "range/t", "range/t").await;
    publish(broker.port, "opts-pub", "range/t", b"old1", 1, false);
    publish(broker.port, "opts-pub", "range/t", b"old2", 1, false);
    std::thread::sleep(Duration::from_millis(3500));
    publish(broker.port, "opts-pub", "range/t", b"new1", 1, false);
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("range-sub", "range/t")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["new1"], "only what is younger than 2s");
}

/// mqtt_retain holds one document per topic with the seed's fields; a
/// wildcard subscriber gets the retained messages it matches (and not
/// those that only share the prefix's characters); an empty retained
/// publish deletes.
#[tokio::test(flavor = "multi_thread")]
async fn retained_lookup_and_delete() {
    let mongo = Mongo::for_test("retain").await;
    let broker = start(&mongo);
    // QoS 0, which on_message_publish does not store: what comes is from mqtt_retain alone.
    publish(broker.port, "ret-pub", "ret/x/1", b"v1", 0, true);
    publish(broker.port, "ret-pub", "ret/x/1", b"v1 again", 0, true);
    publish(broker.port, "ret-pub", "ret/x/2", b"v2", 0, true);
    publish(broker.port, "ret-pub", "ret/y", b"v3", 0, true);
    publish(broker.port, "ret-pub", "ret/x0", b"beside", 0, true);
    let docs = mongo
        .eventually("four topics are retained", SOON, "mqtt_retain", doc! {}, |d| (d.len() == 4).then(|| d.to_vec()))
        .await;
    let one = docs.iter().find(|d| d.get_str("topic") == Ok("ret/x/1")).expect("ret/x/1");
    let fields: Vec<&str> = one.keys().map(String::as_str).collect();
    assert_eq!(fields, ["_id", "topic", "msgid", "sender", "qos", "payload", "arrived"]);
    mongo
        .eventually("the second publish replaced the first", SOON, "mqtt_retain", doc! {"topic": "ret/x/1"}, |d| {
            (d.len() == 1 && d[0].get_str("payload") == Ok("v1 again")).then_some(())
        })
        .await;

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-1", "ret/x/+").count(2)).finish();
    let mut seen: Vec<(String, String, bool)> =
        got.iter().map(|r| (r.topic.clone(), r.payload.clone(), r.retained)).collect();
    seen.sort();
    assert_eq!(seen, [("ret/x/1".into(), "v1 again".into(), true), ("ret/x/2".into(), "v2".into(), true)]);

    publish(broker.port, "ret-pub", "ret/x/1", b"", 0, true);
    mongo
        .eventually("the empty retained publish deleted ret/x/1", SOON, "mqtt_retain", doc! {"topic": "ret/x/1"}, |d| {
            d.is_empty().then_some(())
        })
        .await;
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-2", "ret/#")).collect_for(QUIET);
    let mut left = payloads(&got);
    left.sort();
    assert_eq!(left, ["beside", "v2", "v3"]);
}

/// `payload_format: mongo_json` (the seed's example): a JSON object is
/// stored as a document, its integers as integers; anything else (not
/// JSON, an array) as a string; bytes that are not UTF-8 as binary data.
/// Extended JSON's `{"$oid": ...}` is never an ObjectId: a server that
/// takes field names starting with `$` (MongoDB 5 and later) keeps it as a
/// plain field, one that refuses them (FerretDB) gets the payload as the
/// string it was. A subscriber gets each back (a document as compact JSON).
#[tokio::test(flavor = "multi_thread")]
async fn mongo_json_payloads() {
    let mongo = Mongo::for_test("json").await;
    let broker = start(&mongo);
    let opts = SubscriberOptions::new("json-sub", "json/#").persistent();
    Subscriber::start(broker.port, &opts).kill();
    let object = br#"{"temp": 21, "big": 5000000000, "ratio": 0.5, "s": "x\u0000y", "n": {"l": [1, "a"]}}"#;
    let extended = r#"{"id": {"$oid": "5f0000000000000000000000"}}"#;
    publish(broker.port, "json-pub", "json/object", object, 1, false);
    publish(broker.port, "json-pub", "json/text", b"not {json", 1, false);
    publish(broker.port, "json-pub", "json/array", b"[1, 2]", 1, false);
    publish(broker.port, "json-pub", "json/binary", &[0xff, 0x00, 0xfe], 1, false);
    publish(broker.port, "json-pub", "json/extended", extended.as_bytes(), 1, false);
    let docs = mongo
        .eventually("five messages are stored", SOON, "mqtt_msg", doc! {}, |d| (d.len() == 5).then(|| d.to_vec()))
        .await;
    let payload = |topic: &str| docs.iter().find(|d| d.get_str("topic") == Ok(topic)).unwrap().get("payload").cloned();
    let Some(Bson::Document(p)) = payload("json/object") else {
        panic!("not a document: {:?}", payload("json/object"))
    };
    assert_eq!(p.get("temp"), Some(&Bson::Int32(21)));
    assert_eq!(p.get("big"), Some(&Bson::Int64(5_000_000_000)));
    assert_eq!(p.get("ratio"), Some(&Bson::Double(0.5)));
    assert_eq!(p.get_str("s").unwrap(), "x\0y", "a NUL inside a string is kept");
    assert_eq!(p.get_document("n").unwrap().get_array("l").unwrap(), &vec![Bson::Int32(1), Bson::String("a".into())]);
    assert_eq!(payload("json/text"), Some(Bson::String("not {json".into())));
    assert_eq!(payload("json/array"), Some(Bson::String("[1, 2]".into())));
    let Some(Bson::Binary(b)) = payload("json/binary") else { panic!("not binary: {:?}", payload("json/binary")) };
    assert_eq!(b.bytes, [0xff, 0x00, 0xfe]);
    match payload("json/extended") {
        Some(Bson::String(s)) => assert_eq!(s, extended, "refused as a document, kept as the string it was"),
        Some(Bson::Document(d)) => {
            assert_eq!(d.get_document("id").unwrap().get_str("$oid").unwrap(), "5f0000000000000000000000")
        }
        other => panic!("{other:?}"),
    }

    // After a restart the store, not the broker's session, delivers them.
    let mut broker = broker;
    broker.restart();
    let got = Subscriber::start(broker.port, &opts.clone().timeout(30)).expect(5, SOON);
    assert_eq!(got[0].payload, r#"{"temp":21,"big":5000000000,"ratio":0.5,"s":"x\u0000y","n":{"l":[1,"a"]}}"#);
    assert_eq!(payloads(&got[1..3]), ["not {json", "[1, 2]"]);
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{{action=\"{PUBLISH}\"}}")), 0);
}

/// `payload_format: plain_text`, and a JSON object whose field names BSON
/// cannot hold (a NUL) under `mongo_json`: both stored as the string sent.
#[tokio::test(flavor = "multi_thread")]
async fn plain_text_and_unstorable_json_are_strings() {
    let mongo = Mongo::for_test("plain").await;
    let json_hook = r#""pool": "pool1", "payload_format": "mongo_json"}"#;
    let config = example(&mongo, &[], "").replacen(json_hook, r#""pool": "pool1", "payload_format": "plain_text"}"#, 1);
    let broker = Broker::start(BIN, &config);
    publish(broker.port, "plain-pub", "plain/a", br#"{"t": 1}"#, 1, false);
    publish(broker.port, "plain-pub", "plain/r", br#"{"a\u0000b": 1}"#, 1, true);
    let msg = mongo
        .eventually("the message is stored", SOON, "mqtt_msg", doc! {"topic": "plain/a"}, |d| d.first().cloned())
        .await;
    assert_eq!(msg.get("payload"), Some(&Bson::String(r#"{"t": 1}"#.into())), "plain_text keeps the text");
    let retained = mongo
        .eventually("the retained message is stored", SOON, "mqtt_retain", doc! {"topic": "plain/r"}, |d| {
            d.first().cloned()
        })
        .await;
    assert_eq!(retained.get("payload"), Some(&Bson::String(r#"{"a\u0000b": 1}"#.into())));
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.mongo.hook.message.publish.2\"}"), 0);
}

/// Client ids and topics with quotes, dollar signs, dots, braces and
/// unicode are field values: stored as sent, matched as sent, and they
/// touch no other document. (rmqtt takes `$` at the start of a topic's
/// first level only, so it is inside a level here.) So are a client id and
/// a topic with a NUL byte, and nothing stored before is lost.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_ids_and_topics_are_stored_verbatim() {
    let mongo = Mongo::for_test("hostile").await;
    let broker = start(&mongo);
    let client = r#"x"}, {"$where": "sleep(1000)"}, {"a.b": "$gt""#;
    let topic = "hostile/a$where/a.b/'\"/{\"$ne\": null}/é☃";
    publish_paho(broker.port, client, topic, b"h1", 1);
    let stored = mongo
        .eventually("the message is stored", SOON, "mqtt_msg", doc! {"sender": client}, |d| d.first().cloned())
        .await;
    assert_eq!(stored.get_str("topic").unwrap(), topic);
    assert_eq!(stored.get_str("payload").unwrap(), "h1");
    let state = mongo
        .eventually("the client's state is stored", SOON, "mqtt_client", doc! {"clientid": client}, |d| {
            d.iter().find(|c| int(c, "state") == 0).cloned()
        })
        .await;
    assert_eq!(state.get_str("clientid").unwrap(), client);

    // A subscriber with a hostile id gets it from the store through a
    // wildcard filter; its position is kept under its id and the topic.
    let subscriber = r#"$sub."{'\"#;
    let opts = SubscriberOptions::new(subscriber, "hostile/a$where/#");
    let got = Subscriber::start(broker.port, &opts.clone().timeout(30)).expect(1, SOON);
    assert_eq!((got[0].topic.as_str(), got[0].payload.as_str()), (topic, "h1"));
    let acked = mongo
        .eventually("the position is stored", SOON, "mqtt_acked", doc! {"clientid": subscriber}, |d| d.first().cloned())
        .await;
    assert_eq!(acked.get_str("topic").unwrap(), topic);
    assert_eq!(int(&acked, "mongo_id"), int(&stored, "_id"));
    let again = Subscriber::start(broker.port, &opts).collect_for(QUIET);
    assert!(again.is_empty(), "an acknowledged message came again: {again:?}");

    // MQTT forbids U+0000 in strings, but rmqtt takes it in a client id and
    // a topic: both are stored verbatim, NUL and all.
    let (mut raw, _) = RawClient::connect(broker.port, "nul\0id", Connect { clean: true, ..Connect::default() });
    raw.publish("hostile/nul\0topic", b"h2", 1, false);
    raw.disconnect();
    let nul = mongo
        .eventually("the NUL message is stored", SOON, "mqtt_msg", doc! {"sender": "nul\0id"}, |d| d.first().cloned())
        .await;
    assert_eq!(nul.get_str("topic").unwrap(), "hostile/nul\0topic");
    mongo
        .eventually("the NUL client id is stored", SOON, "mqtt_client", doc! {"clientid": "nul\0id"}, |d| {
            d.first().cloned()
        })
        .await;
    assert_eq!(mongo.find("mqtt_msg", doc! {}).await.len(), 2, "earlier writes are all there, and only they");
    assert_eq!(mongo.find("mqtt_client", doc! {"clientid": client}).await.len(), 1);
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{{action=\"{PUBLISH}\"}}")), 0);
}

/// A server that is down when cistern starts: cistern starts and says so;
/// a QoS 1 message meanwhile is acknowledged into the outbox; once the
/// server comes, it is stored, then what follows. (No schema: MongoDB makes
/// a collection on its first insert, and cistern's replay gets there first.)
/// Two nodes writing one database in the same microsecond: the ids differ
/// in their node part only, and these two fold to the same 10 bits of
/// `_id`. Both are stored, each once (a replay of either adds nothing), and
/// the second sorts right after the first. Before, the second was refused
/// as "`_id` already holds message ..." and lost.
#[tokio::test(flavor = "multi_thread")]
async fn same_microsecond_on_two_nodes_keeps_both() {
    use cistern::model::{Client, Event, Message};
    let mongo = Mongo::for_test("twonodes").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = format!(
        "{}backend.mongo.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        mongo.pool_lines("pool1")
    );
    let config = cistern::config::Config::from_text("two.conf", &text, dir.path()).expect("config");
    let runtime = cistern::runtime::Runtime::with_config(config, None).await.expect("runtime");
    let micros = "00064A0B1C2D3E4F";
    let publish = |node: &str, payload: &'static str| Event::MessagePublish {
        client: Client {
            clientid: format!("pub-{node}"),
            username: None,
            peerhost: None,
            node: node.into(),
            clean_start: true,
            persistent: false,
        },
        message: Message {
            // Node parts 0 and 0x401 fold to the same low bits.
            id: format!("{micros}{}", if node == "a" { "0000000000000000" } else { "0000000000000401" }),
            topic: "two/nodes".into(),
            payload: payload.as_bytes().to_vec().into(),
            qos: 1,
            retain: false,
            sender: format!("pub-{node}"),
            timestamp_ms: 1_767_225_600_000,
        },
    };
    for (node, payload) in [("a", "from a"), ("b", "from b"), ("b", "from b"), ("a", "from a")] {
        let outcome = runtime.handle(publish(node, payload)).await;
        assert!(outcome.refused.is_none(), "{node}: {outcome:?}");
    }
    let stored = mongo.find("mqtt_msg", doc! {"topic": "two/nodes"}).await;
    let got: Vec<(i64, &str)> = stored.iter().map(|d| (int(d, "_id"), d.get_str("payload").unwrap())).collect();
    assert_eq!(got.len(), 2, "each stored once: {got:?}");
    assert_eq!((got[0].1, got[1].1), ("from a", "from b"));
    assert_eq!(got[1].0, got[0].0 + 1, "the second takes the next _id: {got:?}");
    assert_eq!(got[0].0 >> 10, i64::from_str_radix(micros, 16).unwrap(), "_id begins with the microseconds");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_down_at_start_is_connected_when_it_comes() {
    let server = FerretServer::not_started();
    let mongo = Mongo::named(server.port, "late").await;
    let broker = start(&mongo);
    assert!(broker.log().contains("pool mongo.pool1 is not reachable yet"), "{}", broker.log());
    publish(broker.port, "late-pub", "late/t", b"early", 1, false);
    assert_eq!(broker.metric(&format!("cistern_action_deferred_total{{action=\"{PUBLISH}\"}}")), 1);

    server.start_again();
    logged(&broker, "pool mongo.pool1 is connected to");
    publish(broker.port, "late-pub", "late/t", b"later", 1, false);
    let stored = mongo
        .eventually("both messages are stored", Duration::from_secs(20), "mqtt_msg", doc! {"topic": "late/t"}, |d| {
            (d.len() == 2).then(|| d.iter().map(|m| m.get_str("payload").unwrap().to_string()).collect::<Vec<_>>())
        })
        .await;
    assert_eq!(stored, ["early", "later"]);
}

/// FerretDB stopped for 8 s while 4 publishers send QoS 1: every message
/// the broker acknowledged is in mqtt_msg exactly once afterwards, the
/// outbox drains, and the accounting holds.
#[tokio::test(flavor = "multi_thread")]
async fn server_stopped_under_load_loses_nothing() {
    let server = FerretServer::start();
    let mongo = Mongo::on(server.port, "outage").await;
    let broker = start(&mongo);
    let mut load = Load::start(broker.port, "mgo", "load/mgo", 4, 20.0, 16.0);
    std::thread::sleep(Duration::from_secs(3));
    server.stop();
    std::thread::sleep(Duration::from_secs(8));
    server.start_again();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    let started = Instant::now();
    while broker.metric("cistern_outbox_entries{pool=\"mongo.pool1\"}") > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the outbox did not drain");
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for d in mongo.find("mqtt_msg", doc! {"topic": {"$gte": "load/mgo/", "$lt": "load/mgo0"}}).await {
        *stored.entry(d.get_str("payload").unwrap().to_string()).or_insert(0) += 1;
    }
    let missing: Vec<&String> = load.acked.iter().filter(|p| !stored.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages are not stored: {:?}",
        missing.len(),
        load.acked.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert!(load.acked.len() > 4 * 20 * 10, "publishers kept being acknowledged: {}", load.acked.len());

    let metric = |name: &str| broker.metric(&format!("{name}{{action=\"{PUBLISH}\"}}"));
    let (matched, succeeded, failed, pending) = (
        metric("cistern_action_calls_total"),
        metric("cistern_action_succeeded_total"),
        metric("cistern_action_failures_total"),
        metric("cistern_action_pending"),
    );
    assert_eq!(matched, succeeded + failed + metric("cistern_action_dropped_total") + pending);
    assert!(metric("cistern_action_deferred_total") > 0, "the outage deferred writes");
    assert_eq!(failed, 0);
}

/// The example configuration loads unchanged, included from a top file;
/// and against a live server it opens its pool.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_configuration_loads_unchanged() {
    let example_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_mongo.conf");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("cistern.conf");
    std::fs::write(&top, format!("cistern.listener.tcp = 127.0.0.1:1\ninclude {example_path}\n")).unwrap();
    let out = std::process::Command::new(BIN).arg("--check").arg("--config").arg(&top).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mongo = Mongo::for_test("example").await;
    let (out, _, _dir) = check_config(BIN, "live.conf", &example(&mongo, &[], ""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("mongo pool open"), "--check opens no connection: {stderr}");
    let broker = start(&mongo);
    assert!(broker.log().contains("mongo pool open"), "{}", broker.log());
}

/// Every key of the seed's file, uncommented, loads; the password is never logged.
#[tokio::test(flavor = "multi_thread")]
async fn every_seed_key_loads_and_the_password_is_not_logged() {
    let mongo = Mongo::for_test("keys").await;
    let uncomment = |line: &str| line.trim_start_matches("## ").to_string();
    let keys = [
        "## backend.mongo.pool1.w_mode = safe",
        "## backend.mongo.pool1.r_mode = slave_ok",
        "## backend.mongo.topology.pool_size = 1",
        "## backend.mongo.topology.max_overflow = 0",
        "## backend.mongo.topology.overflow_ttl = 1000",
        "## backend.mongo.topology.overflow_check_period = 1000",
        "## backend.mongo.topology.local_threshold_ms = 1000",
        "## backend.mongo.topology.connect_timeout_ms = 20000",
        "## backend.mongo.topology.server_selection_timeout_ms = 30000",
        "## backend.mongo.topology.wait_queue_timeout_ms = 1000",
        "## backend.mongo.topology.heartbeat_frequency_ms = 10000",
        "## backend.mongo.topology.min_heartbeat_frequency_ms = 1000",
        "## backend.mongo.max_returned_count = 500",
        "## backend.mongo.time_range = 2h",
        "## backend.mongo.pool1.ssl = false",
    ];
    let uncommented: Vec<String> = keys.iter().map(|k| uncomment(k)).collect();
    let mut replace: Vec<(&str, &str)> = keys.iter().zip(&uncommented).map(|(k, u)| (*k, u.as_str())).collect();
    // socket_timeout_ms: the seed's 100 ms is too short for anything; 5 s here.
    replace
        .push(("## backend.mongo.topology.socket_timeout_ms = 100", "backend.mongo.topology.socket_timeout_ms = 5000"));
    let config = example(&mongo, &replace, "");
    let (out, _, _dir) = check_config(BIN, "keys.conf", &config);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let broker = Broker::start(BIN, &config);
    assert!(broker.log().contains("mongo pool open"), "{}", broker.log());
    publish(broker.port, "keys-pub", "keys/t", b"k", 1, false);
    mongo.eventually("the message is stored", SOON, "mqtt_msg", doc! {"topic": "keys/t"}, |d| d.first().cloned()).await;
    drop(broker);

    // A login FerretDB does not know: the pool is not reachable, and its password shows nowhere.
    let secret = "s3cr3t-never-logged";
    let config = example(
        &mongo,
        &[
            ("## backend.mongo.pool1.login =  emqtt", "backend.mongo.pool1.login = emqtt"),
            ("## backend.mongo.pool1.password = emqtt", &format!("backend.mongo.pool1.password = {secret}")),
            ("## backend.mongo.pool1.auth_source = admin", "backend.mongo.pool1.auth_source = admin"),
        ],
        "",
    );
    let broker = Broker::start(BIN, &config);
    publish(broker.port, "auth-pub", "auth/t", b"x", 1, false);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!broker.log().contains(secret), "the password was logged:\n{}", broker.log());
    assert!(!broker.http_get("/metrics").contains(secret));
}

/// Malformed MongoDB configurations stop cistern before it serves, naming
/// the file, the line and the fault.
#[test]
fn malformed_mongo_configs_are_refused_with_their_location() {
    use cistern_tests::broker::assert_refused;
    let pool = "backend.mongo.pool1.server = 127.0.0.1:1\n";
    let hook = |extra: &str| {
        format!("{pool}backend.mongo.hook.message.publish.1 = {{\"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"{extra}}}\n")
    };
    let cases = [
        ("an unknown type", format!("{pool}backend.mongo.pool1.type = cluster\n"), 2, "cluster"),
        ("rs without a set name", format!("{pool}backend.mongo.pool1.type = rs\n"), 2, "rs_set_name"),
        (
            "single with two servers",
            "backend.mongo.pool1.server = 127.0.0.1:1,127.0.0.1:2\n".to_string(),
            1,
            "type single takes one server",
        ),
        ("a bad w_mode", format!("{pool}backend.mongo.pool1.w_mode = maybe\n"), 2, "maybe"),
        ("a bad r_mode", format!("{pool}backend.mongo.pool1.r_mode = slave\n"), 2, "slave"),
        ("a misspelt pool key", format!("{pool}backend.mongo.pool1.c_pool_sise = 8\n"), 2, "c_pool_sise"),
        ("a pool size of 0", format!("{pool}backend.mongo.pool1.c_pool_size = 0\n"), 2, "at least 1"),
        ("a bad port", "backend.mongo.pool1.server = 127.0.0.1:port\n".to_string(), 1, "not host:port"),
        ("a bad topology number", format!("{pool}backend.mongo.topology.connect_timeout_ms = soon\n"), 2, "soon"),
        ("an unknown topology key", format!("{pool}backend.mongo.topology.pool_sise = 1\n"), 2, "pool_sise"),
        ("a missing CA file", format!("{pool}backend.mongo.pool1.ssl = true\nbackend.mongo.pool1.cacertfile = /nonexistent/ca.pem\n"), 3, "not a readable file"),
        ("an unknown payload_format", hook(r#", "payload_format": "bson""#), 2, "payload_format"),
        ("raw SQL on MongoDB", format!("{pool}backend.mongo.hook.client.connected.1 = {{\"action\": {{\"sql\": [\"select 1\"]}}, \"pool\": \"pool1\"}}\n"), 2, "sql"),
        ("an unknown function", format!("{pool}backend.mongo.hook.client.connected.1 = {{\"action\": {{\"function\": \"on_message_fetch_for_queue\"}}, \"pool\": \"pool1\"}}\n"), 2, "on_message_fetch_for_queue"),
    ];
    for (what, config, line, words) in cases {
        assert_refused(BIN, what, &config, line, words);
    }
}

/// A find whose documents pass 32 MiB is given up as they come, with an
/// error that says so; 30 of the same 1 MiB documents come whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_find_too_large_is_refused() {
    use cistern::backends::mongo::operations::find;
    let mongo = Mongo::for_test("big").await;
    let big = "x".repeat(1 << 20);
    for i in 0..40 {
        mongo.insert("mqtt_msg", doc! {"_id": i, "topic": "big", "payload": &big}).await;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let config =
        cistern::config::Config::from_text("size.conf", &mongo.pool_lines("pool1"), dir.path()).expect("config");
    let runtime = cistern::runtime::Runtime::with_config(config, None).await.expect("runtime");
    let pool: cistern::backends::mongo::MongoPool = runtime.loaded().pool_as("mongo", "pool1").expect("the pool");
    let e = find(&pool, "mqtt_msg", doc! {"topic": "big"}, doc! {"_id": 1}, 0).await.unwrap_err();
    assert!(e.to_string().contains("pass 32 MiB after 31; find fewer at a time"), "{e}");
    let docs = find(&pool, "mqtt_msg", doc! {"topic": "big"}, doc! {"_id": 1}, 30).await.expect("30 documents");
    assert_eq!(docs.len(), 30);
    assert!(docs.iter().all(|d| d.get_str("payload").is_ok_and(|p| p.len() == 1 << 20)));
}
