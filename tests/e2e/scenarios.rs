//! The end-to-end scenarios of the seed, written once and run against each
//! SQL backend: real broker, real MQTT clients, assertions on the seed's
//! tables and on what clients receive.
// Each backend's test file includes this module and uses what it needs of it.
#![allow(dead_code)]

use std::time::Duration;

use cistern_tests::{publish, publish_many, Broker, Store, Subscriber, SubscriberOptions};

/// What a scenario needs of its backend's configuration.
pub struct Setup {
    /// Extra configuration lines.
    pub extra: String,
    /// Added to the `on_message_fetch` hook's JSON (e.g. `, "offline_opts": {...}`).
    pub fetch_options: String,
    /// Whether [`RAW_TABLES`] must exist before the broker starts.
    pub raw_tables: bool,
}

impl Setup {
    pub fn plain() -> Setup {
        Setup { extra: String::new(), fetch_options: String::new(), raw_tables: false }
    }
}

/// A broker on a fresh store, and whatever must live as long as it.
pub struct Env {
    pub broker: Broker,
    pub store: Store,
    pub _keep: Box<dyn std::any::Any>,
}

/// A broker with the seed's hooks on a database server's fresh database.
pub async fn server_env(db: cistern_tests::databases::TestDb, backend: &str, setup: Setup) -> Env {
    let store = Store::connect(&db).await;
    if setup.raw_tables {
        for t in RAW_TABLES {
            store.execute(t, &[]).await;
        }
    }
    let config = format!(
        "{}{}{}{}",
        cistern_tests::configs::base(),
        db.pool_config(backend, "pool1"),
        cistern_tests::configs::sql_hooks_with(backend, &setup.fetch_options),
        setup.extra
    );
    let broker = Broker::start(BIN, &config);
    Env { broker, store, _keep: Box::new(db) }
}

/// The tables the raw actions of [`hostile_raw_sql`] and [`raw_sql_parameters`]
/// write to, as plain SQL every dialect takes.
pub const RAW_TABLES: [&str; 5] = [
    "create table raw_log(clientid varchar(255), topic varchar(255), payload text)",
    "create table raw_conn(clientid varchar(255))",
    "create table raw_sub(clientid varchar(255), topic varchar(255), qos integer)",
    "create table raw_delivered(msgid varchar(64), topic varchar(255), clientid varchar(255))",
    "create table raw_acked(msgid varchar(64), topic varchar(255), clientid varchar(255))",
];

