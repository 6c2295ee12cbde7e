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
