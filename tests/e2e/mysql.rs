//! The seed's scenarios on MySQL (MariaDB), against a database made with
//! `sql/mysql.sql` as the README says, and some of them again against the
//! seed's own tables, verbatim (`tests/fixtures/seed-mysql.sql`).

#[path = "scenarios.rs"]
mod scenarios;

use cistern_tests::databases::TestDb;

async fn env(setup: scenarios::Setup) -> scenarios::Env {
    scenarios::server_env(TestDb::mysql(), "mysql", setup).await
}

sql_scenarios!("mysql");

/// The tables an EMQX 4 user already has: `utf8` (3-byte) text, a `blob` payload.
mod seed_tables {
    use super::scenarios;
    use cistern_tests::databases::{TestDb, SEED_MYSQL};
    use cistern_tests::{publish, Store};
    use std::time::Duration;

    async fn env(setup: scenarios::Setup) -> scenarios::Env {
        scenarios::server_env(TestDb::mysql_with(&[SEED_MYSQL]), "mysql", setup).await
    }

    crate::seed_table_scenarios!();

    /// The seed's blob payload column keeps a payload that is not UTF-8 byte for byte.
    #[tokio::test(flavor = "multi_thread")]
    async fn blob_payload_keeps_any_bytes() {
        let e = env(scenarios::Setup::plain()).await;
        publish(e.broker.port, "bin-pub", "bin/t", b"\xff\xfe\x00", 1, false);
        let stored = e
            .store
            .eventually("select hex(payload) from mqtt_msg where topic = ?", &["bin/t"], Duration::from_secs(10), |r| {
                !r.is_empty()
            })
            .await;
        assert_eq!(stored, [[Some("FFFE00".to_string())]]);
    }

    /// A user's seed tables whose payload column was made `text` (in the seed's
    /// `utf8`): a payload that is not UTF-8, or holds a character beyond
    /// U+FFFF, is refused, counted, and stored nowhere; the next is stored.
    #[tokio::test(flavor = "multi_thread")]
    async fn text_payload_refuses_what_is_not_text() {
        let db = TestDb::mysql_with(&[SEED_MYSQL]);
        let store = Store::connect(&db).await;
        for table in ["mqtt_msg", "mqtt_retain"] {
            store.execute(&format!("alter table {table} modify payload text"), &[]).await;
        }
        let e = scenarios::server_env(db, "mysql", scenarios::Setup::plain()).await;
        let refused: [&[u8]; 2] = [b"\xff\xfe binary", "thermometer \u{1F321}".as_bytes()];
        scenarios::text_payload_refuses(&e.broker, &e.store, "mysql", &refused).await;
    }
}

/// Results are capped in bytes while they are read (see `sql::MAX_RESULT_BYTES`).
#[tokio::test(flavor = "multi_thread")]
async fn a_result_too_large_is_refused() {
    scenarios::a_result_too_large_is_refused(TestDb::mysql(), "mysql", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) SELECT REPEAT('x', 1048576) FROM n").await;
}
