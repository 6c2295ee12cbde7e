//! End-to-end QoS 1 publish throughput through the standalone broker, for
//! each store the test command starts, against the same broker with no
//! store, in one run; with publish-to-acknowledgement latency percentiles.
//!
//! Each store is configured with one hook, the stock `on_message_publish`
//! on `#` (the seed's; for the time-series stores a one-point template), so
//! a PUBACK means the message was written (committed in the database, or in
//! the outbox while the database is away: the line then says how many were
//! deferred). The run fails if any write failed. Publishers are plain MQTT 3.1.1 connections of the
//! benchmark's own, one thread each, keeping up to `CISTERN_BENCH_WINDOW`
//! QoS 1 publishes in flight (mosquitto_pub's default, 20) and timing each
//! from its PUBLISH to its PUBACK: that latency is publish-to-commit.
//!
//! Each line also gives the broker's CPU time per message (its process's,
//! from /proc), for the store and without: on a shared machine it moves
//! less than the rate.
//!
//! Rounds alternate stores with the no-store broker, so the machine's
//! drift falls on each alike; medians of `CISTERN_BENCH_ROUNDS` are printed.
//!
//! Run with the test command's services up (`scripts/services.sh up ...`
//! and `eval "$(scripts/services.sh env ...)"`):
//! `cargo bench -p cistern --bench broker_throughput`
//! (`CISTERN_BENCH_STORES=sqlite,redis,pgsql,...` to choose,
//! `CISTERN_BENCH_PUBLISHERS` (32), `CISTERN_BENCH_MESSAGES` per publisher,
//! `CISTERN_BENCH_PUBLISHES_IN_FLIGHT` to set `cistern.mqtt.publishes_in_flight`
//! on both brokers: 1 is how rmqtt handles a connection unpatched;
//! `CISTERN_BENCH_BIN` to run another build's broker;
//! `CISTERN_BENCH_RETAIN_HOOKS=1` to add the seed's `on_message_retain` and
//! `on_retain_delete` hooks, as the seed's examples and `etc/cistern.conf` have them).

use std::any::Any;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cistern_tests::databases::TestDb;
use cistern_tests::{configs, Broker};

/// The broker this build made; `CISTERN_BENCH_BIN` names another (an older
/// build's, to compare two builds' CPU per message in one session).
fn bin() -> String {
    std::env::var("CISTERN_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cistern").to_string())
}
const ALL: &[&str] =
    &["sqlite", "redis", "pgsql", "mysql", "timescale", "mongo", "cassandra", "dynamo", "influxdb", "opentsdb"];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A store's configuration, and what must live as long as it (its database).
struct Store {
    name: &'static str,
    config: String,
    _keep: Box<dyn Any>,
}

fn publish_hook(backend: &str) -> String {
    let hook = |n: usize, function: &str| {
        format!(
            "backend.{backend}.hook.message.publish.{n} = {{\"topic\": \"#\", \"action\": {{\"function\": \"{function}\"}}, \"pool\": \"pool1\"}}\n"
        )
    };
    let mut hooks = hook(1, "on_message_publish");
    // The seed's hook blocks (and etc/cistern.conf) also put these two on
    // every publish; the time-series stores have no such functions.
    if retain_hooks() && !matches!(backend, "influxdb" | "opentsdb" | "timescale") {
        hooks += &hook(2, "on_message_retain");
        hooks += &hook(3, "on_retain_delete");
    }
    hooks
}

/// `CISTERN_BENCH_RETAIN_HOOKS=1`: each store also has the seed's
/// `on_message_retain` and `on_retain_delete` on `#`.
fn retain_hooks() -> bool {
    env_or("CISTERN_BENCH_RETAIN_HOOKS", 0) == 1
}

