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

mod common;

use cistern::backends::mongo::{operations, MongoPool};
use cistern::model::Message;
use cistern_tests::mongo::{FerretServer, Mongo};
use common::{handler, Handler};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};

const ROUNDS: usize = 5;

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
    handler(move |_, message| {
        let collection = collection.clone();
        async move {
            collection.insert_one(document(&message)).await.expect("insert");
        }
    })
}

/// cistern's pool and operations, with no guest.
fn host_only(pool: MongoPool) -> Handler {
    handler(move |_, message| {
        let pool = pool.clone();
        async move {
            assert!(operations::insert_one(&pool, "mqtt_msg", document(&message)).await.expect("insert"));
        }
    })
}

fn main() {
    let per_round = common::env_or("CISTERN_BENCH_MESSAGES", 5_000);
    let in_flight = common::env_or("CISTERN_BENCH_IN_FLIGHT", 64);
    let pool_size = common::env_or("CISTERN_BENCH_POOL_SIZE", 8);
    let server = FerretServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mongo = Mongo::on(server.port, "bench").await;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "backend.mongo.pool1.server = 127.0.0.1:{}\n\
             backend.mongo.pool1.database = {}\n\
             backend.mongo.pool1.c_pool_size = {pool_size}\n\
             backend.mongo.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\", \"payload_format\": \"mongo_json\"}}\n",
            server.port,
            mongo.name,
        );
        let runtime = common::runtime(&text, dir.path()).await;
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
            ("through cistern", common::through_cistern(runtime.clone())),
        ];
        let events = |_, _| common::publishes(&runtime, per_round, 1, "/data", 0);
        let warm_up = (0..3).map(|_| common::publishes(&runtime, 500, 1, "/data", 0)).collect();
        let rates = common::interleaved(&paths, ROUNDS, in_flight, events, warm_up).await;
        common::assert_all_stored(&runtime);
        let stored = client.database(&mongo.name).collection::<Document>("mqtt_msg").count_documents(doc! {}).await;
        let expected = (3 * 500 + common::path_rounds(3, ROUNDS) * per_round) as u64;
        assert_eq!(stored.unwrap(), expected, "every path stored every message, once");

        common::report(&format!("mongo_publish: QoS 1 message.publish, {per_round} messages x {ROUNDS} rounds, {in_flight} in flight, {pool_size} connections"), &paths, &rates);
    });
}
