//! TimescaleDB: the seed's template file turns messages into rows; what does
//! not fit a template is refused, counted, and nothing of it is written.
//! (The timescaledb extension is not packaged here: the tables are plain
//! PostgreSQL ones, made hypertables by sql/timescale.sql where it exists.)

use std::time::Duration;

use cistern_tests::databases::TestDb;
use cistern_tests::{configs, publish, Broker, Store};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
const SOON: Duration = Duration::from_secs(10);

fn seed_template() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/emqx_backend_timescale.tmpl").to_string()
}

async fn start(template: &str) -> (Broker, Store, TestDb) {
    let db = TestDb::postgres_with(&["timescale.sql"]);
    let store = Store::connect(&db).await;
    let config = format!(
        "{}{}backend.timescale.template = {template}\n\
         backend.timescale.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        configs::base(),
        db.pool_config("timescale", "pool1"),
    );
    (Broker::start(BIN, &config), store, db)
}

/// Waits until the publish action has counted `n` refused messages.
fn wait_refused(broker: &Broker, n: u64) {
    let refused =
        || broker.metric("cistern_action_failures_total{action=\"backend.timescale.hook.message.publish.1\"}");
    let started = std::time::Instant::now();
    while refused() < n {
        assert!(started.elapsed() < SOON, "refusals counted: {} of {n}\n{}", refused(), broker.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The seed's example: the sensor_data payload with three readings becomes
/// three rows; sensor_data2/# takes one reading; easy_data keeps the payload.
#[tokio::test(flavor = "multi_thread")]
async fn seed_template_writes_rows() {
    let (broker, store, _db) = start(&seed_template()).await;
    let payload = r#"{"data":[{"location":"bedroom","temperature":21.3,"humidity":40.3},{"location":"bathroom","temperature":22.3,"humidity":61.8},{"location":"kitchen","temperature":29.5,"humidity":58.7}]}"#;
    publish(broker.port, "ts-pub", "sensor_data", payload.as_bytes(), 0, false);
    let rows = store
        .eventually("select location, temperature, humidity from sensor_data order by humidity", &[], SOON, |r| {
            r.len() == 3
        })
        .await;
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        [
            [s("bedroom"), s("21.3"), s("40.3")],
            [s("kitchen"), s("29.5"), s("58.7")],
            [s("bathroom"), s("22.3"), s("61.8")]
        ]
    );

    publish(
        broker.port,
        "ts-pub",
        "sensor_data2/attic",
        br#"{"location":"attic","temperature":12.5,"humidity":80}"#,
        1,
        false,
    );
    store
        .eventually("select temperature, humidity from sensor_data where location = ?", &["attic"], SOON, |r| {
            r == [[s("12.5"), s("80")]]
        })
        .await;

    publish(broker.port, "ts-pub", "easy_data", b"just some text", 0, false);
    store.eventually("select data from easy_data", &[], SOON, |r| r == [[s("just some text")]]).await;
}

/// A payload that is not JSON, a missing path, or arrays of different
/// lengths: that message is refused with a logged reason and counted,
/// nothing of it is written, and the next message is stored.
#[tokio::test(flavor = "multi_thread")]
async fn messages_that_do_not_fit_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("uneven.tmpl");
    std::fs::write(
        &template,
        r#"{
  "pairs": {"name": "pairs", "sql": "insert into sensor_data(time, location, temperature) values (NOW(), $1, $2)",
            "param_keys": [["$payload", "where", "$0"], ["$payload", "temps", "$0"]]}
}"#,
    )
    .unwrap();
    let mut config_template = std::fs::read_to_string(seed_template()).unwrap();
    // Both files' templates at once: the seed's and the uneven one.
    config_template = config_template.trim_end().trim_end_matches('}').to_string()
        + ",\n"
        + std::fs::read_to_string(&template).unwrap().trim().trim_start_matches('{');
    std::fs::write(&template, config_template).unwrap();
    let (broker, store, _db) = start(&template.display().to_string()).await;

    publish(broker.port, "ts-pub", "sensor_data", b"not json at all", 0, false);
    publish(broker.port, "ts-pub", "sensor_data", br#"{"data":[{"location":"hall","temperature":20}]}"#, 0, false);
    publish(broker.port, "ts-pub", "pairs", br#"{"where":["a","b","c"],"temps":[1,2]}"#, 0, false);
    wait_refused(&broker, 3);
    publish(broker.port, "ts-pub", "pairs", br#"{"where":["a","b"],"temps":[1,2]}"#, 0, false);
    let rows = store
        .eventually("select location, temperature from sensor_data order by location", &[], SOON, |r| r.len() == 2)
        .await;
    let s = |v: &str| Some(v.to_string());
    assert_eq!(rows, [[s("a"), s("1")], [s("b"), s("2")]], "only the message that fits is written");

    let log = broker.log();
    assert!(log.contains("the payload is not JSON"), "the reason is logged");
    assert!(log.contains("the payload has no $payload.data[1].humidity"), "the missing path is named");
    assert!(log.contains("$0 gives 3 elements in one place and 2 in another"), "the uneven arrays are named");
}

/// Two templates match one message: their rows commit together or not at
/// all. The second one's row is refused by the database (text into a
/// number column), so the first one's is not kept either; the next message
/// fits both and is in both tables.
#[tokio::test(flavor = "multi_thread")]
async fn templates_of_one_message_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("both.tmpl");
    std::fs::write(
        &template,
        r#"{
  "both": {"name": "notes", "sql": "insert into easy_data(time, data) values (NOW(), $1)",
           "param_keys": [["$payload", "note"]]},
  "+": {"name": "readings", "sql": "insert into sensor_data(time, location, temperature) values (NOW(), $1, $2)",
        "param_keys": [["$payload", "note"], ["$payload", "temp"]]}
}"#,
    )
    .unwrap();
    let (broker, store, _db) = start(&template.display().to_string()).await;

    publish(broker.port, "ts-pub", "both", br#"{"note": "n1", "temp": "hot"}"#, 1, false);
    wait_refused(&broker, 1);
    publish(broker.port, "ts-pub", "both", br#"{"note": "n2", "temp": 3}"#, 1, false);
    let s = |v: &str| Some(v.to_string());
    store.eventually("select location from sensor_data", &[], SOON, |r| r == [[s("n2")]]).await;
    let notes = store.rows("select data from easy_data order by data", &[]).await;
    assert_eq!(notes, [[s("n2")]], "the refused message left no row of its first template");
}

/// A template file that is not valid stops the configuration, naming the file.
#[test]
fn a_bad_template_file_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tmpl");
    std::fs::write(&bad, r#"{"t": {"name": "n", "sql": "insert into x values ($1, $2)", "param_keys": ["$qos"]}}"#)
        .unwrap();
    let config = format!(
        "backend.timescale.pool1.server = 127.0.0.1:1\nbackend.timescale.pool1.database = x\nbackend.timescale.template = {}\n\
         backend.timescale.hook.message.publish.1 = {{\"action\": {{\"function\": \"on_message_publish\"}}}}\n",
        bad.display()
    );
    let (out, path, _dir) = cistern_tests::broker::check_config(BIN, "cistern.conf", &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:3:", path.display())) && stderr.contains("bad.tmpl") && stderr.contains("uses $2"),
        "{stderr}"
    );
}