/// The store `name`, made fresh (a database of its own).
fn store(name: &'static str, dir: &std::path::Path) -> Store {
    let base = configs::base();
    let (config, keep): (String, Box<dyn Any>) = match name {
        "sqlite" => (
            format!("{base}backend.sqlite.pool1.database = {{dir}}/cistern.db\n{}", publish_hook("sqlite")),
            Box::new(()),
        ),
        "redis" => {
            let redis = cistern_tests::Redis::for_test(14);
            (format!("{base}{}{}", redis.pool_lines("pool1"), publish_hook("redis")), Box::new(redis))
        }
        "pgsql" => {
            let db = TestDb::postgres();
            (format!("{base}{}{}", db.pool_config_sized(name, "pool1", 8), publish_hook(name)), Box::new(db))
        }
        "timescale" => {
            let db = TestDb::postgres_with(&["timescale.sql"]);
            let template = dir.join("timescale.tmpl");
            let sql = "insert into easy_data(time, data) values (NOW(), $1)";
            std::fs::write(
                &template,
                format!(r##"{{"#": {{"name": "bench", "sql": "{sql}", "param_keys": ["$payload"]}}}}"##),
            )
            .unwrap();
            let text = format!(
                "{base}{}backend.timescale.template = {}
{}",
                db.pool_config_sized(name, "pool1", 8),
                template.display(),
                publish_hook(name)
            );
            (text, Box::new(db))
        }
        "mysql" => {
            let db = TestDb::mysql();
            (format!("{base}{}{}", db.pool_config_sized("mysql", "pool1", 8), publish_hook("mysql")), Box::new(db))
        }
        "mongo" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mongo = rt.block_on(cistern_tests::mongo::Mongo::for_test("bench"));
            let pool = mongo.pool_lines("pool1").replace("c_pool_size = 4", "c_pool_size = 8");
            (format!("{base}{pool}{}", publish_hook("mongo")), Box::new((mongo, rt)))
        }
        "cassandra" => {
            let keyspace = cistern_tests::cassandra::Keyspace::create();
            let text = format!(
                "{base}backend.ecql.pool1.nodes = {}\nbackend.ecql.pool1.size = 8\nbackend.ecql.pool1.keyspace = {}\n{}",
                keyspace.nodes,
                keyspace.name,
                publish_hook("cassa")
            );
            (text, Box::new(keyspace))
        }
        "dynamo" => {
            use cistern_tests::dynamo::{Dynalite, ACCESS_KEY_ID, REGION, SECRET};
            let server = Dynalite::start();
            let text = format!(
                "{base}backend.dynamo.region = {REGION}\nbackend.dynamo.pool1.server = {}\n\
                 backend.dynamo.pool1.pool_size = 8\nbackend.dynamo.pool1.aws_access_key_id = {ACCESS_KEY_ID}\n\
                 backend.dynamo.pool1.aws_secret_access_key = {SECRET}\n{}",
                server.url(),
                publish_hook("dynamo")
            );
            (text, Box::new(server))
        }
        "influxdb" | "opentsdb" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let db = rt.block_on(cistern_tests::influx::create_database("bench"));
            let template = dir.join(format!("{name}.tmpl"));
            let value = if name == "influxdb" {
                r#""fields": {"t": ["$payload", "temperature"]}"#
            } else {
                r#""value": ["$payload", "temperature"]"#
            };
            std::fs::write(
                &template,
                format!(r##"{{"#": {{"measurement": "bench", "tags": {{"c": "$clientid", "s": ["$payload", "seq"]}}, {value}}}}}"##),
            )
            .unwrap();
            let pool = if name == "influxdb" {
                format!(
                    "backend.influxdb.pool1.server = 127.0.0.1:{}\nbackend.influxdb.pool1.protocol = http\n\
                     backend.influxdb.pool1.database = {db}\n",
                    cistern_tests::influx::http_port()
                )
            } else {
                format!("backend.opentsdb.pool1.server = 127.0.0.1:{}\n", cistern_tests::influx::opentsdb_port())
            };
            (
                format!("{base}{pool}backend.{name}.template = {}\n{}", template.display(), publish_hook(name)),
                Box::new(()),
            )
        }
        other => panic!("no store {other:?}; stores: {ALL:?}"),
    };
    Store { name, config, _keep: keep }
}

/// What one run of publishers measured.
struct Run {
    rate: f64,
    latencies_us: Vec<u64>,
    /// The broker's CPU time per message, in µs.
    cpu_us: f64,
}

fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![kind];
    remaining_length(body.len(), &mut p);
    p.extend_from_slice(body);
    p
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One publisher: `messages` QoS 1 publishes with up to `window` in flight;
/// the latency of each, PUBLISH to PUBACK, in microseconds.
fn publisher(port: u16, id: usize, messages: usize, window: usize) -> Vec<u64> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the broker listens");
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let mut body = Vec::new();
    string("MQTT", &mut body);
    body.extend_from_slice(&[4, 0x02, 0, 60]);
    string(&format!("bench-pub-{id}"), &mut body);
    writer.write_all(&packet(0x10, &body)).unwrap();
    let mut connack = [0u8; 4];
    reader.read_exact(&mut connack).unwrap();
    assert_eq!(connack[3], 0, "CONNACK refused");

    let topic = format!("bench/{id}/data");
    let sent: Arc<Mutex<HashMap<u16, Instant>>> = Arc::default();
    let acks = std::sync::mpsc::channel::<u64>();
    let reading = {
        let sent = sent.clone();
        let tx = acks.0.clone();
        std::thread::spawn(move || {
            for _ in 0..messages {
                let mut ack = [0u8; 4];
                reader.read_exact(&mut ack).expect("a PUBACK");
                assert_eq!(ack[0], 0x40, "a PUBACK, not {:#x}", ack[0]);
                let pid = u16::from_be_bytes([ack[2], ack[3]]);
                let at = sent.lock().unwrap().remove(&pid).expect("a PUBACK for a publish in flight");
                tx.send(at.elapsed().as_micros() as u64).unwrap();
            }
        })
    };
    let mut latencies = Vec::with_capacity(messages);
    let mut in_flight = 0;
    for seq in 0..messages {
        if in_flight == window {
            latencies.push(acks.1.recv().expect("the reader runs"));
            in_flight -= 1;
        }
        let pid = (seq % 65_535 + 1) as u16;
        let mut body = Vec::new();
        string(&topic, &mut body);
        body.extend_from_slice(&pid.to_be_bytes());
        body.extend_from_slice(format!("{{\"seq\": {seq}, \"temperature\": 21.5}}").as_bytes());
        sent.lock().unwrap().insert(pid, Instant::now());
        writer.write_all(&packet(0x32, &body)).unwrap();
        in_flight += 1;
    }
    while latencies.len() < messages {
        latencies.push(acks.1.recv().expect("the reader runs"));
    }
    reading.join().unwrap();
    let _ = writer.write_all(&[0xE0, 0]);
    latencies
}

