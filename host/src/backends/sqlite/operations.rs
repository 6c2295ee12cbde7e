//! Statements against a SQLite store, with bound parameters and typed rows.
//!
//! A statement joins the store's queue; whoever finds the connection free
//! runs what is queued (its own and others', one transaction: group commit),
//! on its own thread, so a lone caller pays no hand-over to another thread,
//! and callers who find it busy are answered by the one running. Once its
//! own statement is answered, a caller hands what is still queued to a
//! blocking thread rather than go on running others' statements: under a
//! steady load it would otherwise never return (and its guest call would
//! wait, holding up its client's acknowledgement).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::pool::{Shared, SqliteDb};
use super::writer::{self, Answer, Job, Work};
use crate::backends::sql::{Batch, SqlError, SqlValue};

async fn submit(db: &SqliteDb, work: Work) -> Result<Answer, SqlError> {
    let (reply, answer) = oneshot::channel();
    let shared = &db.shared;
    shared.waiting.lock().expect("the queue").push(Job { work, reply });
    // Run what waits while the connection is ours. Having let it go, look
    // again: a statement queued just before by someone who found the
    // connection busy would otherwise wait for the next caller.
    while let Ok(connection) = shared.connection.try_lock() {
        let answered = || !answer.is_empty();
        let more = blocking(|| writer::drain(&connection, &shared.waiting, answered));
        drop(connection);
        // Only a caller already answered stops with statements still queued.
        if more {
            hand_over(shared.clone());
            break;
        }
        if shared.waiting.lock().expect("the queue").is_empty() {
            break;
        }
    }
    answer.await.map_err(|_| SqlError::Unavailable("the SQLite store dropped the statement".into()))?
}

/// Runs what is queued on a blocking thread, until nothing is.
fn hand_over(shared: Arc<Shared>) {
    tokio::task::spawn_blocking(move || loop {
        {
            let Ok(connection) = shared.connection.lock() else { return };
            writer::drain(&connection, &shared.waiting, || false);
        }
        if shared.waiting.lock().expect("the queue").is_empty() {
            return;
        }
    });
}

/// SQLite blocks; on the multi-threaded runtime, tokio is told, so it moves
/// other tasks off this thread meanwhile. (A single-threaded runtime, as in
/// unit tests, just runs it.) Its CPU time is the host's, not the guest's
/// whose call happened to find the connection free.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| crate::engine::host_work(f)),
        _ => crate::engine::host_work(f),
    }
}

pub async fn execute(db: &SqliteDb, statement: &str, params: Vec<SqlValue>) -> Result<u64, SqlError> {
    match submit(db, Work::Execute(statement.to_string(), params)).await? {
        Answer::Affected(n) => Ok(n),
        Answer::Rows(_) => unreachable!("an execute answers with a count"),
    }
}

/// Statements, each for its sets of parameters, all or nothing.
pub async fn execute_batches(db: &SqliteDb, batches: Vec<Batch>) -> Result<u64, SqlError> {
    match submit(db, Work::Batch(batches)).await? {
        Answer::Affected(n) => Ok(n),
        Answer::Rows(_) => unreachable!("a batch answers with a count"),
    }
}

