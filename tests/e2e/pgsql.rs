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

/// A publisher's QoS 1 messages in flight are stored side by side, in its
/// order: while its first waits on a lock in the database, its second, for
/// another action, is stored already, and so is another client's message for
/// the first one's action; its third, for that action too, waits for the
/// first (a client's writes through one action keep their order). Nothing
/// is acknowledged before the first is stored, and then all three are, and
/// forwarded, in the order they were sent.
#[tokio::test(flavor = "multi_thread")]
async fn publishes_in_flight_are_stored_side_by_side_in_order() {
    use std::time::Duration;

    use cistern_tests::raw::{Connect, RawClient};

    let db = TestDb::postgres();
    let store = Store::connect(&db).await;
    let mut lock = hold_inserts(&db, &store, "mqtt_msg").await;

    let hooks = "cistern.outbox.write_timeout = 60s\n\
                 backend.pgsql.hook.message.publish.1 = {\"topic\": \"slow/#\", \"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}\n\
                 backend.pgsql.hook.message.publish.2 = {\"topic\": \"fast/#\", \"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}\n";
    let broker = Broker::start(BIN, &format!("{}{}{hooks}", configs::base(), db.pool_config("pgsql", "pool1")));
    let connect = |id: &str| RawClient::connect(broker.port, id, Connect { clean: true, ..Connect::default() }).0;
    let mut subscriber = connect("side-sub");
    subscriber.subscribe(&[("slow/#", 1), ("fast/#", 1)]);
    let mut publisher = connect("side-pub");
    let sent = [
        publisher.send_publish("slow/held", b"first"),
        publisher.send_publish("fast/b", b"second"),
        publisher.send_publish("slow/next", b"third"),
    ];

    let soon = Duration::from_secs(20);
    let stored = |topic: &'static str| {
        let store = &store;
        async move { store.rows("select 1 from mqtt_msg where topic = ?", &[topic]).await.len() }
    };
    store.eventually("select 1 from mqtt_msg where topic = ?", &["fast/b"], soon, |r| r.len() == 1).await;
    cistern_tests::publish(broker.port, "side-other", "slow/other", b"other", 1, false);
    assert_eq!(stored("slow/other").await, 1, "another client's message for the held action is stored");
    assert_eq!(publisher.pubacks(1, Duration::from_millis(500)), Vec::<u16>::new(), "nothing is acknowledged yet");
    assert_eq!(stored("slow/held").await, 0, "the first is held");
    assert_eq!(
        stored("slow/next").await,
        0,
        "the third waits for the first, its client's earlier write to that action"
    );

    sqlx::query("select pg_advisory_unlock(7)").execute(&mut lock).await.expect("the unlock");
    assert_eq!(publisher.pubacks(3, soon), sent, "acknowledged in the order sent");
    let forwarded: Vec<String> = std::iter::from_fn(|| subscriber.receive(soon))
        .map(|m| m.topic)
        .filter(|t| t != "slow/other")
        .take(3)
        .collect();
    assert_eq!(forwarded, ["slow/held", "fast/b", "slow/next"], "forwarded in the order sent");
    let order = store
        .rows("select topic from mqtt_msg where topic like 'slow/%' and topic <> 'slow/other' order by id", &[])
        .await;
    assert_eq!(order, [[Some("slow/held".to_string())], [Some("slow/next".to_string())]], "stored in the order sent");
}

