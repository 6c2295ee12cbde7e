//! The delivery contract under database faults, with real servers stopped,
//! hung and killed, and real MQTT publishers: every message the broker
//! acknowledged is in the database exactly once when the fault is over,
//! the outbox drains, and the accounting holds (each event an action
//! matched is succeeded, failed, dropped or still pending).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cistern_tests::databases::{PrivateServer, TestDb};
use cistern_tests::load::Load;
use cistern_tests::{configs, publish, Broker, RedisServer, Store};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
const PUBLISH: &str = "backend.pgsql.hook.message.publish.1";
/// How long each fault lasts.
const FAULT: Duration = Duration::from_secs(20);
/// How long the outbox may take to drain once the database is back.
const DRAIN: Duration = Duration::from_secs(30);

/// A PostgreSQL pool on `db`, `on_message_publish` on `load/#`, and a short write deadline.
fn pgsql_config(db: &TestDb, extra: &str) -> String {
    format!(
        "{}cistern.outbox.write_timeout = 1s\n{}{extra}\
         backend.pgsql.hook.message.publish.1 = {{\"topic\": \"load/#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        configs::base(),
        db.pool_config("pgsql", "pool1"),
    )
}

/// How many times each payload is in `mqtt_msg`.
async fn stored_counts(store: &Store) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in store.rows("select payload from mqtt_msg where topic like 'load/%'", &[]).await {
        *counts.entry(row[0].clone().unwrap_or_default()).or_insert(0) += 1;
    }
    counts
}

/// Every acknowledged payload is stored exactly once, and nothing is stored twice.
fn assert_each_acked_stored_once(load: &Load, stored: &BTreeMap<String, usize>, broker: &Broker) {
    let missing: Vec<&String> = load.acked.iter().filter(|p| !stored.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages are not stored, e.g. {:?}\n{}",
        missing.len(),
        load.acked.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        broker.log().lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    let twice: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {:?}", twice.iter().take(5).collect::<Vec<_>>());
}

/// Waits until the pool's lane of the outbox is empty.
fn wait_drained(broker: &Broker, pool: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    let gauge = format!("cistern_outbox_entries{{pool=\"{pool}\"}}");
    while broker.metric(&gauge) > 0 {
        assert!(started.elapsed() < limit, "the outbox did not drain within {limit:?}: {}", broker.metric(&gauge));
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed()
}

/// matched = succeeded + failed + dropped + pending, for one action.
fn assert_accounting(broker: &Broker, action: &str) -> BTreeMap<&'static str, u64> {
    let labels = format!("{{action=\"{action}\"}}");
    let mut m = BTreeMap::new();
    for (key, name) in [
        ("matched", "cistern_action_calls_total"),
        ("succeeded", "cistern_action_succeeded_total"),
        ("failed", "cistern_action_failures_total"),
        ("dropped", "cistern_action_dropped_total"),
        ("pending", "cistern_action_pending"),
        ("deferred", "cistern_action_deferred_total"),
        ("replayed", "cistern_action_replayed_total"),
        ("batched", "cistern_action_batched_total"),
    ] {
        m.insert(key, broker.metric(&format!("{name}{labels}")));
    }
    assert_eq!(
        m["matched"],
        m["succeeded"] + m["failed"] + m["dropped"] + m["pending"],
        "accounting of {action}: {m:?}"
    );
    m
}

/// PostgreSQL stopped for 20 s while 8 publishers send QoS 1 at a steady
/// rate: afterwards every acknowledged message is in `mqtt_msg` exactly
/// once, the outbox drains within 30 s, and the accounting holds.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_under_load() {
    let (load, m) = postgres_stopped_under("stop", 8, 25.0, 30.0, FAULT).await;
    assert!(load.acked.len() > 8 * 25 * 20, "publishers kept being acknowledged: {}", load.acked.len());
    assert!(m["deferred"] > 0 && m["replayed"] == m["deferred"], "{m:?}");
    assert_eq!(m["failed"], 0, "{m:?}");
}

