//! The seed's scenarios on the embedded default store, SQLite.

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::{configs, Broker, Store};
use scenarios::BIN;

async fn env(setup: scenarios::Setup) -> scenarios::Env {
    // The store exists before the broker starts, as a user's tables would.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cistern.db");
    if setup.raw_tables {
        let pre = Store::sqlite(&db).await;
        for t in scenarios::RAW_TABLES {
            pre.execute(t, &[]).await;
        }
    }
    let config = format!(
        "{}backend.sqlite.pool1.database = {}\n{}{}",
        configs::base(),
        db.display(),
        configs::sql_hooks_with("sqlite", &setup.fetch_options),
        setup.extra
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&db).await;
    scenarios::Env { broker, store, _keep: Box::new(dir) }
}

sql_scenarios!("sqlite");

/// A store whose tables were made before cistern's (here `mqtt_msg` and
/// `mqtt_retain` as the seed's PostgreSQL ones: no `node`, a text payload) is
/// written as it is: what is not UTF-8 is refused and counted, the next is stored.
#[tokio::test(flavor = "multi_thread")]
async fn tables_of_another_shape_are_written_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cistern.db");
    let pre = Store::sqlite(&db).await;
    pre.execute(
        "CREATE TABLE mqtt_msg (id INTEGER PRIMARY KEY AUTOINCREMENT, msgid varchar(60), sender varchar(100), \
         topic varchar(200), qos integer, retain integer, payload text, arrived timestamp)",
        &[],
    )
    .await;
    pre.execute(
        "CREATE TABLE mqtt_retain (id INTEGER PRIMARY KEY AUTOINCREMENT, topic varchar(200) UNIQUE, \
         msgid varchar(60), sender varchar(100), qos integer, payload text, arrived timestamp)",
        &[],
    )
    .await;
    drop(pre);
    let config = format!(
        "{}backend.sqlite.pool1.database = {}\n{}",
        configs::base(),
        db.display(),
        configs::sql_hooks("sqlite")
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&db).await;
    scenarios::text_payload_refuses(&broker, &store, "sqlite", &[b"\xff\xfe binary"]).await;
}

/// A subscriber arriving while messages are being published gets each
/// stored message once: those published after its subscription is in place
/// come live, and the fetch from the store leaves them out.
#[test]
fn a_subscription_made_during_publishing_gets_each_message_once() {
    use cistern_tests::raw::{Connect, RawClient};
    use std::time::Duration;
    let broker = Broker::start(BIN, &configs::sqlite());
    let port = broker.port;
    let sent: Vec<String> = (0..400).map(|i| format!("m{i}")).collect();
    let publishing = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            let (mut p, _) = RawClient::connect(port, "dd-pub", Connect { clean: true, ..Connect::default() });
            for payload in &sent {
                p.publish("dd/t", payload.as_bytes(), 1, false);
            }
            p.disconnect();
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let (mut sub, _) = RawClient::connect(port, "dd-sub", Connect { clean: true, ..Connect::default() });
    sub.subscribe(&[("dd/t", 1)]);
    let mut got = Vec::new();
    while !publishing.is_finished() {
        got.extend(sub.collect(Duration::from_millis(200)));
    }
    publishing.join().unwrap();
    got.extend(sub.collect(Duration::from_millis(1500)));
    let mut counts = std::collections::BTreeMap::new();
    for m in &got {
        *counts.entry(String::from_utf8_lossy(&m.payload).into_owned()).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).map(|(p, _)| p.clone()).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<_> = sent.iter().filter(|p| !counts.contains_key(*p)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
}

/// A subscription to `a/#` gets what was stored on `a` itself (the parent
/// level `#` matches), though the fetch narrows its scan by the filter's
/// literal prefix (found by the `topic` fuzz target: the prefix was `a/`).
#[test]
fn a_multi_level_wildcard_fetches_its_parent_level() {
    use cistern_tests::{publish, Subscriber, SubscriberOptions};
    let broker = Broker::start(BIN, &configs::sqlite());
    publish(broker.port, "lp-pub", "lp", b"parent", 1, false);
    publish(broker.port, "lp-pub", "lp/child", b"child", 1, false);
    let got = Subscriber::start(broker.port, &SubscriberOptions::new("lp-sub", "lp/#").count(2)).finish();
    let mut payloads: Vec<String> = got.iter().map(|r| r.payload.clone()).collect();
    payloads.sort();
    assert_eq!(payloads, ["child", "parent"], "both stored messages, the parent level's included");
}

/// `/health` and `/metrics` over HTTP/1.1 as a scraper speaks it: two
/// requests on one kept-alive connection, then one asking to close; an
/// unknown path is 404 and anything but GET is 405.
#[tokio::test(flavor = "multi_thread")]
async fn the_http_listener_speaks_http_1_1() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{}backend.sqlite.pool1.database = {}\n", configs::base(), dir.path().join("c.db").display());
    let broker = Broker::start(BIN, &config);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", broker.http_port)).expect("HTTP listener");
    let get = |path: &str, close: bool| {
        let connection = if close { "connection: close\r\n" } else { "" };
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n{connection}\r\n")
    };
    let requests = get("/health", false) + &get("/nowhere", false) + &get("/metrics", true);
    s.write_all(requests.as_bytes()).unwrap();
    let mut answers = String::new();
    s.read_to_string(&mut answers).unwrap();
    let statuses: Vec<&str> = answers.lines().filter(|l| l.starts_with("HTTP/1.1 ")).collect();
    assert_eq!(statuses, ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"], "{answers}");
    assert!(answers.contains("\r\n\r\nok\n"), "{answers}");
    assert!(answers.contains("cistern_outbox_"), "the metrics: {answers}");

    let mut s = std::net::TcpStream::connect(("127.0.0.1", broker.http_port)).expect("HTTP listener");
    s.write_all(b"POST /metrics HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405 Method Not Allowed"), "{answer}");
}

