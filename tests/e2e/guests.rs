//! Guests that trap, loop forever or allocate without bound fail only their
//! own call: the broker goes on delivering and persisting.

use std::time::Duration;

use cistern_tests::{configs, publish, Broker, Redis, Store, Subscriber, SubscriberOptions};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");

/// Misbehaving actions on every message, before and after the stock one that stores it.
#[tokio::test(flavor = "multi_thread")]
async fn misbehaving_guests_fail_only_their_own_calls() {
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
cistern.limits.cpu_time = 100ms
cistern.limits.memory = 16MB
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.message.publish.1 = {{"topic": "#", "action": {{"module": "misbehave", "function": "trap"}}, "pool": "pool1"}}
backend.sqlite.hook.message.publish.2 = {{"topic": "#", "action": {{"module": "misbehave", "function": "spin"}}, "pool": "pool1"}}
backend.sqlite.hook.message.publish.3 = {{"topic": "#", "action": {{"module": "misbehave", "function": "hog"}}, "pool": "pool1"}}
backend.sqlite.hook.message.publish.4 = {{"topic": "#", "action": {{"function": "on_message_publish"}}, "pool": "pool1"}}
backend.sqlite.hook.message.publish.5 = {{"topic": "#", "action": {{"module": "misbehave", "function": "fail"}}, "pool": "pool1"}}
backend.sqlite.hook.client.connected.1 = {{"action": {{"module": "misbehave", "function": "trap"}}, "pool": "pool1"}}
"##,
        base = configs::base(),
        guests = configs::guests_dir()
    );
    let mut broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;

    let mut live = Subscriber::start(broker.port, &SubscriberOptions::new("watcher", "bad/#").timeout(60));
    for i in 1..=3 {
        publish(broker.port, "bad-pub", &format!("bad/{i}"), format!("p{i}").as_bytes(), 1, false);
    }
    let got = live.expect(3, Duration::from_secs(20));
    let payloads: Vec<_> = got.iter().map(|r| r.payload.as_str()).collect();
    assert_eq!(payloads, ["p1", "p2", "p3"], "delivery goes on");

    let stored = store.rows("select payload from mqtt_msg order by id", &[]).await;
    assert_eq!(stored.len(), 3, "persisting goes on: {stored:?}");

    let traps = |n: u32| {
        broker.metric(&format!("cistern_action_traps_total{{action=\"backend.sqlite.hook.message.publish.{n}\"}}"))
    };
    assert_eq!(traps(1), 3, "each trap counted");
    assert_eq!(traps(2), 3, "each endless loop stopped by the CPU limit and counted");
    assert_eq!(traps(3), 3, "each runaway allocation stopped by the memory cap and counted");
    assert_eq!(traps(4), 0);
    let failures = broker.metric("cistern_action_failures_total{action=\"backend.sqlite.hook.message.publish.5\"}");
    assert_eq!(failures, 3, "a guest's own error is counted as a failure");

    let log = broker.log();
    assert!(
        log.contains("backend.sqlite.hook.message.publish.2") && log.contains("CPU time"),
        "the loop is logged by name"
    );
    assert!(
        log.contains("backend.sqlite.hook.message.publish.1") && log.contains("guest trapped"),
        "the trap is logged by name"
    );
    assert!(broker.is_running());
}

/// The CPU time a database spends is not the guest's: SQLite runs in the
/// thread that polls the guest's call, and a write that takes it longer than
/// `cpu_time` (here a trigger that counts to two million) stores its row,
/// and nothing traps.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_sqlite_write_does_not_use_the_guests_cpu_time() {
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
cistern.limits.cpu_time = 50ms
cistern.limits.call_timeout = 30s
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.message.publish.1 = {{"topic": "#", "action": {{"module": "misbehave", "function": "trespass"}}, "pool": "pool1", "options": {{"target": "pool1"}}}}
"##,
        base = configs::base(),
        guests = configs::guests_dir()
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table trespass(msgid text primary key)", &[]).await;
    store.execute("create table burnt(n integer)", &[]).await;
    store
        .execute(
            "create trigger burn after insert on trespass begin insert into burnt select count(*) from \
             (with recursive c(x) as (select 1 union all select x + 1 from c where x < 2000000) select x from c); end",
            &[],
        )
        .await;
    let started = std::time::Instant::now();
    publish(broker.port, "patient", "slow/1", b"x", 1, false);
    let rows =
        store.eventually("select cast(n as text) from burnt", &[], Duration::from_secs(30), |r| r.len() == 1).await;
    assert_eq!(rows[0], [Some("2000000".to_string())]);
    assert!(started.elapsed() > Duration::from_millis(50), "the write took less than the CPU limit: no test");
    assert_eq!(store.rows("select msgid from trespass", &[]).await.len(), 1);
    assert_eq!(broker.metric("cistern_action_traps_total{action=\"backend.sqlite.hook.message.publish.1\"}"), 0);
}

/// A guest fetches for a client; it cannot send the client what none of its
/// subscriptions match (`$SYS/...`, another client's topics): those are
/// dropped, logged and counted, and what it did subscribe to arrives.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_cannot_deliver_beyond_the_subscriptions() {
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.session.subscribed.1 = {{"topic": "#", "action": {{"module": "misbehave", "function": "smuggle"}}, "pool": "pool1"}}
"##,
        base = configs::base(),
        guests = configs::guests_dir()
    );
    let broker = Broker::start(BIN, &config);
    let mut sub = Subscriber::start(broker.port, &SubscriberOptions::new("mark", "mine/t").timeout(30));
    let got = sub.collect_for(Duration::from_secs(3));
    let topics: Vec<&str> = got.iter().map(|r| r.topic.as_str()).collect();
    assert_eq!(topics, ["mine/t"], "only what the client subscribed to: {got:?}");
    assert_eq!(got[0].payload, "asked for");
    assert_eq!(broker.metric("cistern_deliveries_refused_total"), 2);
    assert!(broker.log().contains("none of the client's subscriptions match"), "the refusal is logged");
}