/// The seed's scenarios as tests, for a backend file that defines
/// `async fn env(setup: scenarios::Setup) -> scenarios::Env`.
#[macro_export]
macro_rules! sql_scenarios {
    ($db:literal) => {
        /// mqtt_client shows state 1 with online_at, then state 0 with offline_at.
        #[tokio::test(flavor = "multi_thread")]
        async fn connection_state() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::connection_state(&e.broker, &e.store).await;
        }

        /// Missed QoS 1 messages arrive in order, exactly once, and not after their ack.
        #[tokio::test(flavor = "multi_thread")]
        async fn offline_one_to_one() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::offline_one_to_one(&e.broker, &e.store).await;
        }

        /// The store carries messages and read positions across broker restarts.
        #[tokio::test(flavor = "multi_thread")]
        async fn offline_across_restart() {
            let mut e = env(scenarios::Setup::plain()).await;
            scenarios::offline_across_restart(&mut e.broker, &e.store).await;
        }

        /// Publishers with many QoS 1 messages in flight have them acknowledged,
        /// stored and delivered in the order they sent them.
        #[tokio::test(flavor = "multi_thread")]
        async fn publishes_in_flight_keep_their_order() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::publishes_in_flight_keep_their_order(&e.broker, &e.store).await;
        }

        /// Retained messages reach wildcard subscribers; an empty one deletes.
        #[tokio::test(flavor = "multi_thread")]
        async fn retained() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::retained(&e.broker, &e.store).await;
        }

        /// mqtt_sub rows subscribe a client that subscribes to nothing of the kind.
        #[tokio::test(flavor = "multi_thread")]
        async fn subscription_by_broker() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::subscription_by_broker(&e.broker, &e.store).await;
        }

        /// Hostile values are bound, stored verbatim, and harm no table.
        #[tokio::test(flavor = "multi_thread")]
        async fn hostile_raw_sql() {
            let setup = scenarios::Setup {
                extra: scenarios::hostile_hooks($db),
                raw_tables: true,
                ..scenarios::Setup::plain()
            };
            let e = env(setup).await;
            scenarios::hostile_raw_sql(&e.broker, &e.store).await;
        }

        /// Raw SQL on session.subscribed, session.unsubscribed, message.delivered and
        /// message.acked gets the parameters the seed's table lists, bound.
        #[tokio::test(flavor = "multi_thread")]
        async fn raw_sql_parameters() {
            let setup = scenarios::Setup {
                extra: scenarios::parameter_hooks($db),
                raw_tables: true,
                ..scenarios::Setup::plain()
            };
            let e = env(setup).await;
            scenarios::raw_sql_parameters(&e.broker, &e.store).await;
        }

        /// A returning subscriber gets exactly the 2 oldest messages it missed.
        #[tokio::test(flavor = "multi_thread")]
        async fn offline_opts_max_returned_count() {
            let setup = scenarios::Setup {
                fetch_options: r#", "offline_opts": {"max_returned_count": 2}"#.to_string(),
                ..scenarios::Setup::plain()
            };
            let e = env(setup).await;
            scenarios::max_returned_count(&e.broker, &e.store).await;
        }

        /// `max_returned_count: 0` turns the offline fetch off: nothing comes back.
        #[tokio::test(flavor = "multi_thread")]
        async fn offline_opts_max_returned_count_zero() {
            let setup = scenarios::Setup {
                fetch_options: r#", "offline_opts": {"max_returned_count": 0}"#.to_string(),
                ..scenarios::Setup::plain()
            };
            let e = env(setup).await;
            scenarios::max_returned_count_zero(&e.broker, &e.store).await;
        }

        /// Messages older than time_range stay undelivered; the backend-wide default applies.
        #[tokio::test(flavor = "multi_thread")]
        async fn offline_opts_time_range() {
            let setup =
                scenarios::Setup { extra: format!("backend.{}.time_range = 2s\n", $db), ..scenarios::Setup::plain() };
            let e = env(setup).await;
            scenarios::time_range(&e.broker, &e.store).await;
        }
    };
}

/// The scenarios that show the stock functions on a database made from the
/// seed's own tables (`tests/fixtures/seed-*.sql`), for a backend file's
/// module that defines `env` as [`sql_scenarios`] wants it. A few, not all:
/// one per table and per stock read (the others exercise options, restarts
/// and raw SQL, which do not depend on the tables' shape), to keep the run short.
#[macro_export]
macro_rules! seed_table_scenarios {
    () => {
        /// On the seed's tables: mqtt_client shows state 1 with online_at, then state 0 with offline_at.
        #[tokio::test(flavor = "multi_thread")]
        async fn connection_state() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::connection_state(&e.broker, &e.store).await;
        }

        /// On the seed's tables: missed QoS 1 messages are stored once each and read back in order.
        #[tokio::test(flavor = "multi_thread")]
        async fn offline_one_to_one() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::offline_one_to_one(&e.broker, &e.store).await;
        }

        /// On the seed's tables: retained messages are stored, looked up, and deleted.
        #[tokio::test(flavor = "multi_thread")]
        async fn retained() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::retained(&e.broker, &e.store).await;
        }

        /// On the seed's tables: mqtt_sub rows subscribe their client.
        #[tokio::test(flavor = "multi_thread")]
        async fn subscription_by_broker() {
            let e = env(scenarios::Setup::plain()).await;
            scenarios::subscription_by_broker(&e.broker, &e.store).await;
        }
    };
}

