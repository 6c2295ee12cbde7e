//! The seed's Redis Backend against a real redis-server: the key layouts,
//! one-to-one (queue) and many-to-many (pubsub) offline messages, retained
//! messages, subscriptions by broker, the control channel, raw commands,
//! and what happens when Redis goes away. Each test has its own logical
//! database (and control channel), so they run side by side on one server.

use std::time::{Duration, Instant};

use redis::Value;

use cistern_tests::{
    configs, publish, publish_many, publish_paho, Broker, Received, Redis, RedisServer, Subscriber, SubscriberOptions,
};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
/// How long a test waits for something that should happen.
const SOON: Duration = Duration::from_secs(10);
/// How long it listens to show that something does not happen.
const QUIET: Duration = Duration::from_secs(2);
/// The node name cistern stores when none is configured.
const NODE: &str = "cistern@127.0.0.1";

/// A control channel of this test run's own: PUBLISH reaches every database.
fn channel(test: &str) -> String {
    format!("cistern_test_{}_{test}", std::process::id())
}

/// A broker on the seed's example configuration, on the test's database.
fn start(redis: &Redis, test: &str) -> Broker {
    Broker::start(BIN, &configs::redis_example(&redis.server(), redis.db, &channel(test), &[]))
}

fn payloads(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.payload.clone()).collect()
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.concat().into_bytes()
}

/// The only msgid in a topic's set, once the publish has been stored.
fn stored_id(redis: &Redis, topic: &str) -> String {
    let set = key(&["mqtt:msg:", topic]);
    redis.eventually(&format!("a message on {topic} is stored"), SOON, |r| r.zrange(&set).into_iter().next())
}

