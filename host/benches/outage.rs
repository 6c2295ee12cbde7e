//! The publish rate through a database outage: QoS 1 publishers (paho) at a
//! steady offered rate against a PostgreSQL store that is stopped for 20 s
//! and started again. Prints the acknowledged rate before, during and after
//! the outage as ratios of the rate before (measured in the same run), and
//! how long the outbox took to drain once the database was back.
//!
//! Run: `scripts/services.sh up postgres && cargo bench -p cistern --bench outage`
//! (`CISTERN_BENCH_PUBLISHERS`, default 8; `CISTERN_BENCH_RATE`, messages a
//! second per publisher, default 100).

use std::time::{Duration, Instant};

use cistern_tests::databases::PrivateServer;
use cistern_tests::load::Load;
use cistern_tests::{configs, Broker};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let publishers = env_or("CISTERN_BENCH_PUBLISHERS", 8.0) as u32;
    let rate = env_or("CISTERN_BENCH_RATE", 100.0);
    let server = PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let config = format!(
        "{}{}backend.pgsql.hook.message.publish.1 = {{\"topic\": \"load/#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        configs::base(),
        db.pool_config_sized("pgsql", "pool1", 8),
    );
    let broker = Broker::start(BIN, &config);
    let (before, outage, after) = (10u64, 20u64, 20u64);
    let mut load = Load::start(broker.port, "outage", "load/o", publishers, rate, (before + outage + after) as f64);
    std::thread::sleep(Duration::from_secs(before));
    server.stop();
    std::thread::sleep(Duration::from_secs(outage));
    server.start();
    let back = Instant::now();
    load.poll();
    let load = load.finish(Duration::from_secs(120));
    let gauge = "cistern_outbox_entries{pool=\"pgsql.pool1\"}";
    while broker.metric(gauge) > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let drained = back.elapsed();
    let s = Duration::from_secs;
    let per_sec = |from: u64, to: u64| load.acks_between(s(from), s(to)) as f64 / (to - from) as f64;
    let r_before = per_sec(2, before);
    let r_during = per_sec(before + 1, before + outage);
    let r_after = per_sec(before + outage + 2, before + outage + after);
    println!(
        "outage: QoS 1, {publishers} publishers x {rate} msg/s offered, PostgreSQL stopped {outage} s: \
         before {r_before:.0} msg/s, during {r_during:.0} msg/s (ratio {:.2}), after {r_after:.0} msg/s (ratio {:.2}); \
         outbox drained {:.1} s after the database came back; {} acknowledged, {} deferred",
        r_during / r_before,
        r_after / r_before,
        drained.as_secs_f64(),
        load.acked.len(),
        broker.metric("cistern_action_deferred_total{action=\"backend.pgsql.hook.message.publish.1\"}"),
    );
}