pub const BIN: &str = env!("CARGO_BIN_EXE_cistern");

/// How long a scenario waits for something that should happen.
const SOON: Duration = Duration::from_secs(10);
/// How long it listens to show that something does not happen.
const QUIET: Duration = Duration::from_secs(2);

fn payloads(received: &[cistern_tests::Received]) -> Vec<String> {
    received.iter().map(|r| r.payload.clone()).collect()
}

/// A client's row in mqtt_client is state 1 with online_at while it is
/// connected, then state 0 with offline_at once it has gone.
pub async fn connection_state(broker: &Broker, store: &Store) {
    let sub = Subscriber::start(broker.port, &SubscriberOptions::new("conn-state", "conn/x").timeout(30));
    let online = store
        .eventually(
            "select state, online_at, offline_at from mqtt_client where clientid = ?",
            &["conn-state"],
            SOON,
            |r| r.len() == 1,
        )
        .await;
    assert_eq!(online[0][0].as_deref(), Some("1"), "state while connected: {online:?}");
    assert!(online[0][1].is_some(), "online_at is set: {online:?}");
    assert_eq!(online[0][2], None, "offline_at is empty while connected: {online:?}");

    sub.kill();
    let offline = store
        .eventually(
            "select state, online_at, offline_at from mqtt_client where clientid = ?",
            &["conn-state"],
            SOON,
            |r| r.len() == 1 && r[0][0].as_deref() == Some("0"),
        )
        .await;
    assert_eq!(offline[0][1], online[0][1], "online_at stays as it was");
    assert!(offline[0][2].is_some(), "offline_at is set: {offline:?}");
}

/// QoS 1 messages published while a persistent subscriber is away reach it
/// when it comes back, in order, exactly once; once acknowledged, never again.
pub async fn offline_one_to_one(broker: &Broker, store: &Store) {
    let opts = SubscriberOptions::new("away-sub", "away/t").persistent();
    Subscriber::start(broker.port, &opts).kill();

    let sent: Vec<String> = (1..=5).map(|i| format!("m{i}")).collect();
    for m in &sent {
        publish(broker.port, "away-pub", "away/t", m.as_bytes(), 1, false);
    }

    let mut back = Subscriber::start(broker.port, &opts.clone().timeout(30));
    let got = back.expect(5, SOON);
    assert_eq!(payloads(&got), sent, "the missed messages, in order, once each");

    let stored = store.rows("select payload from mqtt_msg where topic = ? order by id", &["away/t"]).await;
    assert_eq!(stored.len(), 5, "each message stored once: {stored:?}");
    // The client acknowledges as it receives; it stays connected until the
    // broker has taken the last acknowledgement (the read position is m5).
    // (A client that hangs up at once may reset the connection before the
    // broker reads its last PUBACKs; MQTT then delivers those again.)
    store
        .eventually(
            "select m.payload from mqtt_acked a join mqtt_msg m on m.id = a.mid where a.clientid = ? and a.topic = ?",
            &["away-sub", "away/t"],
            SOON,
            |r| r.len() == 1 && r[0][0].as_deref() == Some("m5"),
        )
        .await;
    let late = back.collect_for(Duration::from_millis(200));
    assert_eq!(late.len(), 5, "nothing after the five: {late:?}");
    back.kill();
    let again = Subscriber::start(broker.port, &opts.clone()).collect_for(QUIET);
    assert!(again.is_empty(), "acknowledged messages came again: {again:?}");
}

