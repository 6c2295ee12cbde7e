//! The cost of one hook through the wasm guest, with the host call it makes,
//! against the same logic as a plain Rust function over the same pool.
//!
//! The hook is `on_message_publish` on `message.publish`: the guest checks
//! the QoS, then inserts the message through the host's `sql` interface. The
//! baseline does the same check and the same insert, in Rust. Both run on
//! one SQLite pool in one process, interleaved in rounds, so the machine's
//! noise falls on both alike. Run: `cargo bench -p cistern --bench hook_cost`.

use std::time::{Duration, Instant};

use cistern::backends::{SqlPool, SqlValue};
use cistern::config::Config;
use cistern::model::{Client, Event, Message};
use cistern::runtime::Runtime;

const ROUNDS: usize = 5;
const PER_ROUND: usize = 4000;

fn event(ids: &cistern::message_id::MessageIds) -> Event {
    Event::MessagePublish {
        client: Client {
            clientid: "bench-pub".into(),
            username: None,
            peerhost: Some("127.0.0.1".into()),
            node: "cistern@127.0.0.1".into(),
            clean_start: true,
            persistent: false,
        },
        message: Message {
            id: ids.next(),
            topic: "bench/topic".into(),
            payload: bytes::Bytes::from_static(b"{\"temperature\": 21.5}"),
            qos: 1,
            retain: false,
            sender: "bench-pub".into(),
            timestamp_ms: 1_700_000_000_000,
        },
    }
}

/// The same logic as the guest's `on_message_publish`, in plain Rust.
async fn store_message(pool: &SqlPool, client: &Client, m: &Message) {
    if m.qos < 1 {
        return;
    }
    pool.execute(
        "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            SqlValue::Text(m.id.clone()),
            SqlValue::Text(m.topic.clone()),
            SqlValue::Text(m.sender.clone()),
            SqlValue::Text(client.node.clone()),
            SqlValue::Int(m.qos.into()),
            SqlValue::Int(m.retain.into()),
            SqlValue::Bytes(m.payload.to_vec()),
            SqlValue::Timestamp(m.timestamp_ms as i64),
        ],
    )
    .await
    .expect("insert");
}

/// [`ROUNDS`] rounds of [`PER_ROUND`] fresh events, each round through the
/// runtime's guest and then through `plain`, so the machine's noise falls on
/// both alike; the total time of each path.
async fn interleaved<F, Fut>(runtime: &Runtime, mut plain: F) -> (Duration, Duration)
where
    F: FnMut(Event) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut wasm, mut baseline) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        let events: Vec<Event> = (0..PER_ROUND).map(|_| event(&runtime.ids)).collect();
        let t = Instant::now();
        for e in events {
            runtime.handle(e).await;
        }
        wasm += t.elapsed();
        let events: Vec<Event> = (0..PER_ROUND).map(|_| event(&runtime.ids)).collect();
        let t = Instant::now();
        for e in events {
            plain(e).await;
        }
        baseline += t.elapsed();
    }
    (wasm, baseline)
}

async fn measure(label: &str, database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "backend.sqlite.pool1.database = {database}\n\
         backend.sqlite.pool1.pool_size = 1\n\
         backend.sqlite.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n"
    );
    let config = Config::from_text("bench.conf", &text, dir.path()).expect("config");
    let runtime = Runtime::with_config(config, None).await.expect("runtime");
    let loaded = runtime.loaded();
    let pool: cistern::backends::SqlPool = loaded.pool_as("sqlite", "pool1").expect("the sqlite pool");

    // Warm up both paths (instance creation, statement caches).
    for _ in 0..500 {
        runtime.handle(event(&runtime.ids)).await;
        if let Event::MessagePublish { client, message } = event(&runtime.ids) {
            store_message(&pool, &client, &message).await;
        }
    }

    let pool = &pool;
    let (wasm, plain) = interleaved(&runtime, |e| async move {
        if let Event::MessagePublish { client, message } = e {
            store_message(pool, &client, &message).await;
        }
    })
    .await;
    let n = (ROUNDS * PER_ROUND) as f64;
    let wasm_us = wasm.as_secs_f64() * 1e6 / n;
    let plain_us = plain.as_secs_f64() * 1e6 / n;
    println!(
        "hook_cost/{label}: wasm guest {wasm_us:.2} us/hook, plain Rust {plain_us:.2} us/hook, \
         ratio wasm/plain {:.2}, wasm overhead {:.2} us/hook ({} hooks each)",
        wasm_us / plain_us,
        wasm_us - plain_us,
        n
    );
}