/// Under the seed's hook block, where every publish also meets
/// `on_message_retain` and `on_retain_delete`, a connection's publishes are
/// still stored side by side: those two take batches too (each event in
/// turn), so every action a publish meets keeps the client's order. While
/// the first insert is held, the next publishes wait in their hooks rather
/// than unread; once it goes, they go on together, and are stored,
/// retained and acknowledged in the order sent.
#[tokio::test(flavor = "multi_thread")]
async fn under_the_seed_hooks_retained_publishes_overlap_in_order() {
    use std::time::Duration;

    use cistern_tests::raw::{Connect, RawClient};
    const N: usize = 12;

    let db = TestDb::postgres();
    let store = Store::connect(&db).await;
    let mut lock = hold_inserts(&db, &store, "mqtt_msg").await;
    let hook = |n: usize, function: &str| {
        format!(
            "backend.pgsql.hook.message.publish.{n} = {{\"topic\": \"#\", \"action\": {{\"function\": \"{function}\"}}, \"pool\": \"pool1\"}}\n"
        )
    };
    let hooks = format!(
        "cistern.outbox.write_timeout = 60s\n{}{}{}",
        hook(1, "on_message_publish"),
        hook(2, "on_message_retain"),
        hook(3, "on_retain_delete")
    );
    let broker = Broker::start(BIN, &format!("{}{}{hooks}", configs::base(), db.pool_config("pgsql", "pool1")));
    let (mut publisher, _) = RawClient::connect(broker.port, "retainer", Connect { clean: true, ..Connect::default() });
    let sent: Vec<u16> = (0..N).map(|i| publisher.send_retained("slow/held", i.to_string().as_bytes())).collect();

    let soon = Duration::from_secs(20);
    assert_eq!(publisher.pubacks(1, Duration::from_millis(500)), Vec::<u16>::new(), "nothing is acknowledged yet");
    sqlx::query("select pg_advisory_unlock(7)").execute(&mut lock).await.expect("the unlock");
    assert_eq!(publisher.pubacks(N, soon), sent, "acknowledged in the order sent");

    let stored = store.rows("select payload from mqtt_msg where topic = 'slow/held' order by id", &[]).await;
    let in_order: Vec<Vec<Option<String>>> = (0..N).map(|i| vec![Some(i.to_string())]).collect();
    assert_eq!(stored, in_order, "stored in the order sent");
    let retained = store.rows("select payload from mqtt_retain where topic = 'slow/held'", &[]).await;
    assert_eq!(retained, [[Some((N - 1).to_string())]], "the last one sent stays retained");
    // `on_retain_delete` has nothing to write for these (none is empty), so
    // its calls end too soon to gather; `on_message_retain` writes each.
    for n in 1..=2 {
        let batched = broker
            .metric(&format!("cistern_action_batched_total{{action=\"backend.pgsql.hook.message.publish.{n}\"}}"));
        assert!(batched > 0, "hook {n}: each publish waited for the one before it: none were stored side by side");
    }
}

/// Holds every insert into `table` of a row whose topic is `slow/held`,
/// until the returned connection unlocks advisory lock 7.
async fn hold_inserts(db: &TestDb, store: &Store, table: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    store
        .execute(
            "create function hold_slow() returns trigger language plpgsql as $$ begin \
             if new.topic = 'slow/held' then perform pg_advisory_xact_lock_shared(7); end if; return new; end $$",
            &[],
        )
        .await;
    let trigger =
        format!("create trigger hold_slow before insert on {table} for each row execute function hold_slow()");
    store.execute(&trigger, &[]).await;
    let mut lock = sqlx::PgConnection::connect(&db.url()).await.expect("PostgreSQL");
    sqlx::query("select pg_advisory_lock(7)").execute(&mut lock).await.expect("the lock");
    lock
}