/// Two publishers that each keep 200 QoS 1 messages in flight, without
/// waiting for a PUBACK (the broker stores up to
/// `cistern.mqtt.publishes_in_flight` of a connection's at once): each gets
/// its PUBACKs in the order it sent, its messages are stored in that order
/// (what a fetch reads, `ORDER BY id`), and a subscriber receives them in it.
pub async fn publishes_in_flight_keep_their_order(broker: &Broker, store: &Store) {
    use cistern_tests::raw::{Connect, RawClient};
    const N: usize = 200;
    let connect = |id: &str| RawClient::connect(broker.port, id, Connect { clean: true, ..Connect::default() }).0;
    let mut subscriber = connect("burst-sub");
    subscriber.subscribe(&[("burst/#", 1)]);
    let mut publishers = [connect("burst-0"), connect("burst-1")];
    let mut sent: [Vec<u16>; 2] = Default::default();
    for i in 0..N {
        for (p, publisher) in publishers.iter_mut().enumerate() {
            sent[p].push(publisher.send_publish(&format!("burst/{p}"), i.to_string().as_bytes()));
        }
    }
    let in_order: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    for (p, publisher) in publishers.iter_mut().enumerate() {
        assert_eq!(publisher.pubacks(N, SOON * 3), sent[p], "publisher {p}'s PUBACKs, in the order it sent");
        let stored =
            store.rows("select payload from mqtt_msg where topic = ? order by id", &[&format!("burst/{p}")]).await;
        let stored: Vec<String> = stored.into_iter().map(|r| r[0].clone().unwrap_or_default()).collect();
        assert_eq!(stored, in_order, "publisher {p}'s messages, stored in the order it sent");
    }
    let mut received: [Vec<String>; 2] = Default::default();
    while received.iter().map(Vec::len).sum::<usize>() < 2 * N {
        let Some(m) = subscriber.receive(SOON) else { break };
        subscriber.ack(&m);
        let p: usize = m.topic["burst/".len()..].parse().expect("a burst topic");
        received[p].push(String::from_utf8(m.payload).unwrap());
    }
    for (p, got) in received.iter().enumerate() {
        assert_eq!(got, &in_order, "publisher {p}'s messages, delivered in the order it sent");
    }
}

/// The store alone carries a persistent subscriber's messages across a
/// broker restart, and its acknowledgements too.
pub async fn offline_across_restart(broker: &mut Broker, store: &Store) {
    let opts = SubscriberOptions::new("restart-sub", "restart/#").persistent();
    Subscriber::start(broker.port, &opts).kill();
    let sent: Vec<String> = (1..=4).map(|i| format!("r{i}")).collect();
    for (i, m) in sent.iter().enumerate() {
        publish(broker.port, "restart-pub", &format!("restart/{}", i % 2), m.as_bytes(), 1, false);
    }

    broker.restart();
    let mut back = Subscriber::start(broker.port, &opts.clone().timeout(30));
    let got = back.expect(4, SOON);
    assert_eq!(payloads(&got), sent, "everything missed, from the store, in order");
    // The client acknowledges as it receives; wait until the store has both positions.
    store
        .eventually(
            "select m.payload from mqtt_acked a join mqtt_msg m on m.id = a.mid where a.clientid = ? order by m.id",
            &["restart-sub"],
            SOON,
            |r| r.len() == 2 && r[1][0].as_deref() == Some("r4"),
        )
        .await;
    back.kill();

    broker.restart();
    let again = Subscriber::start(broker.port, &opts).collect_for(QUIET);
    assert!(again.is_empty(), "acknowledged messages came again after a restart: {again:?}");
}

/// A retained message reaches a new subscriber whose filter has a wildcard;
/// an empty retained publish removes it and the next subscriber gets nothing.
pub async fn retained(broker: &Broker, store: &Store) {
    publish(broker.port, "ret-pub", "sensors/kitchen/temp", b"21.5", 0, true);
    let row = store
        .eventually("select payload, sender from mqtt_retain where topic = ?", &["sensors/kitchen/temp"], SOON, |r| {
            !r.is_empty()
        })
        .await;
    assert_eq!(row[0], [Some("21.5".to_string()), Some("ret-pub".to_string())]);

    let got = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-1", "sensors/+/temp").count(1)).finish();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].topic, "sensors/kitchen/temp");
    assert_eq!(got[0].payload, "21.5");
    assert!(got[0].retained, "delivered as retained");

    publish(broker.port, "ret-pub", "sensors/kitchen/temp", b"", 0, true);
    store
        .eventually("select topic from mqtt_retain where topic = ?", &["sensors/kitchen/temp"], SOON, |r| r.is_empty())
        .await;
    let none = Subscriber::start(broker.port, &SubscriberOptions::new("ret-sub-2", "sensors/#")).collect_for(QUIET);
    assert!(none.is_empty(), "a deleted retained message came: {none:?}");
}

