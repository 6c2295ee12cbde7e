//! `message.publish` persistence throughput on Redis: events through
//! cistern (`Runtime::handle`, the stock guest's `on_message_publish`, the
//! host's `redis` interface and pool) against a plain redis-rs program that
//! sends the same commands with the same batching, over the same number of
//! multiplexed connections, with the same number of messages in flight.
//! The batching is the guest's: publishes that come while four pipelines
//! are running wait, and the next pipeline takes them (at most 64): each
//! message's HSET, EXPIRE and ZADD, then each topic's ZREMRANGEBYSCORE and
//! EXPIRE once.
//!
//! A third path sends one pipeline a message (all five commands) through
//! cistern's own pool and operations with no guest and no batching: what
//! the Redis backend's host code costs alone.
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
use common::group::GroupCommit;
use common::{handler, Handler};
use redis::aio::ConnectionManager;

const ROUNDS: usize = 5;
const TTL: u64 = 3600;

/// The guest's `on_message_publish` commands, argument by argument.
fn commands(m: &Message) -> Vec<Vec<Vec<u8>>> {
    let (mut commands, set, oldest) = stores(m);
    commands.extend(trim(set, oldest));
    commands
}

/// A message's own commands (its hash, its place in its topic's set), the
/// set, and the oldest score the set then keeps.
fn stores(m: &Message) -> (Vec<Vec<Vec<u8>>>, Vec<u8>, u64) {
    let hash = [b"mqtt:msg:".as_slice(), m.id.as_bytes()].concat();
    let set = [b"mqtt:msg:".as_slice(), m.topic.as_bytes()].concat();
    let score = u64::from_str_radix(&m.id[..16], 16).expect("a host id");
    let oldest = score.saturating_sub(TTL * 1_000_000);
    let text = |s: &str| s.as_bytes().to_vec();
    let commands = vec![
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
    ];
    (commands, set, oldest)
}

/// A topic's set trimmed to `oldest`, living `TTL` seconds.
fn trim(set: Vec<u8>, oldest: u64) -> Vec<Vec<Vec<u8>>> {
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        vec![text("ZREMRANGEBYSCORE"), set.clone(), text("-inf"), text(&format!("({oldest}"))],
        vec![text("EXPIRE"), set, text(&TTL.to_string())],
    ]
}

/// The commands, in a redis-rs pipeline.
fn add(pipe: &mut redis::Pipeline, commands: &[Vec<Vec<u8>>]) {
    for args in commands {
        let cmd = pipe.cmd(std::str::from_utf8(&args[0]).unwrap());
        for a in &args[1..] {
            cmd.arg(a.as_slice());
        }
    }
}

/// The plain program: the guest's batching, in redis-rs on its own
/// connections, in turn: each message's own commands, then each topic's
/// set trimmed once.
fn plain(connections: Vec<ConnectionManager>) -> Handler {
    let group = Arc::new(GroupCommit::default());
    let (connections, turn) = (Arc::new(connections), Arc::new(AtomicUsize::new(0)));
    handler(move |_, message| {
        let (group, connections, turn) = (group.clone(), connections.clone(), turn.clone());
        async move {
            if message.qos < 1 {
                return;
            }
            group
                .add(message, |messages| {
                    let mut con = connections[turn.fetch_add(1, Ordering::Relaxed) % connections.len()].clone();
                    async move {
                        let mut pipe = redis::pipe();
                        let mut trims: Vec<(Vec<u8>, u64)> = Vec::new();
                        for message in &messages {
                            let (own, set, oldest) = stores(message);
                            add(&mut pipe, &own);
                            match trims.iter_mut().find(|(s, _)| *s == set) {
                                Some((_, o)) => *o = (*o).max(oldest),
                                None => trims.push((set, oldest)),
                            }
                        }
                        for (set, oldest) in trims {
                            add(&mut pipe, &trim(set, oldest));
                        }
                        pipe.exec_async(&mut con).await.expect("pipeline");
                    }
                })
                .await;
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
            ("plain redis-rs, same batching", plain(connections)),
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
