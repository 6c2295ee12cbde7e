//! `message.publish` persistence throughput on MongoDB (FerretDB here):
//! events through cistern (`Runtime::handle`, the stock guest's
//! `on_message_publish` with the seed's `payload_format: mongo_json`, the
//! host's `mongo` interface and pool) against a plain program on the
//! official driver inserting the same documents (the same fields, the JSON
//! payload as a document, the same `w: 1, j: true` write concern) with the
//! same number of connections and of messages in flight.
//!
//! A third path inserts the same documents through cistern's own pool and
//! operations with no guest, which splits the gap between the MongoDB
//! backend's host code and the wasm boundary.
//!
//! All run in one process against one private FerretDB, interleaved in
//! rounds, so the machine's noise falls on each alike; medians are printed.
//!
//! Run: `cargo bench -p cistern --bench mongo_publish`
//! (`CISTERN_BENCH_MESSAGES` per round, `CISTERN_BENCH_IN_FLIGHT`,
//! `CISTERN_BENCH_POOL_SIZE`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cistern::backends::mongo::{operations, MongoPool};
use cistern::config::Config;
use cistern::model::{Client, Event, Message};
use cistern::runtime::Runtime;
use cistern_tests::mongo::{FerretServer, Mongo};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};

const ROUNDS: usize = 5;

type Handler = Arc<dyn Fn(Event) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn events(runtime: &Runtime, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event::MessagePublish {
            client: Client {
                clientid: format!("bench-pub-{}", i % 8),
                username: None,
                peerhost: Some("127.0.0.1".into()),
                node: "cistern@127.0.0.1".into(),
                clean_start: true,
                persistent: false,
            },
            message: Message {
                id: runtime.ids.next(),
                topic: format!("bench/{}/data", i % 16),
                payload: bytes::Bytes::from(format!("{{\"seq\": {i}, \"temperature\": 21.5}}")),
                qos: 1,
                retain: false,
                sender: format!("bench-pub-{}", i % 8),
                timestamp_ms: 1_700_000_000_000,
            },
        })
        .collect()
}

/// The document the stock guest stores for `m` under `mongo_json`.
fn document(m: &Message) -> Document {
    let payload: serde_json::Value = serde_json::from_slice(&m.payload).expect("a JSON payload");
    doc! {
        "_id": i64::from_str_radix(&m.id[..16], 16).expect("a host id"),
        "topic": &m.topic,
        "msgid": &m.id,
        "sender": &m.sender,
        "qos": i32::from(m.qos),
        "retain": m.retain,
        "payload": mongodb::bson::to_bson(&payload).expect("BSON"),
        "arrived": Bson::Int64((m.timestamp_ms / 1000) as i64),
    }
}

/// The plain program: `insert_one` of each document on the driver's own client.
fn plain(collection: mongodb::Collection<Document>) -> Handler {
    Arc::new(move |e| {
        let collection = collection.clone();
        Box::pin(async move {
            let Event::MessagePublish { message, .. } = e else { return };
            collection.insert_one(document(&message)).await.expect("insert");
        })
    })
}

/// cistern's pool and operations, with no guest.
fn host_only(pool: MongoPool) -> Handler {
    Arc::new(move |e| {
        let pool = pool.clone();
        Box::pin(async move {
            let Event::MessagePublish { message, .. } = e else { return };
            assert!(operations::insert_one(&pool, "mqtt_msg", document(&message)).await.expect("insert"));
        })
    })
}

/// The whole of cistern: the event through the runtime and the stock guest.
fn through_cistern(runtime: Arc<Runtime>) -> Handler {
    Arc::new(move |e| {
        let runtime = runtime.clone();
        Box::pin(async move {
            runtime.handle(e).await;
        })
    })
}