/// A raw action runs its statements on any of the pool's connections, in
/// any order, so a client's publishes that meet one are stored one at a
/// time: while its first waits on a lock, its second, for a stock action
/// that would take it at once, is not stored either. Both are, in order,
/// once the first is.
#[tokio::test(flavor = "multi_thread")]
async fn a_raw_action_stores_a_clients_publishes_one_at_a_time() {
    use std::time::Duration;

    use cistern_tests::raw::{Connect, RawClient};

    let db = TestDb::postgres();
    let store = Store::connect(&db).await;
    store.execute("create table raw_log(topic text, payload bytea)", &[]).await;
    let mut lock = hold_inserts(&db, &store, "raw_log").await;
    let hooks = "cistern.outbox.write_timeout = 60s\n\
                 backend.pgsql.hook.message.publish.1 = {\"topic\": \"slow/#\", \"action\": {\"sql\": [\"insert into raw_log(topic, payload) values(${topic}, ${payload})\"]}, \"pool\": \"pool1\"}\n\
                 backend.pgsql.hook.message.publish.2 = {\"topic\": \"fast/#\", \"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}\n";
    let broker = Broker::start(BIN, &format!("{}{}{hooks}", configs::base(), db.pool_config("pgsql", "pool1")));
    let (mut publisher, _) = RawClient::connect(broker.port, "raw-pub", Connect { clean: true, ..Connect::default() });
    let sent = [publisher.send_publish("slow/held", b"first"), publisher.send_publish("fast/b", b"second")];

    assert_eq!(publisher.pubacks(1, Duration::from_secs(1)), Vec::<u16>::new(), "nothing is acknowledged yet");
    assert!(store.rows("select 1 from mqtt_msg where topic = ?", &["fast/b"]).await.is_empty(), "the second waits");
    sqlx::query("select pg_advisory_unlock(7)").execute(&mut lock).await.expect("the unlock");
    assert_eq!(publisher.pubacks(2, Duration::from_secs(20)), sent, "acknowledged in the order sent");
    assert_eq!(store.rows("select 1 from raw_log where topic = ?", &["slow/held"]).await.len(), 1);
    assert_eq!(store.rows("select 1 from mqtt_msg where topic = ?", &["fast/b"]).await.len(), 1);
}

/// A batch of live messages is written as multi-row inserts; when the
/// database refuses one row of it (here a CHECK constraint), the batch is
/// written again message by message, so only that one is lost: the others
/// are stored, and every publish is answered. Four held inserts take the
/// action's four calls, so the three publishes after them wait and go in
/// one batch.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_refused_in_a_multi_row_batch_fails_alone() {
    use std::time::Duration;

    use cistern_tests::raw::{Connect, RawClient};

    let db = TestDb::postgres();
    let store = Store::connect(&db).await;
    store.execute("alter table mqtt_msg add constraint not_refused check (topic <> 'batch/refused')", &[]).await;
    let mut lock = hold_inserts(&db, &store, "mqtt_msg").await;
    let hooks = "cistern.outbox.write_timeout = 60s\n\
                 backend.pgsql.hook.message.publish.1 = {\"topic\": \"#\", \"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}\n";
    let pool = db.pool_config_sized("pgsql", "pool1", 8);
    let broker = Broker::start(BIN, &format!("{}{pool}{hooks}", configs::base(),));
    let connect = |id: &str| RawClient::connect(broker.port, id, Connect { clean: true, ..Connect::default() }).0;
    let soon = Duration::from_secs(20);

    let mut held: Vec<RawClient> = (0..4).map(|i| connect(&format!("held-{i}"))).collect();
    let held_ids: Vec<u16> = held.iter_mut().map(|c| c.send_publish("slow/held", b"held")).collect();
    let waiting = "select 1 from pg_locks where locktype = 'advisory' and not granted \
                   and database = (select oid from pg_database where datname = current_database())";
    store.eventually(waiting, &[], soon, |r| r.len() == 4).await;

    let mut batch: Vec<(RawClient, u16)> = ["batch/1", "batch/refused", "batch/2"]
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            let mut c = connect(&format!("batch-{i}"));
            let id = c.send_publish(topic, b"in a batch");
            (c, id)
        })
        .collect();
    assert!(store.rows("select 1 from mqtt_msg where topic like 'batch/%'", &[]).await.is_empty(), "they wait");

    sqlx::query("select pg_advisory_unlock(7)").execute(&mut lock).await.expect("the unlock");
    for (c, id) in held.iter_mut().zip(held_ids) {
        assert_eq!(c.pubacks(1, soon), [id], "a held publish is answered");
    }
    for (c, id) in batch.iter_mut() {
        assert_eq!(c.pubacks(1, soon), [*id], "a batched publish is answered");
    }
    let stored = store.rows("select topic from mqtt_msg order by topic", &[]).await;
    let topics: Vec<&str> = stored.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(topics, ["batch/1", "batch/2", "slow/held", "slow/held", "slow/held", "slow/held"]);
    let batched = broker.metric("cistern_action_batched_total{action=\"backend.pgsql.hook.message.publish.1\"}");
    assert!(batched >= 3, "the three went in one batch ({batched} batched)");
}
