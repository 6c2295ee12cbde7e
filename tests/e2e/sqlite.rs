//! The seed's scenarios on the embedded default store, SQLite.

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::configs;
use cistern_tests::{Broker, Store};
use scenarios::BIN;

async fn start(extra: &str) -> (Broker, Store) {
    start_with(&configs::sqlite(), extra).await
}

async fn start_with(config: &str, extra: &str) -> (Broker, Store) {
    let broker = Broker::start(BIN, &format!("{config}{extra}"));
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    (broker, store)
}

/// mqtt_client shows state 1 with online_at, then state 0 with offline_at.
#[tokio::test(flavor = "multi_thread")]
async fn connection_state() {
    let (broker, store) = start("").await;
    scenarios::connection_state(&broker, &store).await;
}

/// Missed QoS 1 messages arrive in order, exactly once, and not after their ack.
#[tokio::test(flavor = "multi_thread")]
async fn offline_one_to_one() {
    let (broker, store) = start("").await;
    scenarios::offline_one_to_one(&broker, &store).await;
}

/// The store carries messages and read positions across broker restarts.
#[tokio::test(flavor = "multi_thread")]
async fn offline_across_restart() {
    let (mut broker, store) = start("").await;
    scenarios::offline_across_restart(&mut broker, &store).await;
}

/// Retained messages reach wildcard subscribers; an empty one deletes.
#[tokio::test(flavor = "multi_thread")]
async fn retained() {
    let (broker, store) = start("").await;
    scenarios::retained(&broker, &store).await;
}

/// mqtt_sub rows subscribe a client that subscribes to nothing of the kind.
#[tokio::test(flavor = "multi_thread")]
async fn subscription_by_broker() {
    let (broker, store) = start("").await;
    scenarios::subscription_by_broker(&broker, &store).await;
}

/// Hostile values are bound, stored verbatim, and harm no table.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_raw_sql() {
    // The raw actions' tables exist before the broker starts, as a user's would.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pre.db");
    let pre = Store::sqlite(&db).await;
    pre.execute("create table raw_log(clientid text, topic text, payload text)", &[]).await;
    pre.execute("create table raw_conn(clientid text)", &[]).await;
    drop(pre);
    let config = format!(
        "{}backend.sqlite.pool1.database = {}\n{}{}",
        configs::base(),
        db.display(),
        configs::sql_hooks("sqlite"),
        scenarios::hostile_hooks("sqlite")
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&db).await;
    scenarios::hostile_raw_sql(&broker, &store).await;
}

/// A returning subscriber gets exactly the 2 oldest messages it missed.
#[tokio::test(flavor = "multi_thread")]
async fn offline_opts_max_returned_count() {
    let fetch = r#", "offline_opts": {"max_returned_count": 2}"#;
    let config = format!(
        "{}backend.sqlite.pool1.database = {{dir}}/cistern.db\n{}",
        configs::base(),
        configs::sql_hooks_with("sqlite", fetch)
    );
    let (broker, store) = start_with(&config, "").await;
    scenarios::max_returned_count(&broker, &store).await;
}

/// Messages older than time_range stay undelivered; the backend-wide default applies.
#[tokio::test(flavor = "multi_thread")]
async fn offline_opts_time_range() {
    let config = format!(
        "{}backend.sqlite.pool1.database = {{dir}}/cistern.db\nbackend.sqlite.time_range = 2s\n{}",
        configs::base(),
        configs::sql_hooks("sqlite")
    );
    let (broker, store) = start_with(&config, "").await;
    scenarios::time_range(&broker, &store).await;
}