fn run(broker: &Broker, publishers: usize, messages: usize, window: usize) -> Run {
    let cpu_before = broker.cpu_time();
    let started = Instant::now();
    let threads: Vec<_> = (0..publishers)
        .map(|p| {
            let port = broker.port;
            std::thread::spawn(move || publisher(port, p, messages, window))
        })
        .collect();
    let mut latencies_us: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let rate = (publishers * messages) as f64 / started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    // The broker's CPU per message: unlike the rate, it does not depend on
    // what else the shared machine runs meanwhile.
    let cpu_us = match (cpu_before, broker.cpu_time()) {
        (Some(before), Some(after)) => (after - before).as_secs_f64() * 1e6 / (publishers * messages) as f64,
        _ => f64::NAN,
    };
    Run { rate, latencies_us, cpu_us }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let publishers = env_or("CISTERN_BENCH_PUBLISHERS", 32);
    let messages = env_or("CISTERN_BENCH_MESSAGES", 1000);
    let window = env_or("CISTERN_BENCH_WINDOW", 20);
    let rounds = env_or("CISTERN_BENCH_ROUNDS", 3);
    let chosen = std::env::var("CISTERN_BENCH_STORES").unwrap_or_else(|_| ALL.join(","));
    let in_flight = std::env::var("CISTERN_BENCH_PUBLISHES_IN_FLIGHT").ok();
    let dir = tempfile::tempdir().unwrap();
    let bin = bin();

    println!(
        "broker_throughput: QoS 1, {publishers} publishers x {messages} messages, {window} in flight each, \
         stored {} at once per connection, median of {rounds} rounds; latency is PUBLISH to PUBACK \
         (publish to commit), ms",
        in_flight.as_deref().unwrap_or("16 (the default)")
    );
    let in_flight = in_flight.map(|n| format!("cistern.mqtt.publishes_in_flight = {n}\n")).unwrap_or_default();
    let no_store = format!("{}{in_flight}", configs::base());
    for name in chosen.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name: &'static str =
            ALL.iter().find(|n| **n == name).unwrap_or_else(|| panic!("no store {name:?}; stores: {ALL:?}"));
        let mut store = store(name, dir.path());
        store.config.push_str(&in_flight);
        let (mut with, mut without) = (Vec::new(), Vec::new());
        let (mut cpu_with, mut cpu_without) = (Vec::new(), Vec::new());
        let mut latencies = Vec::new();
        let mut deferred = 0;
        for _ in 0..rounds {
            let plain = Broker::start(&bin, &no_store);
            let r = run(&plain, publishers, messages, window);
            without.push(r.rate);
            cpu_without.push(r.cpu_us);
            drop(plain);
            let broker = Broker::start(&bin, &store.config);
            let r = run(&broker, publishers, messages, window);
            let action = format!("{{action=\"backend.{}.hook.message.publish.1\"}}", backend_key(store.name));
            let failed = broker.metric(&format!("cistern_action_failures_total{action}"));
            assert_eq!(failed, 0, "{}: {failed} writes failed", store.name);
            // Deferred writes were acknowledged once in the outbox, not the
            // database: the line says how many, so no rate passes for commits that it is not.
            deferred += broker.metric(&format!("cistern_action_deferred_total{action}"));
            with.push(r.rate);
            cpu_with.push(r.cpu_us);
            latencies.extend(r.latencies_us);
        }
        latencies.sort_unstable();
        let (w, wo) = (median(&with), median(&without));
        println!(
            "  {:<10} {w:>8.0} msg/s, no store {wo:>8.0} msg/s, ratio {:.2}; broker CPU {:.1} µs/msg, no store {:.1}; \
             latency p50 {:.1}, p99 {:.1}, max {:.1}{}",
            store.name,
            w / wo,
            median(&cpu_with),
            median(&cpu_without),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
            if deferred > 0 {
                format!("; {deferred} deferred to the outbox (acknowledged, not yet committed)")
            } else {
                String::new()
            },
        );
    }
}

/// The backend key of a store's hooks (Cassandra's hooks are `backend.cassa`).
fn backend_key(store: &str) -> &str {
    if store == "cassandra" {
        "cassa"
    } else {
        store
    }
}
