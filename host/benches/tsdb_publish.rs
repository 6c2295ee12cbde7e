//! Points per second into InfluxDB (HTTP `/write`) and OpenTSDB (`/api/put`
//! of InfluxDB's `[[opentsdb]]` listener): events through cistern
//! (`Runtime::handle`, the stock tsdb guest expanding the template, the
//! host's `influx`/`opentsdb` interface and pool) against a plain program
//! that expands the same template in Rust and writes the same lines or
//! points with the same batching (cistern's `Batcher`, same batch size,
//! time and requests in flight) over a plain reqwest client.
//!
//! Run with the server up: `scripts/services.sh up influxdb && eval "$(scripts/services.sh env influxdb)"`,
//! then `cargo bench -p cistern --bench tsdb_publish` (`CISTERN_BENCH_MESSAGES`
//! per round, `CISTERN_BENCH_IN_FLIGHT`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cistern::backends::batch::{Batcher, Limits, Sink, WriteError};
use cistern::config::Config;
use cistern::model::{Client, Event, Message};
use cistern::runtime::Runtime;
use cistern_tests::influx;

const ROUNDS: usize = 5;
const BATCH: usize = 1000;
const WORKERS: usize = 8;
const TSDB_BATCH: usize = 50;
const INFLUX_TEMPLATE: &str = r#"{"bench/#": {"measurement": "bench", "tags": {"clientid": "$clientid", "seq": ["$payload", "seq"]}, "fields": {"temperature": ["$payload", "temperature"]}, "timestamp": "$timestamp"}}"#;
const TSDB_TEMPLATE: &str = r#"{"bench/#": {"measurement": "bench", "tags": {"clientid": "$clientid", "seq": ["$payload", "seq"]}, "value": ["$payload", "temperature"], "timestamp": "$timestamp"}}"#;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn events(runtime: &Runtime, round: usize, n: usize) -> Vec<Event> {
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
                topic: format!("bench/{}", i % 16),
                payload: bytes::Bytes::from(format!("{{\"seq\": {}, \"temperature\": 21.5}}", round * n + i)),
                qos: 1,
                retain: false,
                sender: format!("bench-pub-{}", i % 8),
                timestamp_ms: 1_700_000_000_000 + i as u64,
            },
        })
        .collect()
}

fn view(client: &Client, m: &Message) -> (String, String) {
    (client.clientid.clone(), m.topic.clone())
}

/// A plain HTTP sink: every caller's items in one body, POSTed.
struct Plain {
    client: reqwest::Client,
    url: String,
    json: bool,
}

#[async_trait::async_trait]
impl Sink for Plain {
    async fn flush(&self, batch: &[Vec<String>]) -> Vec<Result<(), WriteError>> {
        let items: Vec<&String> = batch.iter().flatten().collect();
        let body = if self.json {
            format!("[{}]", items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","))
        } else {
            items.iter().map(|s| format!("{s}\n")).collect()
        };
        let ok = self.client.post(&self.url).body(body).send().await.is_ok_and(|a| a.status().is_success());
        let r = if ok { Ok(()) } else { Err(WriteError::Refused("plain write failed".into())) };
        vec![r; batch.len()]
    }
}