/// Waits until the broker has logged `line` `n` times.
fn logged(broker: &Broker, line: &str, n: usize) {
    let started = Instant::now();
    while broker.log().matches(line).count() < n {
        assert!(started.elapsed() < SOON, "cistern did not log {line:?} {n} times:\n{}", broker.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `HGETALL mqtt:client:<id>` reads as the seed's examples: state 1,
/// online_at, offline_at "undefined" while connected; then state 0 and
/// offline_at, online_at unchanged. `mqtt:node:<node>` holds the client while it is connected.
#[test]
fn connection_state() {
    let redis = Redis::for_test(2);
    let broker = start(&redis, "conn");
    let client = key(&["mqtt:client:", "redis-conn"]);
    let node = key(&["mqtt:node:", NODE]);
    let sub = Subscriber::start(broker.port, &SubscriberOptions::new("redis-conn", "conn/x").timeout(30));

    let online = redis.eventually("the client is online", SOON, |r| Some(r.hgetall(&client)).filter(|h| !h.is_empty()));
    let names: Vec<&str> = online.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["state", "online_at", "offline_at"], "{online:?}");
    assert_eq!(online[0].1, "1");
    let online_at: u64 = online[1].1.parse().expect("online_at is seconds");
    assert!(online_at.abs_diff(now_secs()) < 60, "online_at {online_at} is now");
    assert_eq!(online[2].1, "undefined");
    assert!(redis.hgetall(&node).iter().any(|(c, _)| c == "redis-conn"), "the node hash holds the client");

    sub.kill();
    let offline = redis.eventually("the client is offline", SOON, |r| {
        Some(r.hgetall(&client)).filter(|h| h.first().is_some_and(|(_, state)| state == "0"))
    });
    let names: Vec<&str> = offline.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["state", "online_at", "offline_at"], "{offline:?}");
    assert_eq!(offline[1], online[1], "online_at stays");
    let offline_at: u64 = offline[2].1.parse().expect("offline_at is seconds");
    assert!(offline_at >= online_at);
    assert!(!redis.hgetall(&node).iter().any(|(c, _)| c == "redis-conn"), "the node hash lets the client go");

    // The broker did all that as the restricted ACL user (README, "Least
    // privilege"), which may not run what cistern never needs.
    let clients = match redis.cmd(&["CLIENT", "LIST"]) {
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        Value::VerbatimString { text, .. } => text,
        other => panic!("CLIENT LIST: {other:?}"),
    };
    let db = format!(" db={} ", redis.db);
    let ours: Vec<&str> = clients.lines().filter(|l| l.contains(&db) && !l.contains("cmd=client|list")).collect();
    assert!(!ours.is_empty() && ours.iter().all(|l| l.contains(" user=cistern_app ")), "{clients}");
    for command in [&["FLUSHALL"][..], &["CONFIG", "SET", "dir", "/tmp"], &["KEYS", "*"]] {
        let mut args = vec!["ACL", "DRYRUN", "cistern_app"];
        args.extend_from_slice(command);
        let answer = redis.cmd(&args);
        assert!(!matches!(answer, Value::Okay), "{command:?} would be allowed: {answer:?}");
    }
}

/// queue/a (one-to-one): a message stored while nobody listens goes to the
/// first subscriber only; once acknowledged, its hash and set entry are
/// gone, and a later subscriber gets nothing. So does a message the broker
/// delivers live.
#[test]
fn queue_delivers_once_and_removes_on_ack() {
    let redis = Redis::for_test(3);
    let broker = start(&redis, "queue");
    publish(broker.port, "q-pub", "queue/a", b"q1", 1, false);
    let id = stored_id(&redis, "queue/a");
    assert_eq!(redis.hash_bytes(&key(&["mqtt:msg:", &id]))["payload"], b"q1");

    let first = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub-a", "queue/a").count(1)).finish();
    assert_eq!(payloads(&first), ["q1"]);
    redis.eventually("q1's keys are gone after the ack", SOON, |r| {
        (!r.exists(&key(&["mqtt:msg:", &id])) && !r.exists(b"mqtt:msg:queue/a")).then_some(())
    });

    let mut second = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub-b", "queue/a").timeout(30));
    assert!(second.collect_for(QUIET).is_empty(), "a removed message came again");
    publish(broker.port, "q-pub", "queue/a", b"q2", 1, false);
    assert_eq!(payloads(&second.expect(1, SOON)), ["q2"]);
    redis.eventually("q2's keys are gone after the ack", SOON, |r| {
        Some(()).filter(|_| !r.exists(b"mqtt:msg:queue/a") && r.keys().iter().all(|k| !k.starts_with(b"mqtt:msg:")))
    });
    second.kill();
    let third = Subscriber::start(broker.port, &SubscriberOptions::new("q-sub-c", "queue/a")).collect_for(QUIET);
    assert!(third.is_empty(), "an acknowledged queue message came again: {third:?}");
}

/// queue/c (one-to-one) with two subscribers at once: a stored message
/// fetched for the first, which has not acknowledged it yet, is claimed for
/// it, so the second, subscribing meanwhile, does not get it too; and only
/// what a fetch delivers is claimed (`max_returned_count` 1 here), so the
/// second gets the message the first's fetch left. Once the claim lapses
/// unacknowledged (`queue.claim_time`, 2 s here; the first went away), a
/// subscriber arriving after gets it, and its ack removes it.
#[test]
fn a_queue_message_in_flight_goes_to_one_subscriber() {
    use cistern_tests::raw::{Connect, RawClient};
    let redis = Redis::for_test(16);
    let config = format!(
        "{}backend.redis.queue.claim_time = 2\nbackend.redis.max_returned_count = 1\n",
        configs::redis_example(&redis.server(), redis.db, &channel("queue-claim"), &[])
    );
    let broker = Broker::start(BIN, &config);
    publish(broker.port, "qc-pub", "queue/c", b"c1", 1, false);
    let id = stored_id(&redis, "queue/c");
    publish(broker.port, "qc-pub", "queue/c", b"c2", 1, false);

    let (mut first, _) = RawClient::connect(broker.port, "qc-first", Connect { clean: true, ..Connect::default() });
    first.subscribe(&[("queue/c", 1)]);
    let got = first.receive(SOON).expect("the first subscriber gets c1");
    assert_eq!(got.payload, b"c1");
    let second = Subscriber::start(broker.port, &SubscriberOptions::new("qc-second", "queue/c")).collect_for(QUIET);
    assert_eq!(payloads(&second), ["c2"], "c1 went to two subscribers, or c2 was claimed by a fetch that left it");

    first.drop_connection();
    std::thread::sleep(Duration::from_millis(2500));
    let third = Subscriber::start(broker.port, &SubscriberOptions::new("qc-third", "queue/c").count(1)).finish();
    assert_eq!(payloads(&third), ["c1"], "a lapsed claim frees the message");
    redis.eventually("c1 and its claim are gone after the ack", SOON, |r| {
        (!r.exists(&key(&["mqtt:msg:", &id])) && !r.exists(&key(&["mqtt:claim:", &id]))).then_some(())
    });
}

/// pubsub/a (many-to-many), from Redis alone: two subscribers, each away
/// for different messages across broker restarts (no broker session
/// survives), each gets exactly what it missed after its read position, in order.
#[test]
fn pubsub_read_positions_per_subscriber() {
    let redis = Redis::for_test(4);
    let mut broker = start(&redis, "pubsub");
    let one = SubscriberOptions::new("ps-one", "pubsub/a").persistent().timeout(30);
    let two = SubscriberOptions::new("ps-two", "pubsub/a").persistent().timeout(30);
    let position = |client: &str| key(&["mqtt:acked:", client, ":pubsub/a"]);

    let mut s1 = Subscriber::start(broker.port, &one);
    let mut s2 = Subscriber::start(broker.port, &two);
    publish(broker.port, "ps-pub", "pubsub/a", b"p1", 1, false);
    assert_eq!(payloads(&s1.expect(1, SOON)), ["p1"]);
    assert_eq!(payloads(&s2.expect(1, SOON)), ["p1"]);
    let p1 = stored_id(&redis, "pubsub/a");
    for c in ["ps-one", "ps-two"] {
        redis.eventually("both positions are at p1", SOON, |r| {
            (r.get(&position(c)) == Some(p1.clone().into_bytes())).then_some(())
        });
    }

    s1.kill();
    publish(broker.port, "ps-pub", "pubsub/a", b"p2", 1, false);
    publish(broker.port, "ps-pub", "pubsub/a", b"p3", 1, false);
    assert_eq!(payloads(&s2.expect(3, SOON)), ["p1", "p2", "p3"]);
    let ids = redis.zrange(b"mqtt:msg:pubsub/a");
    assert_eq!(ids.len(), 3, "{ids:?}");
    redis.eventually("two's position is at p3", SOON, |r| {
        (r.get(&position("ps-two")) == Some(ids[2].clone().into_bytes())).then_some(())
    });
    s2.kill();
    publish(broker.port, "ps-pub", "pubsub/a", b"p4", 1, false);

    broker.restart();
    let got = Subscriber::start(broker.port, &one.clone().count(3)).finish();
    assert_eq!(payloads(&got), ["p2", "p3", "p4"], "one gets what it missed, in order");
    broker.restart();
    let got = Subscriber::start(broker.port, &two.clone()).collect_for(QUIET);
    assert_eq!(payloads(&got), ["p4"], "two gets what it missed, no more");
    let ids = redis.zrange(b"mqtt:msg:pubsub/a");
    assert_eq!(ids.len(), 4, "pubsub messages stay for the other subscribers: {ids:?}");
}

/// A pubsub read position only moves forward: a client that acknowledges a
/// later message before an earlier one keeps its position at the later one.
#[test]
fn pubsub_position_moves_forward_only() {
    use cistern_tests::raw::{Connect, RawClient};
    let redis = Redis::for_test(4);
    let broker = start(&redis, "pubsub-forward");
    let position = key(&["mqtt:acked:", "fw-sub", ":pubsub/f"]);
    let (mut sub, _) = RawClient::connect(broker.port, "fw-sub", Connect { clean: false, ..Connect::default() });
    sub.subscribe(&[("pubsub/f", 1)]);
    publish(broker.port, "fw-pub", "pubsub/f", b"f1", 1, false);
    publish(broker.port, "fw-pub", "pubsub/f", b"f2", 1, false);
    let first = sub.receive(SOON).expect("f1");
    let second = sub.receive(SOON).expect("f2");
    assert_eq!((first.payload.as_slice(), second.payload.as_slice()), (&b"f1"[..], &b"f2"[..]));
    let ids = redis.zrange(b"mqtt:msg:pubsub/f");
    assert_eq!(ids.len(), 2, "{ids:?}");
    sub.ack(&second);
    redis.eventually("the position is at f2", SOON, |r| {
        (r.get(&position) == Some(ids[1].clone().into_bytes())).then_some(())
    });
    sub.ack(&first);
    // The acknowledgement of f1 is handled (it follows f2's in the session) once a
    // later round trip returns.
    sub.subscribe(&[("pubsub/other", 1)]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(redis.get(&position), Some(ids[1].clone().into_bytes()), "the position moved back to f1");
    sub.disconnect();
}

/// pubsub/a with persistent sessions the broker keeps: each subscriber gets
/// what it missed once, from the broker's queue; the store adds no duplicate.
#[test]
fn pubsub_persistent_sessions_get_no_duplicates() {
    let redis = Redis::for_test(5);
    let broker = start(&redis, "pubsub-live");
    let one = SubscriberOptions::new("pl-one", "pubsub/b").persistent().timeout(30);
    let two = SubscriberOptions::new("pl-two", "pubsub/b").persistent().timeout(30);
    let mut s1 = Subscriber::start(broker.port, &one);
    let mut s2 = Subscriber::start(broker.port, &two);
    publish(broker.port, "pl-pub", "pubsub/b", b"b1", 1, false);
    assert_eq!(payloads(&s1.expect(1, SOON)), ["b1"]);
    assert_eq!(payloads(&s2.expect(1, SOON)), ["b1"]);

    // Each leaves once the broker has taken its acknowledgements (its read
    // position in Redis shows it), so nothing in flight is sent again.
    let acked = |client: &str, n: usize| {
        let position = key(&["mqtt:acked:", client, ":pubsub/b"]);
        redis.eventually(&format!("{client} acknowledged {n}"), SOON, |r| {
            let ids = r.zrange(b"mqtt:msg:pubsub/b");
            (ids.len() >= n && r.get(&position) == Some(ids[n - 1].clone().into_bytes())).then_some(())
        });
    };
    acked("pl-one", 1);
    s1.kill();
    publish(broker.port, "pl-pub", "pubsub/b", b"b2", 1, false);
    assert_eq!(payloads(&s2.expect(2, SOON)), ["b1", "b2"]);
    acked("pl-two", 2);
    s2.kill();
    publish(broker.port, "pl-pub", "pubsub/b", b"b3", 1, false);

    let got = Subscriber::start(broker.port, &one).collect_for(QUIET);
    assert_eq!(payloads(&got), ["b2", "b3"], "one: what it missed, once each");
    let got = Subscriber::start(broker.port, &two).collect_for(QUIET);
    assert_eq!(payloads(&got), ["b3"], "two: what it missed, once");
}

/// `mqtt:retain:<topic>` holds the seed's fields; a wildcard subscriber
/// gets the retained messages it matches; an empty retained publish deletes.
#[test]
fn retained_lookup_and_delete() {
    let redis = Redis::for_test(6);
    let broker = start(&redis, "retain");
    publish(broker.port, "ret-pub", "ret/x/1", b"v1", 1, true);
    publish(broker.port, "ret-pub", "ret/x/2", b"v2", 0, true);
    publish(broker.port, "ret-pub", "ret/y", b"v3", 1, true);
    let hash = redis
        .eventually("ret/x/1 is retained", SOON, |r| Some(r.hgetall(b"mqtt:retain:ret/x/1")).filter(|h| !h.is_empty()));
    let names: Vec<&str> = hash.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["id", "from", "qos", "topic", "retain", "payload", "ts"]);
    let field = |name: &str| hash.iter().find(|(f, _)| f == name).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!(field("id").len(), 32);
    assert_eq!(
        (field("from"), field("qos"), field("topic"), field("retain"), field("payload")),
        ("ret-pub", "1", "ret/x/1", "1", "v1")
    );
    redis.eventually("all three are retained", SOON, |r| r.exists(b"mqtt:retain:ret/y").then_some(()));

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-1", "ret/x/+").count(2)).finish();
    let mut seen: Vec<(String, String, bool)> =
        got.iter().map(|r| (r.topic.clone(), r.payload.clone(), r.retained)).collect();
    seen.sort();
    assert_eq!(seen, [("ret/x/1".into(), "v1".into(), true), ("ret/x/2".into(), "v2".into(), true)]);
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-2", "ret/y").count(1)).finish();
    assert_eq!(payloads(&got), ["v3"]);

    publish(broker.port, "ret-pub", "ret/x/1", b"", 1, true);
    redis.eventually("the empty retained publish deleted ret/x/1", SOON, |r| {
        (!r.exists(b"mqtt:retain:ret/x/1")).then_some(())
    });
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-3", "ret/#")).collect_for(QUIET);
    let mut left = payloads(&got);
    left.sort();
    assert_eq!(left, ["v2", "v3"]);
}

/// The fields of `mqtt:sub:<clientid>` (topic -> qos) subscribe the client
/// when it connects, though it subscribes to nothing of the kind itself.
#[test]
fn subscribe_lookup_from_the_sub_hash() {
    let redis = Redis::for_test(7);
    let broker = start(&redis, "sublookup");
    redis.cmd(&["HSET", "mqtt:sub:sl-x", "sl/news", "1", "sl/alerts/+", "0"]);
    let mut x = Subscriber::start(broker.port, &SubscriberOptions::new("sl-x", "sl/unrelated").timeout(30));
    std::thread::sleep(Duration::from_millis(500));
    publish(broker.port, "sl-pub", "sl/news", b"extra", 1, false);
    publish(broker.port, "sl-pub", "sl/alerts/fire", b"evacuate", 0, false);
    let mut seen: Vec<(String, String)> =
        x.expect(2, SOON).iter().map(|r| (r.topic.clone(), r.payload.clone())).collect();
    seen.sort();
    assert_eq!(
        seen,
        [("sl/alerts/fire".to_string(), "evacuate".to_string()), ("sl/news".to_string(), "extra".to_string())]
    );
}

/// A subscribe on the pool's channel subscribes a connected client, an
/// unsubscribe unsubscribes it (seen by what it then receives); malformed
/// messages and unknown clients are logged and skipped, and the channel
/// keeps being read.
#[test]
fn control_channel_subscribes_and_unsubscribes() {
    let redis = Redis::for_test(8);
    let ch = channel("control");
    let broker = start(&redis, "control");
    redis.eventually("cistern listens on the channel", SOON, |r| {
        let numsub = r.cmd(&["PUBSUB", "NUMSUB", &ch]);
        (numsub == redis::Value::Array(vec![redis::Value::BulkString(ch.clone().into_bytes()), redis::Value::Int(1)]))
            .then_some(())
    });
    let mut x = Subscriber::start(broker.port, &SubscriberOptions::new("cc-x", "cc/unrelated").timeout(40));

    redis.cmd(&["PUBLISH", &ch, "not json at all"]);
    redis.cmd(&["PUBLISH", &ch, r#"{"type": "subscribe", "topic": "cc/news", "clientid": "cc-nobody", "qos": "1"}"#]);
    redis.cmd(&["PUBLISH", &ch, r#"{"type": "subscribe", "topic": "cc/news", "clientid": "cc-x", "qos": "1"}"#]);
    logged(&broker, "control message applied", 1);
    assert_eq!(broker.log().matches("control message skipped").count(), 2, "{}", broker.log());

    publish(broker.port, "cc-pub", "cc/news", b"n1", 1, false);
    assert_eq!(payloads(&x.expect(1, SOON)), ["n1"]);

    redis.cmd(&["PUBLISH", &ch, r#"{"type": "unsubscribe", "topic": "cc/news", "clientid": "cc-x"}"#]);
    logged(&broker, "control message applied", 2);
    publish(broker.port, "cc-pub", "cc/news", b"n2", 1, false);
    assert_eq!(payloads(&x.collect_for(QUIET)), ["n1"], "after the unsubscribe nothing more comes");
}

/// `backend.redis.msg.expired_after = 120`: a stored message's hash and its
/// topic's set live 120 s, and so does a read position.
#[test]
fn expired_after_sets_the_time_to_live() {
    let redis = Redis::for_test(9);
    let config = configs::redis_example(
        &redis.server(),
        redis.db,
        &channel("ttl"),
        &[("backend.redis.msg.expired_after = 3600", "backend.redis.msg.expired_after = 120")],
    );
    let broker = Broker::start(BIN, &config);
    publish(broker.port, "ttl-pub", "pubsub/ttl", b"t1", 1, false);
    let id = stored_id(&redis, "pubsub/ttl");
    for k in [key(&["mqtt:msg:", &id]), key(&["mqtt:msg:pubsub/ttl"])] {
        let ttl = redis.ttl(&k);
        assert!((100..=120).contains(&ttl), "{} lives {ttl} s", String::from_utf8_lossy(&k));
    }
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ttl-sub", "pubsub/ttl").count(1)).finish();
    assert_eq!(payloads(&got), ["t1"]);
    let position = key(&["mqtt:acked:ttl-sub:pubsub/ttl"]);
    redis.eventually("the read position is stored", SOON, |r| r.exists(&position).then_some(()));
    assert!((100..=120).contains(&redis.ttl(&position)));
}

/// A burst of publishes from several connections (stored in batches, each
/// topic's set trimmed once a batch): every message is in its set, a member
/// older than `expired_after` is trimmed, and the set lives `expired_after`.
#[test]
fn a_burst_is_stored_whole_and_its_set_trimmed() {
    let redis = Redis::for_test(17);
    let config = configs::redis_example(&redis.server(), redis.db, &channel("burst"), &[]);
    let broker = Broker::start(BIN, &config);
    let set = key(&["mqtt:msg:burst/a"]);
    // A member stored two hours ago, its hash long expired (ids sort by their
    // time, so the score is what the guest would have given it).
    let stale_score = (now_secs() - 7200) * 1_000_000;
    redis.cmd(&["ZADD", "mqtt:msg:burst/a", &stale_score.to_string(), "stale"]);
    publish_many(broker.port, "burst", "burst/a", 400, 16, 4);
    let payloads = stored_payloads(&redis, "burst/a", 400);
    assert_eq!(payloads.len(), 400, "every message once, the stale member gone");
    let mut heads: Vec<&str> = payloads.iter().map(|p| &p[..8]).collect();
    heads.sort();
    heads.dedup();
    assert_eq!(heads.len(), 400, "400 different messages");
    assert!(!redis.zrange(&set).contains(&"stale".to_string()), "the stale member is trimmed");
    let ttl = redis.ttl(&set);
    assert!((3500..=3600).contains(&ttl), "the set lives {ttl} s");
}

/// `backend.redis.msg.expired_after = 0` takes the seed's default, 3600 s.
#[test]
fn expired_after_zero_takes_the_default() {
    let redis = Redis::for_test(13);
    let config = configs::redis_example(
        &redis.server(),
        redis.db,
        &channel("ttl0"),
        &[("backend.redis.msg.expired_after = 3600", "backend.redis.msg.expired_after = 0")],
    );
    let broker = Broker::start(BIN, &config);
    publish(broker.port, "ttl-pub", "queue/ttl", b"t1", 1, false);
    let id = stored_id(&redis, "queue/ttl");
    let ttl = redis.ttl(&key(&["mqtt:msg:", &id]));
    assert!((3500..=3600).contains(&ttl), "lives {ttl} s");
}

/// Raw commands with a client id holding spaces and CR LF: each field is one
/// argument, so the id is stored as one value and nothing else is written.
#[test]
fn raw_commands_keep_hostile_values_whole() {
    let redis = Redis::for_test(10);
    let config = format!(
        "{}{}{}",
        configs::base(),
        redis.pool_lines("pool1"),
        r##"
backend.redis.hook.client.connected.1 = {"action": {"commands": ["SET conn:${clientid} clientid"]}, "pool": "pool1"}
backend.redis.hook.message.publish.1 = {"topic": "#", "action": {"commands": ["HSET pub:${clientid} topic payload", "RPUSH log ${clientid}|${topic}"]}, "pool": "pool1"}
"##
    );
    let broker = Broker::start(BIN, &config);
    let id = "raw id\r\nSET injected 1\r\n*1\r\n$8\r\nFLUSHALL\r\n";
    let topic = "raw/a b\r\nDEL log";
    let payload = b"p \r\nSET injected 2\r\n";
    // paho, since mosquitto_pub refuses control characters in client ids and topics.
    publish_paho(broker.port, id, topic, payload, 1);

    let conn = key(&["conn:", id]);
    let pubkey = key(&["pub:", id]);
    redis.eventually("the raw commands ran", SOON, |r| (r.keys().len() == 3).then_some(()));
    assert_eq!(redis.keys(), [conn.clone(), b"log".to_vec(), pubkey.clone()], "nothing else is written");
    assert_eq!(redis.get(&conn), Some(id.as_bytes().to_vec()), "the bare word `clientid` stored the id, whole");
    assert_eq!(redis.hash_bytes(&pubkey).into_iter().collect::<Vec<_>>(), [(topic.to_string(), payload.to_vec())]);
    let log = redis.cmd(&["LRANGE", "log", "0", "-1"]);
    assert_eq!(log, redis::Value::Array(vec![redis::Value::BulkString(format!("{id}|{topic}").into_bytes())]));
}

/// A payload that is not UTF-8 is stored as its bytes, and a topic with
/// spaces and CR LF makes one key.
#[test]
fn binary_payloads_and_hostile_topics() {
    let redis = Redis::for_test(11);
    let broker = start(&redis, "binary");
    let payload = [0xff, 0x00, 0xfe, b' ', b'\r', b'\n', 0x80];
    publish(broker.port, "bin-pub", "pubsub/bin", &payload, 1, false);
    let id = stored_id(&redis, "pubsub/bin");
    assert_eq!(redis.hash_bytes(&key(&["mqtt:msg:", &id]))["payload"], payload);

    let topic = "pubsub/a b\r\nFLUSHDB\r\n";
    publish_paho(broker.port, "bin-pub", topic, b"x", 1);
    let id = stored_id(&redis, topic);
    assert_eq!(redis.hash_bytes(&key(&["mqtt:msg:", &id]))["topic"], topic.as_bytes());
    assert!(redis.exists(&key(&["mqtt:msg:pubsub/bin"])), "FLUSHDB was never sent");
}

/// The raw operations keep every argument whole, leave a refused command's
/// error in its place in a pipeline, and run MULTI/EXEC when asked.
#[tokio::test(flavor = "multi_thread")]
async fn operations_against_a_real_server() {
    use cistern::backends::redis::{operations, RedisError};
    use cistern::backends::RedisPool;

    let redis = Redis::for_test(12);
    let dir = tempfile::tempdir().expect("a temp dir");
    let config =
        cistern::config::Config::from_text("ops.conf", &redis.pool_lines("pool1"), dir.path()).expect("config");
    let runtime = cistern::runtime::Runtime::with_config(config, None).await.expect("runtime");
    let pool: RedisPool = runtime.loaded().pool_as("redis", "pool1").expect("the redis pool");
    let args = |a: &[&[u8]]| a.iter().map(|x| x.to_vec()).collect::<Vec<_>>();

    let hostile: &[u8] = b"k\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\n";
    operations::execute(&pool, &args(&[b"SET", hostile, b"v v"])).await.unwrap();
    assert_eq!(redis.keys(), [hostile.to_vec()]);

    let replies = operations::pipeline(
        &pool,
        &[args(&[b"SET", b"s", b"1"]), args(&[b"HSET", b"s", b"f", b"v"]), args(&[b"GET", b"s"])],
        false,
    )
    .await
    .unwrap();
    assert!(operations::server_error(&replies[1]).is_some_and(|e| e.starts_with("WRONGTYPE")), "{replies:?}");
    assert_eq!(replies[2], redis::Value::BulkString(b"1".to_vec()));

    let replies = operations::pipeline(&pool, &[args(&[b"INCR", b"c"]), args(&[b"INCR", b"c"])], true).await.unwrap();
    assert_eq!(replies, [redis::Value::Int(1), redis::Value::Int(2)]);

    let refused = operations::execute(&pool, &args(&[b"HSET", b"s", b"f", b"v"])).await.unwrap_err();
    assert!(matches!(refused, RedisError::Command(ref e) if e.starts_with("WRONGTYPE")), "{refused:?}");

    // Replies are capped at 32 MiB of strings: one 20 MiB value comes, two do not.
    let big = vec![b'x'; 20 << 20];
    operations::execute(&pool, &args(&[b"SET", b"big", &big])).await.unwrap();
    let one = operations::execute(&pool, &args(&[b"GET", b"big"])).await.unwrap();
    assert_eq!(one, redis::Value::BulkString(big));
    let two = operations::pipeline(&pool, &[args(&[b"GET", b"big"]), args(&[b"GET", b"big"])], false).await;
    let e = two.unwrap_err();
    assert!(matches!(e, RedisError::TooLarge(ref m) if m.contains("more than 32 MiB")), "{e:?}");
}

/// The payloads of the messages stored on `topic`, oldest first, once there are `n`.
fn stored_payloads(redis: &Redis, topic: &str, n: usize) -> Vec<String> {
    let set = key(&["mqtt:msg:", topic]);
    let ids = redis.eventually(&format!("{n} messages on {topic} are stored"), SOON, |r| {
        let ids = r.zrange(&set);
        (ids.len() >= n).then_some(ids)
    });
    ids.iter()
        .map(|id| String::from_utf8_lossy(&redis.hash_bytes(&key(&["mqtt:msg:", id]))["payload"]).into_owned())
        .collect()
}

/// Redis restarted during a run: what comes meanwhile is acknowledged once
/// it is in the outbox (deferred, counted), and stored, in order, when Redis
/// is back; cistern reconnects by itself and stores again.
#[test]
fn redis_restart_is_survived_and_nothing_lost() {
    let mut server = RedisServer::start();
    let redis = server.client(0);
    let broker = start(&redis, "restart");
    let deferred = "cistern_action_deferred_total{action=\"backend.redis.hook.message.publish.1\"}";
    publish(broker.port, "rs-pub", "pubsub/r", b"before", 1, false);
    stored_id(&redis, "pubsub/r");

    server.stop();
    publish(broker.port, "rs-pub", "pubsub/r", b"while down", 1, false);
    assert_eq!(broker.metric(deferred), 1, "the message went to the outbox");

    server.start_again();
    logged(&broker, "pool redis.pool1 is connected to", 1);
    let redis = server.client(0);
    publish(broker.port, "rs-pub", "pubsub/r", b"after", 1, false);
    // The server had no persistence: what it held before the restart is gone with it.
    assert_eq!(stored_payloads(&redis, "pubsub/r", 2), ["while down", "after"]);
    // "after" went to Redis, or (if the health check had not yet seen Redis
    // back) queued behind "while down": each client's writes keep their order.
    let n = broker.metric(deferred);
    assert!((1..=2).contains(&n), "only those two could be deferred: {n}");
}

/// A server that is down when cistern starts: cistern starts and says so;
/// what comes meanwhile waits in the outbox; it connects when the server
/// comes, and stores what waited, then what follows.
#[test]
fn a_server_down_at_start_is_connected_when_it_comes() {
    let mut server = RedisServer::not_started();
    let config = configs::redis_example(&format!("127.0.0.1:{}", server.port), 1, &channel("late"), &[]);
    let broker = Broker::start(BIN, &config);
    assert!(broker.log().contains("pool redis.pool1 is not reachable yet"), "{}", broker.log());
    publish(broker.port, "late-pub", "pubsub/late", b"early", 1, false);
    let deferred = "cistern_action_deferred_total{action=\"backend.redis.hook.message.publish.1\"}";
    assert_eq!(broker.metric(deferred), 1);

    server.start_again();
    logged(&broker, "pool redis.pool1 is connected to", 1);
    let redis = server.client(1);
    publish(broker.port, "late-pub", "pubsub/late", b"later", 1, false);
    assert_eq!(stored_payloads(&redis, "pubsub/late", 2), ["early", "later"]);
}

/// The example configuration loads unchanged, included from a top file;
/// and with its server line pointing at a live server too, which the check
/// leaves alone (a check opens no connection).
#[test]
fn the_example_configuration_loads_unchanged() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_redis.conf");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("cistern.conf");
    std::fs::write(&top, format!("cistern.listener.tcp = 127.0.0.1:1\ninclude {example}\n")).unwrap();
    let out = std::process::Command::new(BIN).arg("--check").arg("--config").arg(&top).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let redis = Redis::for_test(14);
    let live = dir.path().join("live.conf");
    let text = std::fs::read_to_string(example).unwrap().replace(
        "backend.redis.pool1.server = 127.0.0.1:6379",
        &format!("backend.redis.pool1.server = 127.0.0.1:{}", redis.port),
    );
    std::fs::write(&live, text).unwrap();
    let out = std::process::Command::new(BIN).arg("--check").arg("--config").arg(&live).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("redis pool open"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The seed's Sentinel lines switched on (`backend.redis.server` and
/// `backend.redis.sentinel = mymaster`): cistern stores in the master
/// Sentinel names, and after a failover, in the new master.
#[test]
fn sentinel_finds_the_master_and_follows_a_failover() {
    let mut master = RedisServer::start();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let m = master.client(0);
    m.eventually("the replica is attached", SOON, |r| {
        let info = String::from_utf8_lossy(&redis_bytes(r.cmd(&["INFO", "replication"]))).into_owned();
        info.contains("connected_slaves:1").then_some(())
    });
    let sentinel = RedisServer::sentinel(&master, "mymaster");
    let s = sentinel.client(0);
    s.eventually("Sentinel knows the replica", SOON, |r| {
        matches!(r.cmd(&["SENTINEL", "REPLICAS", "mymaster"]), redis::Value::Array(a) if a.len() == 1).then_some(())
    });

    // The pool's own server line stays as the seed has it, pointing nowhere useful.
    let config = configs::redis_example(
        "127.0.0.1:1",
        0,
        &channel("sentinel"),
        &[
            (
                "## backend.redis.server = 127.0.0.1:26378",
                &format!("backend.redis.server = 127.0.0.1:{}", sentinel.port),
            ),
            ("## backend.redis.sentinel = mymaster", "backend.redis.sentinel = mymaster"),
        ],
    );
    let broker = Broker::start(BIN, &config);
    publish(broker.port, "sn-pub", "pubsub/sn", b"to the first master", 1, false);
    let id = stored_id(&m, "pubsub/sn");
    assert_eq!(m.hash_bytes(&key(&["mqtt:msg:", &id]))["payload"], b"to the first master");

    master.stop();
    let promoted = replica.port.to_string();
    s.eventually("Sentinel promotes the replica", Duration::from_secs(30), |r| {
        let addr = r.cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
        matches!(addr, redis::Value::Array(a) if a.get(1) == Some(&redis::Value::BulkString(promoted.clone().into_bytes())))
            .then_some(())
    });
    logged(&broker, "pool redis.pool1 is connected to", 1);
    publish(broker.port, "sn-pub", "pubsub/sn", b"to the new master", 1, false);
    // (Whether the first message reached the replica before its master
    // died is up to Redis's asynchronous replication.)
    let r = replica.client(0);
    r.eventually("the new master has the second message", SOON, |r| {
        let ids = r.zrange(b"mqtt:msg:pubsub/sn");
        ids.iter()
            .any(|id| {
                r.hash_bytes(&key(&["mqtt:msg:", id])).get("payload").map(Vec::as_slice) == Some(b"to the new master")
            })
            .then_some(())
    });
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.redis.hook.message.publish.1\"}"), 0);
}

fn redis_bytes(v: redis::Value) -> Vec<u8> {
    match v {
        redis::Value::BulkString(b) => b,
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// Malformed Redis configurations stop cistern before it serves, naming
/// the file, the line and the fault.
#[test]
fn malformed_redis_configs_are_refused_with_their_location() {
    use cistern_tests::broker::assert_refused;
    let pool = "backend.redis.pool1.server = 127.0.0.1:1\n";
    let hook = |action: &str| {
        format!("{pool}backend.redis.hook.client.connected.1 = {{\"action\": {action}, \"pool\": \"pool1\"}}\n")
    };
    let cases = [
        ("a misspelt pool key", format!("{pool}backend.redis.pool1.pool_sise = 8\n"), 2, "pool_sise"),
        ("a pool size of 0", format!("{pool}backend.redis.pool1.pool_size = 0\n"), 1, "at least 1"),
        ("a bad port", "backend.redis.pool1.server = 127.0.0.1:port\n".to_string(), 1, "not a port"),
        ("no server", "backend.redis.pool1.database = 2\n".to_string(), 1, "server is not set"),
        (
            "Sentinels without a master name",
            format!("{pool}backend.redis.server = 127.0.0.1:26379\n"),
            2,
            "set backend.redis.sentinel",
        ),
        ("a bad expired_after", format!("{pool}backend.redis.msg.expired_after = soon\n"), 2, "soon"),
        (
            "a raw command with two spaces",
            hook(r#"{"commands": ["SET  conn:${clientid} clientid"]}"#),
            2,
            "separated by exactly one space",
        ),
        (
            "a raw command placeholder the hook point lacks",
            hook(r#"{"commands": ["SET conn:${clientid} ${payload}"]}"#),
            2,
            "`${payload}` is not available on client.connected",
        ),
        ("raw SQL on Redis", hook(r#"{"sql": ["insert into t values(1)"]}"#), 2, "raw \"sql\" is for SQL databases"),
        ("FLUSHALL", hook(r#"{"commands": ["FLUSHALL"]}"#), 2, "`FLUSHALL` is refused: it administers the server"),
        ("CONFIG SET", hook(r#"{"commands": ["CONFIG SET dir /tmp"]}"#), 2, "administers the server"),
        ("SELECT", hook(r#"{"commands": ["SET a b", "SELECT 3"]}"#), 2, "state of a connection"),
        ("SHUTDOWN", hook(r#"{"commands": ["shutdown"]}"#), 2, "administers the server"),
        ("SUBSCRIBE", hook(r#"{"commands": ["SUBSCRIBE x"]}"#), 2, "subscriber"),
        ("a blocking pop", hook(r#"{"commands": ["BLPOP k 0"]}"#), 2, "blocks"),
        ("an unknown function", hook(r#"{"function": "on_message_fetch"}"#), 2, "unknown function `on_message_fetch`"),
    ];
    for (what, config, line, words) in cases {
        assert_refused(BIN, what, &config, line, words);
    }
}