/// A burst of 32 publishers as fast as they go, with PostgreSQL stopped for
/// 3 s in the middle: the publishes that arrive together go to the stock
/// guest several at a call (`handle-batch`, one transaction for all), and
/// still every acknowledged message is in `mqtt_msg` exactly once, the
/// batches the database could not take went to the outbox whole, and the
/// accounting holds.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_under_a_burst_of_batched_publishes() {
    let (load, m) = postgres_stopped_under("burst", 32, 60.0, 10.0, Duration::from_secs(3)).await;
    assert!(m["batched"] > 0, "no publish went in a batch: {m:?}");
    assert!(m["deferred"] > 0 && m["replayed"] == m["deferred"], "{m:?}");
    assert_eq!(m["failed"], 0, "{m:?}");
    eprintln!("{} acknowledged, {} of them written in batches; {m:?}", load.acked.len(), m["batched"]);
}

/// PostgreSQL stopped for `fault` (from 4 s in) while `clients` publishers
/// send QoS 1 at `rate` a second each for `secs`: asserts every acknowledged
/// message is in `mqtt_msg` exactly once, the outbox drains and the
/// accounting holds; answers the publishers' record and the action's counters.
async fn postgres_stopped_under(
    prefix: &str,
    clients: u32,
    rate: f64,
    secs: f64,
    fault: Duration,
) -> (Load, BTreeMap<&'static str, u64>) {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let broker = Broker::start(BIN, &pgsql_config(&db, ""));
    let mut load = Load::start(broker.port, prefix, &format!("load/{prefix}"), clients, rate, secs);
    std::thread::sleep(Duration::from_secs(4));
    server.stop();
    std::thread::sleep(fault);
    server.start();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    let drained = wait_drained(&broker, "pgsql.pool1", DRAIN);
    eprintln!("outbox drained {drained:?} after the publishers finished");

    let stored = stored_counts(&Store::connect(&db).await).await;
    assert_each_acked_stored_once(&load, &stored, &broker);
    let m = assert_accounting(&broker, PUBLISH);
    (load, m)
}

/// Messages acknowledged while PostgreSQL is stopped wait in the outbox and,
/// once it is back, are replayed to the stock guest several at a call: each
/// is stored exactly once, and every replay went in a batch.
#[tokio::test(flavor = "multi_thread")]
async fn messages_kept_through_an_outage_are_replayed_in_batches() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let broker = Broker::start(BIN, &pgsql_config(&db, ""));
    server.stop();
    let load = Load::start(broker.port, "replay", "load/replay", 4, 50.0, 3.0).finish(Duration::from_secs(60));
    server.start();
    wait_drained(&broker, "pgsql.pool1", DRAIN);

    let stored = stored_counts(&Store::connect(&db).await).await;
    assert_each_acked_stored_once(&load, &stored, &broker);
    let m = assert_accounting(&broker, PUBLISH);
    assert!(m["replayed"] as usize >= load.acked.len() && m["replayed"] == m["deferred"], "{m:?}");
    assert!(m["batched"] >= m["replayed"], "replays not in batches: {m:?}");
}

/// PostgreSQL hung (SIGSTOP on the server and its children) for 20 s: the
/// same, and the pool is marked unavailable within 5 s of the hang.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_hung_under_load() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let broker = Broker::start(BIN, &pgsql_config(&db, ""));
    let mut load = Load::start(broker.port, "hang", "load/hang", 8, 25.0, 30.0);
    std::thread::sleep(Duration::from_secs(4));
    server.hang();
    let hung = Instant::now();
    while broker.metric("cistern_pool_available{pool=\"pgsql.pool1\"}") != 0
        || broker.metric("cistern_outbox_entries{pool=\"pgsql.pool1\"}") == 0
    {
        assert!(hung.elapsed() < Duration::from_secs(5), "not marked unavailable within 5 s of the hang");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("marked unavailable {:?} after the hang", hung.elapsed());
    std::thread::sleep(FAULT.saturating_sub(hung.elapsed()));
    server.resume();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    wait_drained(&broker, "pgsql.pool1", DRAIN);

    let stored = stored_counts(&Store::connect(&db).await).await;
    assert_each_acked_stored_once(&load, &stored, &broker);
    let m = assert_accounting(&broker, PUBLISH);
    assert!(m["deferred"] > 0, "{m:?}");
}

