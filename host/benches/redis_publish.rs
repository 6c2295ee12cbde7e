//! `message.publish` persistence throughput on Redis: events through
//! cistern (`Runtime::handle`, the stock guest's `on_message_publish`, the
//! host's `redis` interface and pool) against a plain redis-rs program that
//! sends the same commands with the same pipelining (one pipeline of HSET,
//! EXPIRE, ZADD, ZREMRANGEBYSCORE, EXPIRE per message) over the same number
//! of multiplexed connections, with the same number of messages in flight.
//!
//! A third path sends the same pipelines through cistern's own pool and
//! operations with no guest, which splits the gap between what the Redis
//! backend's host code costs and what the wasm boundary costs.
//!
//! All run in one process against one private redis-server, interleaved in
//! rounds, so the machine's noise falls on each alike; medians are printed.
//!
//! Run: `cargo bench -p cistern --bench redis_publish`
//! (`CISTERN_BENCH_MESSAGES` per round, `CISTERN_BENCH_IN_FLIGHT`,
//! `CISTERN_BENCH_POOL_SIZE`, `CISTERN_BENCH_QOS`: 0 stores nothing, which
//! measures the call alone).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cistern::backends::redis::{operations, RedisPool};
use cistern::model::Message;
use cistern_tests::RedisServer;
use common::{handler, Handler};
use redis::aio::ConnectionManager;

const ROUNDS: usize = 5;
const TTL: u64 = 3600;

/// The guest's `on_message_publish` commands, argument by argument.
fn commands(m: &Message) -> Vec<Vec<Vec<u8>>> {
    let hash = [b"mqtt:msg:".as_slice(), m.id.as_bytes()].concat();
    let set = [b"mqtt:msg:".as_slice(), m.topic.as_bytes()].concat();
    let score = u64::from_str_radix(&m.id[..16], 16).expect("a host id");
    let oldest = score.saturating_sub(TTL * 1_000_000);
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        vec![
            text("HSET"),
            hash.clone(),
            text("id"),
            text(&m.id),
            text("from"),
            text(&m.sender),
            text("qos"),
            text(&m.qos.to_string()),
            text("topic"),
            text(&m.topic),
            text("retain"),
            text(if m.retain { "1" } else { "0" }),
            text("payload"),
            m.payload.to_vec(),
            text("ts"),
            text(&(m.timestamp_ms / 1000).to_string()),
        ],
        vec![text("EXPIRE"), hash, text(&TTL.to_string())],
        vec![text("ZADD"), set.clone(), text(&score.to_string()), text(&m.id)],
        vec![text("ZREMRANGEBYSCORE"), set.clone(), text("-inf"), text(&format!("({oldest}"))],
        vec![text("EXPIRE"), set, text(&TTL.to_string())],
    ]
}

/// The plain program: a redis-rs pipeline of those commands on its own connections, in turn.
fn plain(connections: Vec<ConnectionManager>) -> Handler {
    let (connections, turn) = (Arc::new(connections), Arc::new(AtomicUsize::new(0)));
    handler(move |_, message| {
        let mut con = connections[turn.fetch_add(1, Ordering::Relaxed) % connections.len()].clone();
        async move {
            if message.qos < 1 {
                return;
            }
            let mut pipe = redis::pipe();
            for args in commands(&message) {
                let cmd = pipe.cmd(std::str::from_utf8(&args[0]).unwrap());
                for a in &args[1..] {
                    cmd.arg(a.as_slice());
                }
            }
            pipe.exec_async(&mut con).await.expect("pipeline");
        }
    })
}

/// cistern's pool and operations, with no guest.
fn host_only(pool: RedisPool) -> Handler {
    handler(move |_, message| {
        let pool = pool.clone();
        async move {
            if message.qos >= 1 {
                operations::exec(&pool, &commands(&message), false).await.expect("exec");
            }
        }
    })
}

fn main() {
    let per_round = common::env_or("CISTERN_BENCH_MESSAGES", 20_000);
    let in_flight = common::env_or("CISTERN_BENCH_IN_FLIGHT", 64);
    let pool_size = common::env_or("CISTERN_BENCH_POOL_SIZE", 8);
    let qos = common::env_or("CISTERN_BENCH_QOS", 1) as u8;
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "backend.redis.pool1.server = 127.0.0.1:{}\n\
             backend.redis.pool1.pool_size = {pool_size}\n\
             backend.redis.msg.expired_after = {TTL}\n\
             backend.redis.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
            server.port
        );
        let runtime = common::runtime(&text, dir.path()).await;
        let pool: RedisPool = runtime.loaded().pool_as("redis", "pool1").expect("the redis pool");
        // The plain program's connections: as many, of the same kind, used in turn.
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
        let mut connections = Vec::new();
        for _ in 0..pool_size {
            connections.push(ConnectionManager::new(client.clone()).await.unwrap());
        }
        let paths: [(&str, Handler); 3] = [
            ("plain redis-rs", plain(connections)),
            ("cistern pool, no guest", host_only(pool)),
            ("through cistern", common::through_cistern(runtime.clone())),
        ];
        let events = |_, _| common::publishes(&runtime, per_round, qos, "/data", 0);
        let warm_up = (0..3).map(|_| common::publishes(&runtime, 2_000, qos, "/data", 0)).collect();
        let rates = common::interleaved(&paths, ROUNDS, in_flight, events, warm_up).await;
        common::assert_all_stored(&runtime);

        common::report(&format!("redis_publish: QoS {qos} message.publish, {per_round} messages x {ROUNDS} rounds, {in_flight} in flight, {pool_size} connections"), &paths, &rates);
    });
}