/// Rows in mqtt_sub subscribe their client when it connects, though it
/// subscribes to nothing of the kind itself.
pub async fn subscription_by_broker(broker: &Broker, store: &Store) {
    store.execute("insert into mqtt_sub(clientid, topic, qos) values(?, ?, 1)", &["sbb-x", "sbb/news"]).await;
    store.execute("insert into mqtt_sub(clientid, topic, qos) values(?, ?, 0)", &["sbb-x", "sbb/alerts/+"]).await;
    let mut x = Subscriber::start(broker.port, &SubscriberOptions::new("sbb-x", "sbb/unrelated").timeout(30));
    // Let the broker add the stored subscriptions, which it does right after the connection.
    std::thread::sleep(Duration::from_millis(500));
    publish(broker.port, "sbb-pub", "sbb/news", b"extra", 1, false);
    publish(broker.port, "sbb-pub", "sbb/alerts/fire", b"evacuate", 0, false);
    let got = x.expect(2, SOON);
    let mut seen: Vec<(String, String)> = got.iter().map(|r| (r.topic.clone(), r.payload.clone())).collect();
    seen.sort();
    assert_eq!(
        seen,
        [("sbb/alerts/fire".to_string(), "evacuate".to_string()), ("sbb/news".to_string(), "extra".to_string())]
    );
}

/// Hostile client ids, topics and payloads reach the database as bound
/// values: stored verbatim, and every table is still there.
pub async fn hostile_raw_sql(broker: &Broker, store: &Store) {
    let client = "x'); DROP TABLE mqtt_msg; --";
    let topic = "hostile/'); DROP TABLE mqtt_retain; --/\"q\"";
    let payload = "'); DELETE FROM mqtt_client; --";
    publish(broker.port, client, topic, payload.as_bytes(), 1, false);

    let logged = store.eventually("select clientid, topic, payload from raw_log", &[], SOON, |r| !r.is_empty()).await;
    assert_eq!(logged, [[Some(client.to_string()), Some(topic.to_string()), Some(payload.to_string())]]);
    let conn = store.eventually("select clientid from raw_conn", &[], SOON, |r| !r.is_empty()).await;
    assert_eq!(conn, [[Some(client.to_string())]], "a quoted placeholder is bound all the same");
    let stored = store.rows("select sender, topic, payload from mqtt_msg where sender = ?", &[client]).await;
    assert_eq!(stored, [[Some(client.to_string()), Some(topic.to_string()), Some(payload.to_string())]]);
    let tables = store.tables().await;
    for t in ["mqtt_acked", "mqtt_client", "mqtt_msg", "mqtt_retain", "mqtt_sub"] {
        assert!(tables.iter().any(|have| have == t), "table {t} is gone: {tables:?}");
    }
    let clients = store.rows("select count(*) from mqtt_client", &[]).await;
    assert_ne!(clients[0][0].as_deref(), Some("0"), "mqtt_client was emptied");
}

/// The raw SQL hooks the hostile scenario adds to a backend's configuration.
pub fn hostile_hooks(db: &str) -> String {
    format!(
        r##"
backend.{db}.hook.message.publish.9   = {{"topic": "#", "action": {{"sql": ["insert into raw_log(clientid, topic, payload) values(${{clientid}}, ${{topic}}, ${{payload}})"]}}, "pool": "pool1"}}
backend.{db}.hook.client.connected.9  = {{"action": {{"sql": ["insert into raw_conn(clientid) values('${{clientid}}')"]}}, "pool": "pool1"}}
"##
    )
}