/// Redis stopped for 20 s under the seed's Redis hook for messages: every
/// acknowledged message is in one `mqtt:msg:*` hash.
#[tokio::test(flavor = "multi_thread")]
async fn redis_stopped_under_load() {
    let m = redis_stopped_under(8, 25.0, 30.0, FAULT);
    assert!(m["deferred"] > 0, "{m:?}");
}

/// A burst of 32 publishers as fast as they go, with Redis stopped for 3 s
/// in the middle: the publishes that arrive together go to the stock guest
/// several at a call (one pipeline for all), and still every acknowledged
/// message is in one `mqtt:msg:*` hash.
#[tokio::test(flavor = "multi_thread")]
async fn redis_stopped_under_a_burst_of_batched_publishes() {
    let m = redis_stopped_under(32, 60.0, 10.0, Duration::from_secs(3));
    assert!(m["batched"] > 0, "no publish went in a batch: {m:?}");
    assert!(m["deferred"] > 0 && m["replayed"] == m["deferred"], "{m:?}");
}

/// Redis stopped for `fault` while `clients` publishers send QoS 1 at `rate`
/// a second each for `secs`: asserts every acknowledged message is stored
/// once and the accounting holds, and answers the action's counters.
fn redis_stopped_under(clients: u32, rate: f64, secs: f64, fault: Duration) -> BTreeMap<&'static str, u64> {
    // Its own server, writing every change to its append-only file, so that
    // stopping it loses nothing it had stored.
    let mut server = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let config = format!(
        "{}cistern.outbox.write_timeout = 1s\n{}\
         backend.redis.hook.message.publish.1 = {{\"topic\": \"load/#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        configs::base(),
        server.client(0).pool_lines("pool1"),
    );
    let broker = Broker::start(BIN, &config);
    let mut load = Load::start(broker.port, "rds", "load/rds", clients, rate, secs);
    std::thread::sleep(Duration::from_secs(4));
    server.stop();
    std::thread::sleep(fault);
    server.start_again();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    wait_drained(&broker, "redis.pool1", DRAIN);

    let redis = server.client(0);
    let mut stored = BTreeMap::new();
    for key in redis.keys() {
        if key.starts_with(b"mqtt:msg:")
            && redis.cmd_bytes(&[b"TYPE", &key]) == redis::Value::SimpleString("hash".into())
        {
            if let Some(p) = redis.hash_bytes(&key).get("payload") {
                *stored.entry(String::from_utf8_lossy(p).into_owned()).or_insert(0) += 1;
            }
        }
    }
    assert_each_acked_stored_once(&load, &stored, &broker);
    assert_accounting(&broker, "backend.redis.hook.message.publish.1")
}

/// cistern killed with SIGKILL while its outbox holds acknowledged messages
/// and the database is still down, then started again: once the database is
/// back, every acknowledged message is stored exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn killed_with_writes_in_the_outbox() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let mut broker = Broker::start(BIN, &pgsql_config(&db, ""));
    server.stop();
    let load = Load::start(broker.port, "kill", "load/kill", 4, 20.0, 3.0).finish(Duration::from_secs(30));
    assert!(load.acked.len() >= 4 * 20 * 3 * 9 / 10, "acknowledged into the outbox: {}", load.acked.len());
    assert_eq!(broker.metric("cistern_outbox_entries{pool=\"pgsql.pool1\"}") as usize, load.acked.len());
    broker.kill();
    broker.start_again();
    server.start();
    wait_drained(&broker, "pgsql.pool1", DRAIN);
    let stored = stored_counts(&Store::connect(&db).await).await;
    assert_each_acked_stored_once(&load, &stored, &broker);
    assert_eq!(stored.len(), load.acked.len(), "nothing else was stored");
}

