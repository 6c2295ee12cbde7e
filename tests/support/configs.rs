//! Configurations the tests start brokers with.

/// The seed's hook set for the SQL backend `db` on `pool1`, plus raw SQL
/// keeping subscriptions (as `etc/cistern.conf` does).
pub fn sql_hooks(db: &str) -> String {
    sql_hooks_with(db, "")
}

/// [`sql_hooks`] with `fetch_options` (e.g. `, "offline_opts": {...}`) added to `on_message_fetch`.
pub fn sql_hooks_with(db: &str, fetch_options: &str) -> String {
    let upsert_sub = match db {
        "mysql" => "insert into mqtt_sub(clientid, topic, qos) values(${clientid}, ${topic}, ${qos}) on duplicate key update qos = values(qos)",
        _ => "insert into mqtt_sub(clientid, topic, qos) values(${clientid}, ${topic}, ${qos}) on conflict(clientid, topic) do update set qos = excluded.qos",
    };
    format!(
        r##"
backend.{db}.hook.client.connected.1    = {{"action": {{"function": "on_client_connected"}}, "pool": "pool1"}}
backend.{db}.hook.client.connected.2    = {{"action": {{"function": "on_subscribe_lookup"}}, "pool": "pool1"}}
backend.{db}.hook.client.disconnected.1 = {{"action": {{"function": "on_client_disconnected"}}, "pool": "pool1"}}
backend.{db}.hook.session.subscribed.1  = {{"topic": "#", "action": {{"function": "on_message_fetch"}}, "pool": "pool1"{fetch_options}}}
backend.{db}.hook.session.subscribed.2  = {{"topic": "#", "action": {{"function": "on_retain_lookup"}}, "pool": "pool1"}}
backend.{db}.hook.session.subscribed.3  = {{"topic": "#", "action": {{"sql": ["{upsert_sub}"]}}, "pool": "pool1"}}
backend.{db}.hook.session.unsubscribed.1 = {{"topic": "#", "action": {{"sql": ["delete from mqtt_sub where clientid = ${{clientid}} and topic = ${{topic}}"]}}, "pool": "pool1"}}
backend.{db}.hook.message.publish.1     = {{"topic": "#", "action": {{"function": "on_message_publish"}}, "pool": "pool1"}}
backend.{db}.hook.message.publish.2     = {{"topic": "#", "action": {{"function": "on_message_retain"}}, "pool": "pool1"}}
backend.{db}.hook.message.publish.3     = {{"topic": "#", "action": {{"function": "on_retain_delete"}}, "pool": "pool1"}}
backend.{db}.hook.message.acked.1       = {{"topic": "#", "action": {{"function": "on_message_acked"}}, "pool": "pool1"}}
"##
    )
}

/// The listener and metrics lines every test config starts with.
pub fn base() -> &'static str {
    "cistern.listener.tcp = 127.0.0.1:{port}\ncistern.http.listener = 127.0.0.1:{http_port}\ncistern.reload = off\n"
}

/// A SQLite store in the test's directory, with the seed's hooks.
pub fn sqlite() -> String {
    format!("{}backend.sqlite.pool1.database = {{dir}}/cistern.db\n{}", base(), sql_hooks("sqlite"))
}

/// Where the guest build puts components (the misbehaving test guest among them).
pub fn guests_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/dist").to_string()
}

/// The seed's example Redis configuration as cistern ships it
/// (`etc/plugins/emqx_backend_redis.conf`), after the listener lines, with
/// only the pool's server (`host:port`), database and control channel
/// changed to the test's own. `replace` changes further lines
/// (`(as written, instead)`).
pub fn redis_example(server: &str, db: i64, channel: &str, replace: &[(&str, &str)]) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_redis.conf");
    let mut text = std::fs::read_to_string(path).expect("etc/plugins/emqx_backend_redis.conf");
    let shared = shared_redis(server);
    let server = format!("backend.redis.pool1.server = {server}");
    let database = format!("backend.redis.pool1.database = {db}");
    let channel = format!("backend.redis.pool1.channel = {channel}");
    let mut changes = vec![
        ("backend.redis.pool1.server = 127.0.0.1:6379", server.as_str()),
        ("backend.redis.pool1.database = 1", database.as_str()),
        ("backend.redis.pool1.channel = mqtt_channel", channel.as_str()),
    ];
    changes.extend_from_slice(replace);
    for (from, to) in changes {
        assert!(text.contains(from), "the example configuration has no line {from:?}");
        text = text.replace(from, to);
    }
    if shared {
        // The scripts' server has the restricted ACL user (scripts/services/redis.sh).
        text.push_str("backend.redis.pool1.username = cistern_app\nbackend.redis.pool1.password = cistern_app\n");
    }
    format!("{}{text}", base())
}

/// Whether `host:port` is the Redis server `scripts/services.sh` runs.
fn shared_redis(server: &str) -> bool {
    std::env::var("CISTERN_REDIS_URL")
        .is_ok_and(|url| url.trim_start_matches("redis://").trim_end_matches('/') == server)
}