/// A subscriber with a read position that comes back as a new session, so
/// the store (not the broker's session) supplies what it missed.
async fn returning_subscriber(broker: &Broker, store: &Store, client: &str, topic: &str) {
    let mut first = Subscriber::start(broker.port, &SubscriberOptions::new(client, topic).timeout(30));
    publish(broker.port, "opts-pub", topic, b"seen", 1, false);
    assert_eq!(payloads(&first.expect(1, SOON)), ["seen"]);
    store.eventually("select mid from mqtt_acked where clientid = ?", &[client], SOON, |r| r.len() == 1).await;
    first.kill();
}

/// `offline_opts.max_returned_count = 2`: a returning subscriber gets exactly
/// the 2 oldest messages it has not acknowledged.
pub async fn max_returned_count(broker: &Broker, store: &Store) {
    returning_subscriber(broker, store, "count-sub", "count/t").await;
    for i in 1..=5 {
        publish(broker.port, "opts-pub", "count/t", format!("c{i}").as_bytes(), 1, false);
    }
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("count-sub", "count/t")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["c1", "c2"], "the two oldest unacknowledged, no more");
}

/// `offline_opts.max_returned_count = 0`: a returning subscriber gets none of
/// what it missed, though it is stored (with the one it saw, four).
pub async fn max_returned_count_zero(broker: &Broker, store: &Store) {
    returning_subscriber(broker, store, "zero-sub", "zero/t").await;
    for i in 1..=3 {
        publish(broker.port, "opts-pub", "zero/t", format!("z{i}").as_bytes(), 1, false);
    }
    store
        .eventually("SELECT count(*) FROM mqtt_msg WHERE topic = ?", &["zero/t"], Duration::from_secs(10), |rows| {
            rows.first().and_then(|r| r[0].clone()).as_deref() == Some("4")
        })
        .await;
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("zero-sub", "zero/t")).collect_for(QUIET);
    assert!(got.is_empty(), "no offline message with max_returned_count 0: {:?}", payloads(&got));
}

/// `offline_opts.time_range = 2s`: messages older than that are not delivered.
pub async fn time_range(broker: &Broker, store: &Store) {
    returning_subscriber(broker, store, "range-sub", "range/t").await;
    publish(broker.port, "opts-pub", "range/t", b"old1", 1, false);
    publish(broker.port, "opts-pub", "range/t", b"old2", 1, false);
    std::thread::sleep(Duration::from_millis(3500));
    publish(broker.port, "opts-pub", "range/t", b"new1", 1, false);
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("range-sub", "range/t")).collect_for(QUIET);
    assert_eq!(payloads(&got), ["new1"], "only what is younger than 2s");
}

/// Raw SQL hooks on every hook point that has parameters beyond the client's.
pub fn parameter_hooks(db: &str) -> String {
    format!(
        r##"
backend.{db}.hook.session.subscribed.8   = {{"topic": "params/#", "action": {{"sql": ["insert into raw_sub(clientid, topic, qos) values(${{clientid}}, ${{topic}}, ${{qos}})"]}}, "pool": "pool1"}}
backend.{db}.hook.session.unsubscribed.8 = {{"topic": "params/#", "action": {{"sql": ["delete from raw_sub where clientid = ${{clientid}} and topic = ${{topic}}"]}}, "pool": "pool1"}}
backend.{db}.hook.message.delivered.8    = {{"topic": "params/#", "action": {{"sql": ["insert into raw_delivered(msgid, topic, clientid) values(${{msgid}}, ${{topic}}, ${{clientid}})"]}}, "pool": "pool1"}}
backend.{db}.hook.message.acked.8        = {{"topic": "params/#", "action": {{"sql": ["insert into raw_acked(msgid, topic, clientid) values(${{msgid}}, ${{topic}}, ${{clientid}})"]}}, "pool": "pool1"}}
"##
    )
}