/// Runs `events` with `in_flight` workers taking the next event each; returns messages per second.
async fn run(events: Vec<Event>, in_flight: usize, handle: &Handler) -> f64 {
    let n = events.len();
    let events: Arc<Vec<Mutex<Option<Event>>>> = Arc::new(events.into_iter().map(|e| Mutex::new(Some(e))).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (events, next, handle) = (events.clone(), next.clone(), handle.clone());
            tokio::spawn(async move {
                while let Some(slot) = events.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let e = slot.lock().unwrap().take().expect("each event once");
                    handle(e).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let per_round = env_or("CISTERN_BENCH_MESSAGES", 5_000);
    let in_flight = env_or("CISTERN_BENCH_IN_FLIGHT", 64);
    let pool_size = env_or("CISTERN_BENCH_POOL_SIZE", 8);
    let server = FerretServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mongo = Mongo::on(server.port, "bench").await;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "cistern.outbox.dir = {}\n\
             backend.mongo.pool1.server = 127.0.0.1:{}\n\
             backend.mongo.pool1.database = {}\n\
             backend.mongo.pool1.c_pool_size = {pool_size}\n\
             backend.mongo.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\", \"payload_format\": \"mongo_json\"}}\n",
            dir.path().join("outbox").display(),
            server.port,
            mongo.name,
        );
        let config = Config::from_text("bench.conf", &text, dir.path()).expect("config");
        let runtime = Runtime::with_config(config, None).await.expect("runtime");
        let pool: MongoPool = runtime.loaded().pool_as("mongo", "pool1").expect("the mongo pool");
        // The plain program's client: as many connections, the same write concern.
        let mut options = ClientOptions::parse(format!("mongodb://127.0.0.1:{}/?directConnection=true", server.port))
            .await
            .unwrap();
        options.max_pool_size = Some(pool_size as u32);
        let mut w = WriteConcern::default();
        w.w = Some(Acknowledgment::Nodes(1));
        w.journal = Some(true);
        options.write_concern = Some(w);
        let client = mongodb::Client::with_options(options).unwrap();
        let collection = client.database(&mongo.name).collection::<Document>("mqtt_msg");
        let paths: [(&str, Handler); 3] = [
            ("plain mongodb driver", plain(collection)),
            ("cistern pool, no guest", host_only(pool)),
            ("through cistern", through_cistern(runtime.clone())),
        ];

        for (_, handle) in &paths {
            run(events(&runtime, 500), in_flight, handle).await;
        }
        let mut rates: [Vec<f64>; 3] = Default::default();
        for _ in 0..ROUNDS {
            for (i, (_, handle)) in paths.iter().enumerate() {
                rates[i].push(run(events(&runtime, per_round), in_flight, handle).await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let metric = |name: &str| -> u64 {
            runtime
                .metrics
                .render()
                .lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        assert_eq!(metric("cistern_action_failures_total"), 0, "cistern failed to store some messages");
        assert_eq!(metric("cistern_action_deferred_total"), 0, "cistern deferred some messages to its outbox");
        let stored = client.database(&mongo.name).collection::<Document>("mqtt_msg").count_documents(doc! {}).await;
        let expected = 3 * (500 + ROUNDS * per_round) as u64;
        assert_eq!(stored.unwrap(), expected, "every path stored every message, once");

        let medians: Vec<f64> = rates.iter().map(|r| median(&mut r.clone())).collect();
        let (plain, host, cistern) = (medians[0], medians[1], medians[2]);
        println!(
            "mongo_publish: QoS 1 message.publish, {per_round} messages x {ROUNDS} rounds, {in_flight} in flight, \
             {pool_size} connections, median msg/s: through cistern {cistern:.0}, plain mongodb driver {plain:.0}, \
             ratio cistern/plain {:.2} (cistern's pool with no guest: {host:.0}, ratio {:.2})",
            cistern / plain,
            host / plain
        );
        for ((name, _), r) in paths.iter().zip(&rates) {
            println!("  rounds, {name}: {:?}", r.iter().map(|x| x.round()).collect::<Vec<_>>());
        }
    });
}