/// `cistern.mqtt.max_packet_size` (EMQX's `mqtt.max_packet_size`) lets a
/// 3 MiB payload in, and it is stored whole; past it the connection is
/// closed and nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn max_packet_size_lets_large_payloads_in() {
    use cistern_tests::raw::{Connect, RawClient};
    let broker = Broker::start(BIN, &format!("cistern.mqtt.max_packet_size = 4MB\n{}", configs::sqlite()));
    let db = broker.dir.path().join("cistern.db");
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    let (mut client, _) = RawClient::connect(broker.port, "big-pub", Connect { clean: true, ..Connect::default() });
    client.publish("big/t", &big, 1, false);
    let store = Store::sqlite(&db).await;
    let stored = store
        .eventually(
            "select length(payload) from mqtt_msg where topic = ?",
            &["big/t"],
            std::time::Duration::from_secs(10),
            |r| !r.is_empty(),
        )
        .await;
    assert_eq!(stored, [[Some((3 << 20).to_string())]]);
    let hex = store.rows("select hex(payload) = ? from mqtt_msg where topic = ?", &[&hex(&big), "big/t"]).await;
    assert_eq!(hex, [[Some("1".to_string())]], "the payload is stored byte for byte");

    let too_big = vec![b'x'; 5 << 20];
    let (mut client, _) = RawClient::connect(broker.port, "bigger-pub", Connect { clean: true, ..Connect::default() });
    let refused =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.publish("big/u", &too_big, 1, false)));
    assert!(refused.is_err(), "a 5 MiB publish past a 4 MB limit is not acknowledged");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let none = store.rows("select count(*) from mqtt_msg where topic = ?", &["big/u"]).await;
    assert_eq!(none, [[Some("0".to_string())]]);
}

/// A raw action's statement that would never end (a recursive query with no
/// bound) is interrupted after `statement_timeout`: it fails, counted and
/// logged, and the one SQLite connection goes on storing what comes next.
#[tokio::test(flavor = "multi_thread")]
async fn a_statement_that_never_ends_is_interrupted() {
    let endless =
        "insert into endless(n) with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";
    let config = format!(
        "{}backend.sqlite.pool1.statement_timeout = 1s\n\
         backend.sqlite.hook.message.publish.9 = {{\"topic\": \"loop/#\", \"action\": {{\"sql\": [\"{endless}\"]}}, \"pool\": \"pool1\"}}\n",
        configs::sqlite()
    );
    let mut broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table endless(n integer)", &[]).await;
    cistern_tests::publish(broker.port, "looper", "loop/1", b"round", 1, false);
    cistern_tests::publish(broker.port, "after", "plain/1", b"next", 1, false);
    let stored = store
        .eventually("select topic from mqtt_msg order by id", &[], std::time::Duration::from_secs(20), |r| r.len() == 2)
        .await;
    assert_eq!(stored, [[Some("loop/1".to_string())], [Some("plain/1".to_string())]]);
    assert!(store.rows("select n from endless", &[]).await.is_empty());
    assert_eq!(broker.metric("cistern_action_failures_total{action=\"backend.sqlite.hook.message.publish.9\"}"), 1);
    assert!(broker.log().contains("statement_timeout"), "the interruption is logged with its cause");
    assert!(broker.is_running());
}

/// With `on_message_publish` alone on the topic, publishes that come while
/// the one SQLite writer is busy wait, and the stock function takes them
/// several at a call, yet each publisher's are stored and acknowledged in
/// the order it sent them. (The batches here gather several publishers'
/// messages: one connection's own rarely overlap on SQLite, whose writes end
/// before the broker has read the next; `pgsql.rs` holds an insert to show that.)
#[tokio::test(flavor = "multi_thread")]
async fn a_connections_publishes_are_stored_side_by_side_in_order() {
    use cistern_tests::raw::{Connect, RawClient};
    const N: usize = 300;
    const PUBLISHERS: usize = 4;
    let config = format!(
        "{}backend.sqlite.pool1.database = {{dir}}/cistern.db\n\
         backend.sqlite.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        configs::base()
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    let mut publishers: Vec<RawClient> = (0..PUBLISHERS)
        .map(|p| RawClient::connect(broker.port, &format!("side-{p}"), Connect { clean: true, ..Connect::default() }).0)
        .collect();
    let mut sent: Vec<Vec<u16>> = vec![Vec::new(); PUBLISHERS];
    for i in 0..N {
        for (p, publisher) in publishers.iter_mut().enumerate() {
            sent[p].push(publisher.send_publish(&format!("side/{p}"), i.to_string().as_bytes()));
        }
    }
    let in_order: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    for (p, publisher) in publishers.iter_mut().enumerate() {
        assert_eq!(publisher.pubacks(N, std::time::Duration::from_secs(30)), sent[p], "publisher {p}'s PUBACKs");
        let stored =
            store.rows("select payload from mqtt_msg where topic = ? order by id", &[&format!("side/{p}")]).await;
        let stored: Vec<String> = stored.into_iter().map(|r| r[0].clone().unwrap_or_default()).collect();
        assert_eq!(stored, in_order, "publisher {p}'s messages, stored in the order it sent");
    }
    let batched = broker.metric("cistern_action_batched_total{action=\"backend.sqlite.hook.message.publish.1\"}");
    assert!(batched > 0, "every publish was stored alone: none waited beside another");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
