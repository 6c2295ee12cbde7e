//! Changing the configuration while the broker runs: a whole, valid change
//! is applied; a broken one is refused and the running one stays.

use std::time::Duration;

use cistern_tests::load::Load;
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

/// The hot-swap test's components, built by scripts/build-examples.sh.
fn example(name: &str) -> Vec<u8> {
    let path = format!(concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/examples/dist/{}.wasm"), name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}; run scripts/build-examples.sh"))
}

/// Replaces a guest file the safe way: written beside it, then renamed over it.
fn replace(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("wasm.new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A custom guest replaced five times while publishers send QoS 1 messages
/// without pause: every acknowledged message is stored exactly once, by the
/// version that was running (v1..v5, each of which stored some), and none
/// fails. Broken files in between (half a file written in place, a component
/// of another world, one whose configured function is gone) are refused,
/// logged with the file, and the running version stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_custom_guest_is_swapped_under_load() {
    let guests = tempfile::tempdir().unwrap();
    let file = guests.path().join("versioned.wasm");
    replace(&file, &example("c_version_v1"));
    let config = format!(
        r##"{base}
cistern.reload = on
cistern.guests.dir = {guests}
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.message.publish.1 = {{"topic": "swap/#", "action": {{"module": "versioned", "function": "record"}}, "pool": "pool1"}}
"##,
        base = configs::base().replace("cistern.reload = off\n", ""),
        guests = guests.path().display(),
    );
    let broker = Broker::start(BIN, &config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table versions(msgid text primary key, payload text, version integer)", &[]).await;

    let load = Load::start(broker.port, "swap", "swap", 4, 40.0, 9.0);
    let b = &broker;
    let reloads = |n: u64| move || b.metric("cistern_reloads_total") >= n;
    let refusals = |n: u64| move || b.metric("cistern_reload_failures_total") >= n;
    std::thread::sleep(Duration::from_millis(1200));
    replace(&file, &example("c_version_v2"));
    wait_for("v2", Duration::from_secs(15), reloads(1));
    std::thread::sleep(Duration::from_millis(800));
    replace(&file, &example("c_version_v3"));
    wait_for("v3", Duration::from_secs(15), reloads(2));

    let v4 = example("c_version_v4");
    std::fs::write(&file, &v4[..v4.len() / 2]).unwrap();
    wait_for("the half-written file's refusal", Duration::from_secs(15), refusals(1));
    replace(&file, &example("c_wrong_world"));
    wait_for("the wrong world's refusal", Duration::from_secs(15), refusals(2));
    replace(&file, &example("c_version_gone"));
    wait_for("the missing function's refusal", Duration::from_secs(15), refusals(3));
    std::thread::sleep(Duration::from_millis(500));

    replace(&file, &v4);
    wait_for("v4", Duration::from_secs(15), reloads(3));
    std::thread::sleep(Duration::from_millis(800));
    replace(&file, &example("c_version_v5"));
    wait_for("v5", Duration::from_secs(15), reloads(4));

    let load = load.finish(Duration::from_secs(60));
    assert!(load.acked.len() > 300, "the publishers kept publishing: {}", load.acked.len());
    assert_eq!(load.acked, load.sent, "every message sent was acknowledged");
    let rows = store.rows("select payload, version from versions", &[]).await;
    let stored: std::collections::BTreeSet<String> = rows.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(rows.len(), stored.len(), "no message stored twice");
    assert_eq!(stored, load.acked, "every acknowledged message stored, none other");
    let mut per_version = std::collections::BTreeMap::<String, usize>::new();
    for r in &rows {
        *per_version.entry(r[1].clone().unwrap()).or_default() += 1;
    }
    let versions: Vec<&str> = per_version.keys().map(String::as_str).collect();
    assert_eq!(versions, ["1", "2", "3", "4", "5"], "each version handled some, no other did: {per_version:?}");
    let action = "backend.sqlite.hook.message.publish.1";
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{{action=\"{action}\"}}")), 0);
    assert_eq!(broker.metric("cistern_reloads_total"), 4);
    assert_eq!(broker.metric("cistern_reload_failures_total"), 3);

    let log = broker.log();
    let named = format!("(file {})", file.display());
    let refusal = |why: &str| log.lines().any(|l| l.contains(why) && l.contains(&named));
    assert!(refusal("is not a valid component"), "the half-written file is refused, naming it");
    assert!(refusal("export"), "the wrong world is refused, naming the file");
    assert!(log.contains("unknown function `record`"), "the missing function is refused");
    println!("per version: {per_version:?}, acknowledged {}", load.acked.len());
}