/// The outbox full: the next QoS 1 publish is refused (an MQTT 5 client sees
/// reason 0x97, Quota exceeded; an MQTT 3.1.1 client is disconnected without
/// its PUBACK), and what was acknowledged before is kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_outbox_refuses_publishes() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let broker = Broker::start(BIN, &pgsql_config(&db, "cistern.outbox.max_bytes = 4KB\n"));
    server.stop();
    // Each entry is a few hundred bytes: a handful fill 4 KB.
    let mut acked = Vec::new();
    let mut refused_v5 = None;
    for n in 0..100 {
        let payload = format!("fill-{n}-{}", "x".repeat(200));
        let out = std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-V", "mqttv5", "-q", "1"])
            .args(["-i", "filler", "-t", "load/full", "-m", &payload])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.contains("Quota exceeded") {
            refused_v5 = Some(stderr);
            break;
        }
        assert!(out.status.success(), "mosquitto_pub: {stderr}");
        acked.push(payload);
    }
    let refused_v5 = refused_v5.expect("the outbox never filled");
    assert!(!acked.is_empty(), "some were acknowledged before the outbox filled: {refused_v5}");

    // An MQTT 3.1.1 client: disconnected, no PUBACK.
    let script = r#"
import sys, time
import paho.mqtt.client as mqtt
c = mqtt.Client(client_id="filler311", clean_session=True)
gone = []
c.on_disconnect = lambda c, u, rc: gone.append(rc)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
m = c.publish("load/full", "refused-311-" + "x" * 200, qos=1)
deadline = time.time() + 5
while time.time() < deadline and not gone and not m.is_published():
    time.sleep(0.05)
print("published" if m.is_published() else "not published", "disconnected" if gone else "connected")
"#;
    let out =
        std::process::Command::new("/usr/bin/python3").args(["-c", script, &broker.port.to_string()]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "not published disconnected");
    assert!(broker.metric("cistern_publishes_refused_total") >= 2);

    server.start();
    wait_drained(&broker, "pgsql.pool1", DRAIN);
    let stored = stored_counts(&Store::connect(&db).await).await;
    for p in &acked {
        assert_eq!(stored.get(p), Some(&1), "an acknowledged message is stored once");
    }
    assert!(stored.keys().all(|p| !p.starts_with("refused-311")), "the refused message was not stored");
}

/// A write the database refuses (a raw `sql` action on a missing table) is
/// counted as failed, is not retried, and does not hold up the writes behind it.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_write_fails_alone() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let bad = "backend.pgsql.hook.message.publish.2 = {\"topic\": \"load/#\", \"action\": {\"sql\": [\"insert into no_such_table(x) values (${payload})\"]}, \"pool\": \"pool1\"}\n";
    let broker = Broker::start(BIN, &pgsql_config(&db, bad));
    let load = Load::start(broker.port, "bad", "load/bad", 2, 20.0, 2.0).finish(Duration::from_secs(30));
    let store = Store::connect(&db).await;
    let stored = stored_counts(&store).await;
    assert_each_acked_stored_once(&load, &stored, &broker);
    let m = assert_accounting(&broker, "backend.pgsql.hook.message.publish.2");
    assert_eq!(m["failed"], load.acked.len() as u64, "{m:?}");
    assert_eq!(m["deferred"], 0, "a refusal is not deferred: {m:?}");
    assert_eq!(broker.metric("cistern_outbox_entries{pool=\"pgsql.pool1\"}"), 0);
    assert_eq!(broker.metric("cistern_pool_available{pool=\"pgsql.pool1\"}"), 1, "a refusal is not an outage");
}

/// One backend down (PostgreSQL) while another (SQLite) serves other
/// topics: the SQLite topics' publish rate does not drop.
#[tokio::test(flavor = "multi_thread")]
async fn one_database_down_does_not_slow_another() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let sqlite = "backend.sqlite.pool1.database = {dir}/cistern.db\n\
        backend.sqlite.hook.message.publish.1 = {\"topic\": \"local/#\", \"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}\n";
    let broker = Broker::start(BIN, &pgsql_config(&db, sqlite));
    // A steady offered rate: if the outage held them up, fewer would be acknowledged in time.
    let mut local = Load::start(broker.port, "local", "local/t", 2, 100.0, 16.0);
    let mut remote = Load::start(broker.port, "remote", "load/r", 4, 50.0, 16.0);
    std::thread::sleep(Duration::from_secs(6));
    server.stop();
    std::thread::sleep(Duration::from_secs(10));
    local.poll();
    remote.poll();
    let local = local.finish(Duration::from_secs(120));
    let remote = remote.finish(Duration::from_secs(120));
    let before = local.acks_between(Duration::from_secs(2), Duration::from_secs(6)) as f64 / 4.0;
    let during = local.acks_between(Duration::from_secs(7), Duration::from_secs(15)) as f64 / 8.0;
    eprintln!("SQLite topics: {before:.0} msg/s before the outage, {during:.0} msg/s during it");
    assert!(during >= before * 0.5, "SQLite publishes slowed from {before:.0}/s to {during:.0}/s");
    server.start();
    wait_drained(&broker, "pgsql.pool1", DRAIN);
    let stored = stored_counts(&Store::connect(&db).await).await;
    assert_each_acked_stored_once(&remote, &stored, &broker);
}

