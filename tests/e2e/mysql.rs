//! The seed's scenarios on MySQL (MariaDB), against a database made with
//! `sql/mysql.sql` as the README says.

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::databases::TestDb;
use cistern_tests::{configs, Broker, Store};
use scenarios::BIN;

async fn env(setup: scenarios::Setup) -> scenarios::Env {
    let db = TestDb::mysql();
    let store = Store::connect(&db).await;
    if setup.hostile {
        for t in scenarios::HOSTILE_TABLES {
            store.execute(t, &[]).await;
        }
    }
    let config = format!(
        "{}{}{}{}",
        configs::base(),
        db.pool_config("mysql", "pool1"),
        configs::sql_hooks_with("mysql", &setup.fetch_options),
        setup.extra
    );
    let broker = Broker::start(BIN, &config);
    scenarios::Env { broker, store, _keep: Box::new(db) }
}

sql_scenarios!("mysql");