/// The wasm boundary alone: a guest function that makes one host call (the
/// clock) and returns, against the same in plain Rust.
async fn boundary() {
    let dir = tempfile::tempdir().unwrap();
    let guests = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/dist");
    let text = format!(
        "cistern.guests.dir = {guests}\nbackend.sqlite.pool1.database = :memory:\n\
         backend.sqlite.hook.message.publish.1 = {{\"action\": {{\"module\": \"misbehave\", \"function\": \"clock\"}}}}\n"
    );
    let config = Config::from_text("bench.conf", &text, dir.path()).expect("config");
    let runtime = Runtime::with_config(config, None).await.expect("runtime");
    let plain = |_: &Event| std::hint::black_box(std::time::SystemTime::now());
    for _ in 0..1000 {
        runtime.handle(event(&runtime.ids)).await;
    }
    let n = ROUNDS * PER_ROUND * 5;
    let events: Vec<Event> = (0..n).map(|_| event(&runtime.ids)).collect();
    let t = Instant::now();
    for e in &events {
        runtime.handle(e.clone()).await;
    }
    let wasm = t.elapsed();
    let t = Instant::now();
    for e in &events {
        plain(std::hint::black_box(e));
        std::hint::black_box(e.clone());
    }
    let rust = t.elapsed();
    let (w, r) = (wasm.as_secs_f64() * 1e6 / n as f64, rust.as_secs_f64() * 1e6 / n as f64);
    println!(
        "hook_cost/boundary: a guest hook with one host call {w:.2} us/hook, the same in plain Rust {r:.3} us/hook \
         (the wasm path costs {:.2} us more per hook, routing and conversion included; {n} hooks each)",
        w - r
    );
}

/// The same smallest action (one `clock` call and back) in each language:
/// its cost per call against plain Rust doing the same in the same run, and
/// the linear memory one idle instance holds. A language whose component is
/// missing is skipped, saying why.
async fn languages() {
    let dist = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/dist");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/examples/dist");
    let languages = [
        ("rust", dist, "misbehave", "clock", "scripts/build-guests.sh"),
        ("c", examples, "c_json_filter", "tick", "scripts/build-examples.sh"),
        ("javascript", examples, "js_enrich", "tick", "scripts/build-examples.sh"),
        ("python", examples, "py_rolling", "tick", "scripts/build-examples.sh"),
    ];
    let n = ROUNDS * PER_ROUND;
    let mut rust_guest: Option<f64> = None;
    for (language, dir, module, function, script) in languages {
        let path = std::path::Path::new(dir).join(format!("{module}.wasm"));
        if !path.exists() {
            println!("hook_cost/{language}: skipped, {} is missing (run {script})", path.display());
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let text = format!(
            "cistern.guests.dir = {dir}\nbackend.sqlite.pool1.database = :memory:\n\
             backend.sqlite.hook.message.publish.1 = {{\"action\": {{\"module\": \"{module}\", \"function\": \"{function}\"}}}}\n"
        );
        let config = Config::from_text("bench.conf", &text, tmp.path()).expect("config");
        let runtime = match Runtime::with_config(config, None).await {
            Ok(r) => r,
            Err(e) => {
                println!("hook_cost/{language}: skipped, {module} does not load: {e}");
                continue;
            }
        };
        for _ in 0..200 {
            runtime.handle(event(&runtime.ids)).await;
        }
        let (wasm, rust) = interleaved(&runtime, |e| async move {
            std::hint::black_box(std::time::SystemTime::now());
            std::hint::black_box(e);
        })
        .await;
        let (w, r) = (wasm.as_secs_f64() * 1e6 / n as f64, rust.as_secs_f64() * 1e6 / n as f64);
        let bytes = std::fs::read(&path).unwrap();
        let engine = cistern::engine::Engine::new(&cistern::config::Limits::default()).expect("engine");
        let origin = cistern::engine::Origin::Custom;
        let memory = engine.load(module, &bytes, origin).await.map(|g| g.idle_memory()).unwrap_or(0);
        let versus_rust_guest = match rust_guest {
            Some(g) => format!(", {:.1}x the Rust guest", w / g),
            None => String::new(),
        };
        if language == "rust" {
            rust_guest = Some(w);
        }
        println!(
            "hook_cost/{language}: {module}.{function} {w:.2} us/call, plain Rust {r:.3} us/call, ratio {:.0}{versus_rust_guest}; \
             one idle instance holds {:.2} MiB of linear memory; component {:.2} MiB ({n} calls each)",
            w / r,
            memory as f64 / (1 << 20) as f64,
            bytes.len() as f64 / (1 << 20) as f64,
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // `CISTERN_BENCH_ONLY=boundary,sqlite-memory` runs those parts alone (for a profiler).
    let only = std::env::var("CISTERN_BENCH_ONLY").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p.trim() == part));
    rt.block_on(async {
        if runs("languages") {
            languages().await;
        }
        if runs("boundary") {
            boundary().await;
        }
        // In memory, so the database costs little and the wasm path shows.
        if runs("sqlite-memory") {
            measure("sqlite-memory", ":memory:").await;
        }
        // On disk (WAL, synchronous=NORMAL), as cistern stores by default.
        if runs("sqlite-file") {
            measure("sqlite-file", "bench.db").await;
        }
    });
}