pub async fn query(db: &SqliteDb, statement: &str, params: Vec<SqlValue>) -> Result<Vec<Vec<SqlValue>>, SqlError> {
    match submit(db, Work::Query(statement.to_string(), params)).await? {
        Answer::Rows(rows) => Ok(rows),
        Answer::Affected(_) => unreachable!("a query answers with rows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> SqliteDb {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(super::super::pool::SCHEMA).unwrap();
        super::super::guard::install(&c, std::time::Duration::from_millis(300)).unwrap();
        super::super::pool::open(c, "test")
    }

    /// Every value type survives a round trip through the seed's tables, bound, not spliced.
    #[tokio::test]
    async fn values_round_trip() {
        let db = memory();
        let hostile = "x'); DROP TABLE mqtt_msg; --";
        execute(
            &db,
            "INSERT INTO mqtt_msg(msgid, topic, sender, qos, retain, payload, arrived) VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![
                SqlValue::Text("id1".into()),
                SqlValue::Text(hostile.into()),
                SqlValue::Null,
                SqlValue::Int(1),
                SqlValue::Bool(false),
                SqlValue::Bytes(vec![0, 159, 146, 150]),
                SqlValue::Timestamp(1_700_000_000_123),
            ],
        )
        .await
        .unwrap();
        let rows =
            query(&db, "SELECT topic, sender, qos, retain, payload, arrived FROM mqtt_msg", vec![]).await.unwrap();
        assert_eq!(
            rows,
            vec![vec![
                SqlValue::Text(hostile.into()),
                SqlValue::Null,
                SqlValue::Int(1),
                SqlValue::Int(0),
                SqlValue::Bytes(vec![0, 159, 146, 150]),
                SqlValue::Timestamp(1_700_000_000_123),
            ]]
        );
    }

    /// A result past 32 MiB is given up as it is read, with an error that
    /// says what to do; one just under it comes whole.
    #[tokio::test]
    async fn a_result_too_large_is_refused_while_read() {
        let db = memory();
        let insert = "INSERT INTO mqtt_msg(msgid, topic, payload, arrived) VALUES (?, 'big', ?, 0)";
        for i in 0..34 {
            execute(&db, insert, vec![SqlValue::Text(format!("m{i}")), SqlValue::Bytes(vec![7; 1 << 20])])
                .await
                .unwrap();
        }
        let all = query(&db, "SELECT payload FROM mqtt_msg", vec![]).await.unwrap_err();
        assert!(all.to_string().contains("more than 32 MiB (after 33 rows); page it with LIMIT"), "{all}");
        let under = query(&db, "SELECT payload FROM mqtt_msg LIMIT 31", vec![]).await.unwrap();
        assert_eq!(under.len(), 31);
    }

    /// A statement the database refuses fails alone: the statements grouped
    /// with it in one transaction are committed all the same.
    #[tokio::test]
    async fn a_failing_statement_fails_alone() {
        let db = memory();
        let insert = "INSERT INTO mqtt_sub(clientid, topic, qos) VALUES (?, ?, 1)";
        let (a, bad, b) = tokio::join!(
            execute(&db, insert, vec![SqlValue::Text("c".into()), SqlValue::Text("a".into())]),
            execute(&db, "INSERT INTO no_such_table VALUES (1)", vec![]),
            execute(&db, insert, vec![SqlValue::Text("c".into()), SqlValue::Text("b".into())]),
        );
        assert_eq!((a.unwrap(), b.unwrap()), (1, 1));
        assert!(matches!(bad.unwrap_err(), SqlError::Statement(_)));
        let rows = query(&db, "SELECT topic FROM mqtt_sub ORDER BY topic", vec![]).await.unwrap();
        assert_eq!(rows, vec![vec![SqlValue::Text("a".into())], vec![SqlValue::Text("b".into())]]);
    }

    /// A caller stops running statements once its own is answered: what is
    /// still queued behind it is handed to a blocking thread, and every
    /// statement of a steady stream from many callers is answered and stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_answered_hands_the_rest_over() {
        let db = memory();
        let insert = "INSERT INTO mqtt_sub(clientid, topic, qos) VALUES (?, ?, 1)";
        let (own_reply, own_answer) = oneshot::channel();
        let mut others = Vec::new();
        {
            let mut waiting = db.shared.waiting.lock().unwrap();
            let params = |t: &str| vec![SqlValue::Text("c".into()), SqlValue::Text(t.into())];
            waiting.push(Job { work: Work::Execute(insert.into(), params("own")), reply: own_reply });
            for i in 0..1500 {
                let (reply, answer) = oneshot::channel();
                waiting.push(Job { work: Work::Execute(insert.into(), params(&format!("t{i}"))), reply });
                others.push(answer);
            }
        }
        let more = {
            let connection = db.shared.connection.lock().unwrap();
            writer::drain(&connection, &db.shared.waiting, || !own_answer.is_empty())
        };
        assert!(more, "the drain stopped with statements still queued");
        assert_eq!(own_answer.await.unwrap().ok().map(|a| matches!(a, Answer::Affected(1))), Some(true));
        assert_eq!(db.shared.waiting.lock().unwrap().len(), 1501 - writer::MAX_GROUP, "it ran only the first group");

        hand_over(db.shared.clone());
        for answer in others {
            assert!(matches!(answer.await.unwrap(), Ok(Answer::Affected(1))));
        }

        let callers = (0..32).map(|c| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let params = vec![SqlValue::Text(format!("caller{c}")), SqlValue::Text(format!("m{i}"))];
                    execute(&db, insert, params).await.unwrap();
                }
            })
        });
        for caller in callers.collect::<Vec<_>>() {
            tokio::time::timeout(std::time::Duration::from_secs(60), caller).await.unwrap().unwrap();
        }
        let rows = query(&db, "SELECT count(*) FROM mqtt_sub", vec![]).await.unwrap();
        assert_eq!(rows, vec![vec![SqlValue::Int(1 + 1500 + 32 * 100)]]);
    }

    /// A statement that would never end is interrupted once it has run
    /// longer than the statement timeout, failing alone; the store goes on.
    #[tokio::test]
    async fn a_statement_that_never_ends_is_interrupted() {
        let db = memory();
        let endless = "INSERT INTO mqtt_sub(clientid, topic, qos) \
                       WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 'c', 't', count(*) FROM c";
        let insert = "INSERT INTO mqtt_sub(clientid, topic, qos) VALUES (?, ?, 1)";
        let started = std::time::Instant::now();
        let (endless, next) = tokio::join!(
            execute(&db, endless, vec![]),
            execute(&db, insert, vec![SqlValue::Text("c".into()), SqlValue::Text("after".into())]),
        );
        let SqlError::Statement(why) = endless.unwrap_err() else { panic!("not a statement error") };
        assert!(why.contains("statement_timeout"), "{why}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "interrupted late: {:?}", started.elapsed());
        assert_eq!(next.unwrap(), 1);
        let rows = query(&db, "SELECT topic FROM mqtt_sub", vec![]).await.unwrap();
        assert_eq!(rows, vec![vec![SqlValue::Text("after".into())]]);
    }

    /// A batch is all or nothing, across its statements: a failing row of
    /// the second statement leaves no row of the first behind.
    #[tokio::test]
    async fn a_batch_is_all_or_nothing() {
        let db = memory();
        let text = |t: &str| SqlValue::Text(t.into());
        let batches = vec![
            (
                "INSERT INTO mqtt_sub(clientid, topic, qos) VALUES (?, ?, 1)".to_string(),
                vec![vec![text("c"), text("a")]],
            ),
            (
                "INSERT INTO mqtt_retain(topic, msgid) VALUES (?, ?)".to_string(),
                vec![vec![text("t1"), text("m1")], vec![text("t1"), text("m2")]],
            ),
        ];
        assert!(execute_batches(&db, batches).await.is_err(), "the last row breaks the unique topic");
        assert!(query(&db, "SELECT * FROM mqtt_retain", vec![]).await.unwrap().is_empty());
        assert!(query(&db, "SELECT * FROM mqtt_sub", vec![]).await.unwrap().is_empty());
    }

    /// A table's columns may be read (the stock guest fits its writes to them).
    #[tokio::test]
    async fn table_info_is_readable() {
        let db = memory();
        let rows = query(
            &db,
            "SELECT name, type FROM pragma_table_info(?) WHERE name = 'payload'",
            vec![SqlValue::Text("mqtt_msg".into())],
        )
        .await
        .unwrap();
        assert_eq!(rows, vec![vec![SqlValue::Text("payload".into()), SqlValue::Text("BLOB".into())]]);
    }

    /// A guest cannot end the host's transaction.
    #[tokio::test]
    async fn transaction_control_is_refused() {
        let db = memory();
        assert!(matches!(execute(&db, "commit", vec![]).await.unwrap_err(), SqlError::Statement(_)));
    }

    /// Whatever its spelling, a statement that would end the host's
    /// transaction, reach a file beside the store or change how it is kept
    /// is refused, and the writes grouped with it are committed all the same.
    #[tokio::test]
    async fn statements_beyond_the_store_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.db");
        let outside_sql = outside.display().to_string().replace('\'', "''");
        let hostile = [
            "/**/COMMIT".to_string(),
            "/**/ SAVEPOINT x".to_string(),
            format!("/**/ATTACH '{outside_sql}' AS x"),
            format!("VACUUM INTO '{outside_sql}'"),
            "PRAGMA synchronous=OFF".to_string(),
            "/**/PRAGMA journal_mode=DELETE".to_string(),
            "SELECT load_extension('x')".to_string(),
        ];
        let db = memory();
        let insert = "INSERT INTO mqtt_sub(clientid, topic, qos) VALUES (?, ?, 1)";
        for statement in &hostile {
            let (before, bad, after) = tokio::join!(
                execute(&db, insert, vec![SqlValue::Text(statement.clone()), SqlValue::Text("before".into())]),
                execute(&db, statement, vec![]),
                execute(&db, insert, vec![SqlValue::Text(statement.clone()), SqlValue::Text("after".into())]),
            );
            assert!(matches!(bad, Err(SqlError::Statement(_))), "{statement} was not refused: {bad:?}");
            assert_eq!((before.unwrap(), after.unwrap()), (1, 1), "{statement}");
        }
        assert!(!outside.exists(), "a file was written outside the store");
        let rows = query(&db, "SELECT count(*) FROM mqtt_sub", vec![]).await.unwrap();
        assert_eq!(rows, vec![vec![SqlValue::Int(2 * hostile.len() as i64)]]);
    }
}
