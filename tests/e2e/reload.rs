//! Changing the configuration while the broker runs: a whole, valid change
//! is applied; a broken one is refused and the running one stays.

use std::time::Duration;

use cistern_tests::{configs, publish, Broker, Store, Subscriber, SubscriberOptions};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A new hook appears without a restart; a broken file changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn config_changes_apply_while_running() {
    let config = configs::sqlite().replace("cistern.reload = off", "cistern.reload = on");
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table seen(clientid text)", &[]).await;

    let live = std::fs::read_to_string(broker.config_path()).unwrap();
    let text = format!(
        "{live}backend.sqlite.hook.client.connected.7 = {{\"action\": {{\"sql\": [\"insert into seen(clientid) values(${{clientid}})\"]}}, \"pool\": \"pool1\"}}\n"
    );
    std::fs::write(broker.config_path(), &text).unwrap();
    wait_for("the reload", Duration::from_secs(15), || broker.metric("cistern_reloads_total") >= 1);

    Subscriber::start(broker.port, &SubscriberOptions::new("after-reload", "r/x")).kill();
    store.eventually("select clientid from seen", &[], Duration::from_secs(10), |r| r.len() == 1).await;

    std::fs::write(broker.config_path(), format!("{text}this line is broken\n")).unwrap();
    wait_for("the refusal", Duration::from_secs(15), || broker.metric("cistern_reload_failures_total") >= 1);
    assert!(broker.log().contains("cistern.conf:") && broker.log().contains("expected `key = value`"));

    publish(broker.port, "still-pub", "still/here", b"kept", 1, false);
    store
        .eventually("select payload from mqtt_msg where topic = ?", &["still/here"], Duration::from_secs(10), |r| {
            r.len() == 1
        })
        .await;
    Subscriber::start(broker.port, &SubscriberOptions::new("after-refusal", "r/x")).kill();
    store
        .eventually("select clientid from seen where clientid = ?", &["after-refusal"], Duration::from_secs(10), |r| {
            r.len() == 1
        })
        .await;
}
