//! Offline backlogs far longer than a session's queue
//! (`cistern.mqtt.max_mqueue_len`, 1000) reach a new subscriber whole, on the
//! embedded default store (SQLite) and on Redis. In a test binary of their
//! own: each keeps both cores busy for a minute, which would starve the
//! timing of the scenario tests beside it.

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::{backlog_arrives_whole, configs, Broker, Redis, Store};
use scenarios::BIN;

/// A broker with the seed's hooks on a fresh SQLite store.
async fn sqlite() -> (Broker, Store) {
    let broker = Broker::start(BIN, &configs::sqlite());
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    (broker, store)
}

/// 20,000 stored messages of 4 KiB, twenty times the session's queue, reach
/// a new subscriber in pages as it takes them: all, in order, once each.
#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_twenty_times_the_session_queue_arrives_whole() {
    let (broker, store) = sqlite().await;
    scenarios::large_backlog(&broker, &store, 20_000, 4096).await;
}

/// 5,000 stored messages of 16 KiB (80 MB, more than a guest's 64 MiB of
/// memory) reach a new subscriber whole: no page holds them all.
#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_larger_than_the_guests_memory_arrives_whole() {
    let (broker, store) = sqlite().await;
    scenarios::large_backlog(&broker, &store, 5_000, 16 * 1024).await;
}

/// Redis backlogs three times the session's queue, one on a pubsub topic and
/// one on a queue topic, reach a new subscriber in pages: all, in order, once
/// each, nothing dropped from the session's queue.
#[test]
fn redis_backlogs_longer_than_the_session_queue_arrive_whole() {
    let redis = Redis::for_test(15);
    let config =
        configs::redis_example(&redis.server(), redis.db, &format!("cistern_backlog_{}", std::process::id()), &[]);
    let broker = Broker::start(BIN, &config);
    for (topic, client) in [("pubsub/backlog", "backlog-pubsub"), ("queue/backlog", "backlog-queue")] {
        backlog_arrives_whole(broker.port, topic, client, 3_000, 4096);
    }
    assert_eq!(broker.metric("cistern_queue_dropped_total"), 0, "nothing dropped from a session's queue");
}
