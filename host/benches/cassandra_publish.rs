//! `message.publish` persistence throughput on Cassandra: events through
//! cistern (`Runtime::handle`, the stock guest's `on_message_publish`: one
//! INSERT into the seed's `msg` table) against a plain program on the
//! scylla driver executing the same prepared INSERT, with the same number
//! of connections and of messages in flight.
//!
//! A third path executes it through cistern's own pool and operations with
//! no guest, which splits the gap between the Cassandra backend's host code
//! and the wasm boundary.
//!
//! All run in one process against the test command's Cassandra (a keyspace
//! of the benchmark's own), interleaved in rounds, so the machine's noise
//! falls on each alike; medians are printed.
//!
//! Run, with `scripts/services.sh up cassandra` and
//! `eval "$(scripts/services.sh env cassandra)"`:
//! `cargo bench -p cistern --bench cassandra_publish`
//! (`CISTERN_BENCH_MESSAGES` per round, `CISTERN_BENCH_IN_FLIGHT`,
//! `CISTERN_BENCH_POOL_SIZE`).

mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;

use cistern::backends::cassa::operations::{self, Bind};
use cistern::backends::cassa::CassaPool;
use cistern::model::Message;
use cistern_tests::cassandra::Keyspace;
use common::{handler, Handler};
use scylla::client::session_builder::SessionBuilder;
use scylla::client::PoolSize;
use scylla::value::CqlTimestamp;

const ROUNDS: usize = 5;
/// The stock guest's statement (`guests/cassandra/src/stored.rs`).
const INSERT: &str =
    "INSERT INTO msg (topic, msgid, sender, qos, retain, payload, arrived) VALUES (?, ?, ?, ?, ?, ?, ?)";

fn payload(m: &Message) -> &str {
    std::str::from_utf8(&m.payload).expect("a text payload")
}

/// The plain program: one driver session, the statement prepared once.
async fn plain(nodes: &str, keyspace: &str, pool_size: usize) -> Handler {
    let session = SessionBuilder::new()
        .known_nodes(nodes.split(','))
        .pool_size(PoolSize::PerHost(NonZeroUsize::new(pool_size).unwrap()))
        .use_keyspace(keyspace, false)
        .build()
        .await
        .expect("a session");
    let prepared = session.prepare(INSERT).await.expect("prepare");
    let (session, prepared) = (Arc::new(session), Arc::new(prepared));
    handler(move |_, m| {
        let (session, prepared) = (session.clone(), prepared.clone());
        async move {
            let values = (
                &m.topic,
                &m.id,
                &m.sender,
                i32::from(m.qos),
                i32::from(m.retain),
                payload(&m),
                CqlTimestamp(m.timestamp_ms as i64),
            );
            session.execute_unpaged(&prepared, values).await.expect("INSERT");
        }
    })
}

/// cistern's pool and operations, with no guest.
fn host_only(pool: CassaPool) -> Handler {
    handler(move |_, m| {
        let pool = pool.clone();
        async move {
            let values = vec![
                Bind::Text(m.topic.clone()),
                Bind::Text(m.id.clone()),
                Bind::Text(m.sender.clone()),
                Bind::Int(m.qos.into()),
                Bind::Int(m.retain.into()),
                Bind::Text(payload(&m).to_string()),
                Bind::Timestamp(m.timestamp_ms as i64),
            ];
            operations::execute(&pool, INSERT, values).await.expect("INSERT");
        }
    })
}

fn main() {
    let per_round = common::env_or("CISTERN_BENCH_MESSAGES", 5_000);
    let in_flight = common::env_or("CISTERN_BENCH_IN_FLIGHT", 64);
    let pool_size = common::env_or("CISTERN_BENCH_POOL_SIZE", 8);
    let keyspace = Keyspace::create();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let runtime = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "backend.ecql.pool1.nodes = {}\n\
             backend.ecql.pool1.size = {pool_size}\n\
             backend.ecql.pool1.keyspace = {}\n\
             backend.cassa.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
            keyspace.nodes,
            keyspace.name,
        );
        let runtime = common::runtime(&text, dir.path()).await;
        let pool: CassaPool = runtime.loaded().pool_as("cassa", "pool1").expect("the cassandra pool");
        let paths: [(&str, Handler); 3] = [
            ("plain scylla driver", plain(&keyspace.nodes, &keyspace.name, pool_size).await),
            ("cistern pool, no guest", host_only(pool)),
            ("through cistern", common::through_cistern(runtime.clone())),
        ];
        let events = |_, _| common::publishes(&runtime, per_round, 1, "/data", 0);
        let warm_up = (0..3).map(|_| common::publishes(&runtime, 500, 1, "/data", 0)).collect();
        let rates = common::interleaved(&paths, ROUNDS, in_flight, events, warm_up).await;
        common::assert_all_stored(&runtime);
        common::report(&format!("cassandra_publish: QoS 1 message.publish (one INSERT a message), {per_round} messages x {ROUNDS} rounds, {in_flight} in flight, {pool_size} connections"), &paths, &rates);
        runtime
    });
    let rows = keyspace.rows("SELECT count(*) FROM {ks}.msg", ());
    let stored = cistern_tests::cassandra::int(&rows[0][0]).expect("a count") as usize;
    assert_eq!(stored, 3 * 500 + common::path_rounds(3, ROUNDS) * per_round, "every path stored every message, once");
    drop(runtime);
}
