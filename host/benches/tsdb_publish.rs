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
//! per round, `CISTERN_BENCH_IN_FLIGHT`, `CISTERN_BENCH_BATCH_TIME_MS`: the
//! pools' `batch_time`, 0 as by default).

mod common;

use std::sync::Arc;
use std::time::Duration;

use cistern::backends::batch::{Batcher, Limits, Sink, WriteError};
use cistern::config::Config;
use cistern::model::{Client, Message};
use cistern::runtime::Runtime;
use cistern_tests::influx;
use common::{handler, Handler};

const ROUNDS: usize = 5;
const BATCH: usize = 1000;
const WORKERS: usize = 8;
const TSDB_BATCH: usize = 50;
const INFLUX_TEMPLATE: &str = r#"{"bench/#": {"measurement": "bench", "tags": {"clientid": "$clientid", "seq": ["$payload", "seq"]}, "fields": {"temperature": ["$payload", "temperature"]}, "timestamp": "$timestamp"}}"#;
const TSDB_TEMPLATE: &str = r#"{"bench/#": {"measurement": "bench", "tags": {"clientid": "$clientid", "seq": ["$payload", "seq"]}, "value": ["$payload", "temperature"], "timestamp": "$timestamp"}}"#;

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

fn plain(batcher: Batcher, influx: bool) -> Handler {
    let influx_t = Arc::new(cistern_template::influxdb::parse(INFLUX_TEMPLATE).unwrap());
    let tsdb_t = Arc::new(cistern_template::opentsdb::parse(TSDB_TEMPLATE).unwrap());
    handler(move |client, message| {
        let (batcher, influx_t, tsdb_t) = (batcher.clone(), influx_t.clone(), tsdb_t.clone());
        async move {
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
        }
    })
}

fn main() {
    let per_round = common::env_or("CISTERN_BENCH_MESSAGES", 5_000);
    let in_flight = common::env_or("CISTERN_BENCH_IN_FLIGHT", 64);
    // How long a batch waits for more points (`batch_time`), both paths alike.
    let linger = common::env_or("CISTERN_BENCH_BATCH_TIME_MS", 0);
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
                     backend.influxdb.pool1.batch_size = {BATCH}\nbackend.influxdb.pool1.batch_time = {linger}ms\n\
                     backend.influxdb.template = i.tmpl\n\
                     backend.influxdb.hook.message.publish.1 = {hook}\n"
                )
            } else {
                format!(
                    "backend.opentsdb.pool1.server = 127.0.0.1:{tsdb}\nbackend.opentsdb.pool1.pool_size = {WORKERS}\n\
                     backend.opentsdb.pool1.max_batch_size = {TSDB_BATCH}\nbackend.opentsdb.pool1.batch_time = {linger}ms\n\
                     backend.opentsdb.template = o.tmpl\n\
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
            let limits = Limits { max_points, max_wait: Duration::from_millis(linger as u64), workers: WORKERS };
            let paths: [(&str, Handler); 2] = [
                ("plain client", plain(Batcher::start(Arc::new(sink), limits), influx)),
                ("through cistern", common::through_cistern(runtime.clone())),
            ];
            // Each round's points are new (their seq tag), so none overwrites another.
            let events = |path: usize, round: usize| {
                common::publishes(&runtime, per_round, 1, "", ((round + 1) * 2 + path) * per_round)
            };
            let warm_up = (0..2).map(|_| common::publishes(&runtime, 500, 1, "", 0)).collect();
            let rates = common::interleaved(&paths, ROUNDS, in_flight, events, warm_up).await;
            common::assert_all_stored(&runtime);
            let cpu = common::cpu_per_event();
            let (p, c) = (common::median(&rates[0]), common::median(&rates[1]));
            let name = if influx { "InfluxDB HTTP" } else { "OpenTSDB /api/put" };
            lines.push(format!(
                "{name}: median points/s through cistern {c:.0}, plain client {p:.0}, ratio cistern/plain {:.2}; \
                 this process's CPU per point: through cistern {:.1} us, plain {:.1} us (rounds: cistern {:?}, plain {:?})",
                c / p,
                cpu[1],
                cpu[0],
                rates[1].iter().map(|x| x.round()).collect::<Vec<_>>(),
                rates[0].iter().map(|x| x.round()).collect::<Vec<_>>()
            ));
        }
        println!(
            "tsdb_publish: QoS 1 message.publish, one point a message, {per_round} messages x {ROUNDS} rounds, \
             {in_flight} in flight, {WORKERS} requests in flight, batch {BATCH} (InfluxDB) / {TSDB_BATCH} (OpenTSDB), batch_time {linger}ms"
        );
        for l in lines {
            println!("  {l}");
        }
    });
}
