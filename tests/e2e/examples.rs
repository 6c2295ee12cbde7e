//! The example actions of guests/examples, one per language, loaded beside
//! the stock actions from `cistern.guests.dir` and driven by real MQTT
//! clients; the assertions are on what the database holds. The components
//! are built once per test run by scripts/build-examples.sh.

use std::time::Duration;

use cistern_tests::{configs, publish, Broker, Redis, Store};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");

/// The JavaScript and Python components are 13 and 18 MB of wasm, which a
/// broker compiles before it listens: one at a time, so that on a small
/// machine they do not all share its cores, and with a longer start timeout.
static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start(config: &str) -> Broker {
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Broker::start_within(BIN, config, cistern_tests::broker::SLOW_START_TIMEOUT)
}

/// Where scripts/build-examples.sh puts the example components; a missing
/// one fails the test saying how to build it.
fn examples_dir(component: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/examples/dist");
    let path = std::path::Path::new(dir).join(component);
    assert!(path.exists(), "{} is missing: run scripts/build-examples.sh", path.display());
    dir.to_string()
}

/// JavaScript (componentize-js): each JSON object published is stored
/// enriched (topic levels, sender, arrival time, fahrenheit) in SQLite, beside
/// the stock action; a payload that is not a JSON object is refused and counted.
#[tokio::test(flavor = "multi_thread")]
async fn javascript_enriches_json_into_sqlite() {
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.message.publish.1 = {{"topic": "#", "action": {{"function": "on_message_publish"}}, "pool": "pool1"}}
backend.sqlite.hook.message.publish.2 = {{"topic": "sensors/#", "action": {{"module": "js_enrich", "function": "enrich"}}, "pool": "pool1"}}
"##,
        base = configs::base(),
        guests = examples_dir("js_enrich.wasm"),
    );
    let broker = start(&config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table enriched(msgid text primary key, topic text, doc text)", &[]).await;

    publish(broker.port, "thermo", "sensors/kitchen/temp", br#"{"celsius": 21.5, "unit": "C"}"#, 1, false);
    publish(broker.port, "thermo", "sensors/kitchen/temp", b"twenty-two", 1, false);
    publish(broker.port, "thermo", "other/topic", br#"{"celsius": 1}"#, 1, false);

    let rows =
        store.eventually("select topic, doc from enriched", &[], Duration::from_secs(10), |r| !r.is_empty()).await;
    assert_eq!(rows.len(), 1, "one JSON object on sensors/#: {rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("sensors/kitchen/temp"));
    let doc: serde_json::Value = serde_json::from_str(rows[0][1].as_deref().unwrap()).unwrap();
    assert_eq!(doc["celsius"], 21.5);
    assert_eq!(doc["unit"], "C", "the payload's own fields are kept");
    assert_eq!(doc["fahrenheit"], 70.7);
    assert_eq!(doc["levels"], serde_json::json!(["sensors", "kitchen", "temp"]));
    assert_eq!(doc["sender"], "thermo");
    assert!(doc["received_at"].as_str().is_some_and(|t| t.ends_with('Z') && t.starts_with("20")), "{doc}");

    store.eventually("select msgid from mqtt_msg", &[], Duration::from_secs(10), |r| r.len() == 3).await;
    let action = "backend.sqlite.hook.message.publish.2";
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{{action=\"{action}\"}}")), 1);
    assert_eq!(broker.metric(&format!("cistern_action_succeeded_total{{action=\"{action}\"}}")), 1);
    let log = broker.log();
    assert!(log.contains("payload is not JSON"), "the refusal says why");
    assert!(
        log.lines().any(|l| l.contains("enriched ") && l.contains(action) && l.contains("stdout")),
        "console.log goes to the log under the action's name"
    );
}

/// Python (componentize-py): a rolling aggregate of each topic's last
/// readings in Redis, beside the stock Redis action.
#[tokio::test(flavor = "multi_thread")]
async fn python_keeps_a_rolling_aggregate_in_redis() {
    let redis = Redis::for_test(0);
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
{pool}backend.redis.hook.message.publish.1 = {{"topic": "#", "action": {{"function": "on_message_publish"}}, "pool": "pool1"}}
backend.redis.hook.message.publish.2 = {{"topic": "meter/#", "action": {{"module": "py_rolling", "function": "rolling"}}, "pool": "pool1", "options": {{"window": 3, "field": "kw"}}}}
"##,
        base = configs::base(),
        guests = examples_dir("py_rolling.wasm"),
        pool = redis.pool_lines("pool1"),
    );
    let broker = start(&config);
    for kw in [1, 2, 3, 4, 5] {
        publish(broker.port, "meter-a", "meter/a", format!(r#"{{"kw": {kw}}}"#).as_bytes(), 1, false);
    }
    publish(broker.port, "meter-b", "meter/b", br#"{"kw": 10.5}"#, 1, false);
    publish(broker.port, "meter-b", "meter/b", br#"{"watts": 10}"#, 1, false);

    let action = "backend.redis.hook.message.publish.2";
    let done = || broker.metric(&format!("cistern_action_calls_total{{action=\"{action}\"}}")) == 7;
    redis.eventually("seven calls", Duration::from_secs(10), |_| done().then_some(()));
    let hash = |key: &str| -> std::collections::BTreeMap<String, String> {
        redis.hgetall(key.as_bytes()).into_iter().collect()
    };
    let a = hash("rolling:meter/a");
    assert_eq!(a["count"], "3", "the window holds the last three: {a:?}");
    assert_eq!(a["sum"], "12.0");
    assert_eq!(a["min"], "3.0");
    assert_eq!(a["max"], "5.0");
    assert_eq!(a["mean"], "4.0");
    assert_eq!(redis.zrange(b"rolling:meter/a:window").len(), 3);
    let b = hash("rolling:meter/b");
    assert_eq!((b["count"].as_str(), b["sum"].as_str()), ("1", "10.5"), "each topic apart: {b:?}");
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{{action=\"{action}\"}}")), 1);
    assert!(broker.log().contains("no number at 'kw'"), "the refusal says why");
    assert!(broker.log().contains("rolling meter/a"), "its log lines arrive");
    assert!(redis.keys().iter().any(|k| k.starts_with(b"mqtt:msg:")), "the stock action stores beside it");
}

/// C (clang, wasi-libc, the preview1 adapter): a filter that stores only
/// payloads that are valid JSON and refuses the others, naming the message.
#[tokio::test(flavor = "multi_thread")]
async fn c_stores_only_valid_json() {
    let config = format!(
        r##"{base}
cistern.guests.dir = {guests}
backend.sqlite.pool1.database = {{dir}}/cistern.db
backend.sqlite.hook.message.publish.1 = {{"topic": "#", "action": {{"module": "c_json_filter", "function": "json_only"}}, "pool": "pool1"}}
"##,
        base = configs::base(),
        guests = examples_dir("c_json_filter.wasm"),
    );
    let broker = start(&config);
    let store = Store::sqlite(&broker.dir.path().join("cistern.db")).await;
    store.execute("create table json_msg(msgid text primary key, topic text, payload text)", &[]).await;

    let valid = [r#"{"a": [1, 2.5e3, true, null], "b": "\u00e9\"x"}"#, "[]", " 42 ", r#""text""#];
    let invalid = [r#"{"a": }"#, "{'a': 1}", "[1, 2", "nope", r#"{"a": 1} trailing"#, ""];
    for (i, p) in valid.iter().enumerate() {
        publish(broker.port, "c-pub", &format!("ok/{i}"), p.as_bytes(), 1, false);
    }
    for (i, p) in invalid.iter().enumerate() {
        publish(broker.port, "c-pub", &format!("bad/{i}"), p.as_bytes(), 1, false);
    }
    let action = "backend.sqlite.hook.message.publish.1";
    let calls = || broker.metric(&format!("cistern_action_calls_total{{action=\"{action}\"}}"));
    let started = std::time::Instant::now();
    while calls() < (valid.len() + invalid.len()) as u64 {
        assert!(started.elapsed() < Duration::from_secs(10), "every publish reaches the filter");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows = store.rows("select topic, payload from json_msg order by topic", &[]).await;
    let stored: Vec<(String, String)> =
        rows.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    let expected: Vec<(String, String)> =
        valid.iter().enumerate().map(|(i, p)| (format!("ok/{i}"), p.to_string())).collect();
    assert_eq!(stored, expected, "only valid JSON is stored, as published");
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{{action=\"{action}\"}}")), invalid.len() as u64);
    let log = broker.log();
    assert!(log.contains("is not valid JSON"), "the refusal says why");
    assert!(
        log.lines().any(|l| l.contains("stored ok/0") && l.contains(action) && l.contains("stdout")),
        "printf goes to the log under the action's name"
    );
}

/// A custom guest importing what cistern does not give (here WASI sockets,
/// which componentize-py imports unless told to stub WASI) is refused at
/// load, naming the guest, its file and the import.
#[test]
fn a_guest_importing_sockets_is_refused() {
    let config = format!(
        "cistern.guests.dir = {guests}\nbackend.sqlite.pool1.database = {{dir}}/cistern.db\n\
         backend.sqlite.hook.message.publish.1 = {{\"action\": {{\"module\": \"py_sockets\", \"function\": \"tick\"}}, \"pool\": \"pool1\"}}\n",
        guests = examples_dir("py_sockets.wasm"),
    );
    // One check: compiling the Python component is most of the time.
    let (out, path, _dir) = {
        let _one_at_a_time = COMPILING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cistern_tests::broker::check_config(BIN, "bad.conf", &config)
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a guest importing sockets is accepted");
    assert!(stderr.contains(&format!("{}:3:", path.display())), "the configuration line is named: {stderr}");
    assert!(stderr.contains("guest module:py_sockets imports `wasi:sockets/"), "the guest and import: {stderr}");
    assert!(stderr.contains("py_sockets.wasm"), "the file is named: {stderr}");
}
