//! A malformed configuration stops cistern before it serves anything, with a
//! message naming the file, the line and what is wrong.

use cistern_tests::broker::assert_refused;

const BIN: &str = env!("CARGO_BIN_EXE_cistern");

const GOOD_POOL: &str = "backend.sqlite.pool1.database = {dir}/c.db\n";

/// (what is wrong, the configuration, the line at fault, words the message must have)
fn cases() -> Vec<(&'static str, String, usize, &'static str)> {
    let hook = |value: &str| format!("{GOOD_POOL}backend.sqlite.hook.message.publish.1 = {value}\n");
    vec![
        ("a line without =", format!("{GOOD_POOL}cistern.node cistern@here\n"), 2, "expected `key = value`"),
        ("bad JSON", hook(r##"{"topic": "#", "action": {"function": "on_message_publish"}, "pool": "pool1""##), 2, "bad JSON"),
        ("an unknown function", hook(r#"{"action": {"function": "on_mesage_publish"}, "pool": "pool1"}"#), 2, "unknown function `on_mesage_publish`"),
        (
            "a function on the wrong hook point",
            hook(r#"{"action": {"function": "on_message_fetch"}, "pool": "pool1"}"#),
            2,
            "handles session.subscribed, not message.publish",
        ),
        (
            "an unknown hook point",
            format!("{GOOD_POOL}backend.sqlite.hook.message.published.1 = {{\"action\": {{\"function\": \"on_message_publish\"}}}}\n"),
            2,
            "unknown hook point `message.published`",
        ),
        ("an unknown pool", hook(r#"{"action": {"function": "on_message_publish"}, "pool": "pool9"}"#), 2, "pool `pool9` is not configured"),
        ("a misspelt pool key", format!("{GOOD_POOL}backend.sqlite.pool1.pool_sise = 4\n"), 2, "pool_sise"),
        ("a misspelt cistern key", "cistern.listner.tcp = 127.0.0.1:1\n".to_string(), 1, "listner.tcp"),
        ("an unknown backend", "backend.sqlight.pool1.database = x.db\n".to_string(), 1, "unknown backend `sqlight`"),
        (
            "a bad offline_opts time_range",
            format!(
                "{GOOD_POOL}backend.sqlite.hook.session.subscribed.1 = {{\"action\": {{\"function\": \"on_message_fetch\"}}, \"offline_opts\": {{\"time_range\": \"2 fortnights\"}}}}\n"
            ),
            2,
            "2 fortnights",
        ),
        (
            "a raw SQL placeholder the hook point lacks",
            format!(
                "{GOOD_POOL}backend.sqlite.hook.client.connected.1 = {{\"action\": {{\"sql\": [\"insert into t values(${{payload}})\"]}}}}\n"
            ),
            2,
            "`${payload}` is not available on client.connected",
        ),
        (
            "an invalid topic filter",
            hook(r##"{"topic": "a/#/b", "action": {"function": "on_message_publish"}}"##),
            2,
            "`#` must be a whole level and the last one",
        ),
        (
            "a raw SQL placeholder inside a string literal",
            hook(r#"{"action": {"sql": ["insert into t(c) values('pfx-${clientid}')"]}}"#),
            2,
            "`${clientid}` is inside a string literal",
        ),
        ("a missing custom guest", hook(r#"{"action": {"module": "nope", "function": "x"}}"#), 2, "cistern.guests.dir"),
        ("a bad duration", "cistern.limits.cpu_time = fast\n".to_string(), 1, "fast"),
        (
            "more publishes in flight than rmqtt's window",
            "cistern.mqtt.publishes_in_flight = 17\n".to_string(),
            1,
            "publishes_in_flight must be from 1 to 16",
        ),
        ("no publish in flight", "cistern.mqtt.publishes_in_flight = 0\n".to_string(), 1, "from 1 to 16"),
    ]
}

/// Each malformed configuration exits non-zero and names file, line and fault.
#[test]
fn malformed_configs_are_refused_with_their_location() {
    for (what, config, line, words) in cases() {
        assert_refused(BIN, what, &config, line, words);
    }
}

/// An include names the included file and its line, not the top one.
#[test]
fn errors_in_an_included_file_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/emqx_backend_sqlite.conf"), "\n\nbackend.sqlite.pool1.pool_size = many\n")
        .unwrap();
    let top = dir.path().join("cistern.conf");
    std::fs::write(&top, "include plugins/*.conf\n").unwrap();
    let out = std::process::Command::new(BIN).arg("--check").arg("--config").arg(&top).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("plugins/emqx_backend_sqlite.conf:3:"), "{stderr}");
}

/// Started for real (not --check), a bad configuration still exits non-zero before listening.
#[test]
fn a_bad_config_stops_the_broker_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cistern.conf");
    std::fs::write(
        &path,
        format!(
            "cistern.listener.tcp = 127.0.0.1:{}\nbackend.sqlite.pool1.databse = x.db\n",
            cistern_tests::broker::free_port()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN).arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cistern.conf:2:") && stderr.contains("databse"), "{stderr}");
}

/// A check has no side effects: it makes no file or directory and opens no
/// connection, even to servers that are there.
#[test]
fn a_check_touches_nothing() {
    let listen = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        l
    };
    let (redis, mysql, pgsql) = (listen(), listen(), listen());
    let port = |l: &std::net::TcpListener| l.local_addr().unwrap().port();
    let config = format!(
        "backend.sqlite.pool1.database = store/deeper/cistern.db\n\
         backend.redis.pool1.server = 127.0.0.1:{}\n\
         backend.mysql.pool1.server = 127.0.0.1:{}\n\
         backend.mysql.pool1.database = mqtt\n\
         backend.pgsql.pool1.server = 127.0.0.1:{}\n\
         backend.pgsql.pool1.database = mqtt\n\
         backend.sqlite.hook.message.publish.1 = {{\"action\": {{\"function\": \"on_message_publish\"}}}}\n",
        port(&redis),
        port(&mysql),
        port(&pgsql)
    );
    let (out, _path, dir) = cistern_tests::broker::check_config(BIN, "cistern.conf", &config);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("store").exists(), "the check made the store's directory");
    assert!(!dir.path().join("data").exists(), "the check made the outbox's directory");
    // Give a background connection attempt time to arrive, had one been started.
    std::thread::sleep(std::time::Duration::from_millis(300));
    for (name, l) in [("redis", &redis), ("mysql", &mysql), ("pgsql", &pgsql)] {
        assert!(l.accept().is_err(), "the check connected to {name}");
    }
}

/// An empty value, as the seed's example files write them (`keyfile =`),
/// means unset: the key's default holds.
#[test]
fn empty_values_mean_unset() {
    let config = "backend.pgsql.pool1.server = 127.0.0.1:1\n\
                  backend.pgsql.pool1.database = mqtt\n\
                  backend.pgsql.pool1.pool_size =\n\
                  backend.pgsql.pool1.keyfile =\n\
                  backend.pgsql.pool1.certfile = \n\
                  backend.pgsql.hook.message.publish.1 = {\"action\": {\"function\": \"on_message_publish\"}}\n";
    let (out, _path, _dir) = cistern_tests::broker::check_config(BIN, "cistern.conf", config);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