/// What the raw actions of [`parameter_hooks`] write: subscriptions kept and
/// removed, and the stored message's own id on delivery and on acknowledgement.
pub async fn raw_sql_parameters(broker: &Broker, store: &Store) {
    let mut opts = SubscriberOptions::new("params-sub", "params/a").timeout(30);
    opts.topics.push("params/b".into());
    opts.qos = 1;
    let mut sub = Subscriber::start(broker.port, &opts);
    let subs = store
        .eventually("select topic, qos from raw_sub where clientid = ? order by topic", &["params-sub"], SOON, |r| {
            r.len() == 2
        })
        .await;
    assert_eq!(subs, [[Some("params/a".into()), Some("1".into())], [Some("params/b".into()), Some("1".into())]]);

    publish(broker.port, "params-pub", "params/a", b"hello", 1, false);
    assert_eq!(payloads(&sub.expect(1, SOON)), ["hello"]);
    let msgid = store
        .eventually("select msgid from mqtt_msg where topic = ?", &["params/a"], SOON, |r| r.len() == 1)
        .await[0][0]
        .clone();
    let delivered =
        store.eventually("select msgid, topic, clientid from raw_delivered", &[], SOON, |r| r.len() == 1).await;
    assert_eq!(
        delivered,
        [[msgid.clone(), Some("params/a".into()), Some("params-sub".into())]],
        "delivered: the stored id"
    );
    let acked = store.eventually("select msgid, topic, clientid from raw_acked", &[], SOON, |r| r.len() == 1).await;
    assert_eq!(acked, [[msgid, Some("params/a".into()), Some("params-sub".into())]], "acknowledged: the stored id");
    sub.kill();

    // mosquitto_sub -U unsubscribes right after subscribing.
    let mut unsub = SubscriberOptions::new("params-sub", "params/a").timeout(30);
    unsub.topics.push("params/b".into());
    let mut sub = Subscriber::start_with(broker.port, &unsub, &["-U", "params/b"]);
    let left = store
        .eventually("select distinct topic from raw_sub where clientid = ?", &["params-sub"], SOON, |r| r.len() == 1)
        .await;
    assert_eq!(left, [[Some("params/a".to_string())]], "the unsubscribed topic is deleted");
    sub.collect_for(Duration::from_millis(100));
}

