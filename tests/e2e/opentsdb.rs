//! OpenTSDB: the seed's example configuration and template, written to
//! `/api/put` of InfluxDB's `[[opentsdb]]` listener (a real OpenTSDB needs
//! HBase) and read back over InfluxDB's `/query`; a template with no tag is
//! refused at load; OpenTSDB's documented summary and details answers,
//! served by a responder of the test's own, fail the points they name.

use std::time::Duration;

use cistern_tests::influx::{self, Responder};
use cistern_tests::{broker, configs, publish, Broker};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
const SOON: Duration = Duration::from_secs(10);
const ACTION: &str = "{action=\"backend.opentsdb.hook.message.publish.1\"}";

fn etc(file: &str) -> String {
    format!("{}/../etc/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The seed's example file as cistern ships it, with its server and
/// `replace`d lines changed, on the template file `template`.
fn config(server: &str, replace: &[(&str, &str)], template: &str) -> String {
    let mut seed = std::fs::read_to_string(etc("plugins/emqx_backend_opentsdb.conf")).unwrap();
    seed = seed.replace(
        "backend.opentsdb.pool1.server = 127.0.0.1:4242",
        &format!("backend.opentsdb.pool1.server = {server}"),
    );
    for (from, to) in replace {
        assert!(seed.contains(from), "{from}");
        seed = seed.replace(from, to);
    }
    format!("{}{seed}\nbackend.opentsdb.template = {template}\n", configs::base())
}

/// The seed's example, verbatim: the two data points its manual shows,
/// stored with their tags and numeric values.
#[tokio::test(flavor = "multi_thread")]
async fn seed_example() {
    let server = format!("127.0.0.1:{}", influx::opentsdb_port());
    let broker = Broker::start(BIN, &config(&server, &[], &etc("emqx_backend_opentsdb.tmpl")));
    let clientid = influx::unique("tsdb");
    let payload = r#"{"data": [{"temp": 1, "host": "serverA", "region": "hangzhou"}, {"temp": 2, "host": "serverB", "region": "ningbo"}]}"#;
    publish(broker.port, &clientid, "sample", payload.as_bytes(), 1, false);
    let q = format!("SELECT * FROM sample WHERE clientid = '{clientid}'");
    let rows = influx::eventually("opentsdb", &q, SOON, |r| r.len() == 2).await;
    let mut got: Vec<String> =
        rows.iter().map(|r| format!("{} {} {} {}", r["host"], r["region"], r["qos"], r["value"])).collect();
    got.sort();
    assert_eq!(got, [r#""serverA" "hangzhou" "1" 1"#, r#""serverB" "ningbo" "1" 2"#]);
    assert_eq!(broker.metric(&format!("cistern_action_succeeded_total{ACTION}")), 1);
}

/// A template that gives a data point no tag is refused when the
/// configuration loads, naming the file and why.
#[test]
fn template_without_tags_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("untagged.tmpl");
    std::fs::write(&template, r##"{"#": {"measurement": "m", "value": ["$payload", "v"]}}"##).unwrap();
    let (out, _path, _dir) =
        broker::check_config(BIN, "c.conf", &config("127.0.0.1:4242", &[], &template.display().to_string()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("untagged.tmpl") && stderr.contains("at least one tag"), "{stderr}");
}

/// OpenTSDB's documented answers, from a responder of the test's own: with
/// `details`, a refused point (value over 100 here) fails its message,
/// logged with the message id and counted, while the others succeed; the
/// requests carry `?summary&details&sync&sync_timeout=`.
#[tokio::test(flavor = "multi_thread")]
async fn summary_and_details_answers() {
    let responder = Responder::start(|_path, body| {
        let points: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
        let bad: Vec<_> = points.iter().filter(|p| p["value"].as_f64().unwrap_or(0.0) > 100.0).collect();
        let errors: Vec<_> = bad
            .iter()
            .map(|p| serde_json::json!({"datapoint": p, "error": "Unable to parse value to a number"}))
            .collect();
        let answer = serde_json::json!({"errors": errors, "failed": bad.len(), "success": points.len() - bad.len()});
        (if bad.is_empty() { 200 } else { 400 }, answer.to_string())
    });
    let template = r##"{"#": {"measurement": "m", "tags": {"clientid": "$clientid"}, "value": ["$payload", "v"]}}"##;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmpl");
    std::fs::write(&path, template).unwrap();
    let server = format!("127.0.0.1:{}", responder.port);
    let replace = [
        ("backend.opentsdb.pool1.details = false", "backend.opentsdb.pool1.details = true"),
        ("backend.opentsdb.pool1.sync = false", "backend.opentsdb.pool1.sync = true"),
        ("backend.opentsdb.pool1.sync_timeout = 0", "backend.opentsdb.pool1.sync_timeout = 500"),
    ];
    let broker = Broker::start(BIN, &config(&server, &replace, &path.display().to_string()));
    publish(broker.port, "good", "t", br#"{"v": 5}"#, 1, false);
    publish(broker.port, "bad", "t", br#"{"v": 500}"#, 1, false);
    publish(broker.port, "good", "t", br#"{"v": 6}"#, 1, false);
    let started = std::time::Instant::now();
    while broker.metric(&format!("cistern_action_failures_total{ACTION}")) < 1 {
        assert!(started.elapsed() < SOON, "no failure counted:\n{}", broker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(broker.metric(&format!("cistern_action_succeeded_total{ACTION}")), 2);
    assert_eq!(broker.metric(&format!("cistern_action_failures_total{ACTION}")), 1);
    let log = broker.log();
    assert!(log.contains("Unable to parse value to a number"), "{log}");
    let requests = responder.requests.lock().unwrap().clone();
    assert!(requests.iter().all(|(path, _)| path == "/api/put?summary&details&sync&sync_timeout=500"), "{requests:?}");
}
