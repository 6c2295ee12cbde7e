//! The seed's scenarios on MySQL (MariaDB), against a database made with
//! `sql/mysql.sql` as the README says.

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::databases::TestDb;

async fn env(setup: scenarios::Setup) -> scenarios::Env {
    scenarios::server_env(TestDb::mysql(), "mysql", setup).await
}

sql_scenarios!("mysql");