/// PostgreSQL hung while a subscriber's offline fetch waits on it: SQLite's
/// writes, which run the same stock SQL guest, do not wait behind it. Each
/// pool has instances of its own; when all shared one pool of instances, the
/// fetch held the only one (`cistern.limits.instances = 1` here, so the test
/// needs no crowd) for its 10 s call deadline, and every SQLite write in that
/// time ran out of its 1 s write deadline waiting and went to the outbox.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_database_holds_up_no_other_pool() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let extra = "cistern.limits.instances = 1
        backend.pgsql.hook.session.subscribed.1 = {\"topic\": \"load/#\", \"action\": {\"function\": \"on_message_fetch\"}, \"pool\": \"pool1\"}
        backend.sqlite.pool1.database = {dir}/cistern.db
        backend.sqlite.hook.message.publish.1 = {\"topic\": \"local/#\", \"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}
";
    let broker = Broker::start(BIN, &pgsql_config(&db, extra));
    let port = broker.port.to_string();
    server.hang();
    // A persistent subscriber whose offline fetch (a read, 10 s deadline) hangs on PostgreSQL.
    let mut subscriber = std::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port, "-q", "1", "-c", "-i", "hung-fetch", "-t", "load/#", "-W", "15"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    for n in 0..5 {
        publish(broker.port, "local-pub", "local/t", format!("local-{n}").as_bytes(), 1, false);
    }
    let took = started.elapsed();
    let action = "{action=\"backend.sqlite.hook.message.publish.1\"}";
    let deferred = broker.metric(&format!("cistern_action_deferred_total{action}"));
    let succeeded = broker.metric(&format!("cistern_action_succeeded_total{action}"));
    server.resume();
    let _ = subscriber.kill();
    let _ = subscriber.wait();
    assert_eq!(
        (succeeded, deferred),
        (5, 0),
        "SQLite's writes waited behind the hung PostgreSQL fetch (5 publishes took {took:?})\n{}",
        broker.log().lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(broker.metric("cistern_pool_available{pool=\"sqlite.pool1\"}"), 1);
}

/// SIGTERM: the broker lets what is in flight finish and exits 0 within a
/// bound; nothing acknowledged is lost: what the database did not take yet
/// waits in the outbox and is replayed after the next start. (Publishers
/// resend what was not acknowledged when the broker went, as QoS 1 says,
/// so a message may be stored twice, never not at all.)
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_and_loses_nothing() {
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let mut broker = Broker::start(BIN, &pgsql_config(&db, ""));
    let load = Load::start(broker.port, "term", "load/term", 4, 50.0, 5.0);
    std::thread::sleep(Duration::from_secs(1));
    server.stop();
    std::thread::sleep(Duration::from_secs(1));
    let status = broker.terminate(Duration::from_secs(15)).expect("exited within 15 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(broker.log().contains("SIGTERM"), "the stop is logged");
    // Started again with the database still away: the publishers reconnect
    // and go on; what the last run deferred waits in the outbox with the rest.
    broker.start_again();
    let load = load.finish(Duration::from_secs(120));
    server.start();
    wait_drained(&broker, "pgsql.pool1", DRAIN);
    let stored = stored_counts(&Store::connect(&db).await).await;
    let missing: Vec<&String> = load.acked.iter().filter(|p| !stored.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
