//! The seed's scenarios on PostgreSQL, against a database made with
//! `sql/pgsql.sql` as the README says, and some of them again against the
//! seed's own tables, verbatim (`tests/fixtures/seed-pgsql.sql`).

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::databases::TestDb;
use cistern_tests::{configs, Broker, Store};
use scenarios::BIN;

async fn env(setup: scenarios::Setup) -> scenarios::Env {
    scenarios::server_env(TestDb::postgres(), "pgsql", setup).await
}

sql_scenarios!("pgsql");

/// The tables an EMQX 4 user already has: no `node` in `mqtt_msg` and
/// `mqtt_retain`, and the payload in a `text` column.
mod seed_tables {
    use super::scenarios;
    use cistern_tests::databases::{TestDb, SEED_PGSQL};

    async fn env(setup: scenarios::Setup) -> scenarios::Env {
        scenarios::server_env(TestDb::postgres_with(&[SEED_PGSQL]), "pgsql", setup).await
    }

    crate::seed_table_scenarios!();

    /// A payload that is not UTF-8, or holds a NUL, is refused for the seed's
    /// text column, counted, and stored nowhere; the next message is stored.
    #[tokio::test(flavor = "multi_thread")]
    async fn text_payload_refuses_what_is_not_text() {
        let e = env(scenarios::Setup::plain()).await;
        scenarios::text_payload_refuses(&e.broker, &e.store, "pgsql", &[b"\xff\xfe binary", b"nul \0 inside"]).await;
    }
}

/// A database that goes away mid-run and comes back: the message published
/// while it is away is acknowledged only once it is in the outbox (deferred
/// and counted), and it reaches the database, once, when the database is
/// back; what was stored before is still there.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_goes_away_and_comes_back() {
    use std::time::Duration;
    let server = cistern_tests::databases::PrivateServer::postgres();
    let db = server.database(&["pgsql.sql"]);
    let store = Store::connect(&db).await;
    let config = format!("{}{}{}", configs::base(), db.pool_config("pgsql", "pool1"), configs::sql_hooks("pgsql"));
    let broker = Broker::start(BIN, &config);
    let soon = Duration::from_secs(30);

    cistern_tests::publish(broker.port, "outage-pub", "outage/before", b"before", 1, false);
    store.eventually("select payload from mqtt_msg where topic = ?", &["outage/before"], soon, |r| r.len() == 1).await;
    drop(store);

    server.stop();
    cistern_tests::publish(broker.port, "outage-pub", "outage/during", b"during", 1, false);
    let action = "{action=\"backend.pgsql.hook.message.publish.1\"}";
    assert!(broker.metric(&format!("cistern_action_deferred_total{action}")) >= 1, "the message went to the outbox");
    assert_eq!(broker.metric(&format!("cistern_action_pending{action}")), 1, "it waits in the outbox");

    server.start();
    let store = Store::connect(&db).await;
    store.eventually("select payload from mqtt_msg where topic = ?", &["outage/during"], soon, |r| r.len() == 1).await;
    cistern_tests::publish(broker.port, "outage-pub", "outage/after", b"after", 1, false);
    store.eventually("select payload from mqtt_msg where topic = ?", &["outage/after"], soon, |r| r.len() == 1).await;
    let before = store.rows("select payload from mqtt_msg where topic = ?", &["outage/before"]).await;
    assert_eq!(before.len(), 1, "what was stored before the outage is still there");
    assert_eq!(broker.metric(&format!("cistern_action_replayed_total{action}")), 1, "replayed once");
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

/// A table altered while cistern runs (here `mqtt_msg` loses its `node`): the
/// write that meets the change is refused and counted, and the guest asks the
/// table's columns again, so the writes after it are stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_altered_while_running_is_learnt_again() {
    use std::time::{Duration, Instant};
    let e = env(scenarios::Setup::plain()).await;
    cistern_tests::publish(e.broker.port, "alter-pub", "alter/t", b"before", 1, false);
    e.store
        .eventually("select node from mqtt_msg where topic = ?", &["alter/t"], Duration::from_secs(10), |r| {
            r.len() == 1 && r[0][0].is_some()
        })
        .await;
    e.store.execute("alter table mqtt_msg drop column node", &[]).await;

    // Each guest instance learnt the table on its own; each forgets it at its first refusal.
    let started = Instant::now();
    let mut sent = 0;
    loop {
        sent += 1;
        let payload = format!("after {sent}");
        cistern_tests::publish(e.broker.port, "alter-pub", "alter/t", payload.as_bytes(), 1, false);
        let stored = e.store.rows("select count(*) from mqtt_msg where topic = ?", &["alter/t"]).await;
        if stored[0][0].as_deref() == Some("2") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never stored after the change:\n{}", e.broker.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let failures = e.broker.metric("cistern_action_failures_total{action=\"backend.pgsql.hook.message.publish.1\"}");
    assert!(failures >= 1 && failures < sent, "refused {failures} of {sent} after the change");
}

/// Raw `${payload}` is bound as its parameter needs: into a `bytea` column
/// as bytes, UTF-8 or not; into a `text` column as text, and a payload that
/// is not UTF-8 is refused there, with the parameter named, and counted.
#[tokio::test(flavor = "multi_thread")]
async fn raw_payload_takes_its_column_type() {
    use std::time::Duration;
    let db = TestDb::postgres();
    let store = Store::connect(&db).await;
    store.execute("create table raw_bin(topic text, payload bytea)", &[]).await;
    store.execute("create table raw_txt(topic text, payload text)", &[]).await;
    let hooks = "backend.pgsql.hook.message.publish.1 = {\"topic\": \"raw/#\", \"action\": {\"sql\": [\"insert into raw_bin(topic, payload) values(${topic}, ${payload})\"]}, \"pool\": \"pool1\"}\n\
                 backend.pgsql.hook.message.publish.2 = {\"topic\": \"raw/#\", \"action\": {\"sql\": [\"insert into raw_txt(topic, payload) values(${topic}, ${payload})\"]}, \"pool\": \"pool1\"}\n";
    let broker = Broker::start(BIN, &format!("{}{}{hooks}", configs::base(), db.pool_config("pgsql", "pool1")));
    cistern_tests::publish(broker.port, "raw-pub", "raw/text", b"hello", 1, false);
    cistern_tests::publish(broker.port, "raw-pub", "raw/binary", b"\xff\x00\x01", 1, false);
    let soon = Duration::from_secs(10);
    let bin = store
        .eventually("select topic, encode(payload, 'hex') from raw_bin order by topic", &[], soon, |r| r.len() == 2)
        .await;
    assert_eq!(
        bin.iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect::<Vec<_>>(),
        [("raw/binary".to_string(), "ff0001".to_string()), ("raw/text".to_string(), "68656c6c6f".to_string())]
    );
    let txt = store.rows("select topic, payload from raw_txt", &[]).await;
    assert_eq!(txt, [vec![Some("raw/text".to_string()), Some("hello".to_string())]]);
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.pgsql.hook.message.publish.2\"}"), 1);
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.pgsql.hook.message.publish.1\"}"), 0);
    assert!(broker.log().contains("is text in this statement, and the payload is not UTF-8"), "{}", broker.log());
}

/// Results are capped in bytes while they are read (see `sql::MAX_RESULT_BYTES`).
#[tokio::test(flavor = "multi_thread")]
async fn a_result_too_large_is_refused() {
    scenarios::a_result_too_large_is_refused(
        TestDb::postgres(),
        "pgsql",
        "SELECT repeat('x', 1048576) FROM generate_series(1, {n})",
    )
    .await;
}