/// A custom guest may use only the pool its action names: its `sql` call
/// naming another SQLite pool is denied, counted and logged, and the other
/// database stays empty, while the same call naming its own pool writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_cannot_write_to_another_sql_pool() {
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
backend.sqlite.pool1.database = {{dir}}/own.db
backend.sqlite.pool2.database = {{dir}}/other.db
backend.sqlite.hook.message.publish.1 = {{"topic": "#", "action": {{"module": "misbehave", "function": "trespass"}}, "pool": "pool1", "options": {{"target": "pool2"}}}}
backend.sqlite.hook.message.publish.2 = {{"topic": "#", "action": {{"module": "misbehave", "function": "trespass"}}, "pool": "pool1", "options": {{"target": "pool1"}}}}
backend.sqlite.hook.message.publish.3 = {{"topic": "#", "action": {{"function": "on_message_publish"}}, "pool": "pool2"}}
"##,
        base = configs::base(),
        guests = configs::guests_dir()
    );
    let broker = Broker::start(BIN, &config);
    let own = Store::sqlite(&broker.dir.path().join("own.db")).await;
    let other = Store::sqlite(&broker.dir.path().join("other.db")).await;
    for store in [&own, &other] {
        store.execute("create table trespass(msgid text primary key)", &[]).await;
    }
    for i in 1..=3 {
        publish(broker.port, "intruder", &format!("in/{i}"), b"x", 1, false);
    }
    own.eventually("select msgid from trespass", &[], Duration::from_secs(10), |r| r.len() == 3).await;
    // pool2 is in use (its own action stored the messages), yet the guest's writes never reached it.
    other.eventually("select msgid from mqtt_msg", &[], Duration::from_secs(10), |r| r.len() == 3).await;
    assert!(other.rows("select msgid from trespass", &[]).await.is_empty(), "nothing written to the other pool");

    let denied = |n: u32| {
        broker.metric(&format!("cistern_guest_denied_total{{action=\"backend.sqlite.hook.message.publish.{n}\"}}"))
    };
    assert_eq!(denied(1), 3, "each call naming pool2 denied and counted");
    assert_eq!(denied(2), 0, "naming its own pool is allowed");
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.sqlite.hook.message.publish.1\"}"), 3);
    assert!(broker.log().contains("this action may use pool `pool1` only, not `pool2`"), "the denial is logged");
}

/// The same for `redis`: a guest's command naming another Redis pool (another
/// database number) is denied and counted, and writes nothing there.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_cannot_write_to_another_redis_pool() {
    let own = Redis::for_test(1);
    let other = Redis::for_test(15);
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
{own_pool}{other_pool}backend.redis.hook.message.publish.1 = {{"topic": "#", "action": {{"module": "misbehave", "function": "trespass"}}, "pool": "pool1", "options": {{"target": "pool2"}}}}
backend.redis.hook.message.publish.2 = {{"topic": "#", "action": {{"module": "misbehave", "function": "trespass"}}, "pool": "pool1", "options": {{"target": "pool1"}}}}
"##,
        base = configs::base(),
        guests = configs::guests_dir(),
        own_pool = own.pool_lines("pool1"),
        other_pool = other.pool_lines("pool2"),
    );
    let broker = Broker::start(BIN, &config);
    for i in 1..=3 {
        publish(broker.port, "intruder", &format!("in/{i}"), b"x", 1, false);
    }
    let trespassed = |r: &Redis| r.keys().into_iter().filter(|k| k.starts_with(b"trespass:")).count();
    own.eventually("the allowed writes", Duration::from_secs(10), |r| (trespassed(r) == 3).then_some(()));
    assert_eq!(trespassed(&other), 0, "nothing written to the other pool");
    let denied = |n: u32| {
        broker.metric(&format!("cistern_guest_denied_total{{action=\"backend.redis.hook.message.publish.{n}\"}}"))
    };
    assert_eq!(denied(1), 3, "each command naming pool2 denied and counted");
    assert_eq!(denied(2), 0);
    assert!(broker.log().contains("this action may use pool `pool1` only, not `pool2`"));
}

/// The contract's guard (wit/README.md): a guest built against
/// `cistern:hooks@0.2.0`, kept compiled in tests/fixtures, still loads and
/// writes end to end. A change to wit/ that breaks this was not compatible.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_built_against_0_2_0_still_loads_and_runs() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
    let config = format!(
        r##"{base}
cistern.guests.dir = {fixtures}
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.message.publish.1 = {{"topic": "#", "action": {{"module": "guest_0_2_0", "function": "trespass"}}, "pool": "pool1", "options": {{"target": "pool1"}}}}
"##,
        base = configs::base(),
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table trespass(msgid text primary key)", &[]).await;
    for i in 1..=2 {
        publish(broker.port, "old-guest", &format!("old/{i}"), b"x", 1, false);
    }
    store.eventually("select msgid from trespass", &[], Duration::from_secs(10), |r| r.len() == 2).await;
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.sqlite.hook.message.publish.1\"}"), 0);
}
