//! The seed's scenarios on PostgreSQL, against a database made with
//! `sql/pgsql.sql` as the README says.

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::databases::TestDb;
use cistern_tests::{configs, Broker, Store};
use scenarios::BIN;

async fn env(setup: scenarios::Setup) -> scenarios::Env {
    scenarios::server_env(TestDb::postgres(), "pgsql", setup).await
}

sql_scenarios!("pgsql");

/// A database that goes away mid-run and comes back: cistern reconnects by
/// itself and stores later messages; what it could not store is logged (with
/// the message's id and topic) and counted, never silently dropped.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_goes_away_and_comes_back() {
    use std::time::Duration;
    let server = cistern_tests::databases::PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let store = Store::connect(&db).await;
    let config = format!("{}{}{}", configs::base(), db.pool_config("pgsql", "pool1"), configs::sql_hooks("pgsql"));
    let broker = Broker::start(BIN, &config);
    let soon = Duration::from_secs(20);

    cistern_tests::publish(broker.port, "outage-pub", "outage/before", b"before", 1, false);
    store.eventually("select payload from mqtt_msg where topic = ?", &["outage/before"], soon, |r| r.len() == 1).await;
    drop(store);

    server.stop();
    cistern_tests::publish(broker.port, "outage-pub", "outage/during", b"during", 1, false);
    let failed = broker.metric("cistern_action_failures_total{action=\"backend.pgsql.hook.message.publish.1\"}");
    assert!(failed >= 1, "the message that could not be stored is counted");
    let log = broker.log();
    assert!(
        log.lines().any(|l| l.contains("action failed") && l.contains("outage/during") && l.contains("msgid=")),
        "the message that could not be stored is logged by id and topic"
    );

    server.start();
    let store = Store::connect(&db).await;
    let started = std::time::Instant::now();
    loop {
        cistern_tests::publish(broker.port, "outage-pub", "outage/after", b"after", 1, false);
        let rows = store.rows("select payload from mqtt_msg where topic = ?", &["outage/after"]).await;
        if !rows.is_empty() {
            break;
        }
        assert!(started.elapsed() < soon, "cistern did not reconnect within {soon:?}:\n{}", broker.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = store.rows("select payload from mqtt_msg where topic = ?", &["outage/before"]).await;
    assert_eq!(before.len(), 1, "what was stored before the outage is still there");
}

/// A database that is down when cistern starts: cistern starts anyway, says
/// so, and stores once the server is there.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_down_at_start_is_connected_when_it_comes() {
    use std::time::Duration;
    let server = cistern_tests::databases::PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    server.stop();
    let config = format!("{}{}{}", configs::base(), db.pool_config("pgsql", "pool1"), configs::sql_hooks("pgsql"));
    let broker = Broker::start(BIN, &config);
    let started = std::time::Instant::now();
    while !broker.log().contains("not reachable yet") {
        assert!(started.elapsed() < Duration::from_secs(15), "no word of the missing server:\n{}", broker.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    server.start();
    let store = Store::connect(&db).await;
    let started = std::time::Instant::now();
    loop {
        cistern_tests::publish(broker.port, "late-pub", "late/t", b"late", 1, false);
        if !store.rows("select payload from mqtt_msg where topic = ?", &["late/t"]).await.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never stored:\n{}", broker.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