type Handler = Arc<dyn Fn(Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

fn plain(batcher: Batcher, influx: bool) -> Handler {
    let influx_t = Arc::new(cistern_template::influxdb::parse(INFLUX_TEMPLATE).unwrap());
    let tsdb_t = Arc::new(cistern_template::opentsdb::parse(TSDB_TEMPLATE).unwrap());
    Arc::new(move |e| {
        let (batcher, influx_t, tsdb_t) = (batcher.clone(), influx_t.clone(), tsdb_t.clone());
        Box::pin(async move {
            let Event::MessagePublish { client, message } = e else { return };
            let (clientid, topic) = view(&client, &message);
            let m = cistern_template::Message {
                id: &message.id,
                clientid: &clientid,
                username: None,
                peerhost: client.peerhost.as_deref(),
                qos: message.qos,
                topic: &topic,
                payload: &message.payload,
                timestamp_ns: message.timestamp_ms as i64 * 1_000_000,
            };
            let items: Vec<String> = if influx {
                influx_t[0].points(&m).unwrap().iter().map(|p| p.line().unwrap()).collect()
            } else {
                tsdb_t[0].points(&m).unwrap().iter().map(|p| p.json()).collect()
            };
            batcher.write(items).await.expect("plain write");
        })
    })
}

fn through_cistern(runtime: Arc<Runtime>) -> Handler {
    Arc::new(move |e| {
        let runtime = runtime.clone();
        Box::pin(async move {
            runtime.handle(e).await;
        })
    })
}

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
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = influx::create_database("bench").await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("i.tmpl"), INFLUX_TEMPLATE).unwrap();
        std::fs::write(dir.path().join("o.tmpl"), TSDB_TEMPLATE).unwrap();
        let (http, tsdb) = (influx::http_port(), influx::opentsdb_port());
        let hook = r##"{"topic": "#", "action": {"function": "on_message_publish"}, "pool": "pool1"}"##;
        let text = |influx: bool| {
            if influx {
                format!(
                    "backend.influxdb.pool1.server = 127.0.0.1:{http}\nbackend.influxdb.pool1.protocol = http\n\
                     backend.influxdb.pool1.database = {db}\nbackend.influxdb.pool1.pool_size = {WORKERS}\n\
                     backend.influxdb.pool1.batch_size = {BATCH}\nbackend.influxdb.template = i.tmpl\n\
                     backend.influxdb.hook.message.publish.1 = {hook}\n"
                )
            } else {
                format!(
                    "backend.opentsdb.pool1.server = 127.0.0.1:{tsdb}\nbackend.opentsdb.pool1.pool_size = {WORKERS}\n\
                     backend.opentsdb.pool1.max_batch_size = {TSDB_BATCH}\nbackend.opentsdb.template = o.tmpl\n\
                     backend.opentsdb.hook.message.publish.1 = {hook}\n"
                )
            }
        };
        let client = reqwest::Client::new();
        let mut lines = Vec::new();
        for influx in [true, false] {
            // An outbox of its own: the previous runtime may still hold its lock while it winds down.
            let text = format!("cistern.outbox.dir = outbox-{influx}\n{}", text(influx));
            let config = Config::from_text("bench.conf", &text, dir.path()).expect("config");
            let runtime = Runtime::with_config(config, None).await.expect("runtime");
            let (url, max_points) = if influx {
                (format!("http://127.0.0.1:{http}/write?db={db}&precision=ns"), BATCH)
            } else {
                (format!("http://127.0.0.1:{tsdb}/api/put"), TSDB_BATCH)
            };
            let sink = Plain { client: client.clone(), url, json: !influx };
            let limits = Limits { max_points, max_wait: Duration::from_millis(5), workers: WORKERS };
            let paths: [Handler; 2] =
                [plain(Batcher::start(Arc::new(sink), limits), influx), through_cistern(runtime.clone())];
            for handle in &paths {
                run(events(&runtime, 0, 500), in_flight, handle).await;
            }
            let mut rates: [Vec<f64>; 2] = Default::default();
            for round in 1..=ROUNDS {
                for (i, handle) in paths.iter().enumerate() {
                    rates[i].push(run(events(&runtime, round * 2 + i, per_round), in_flight, handle).await);
                }
            }
            let failures: u64 = runtime
                .metrics
                .render()
                .lines()
                .filter(|l| l.starts_with("cistern_action_failures_total") || l.starts_with("cistern_action_deferred_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum();
            assert_eq!(failures, 0, "cistern failed or deferred some writes");
            let (p, c) = (median(&mut rates[0]), median(&mut rates[1]));
            let name = if influx { "InfluxDB HTTP" } else { "OpenTSDB /api/put" };
            lines.push(format!(
                "{name}: median points/s through cistern {c:.0}, plain client {p:.0}, ratio cistern/plain {:.2} \
                 (rounds: cistern {:?}, plain {:?})",
                c / p,
                rates[1].iter().map(|x| x.round()).collect::<Vec<_>>(),
                rates[0].iter().map(|x| x.round()).collect::<Vec<_>>()
            ));
        }
        println!(
            "tsdb_publish: QoS 1 message.publish, one point a message, {per_round} messages x {ROUNDS} rounds, \
             {in_flight} in flight, {WORKERS} requests in flight, batch {BATCH} (InfluxDB) / {TSDB_BATCH} (OpenTSDB), 5ms"
        );
        for l in lines {
            println!("  {l}");
        }
    });
}
