//! `message.publish` persistence throughput on DynamoDB (dynalite here):
//! events through cistern (`Runtime::handle`, the stock guest's
//! `on_message_publish`: the message's item in `mqtt_msg` and its id added
//! to its topic's set in `mqtt_topic_msg_map`) against a plain program on
//! the AWS SDK making the same two requests per message, with the same
//! number of requests in flight.
//!
//! A third path makes the same requests through cistern's own pool and
//! operations with no guest, which splits the gap between the DynamoDB
//! backend's host code and the wasm boundary.
//!
//! All run in one process against one private dynalite, interleaved in
//! rounds, so the machine's noise falls on each alike; medians are printed.
//!
//! Run: `cargo bench -p cistern --bench dynamo_publish`
//! (`CISTERN_BENCH_MESSAGES` per round, `CISTERN_BENCH_IN_FLIGHT`,
//! `CISTERN_BENCH_POOL_SIZE`).

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use cistern::backends::dynamo::{operations, DynamoPool};
use cistern::model::Message;
use cistern_tests::dynamo::{Dynalite, ACCESS_KEY_ID, REGION, SECRET};
use common::{handler, Handler};
use tokio::sync::Semaphore;

const ROUNDS: usize = 5;

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The item the stock guest stores for `m` (a UTF-8 payload is an S).
fn item(m: &Message) -> Item {
    Item::from([
        ("msgid".into(), s(&m.id)),
        ("topic".into(), s(&m.topic)),
        ("sender".into(), s(&m.sender)),
        ("qos".into(), n(m.qos)),
        ("retain".into(), n(u8::from(m.retain))),
        ("arrived".into(), n(m.timestamp_ms / 1000)),
        ("payload".into(), s(std::str::from_utf8(&m.payload).expect("a text payload"))),
    ])
}

fn topic_key(m: &Message) -> Item {
    Item::from([("topic".into(), s(&m.topic))])
}

fn add_id(m: &Message) -> operations::Expr {
    operations::Expr {
        text: "ADD MsgId :ids".into(),
        names: HashMap::new(),
        values: Item::from([(":ids".into(), AttributeValue::Ss(vec![m.id.clone()]))]),
    }
}

/// The plain program: the SDK's client, `permits` requests in flight at most, as cistern's pool.
fn plain(client: aws_sdk_dynamodb::Client, permits: Arc<Semaphore>) -> Handler {
    handler(move |_, m| {
        let (client, permits) = (client.clone(), permits.clone());
        async move {
            {
                let _p = permits.acquire().await.unwrap();
                client.put_item().table_name("mqtt_msg").set_item(Some(item(&m))).send().await.expect("PutItem");
            }
            let _p = permits.acquire().await.unwrap();
            let e = add_id(&m);
            client
                .update_item()
                .table_name("mqtt_topic_msg_map")
                .set_key(Some(topic_key(&m)))
                .update_expression(e.text)
                .set_expression_attribute_values(Some(e.values))
                .send()
                .await
                .expect("UpdateItem");
        }
    })
}

/// cistern's pool and operations, with no guest.
fn host_only(pool: DynamoPool) -> Handler {
    handler(move |_, m| {
        let pool = pool.clone();
        async move {
            operations::put_item(&pool, "mqtt_msg", item(&m), None).await.expect("PutItem");
            operations::update_item(&pool, "mqtt_topic_msg_map", topic_key(&m), add_id(&m)).await.expect("UpdateItem");
        }
    })
}

fn main() {
    let per_round = common::env_or("CISTERN_BENCH_MESSAGES", 2_000);
    let in_flight = common::env_or("CISTERN_BENCH_IN_FLIGHT", 64);
    let pool_size = common::env_or("CISTERN_BENCH_POOL_SIZE", 8);
    let server = Dynalite::start();
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let runtime = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "backend.dynamo.region = {REGION}\n\
             backend.dynamo.pool1.server = {url}\n\
             backend.dynamo.pool1.pool_size = {pool_size}\n\
             backend.dynamo.pool1.aws_access_key_id = {ACCESS_KEY_ID}\n\
             backend.dynamo.pool1.aws_secret_access_key = {SECRET}\n\
             backend.dynamo.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        );
        let runtime = common::runtime(&text, dir.path()).await;
        let pool: DynamoPool = runtime.loaded().pool_as("dynamo", "pool1").expect("the dynamo pool");
        // The plain program's client: the same kind of HTTP client, with as
        // many idle connections kept, on the same endpoint and credentials.
        let mut http = aws_smithy_http_client::Builder::new();
        http.set_pool_max_idle_per_host(Some(pool_size));
        let sdk = aws_sdk_dynamodb::Config::builder()
            .http_client(http.build_http())
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new(REGION))
            .endpoint_url(&url)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(ACCESS_KEY_ID, SECRET, None, None, "bench"))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(sdk);
        let paths: [(&str, Handler); 3] = [
            ("plain AWS SDK", plain(client, Arc::new(Semaphore::new(pool_size)))),
            ("cistern pool, no guest", host_only(pool)),
            ("through cistern", common::through_cistern(runtime.clone())),
        ];
        // Topics of their own for each path and round: the seed's `mqtt_topic_msg_map`
        // keeps a set of ids per topic, and a set that grew in one run makes the
        // next run's updates dearer, whichever path that is.
        let events = |path, round| common::publishes(&runtime, per_round, 1, &format!("/data-{path}-{round}"), 0);
        let warm_up = (0..3).map(|_| common::publishes(&runtime, 200, 1, "/data", 0)).collect();
        let rates = common::interleaved(&paths, ROUNDS, in_flight, events, warm_up).await;
        common::assert_all_stored(&runtime);
        common::report(&format!("dynamo_publish: QoS 1 message.publish (PutItem + UpdateItem a message), {per_round} messages x {ROUNDS} rounds, {in_flight} in flight, {pool_size} requests in flight"), &paths, &rates);
        runtime
    });
    let stored = server.scan("mqtt_msg").len();
    let expected = 3 * 200 + common::path_rounds(3, ROUNDS) * per_round;
    assert_eq!(stored, expected, "every path stored every message, once");
    drop(runtime);
}