/// With a text payload column (the seed's PostgreSQL tables), each payload of
/// `refused` (not UTF-8, or not text the column can hold) is refused by
/// `on_message_publish` and `on_message_retain`: counted as failed, not
/// deferred, logged with its topic and the column, and stored nowhere; the
/// message after it is stored.
pub async fn text_payload_refuses(broker: &Broker, store: &Store, db: &str, refused: &[&[u8]]) {
    let failures = |n: u8| {
        broker.metric(&format!("cistern_action_failures_total{{action=\"backend.{db}.hook.message.publish.{n}\"}}"))
    };
    for (i, payload) in refused.iter().enumerate() {
        publish(broker.port, "text-pub", "text/t", payload, 1, true);
        let started = std::time::Instant::now();
        while failures(1) < i as u64 + 1 || failures(2) < i as u64 + 1 {
            assert!(started.elapsed() < SOON, "refusal {i} not counted:\n{}", broker.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    publish(broker.port, "text-pub", "text/t", "after: 21.5 °C".as_bytes(), 1, true);
    let after = Some("after: 21.5 °C".to_string());
    store
        .eventually("select payload from mqtt_msg where topic = ?", &["text/t"], SOON, |r| r == [[after.clone()]])
        .await;
    store
        .eventually("select payload from mqtt_retain where topic = ?", &["text/t"], SOON, |r| r == [[after.clone()]])
        .await;
    assert_eq!((failures(1), failures(2)), (refused.len() as u64, refused.len() as u64), "each refused once, no more");
    for n in 1..=2 {
        let deferred = broker
            .metric(&format!("cistern_action_deferred_total{{action=\"backend.{db}.hook.message.publish.{n}\"}}"));
        assert_eq!(deferred, 0, "a refused payload is not deferred");
    }
    let log = broker.log();
    assert!(log.contains("its payload is not UTF-8"), "the refusal says why:\n{log}");
    for column in ["mqtt_msg.payload is a text column", "mqtt_retain.payload is a text column"] {
        assert!(log.contains(column) && log.contains("on topic \"text/t\""), "the refusal names {column}:\n{log}");
    }
}

/// A backlog far longer than a session's queue (`cistern.mqtt.max_mqueue_len`,
/// 1000) reaches a new subscriber whole: each message once, in the order the
/// store holds them, with nothing dropped from the session's queue. (SQLite:
/// the payload's head is read back with `substr`.)
pub async fn large_backlog(broker: &Broker, store: &Store, count: usize, size: usize) {
    let topic = format!("backlog/{size}");
    publish_many(broker.port, "backlog-pub", &topic, count, size, 4);
    // Acknowledged means committed or in the outbox: on a loaded machine a
    // slow commit sends some to the outbox, which replays them shortly.
    let counted = Duration::from_secs(60);
    let count_text = count.to_string();
    let all = store
        .eventually("select count(*) from mqtt_msg where topic = ?", &[&topic], counted, |r| {
            r.first().and_then(|r| r[0].as_deref()) == Some(count_text.as_str())
        })
        .await;
    assert_eq!(all, [[Some(count_text.clone())]], "every acknowledged message is stored");
    let stored = store.rows("select substr(payload, 1, 8) from mqtt_msg where topic = ? order by id", &[&topic]).await;
    let stored: Vec<String> = stored.into_iter().map(|r| r[0].clone().unwrap_or_default()).collect();
    assert_eq!(stored.len(), count, "every acknowledged message is stored");

    let mut sub = Subscriber::start(broker.port, &SubscriberOptions::new("backlog-sub", &topic).timeout(300));
    let got = sub.expect(count, Duration::from_secs(180));
    let heads: Vec<String> = got.iter().map(|r| r.payload.chars().take(8).collect()).collect();
    assert_eq!(heads.len(), count, "the whole backlog arrives ({} of {count})", heads.len());
    assert!(got.iter().all(|r| r.payload.len() == size), "each payload whole");
    assert!(heads == stored, "in the store's order, once each");
    let late = sub.collect_for(QUIET);
    assert_eq!(late.len(), count, "nothing more after the backlog");
    assert_eq!(broker.metric("cistern_queue_dropped_total"), 0, "nothing dropped from the session's queue");
}

/// A query whose result passes 32 MiB (40 rows of 1 MiB, made by the
/// server) is given up with an error that says so, on the broker's own
/// pool; 30 of those rows come whole.
pub async fn a_result_too_large_is_refused(db: cistern_tests::databases::TestDb, backend: &str, rows: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config =
        cistern::config::Config::from_text("size.conf", &db.pool_config(backend, "pool1"), dir.path()).expect("config");
    let runtime = cistern::runtime::Runtime::with_config(config, None).await.expect("runtime");
    let pool: cistern::backends::SqlPool = runtime.loaded().pool_as(backend, "pool1").expect("the pool");
    let big = pool.query(&rows.replace("{n}", "40"), vec![]).await.unwrap_err();
    assert!(big.to_string().contains("more than 32 MiB (after 33 rows); page it with LIMIT"), "{big}");
    let fits = pool.query(&rows.replace("{n}", "30"), vec![]).await.expect("30 MiB fit");
    assert_eq!(fits.len(), 30);
    assert!(fits.iter().all(|r| matches!(&r[0], cistern::backends::SqlValue::Text(t) if t.len() == 1 << 20)));
}
