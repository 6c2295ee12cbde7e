//! End-to-end QoS 1 publish throughput through the standalone broker with
//! the SQLite store configured, against the same broker with no store, in
//! one run. Publishers are real `mosquitto_pub` processes, each sending its
//! messages from stdin (`-l`) with QoS 1, so every message waits for its
//! PUBACK, which cistern sends only once the message is stored.
//!
//! Run: `cargo bench -p cistern --bench broker_throughput`
//! (`CISTERN_BENCH_PUBLISHERS`, `CISTERN_BENCH_MESSAGES` per publisher).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use cistern_tests::{configs, Broker};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Messages per second that `publishers` concurrent clients get through.
fn throughput(config: &str, publishers: usize, messages: usize) -> f64 {
    let broker = Broker::start(BIN, config);
    let lines: String = (0..messages).map(|i| format!("{{\"seq\": {i}, \"temperature\": 21.5}}\n")).collect();
    let started = Instant::now();
    let children: Vec<_> = (0..publishers)
        .map(|p| {
            let mut child = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-l"])
                .args(["-i", &format!("bench-pub-{p}"), "-t", &format!("bench/{p}/data")])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("mosquitto_pub runs");
            child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a publisher failed");
    }
    let secs = started.elapsed().as_secs_f64();
    (publishers * messages) as f64 / secs
}

fn main() {
    let publishers = env_or("CISTERN_BENCH_PUBLISHERS", 4);
    let messages = env_or("CISTERN_BENCH_MESSAGES", 5000);
    let store = configs::sqlite();
    let no_store = configs::base().to_string();
    // Alternate, so drift in the machine's load falls on both.
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        without.push(throughput(&no_store, publishers, messages));
        with.push(throughput(&store, publishers, messages));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "broker_throughput: QoS 1, {publishers} publishers x {messages} messages, median of 3: \
         with SQLite store {w:.0} msg/s, no store {wo:.0} msg/s, ratio store/no-store {:.2}",
        w / wo
    );
}
