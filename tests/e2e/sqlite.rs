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
