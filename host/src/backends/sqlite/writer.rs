//! Running the statements that have queued for a SQLite connection: in one
//! transaction, committed, and then each caller answered. A job that fails
//! fails alone: the group is then run again with each job in a savepoint.

use tokio::sync::oneshot;

use crate::backends::sql::{Batch, ResultSize, SqlError, SqlValue};

/// The most statements one transaction takes.
pub(super) const MAX_GROUP: usize = 512;

/// The text form timestamps take in SQLite, the one its date functions read.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

pub enum Work {
    Execute(String, Vec<SqlValue>),
    /// Statements, each for its sets of parameters, in one savepoint.
    Batch(Vec<Batch>),
    Query(String, Vec<SqlValue>),
}

pub enum Answer {
    Affected(u64),
    Rows(Vec<Vec<SqlValue>>),
}

pub struct Job {
    pub work: Work,
    pub reply: oneshot::Sender<Result<Answer, SqlError>>,
}

/// Runs the statements waiting, group after group, until none wait or, after
/// a group, `enough` says so; whether any still wait. The caller holds the
/// connection; statements queued meanwhile by others join the next group.
pub fn drain(
    connection: &rusqlite::Connection,
    waiting: &std::sync::Mutex<Vec<Job>>,
    enough: impl Fn() -> bool,
) -> bool {
    loop {
        let group: Vec<Job> = {
            let mut w = waiting.lock().expect("the queue");
            let take = w.len().min(MAX_GROUP);
            w.drain(..take).collect()
        };
        if group.is_empty() {
            return false;
        }
        let answers = run_group(connection, &group);
        for (job, answer) in group.into_iter().zip(answers) {
            // A caller that gave up (its call timed out) no longer listens.
            let _ = job.reply.send(answer);
        }
        if enough() {
            return !waiting.lock().expect("the queue").is_empty();
        }
    }
}

fn run_group(c: &rusqlite::Connection, group: &[Job]) -> Vec<Result<Answer, SqlError>> {
    // Alone, one statement is its own transaction: nothing to share, nothing to isolate.
    if let [job @ Job { work: Work::Execute(..) | Work::Query(..), .. }] = group {
        return vec![perform(c, &job.work)];
    }
    match run_together(c, group) {
        Together::Done(answers) => answers,
        Together::Failed { job, error } => run_isolated(c, group, job, error),
    }
}

enum Together {
    /// Committed (or, if BEGIN or COMMIT failed, every job's error).
    Done(Vec<Result<Answer, SqlError>>),
    /// Job `job` failed; the transaction was rolled back, nothing written.
    Failed { job: usize, error: SqlError },
}

/// The group in one transaction with no savepoints, the common case: every
/// job succeeds. A savepoint per job would copy each page a job changes
/// into a statement journal (written to a file past 64 KiB), which cost
/// more than the inserts themselves.
fn run_together(c: &rusqlite::Connection, group: &[Job]) -> Together {
    if let Err(e) = control(c, "BEGIN IMMEDIATE") {
        return Together::Done(group.iter().map(|_| Err(clone_error(&e))).collect());
    }
    let mut answers = Vec::with_capacity(group.len());
    for (index, job) in group.iter().enumerate() {
        match perform(c, &job.work) {
            Ok(answer) => answers.push(Ok(answer)),
            Err(error) => {
                rollback(c);
                return Together::Failed { job: index, error };
            }
        }
    }
    Together::Done(commit(c, answers))
}

/// The group again after job `failed` failed with `error`: each other job in
/// a savepoint of its own, so that one that fails takes back only its own
/// statements. The failed job is not run twice (a statement that ran out of
/// time would make its neighbours wait twice); its error is its answer.
fn run_isolated(
    c: &rusqlite::Connection,
    group: &[Job],
    failed: usize,
    error: SqlError,
) -> Vec<Result<Answer, SqlError>> {
    if let Err(e) = control(c, "BEGIN IMMEDIATE") {
        return group.iter().map(|_| Err(clone_error(&e))).collect();
    }
    let mut error = Some(error);
    let mut answers = Vec::with_capacity(group.len());
    for (index, job) in group.iter().enumerate() {
        if index == failed {
            answers.push(Err(error.take().expect("one failed job")));
            continue;
        }
        let answer = control(c, "SAVEPOINT job").and_then(|()| {
            let done = perform(c, &job.work);
            if done.is_err() {
                control(c, "ROLLBACK TO job")?;
            }
            control(c, "RELEASE job")?;
            done
        });
        answers.push(answer);
    }
    commit(c, answers)
}

/// Commits; if that fails, every job gets its error (nothing was written).
fn commit(c: &rusqlite::Connection, answers: Vec<Result<Answer, SqlError>>) -> Vec<Result<Answer, SqlError>> {
    match control(c, "COMMIT") {
        Ok(()) => answers,
        Err(e) => {
            rollback(c);
            answers.iter().map(|_| Err(clone_error(&e))).collect()
        }
    }
}

/// Rolls back the open transaction, if an error has not already done so
/// (SQLite rolls back by itself on a full disk or an I/O error).
fn rollback(c: &rusqlite::Connection) {
    if !c.is_autocommit() {
        let _ = control(c, "ROLLBACK");
    }
}

/// A transaction-control statement, prepared once and kept.
fn control(c: &rusqlite::Connection, sql: &str) -> Result<(), SqlError> {
    super::guard::trusted(|| c.prepare_cached(sql).and_then(|mut s| s.execute([]))).map(|_| ()).map_err(to_error)
}

fn perform(c: &rusqlite::Connection, work: &Work) -> Result<Answer, SqlError> {
    super::guard::timed(|| perform_untimed(c, work))
}

fn perform_untimed(c: &rusqlite::Connection, work: &Work) -> Result<Answer, SqlError> {
    match work {
        Work::Execute(sql, params) => {
            refuse_transaction_control(sql)?;
            let mut stmt = c.prepare_cached(sql).map_err(to_error)?;
            Ok(Answer::Affected(
                stmt.execute(rusqlite::params_from_iter(params.iter().map(value))).map_err(to_error)? as u64
            ))
        }
        Work::Batch(batches) => {
            let mut affected = 0;
            for (sql, rows) in batches {
                refuse_transaction_control(sql)?;
                let mut stmt = c.prepare_cached(sql).map_err(to_error)?;
                for params in rows {
                    affected +=
                        stmt.execute(rusqlite::params_from_iter(params.iter().map(value))).map_err(to_error)? as u64;
                }
            }
            Ok(Answer::Affected(affected))
        }
        Work::Query(sql, params) => {
            refuse_transaction_control(sql)?;
            let mut stmt = c.prepare_cached(sql).map_err(to_error)?;
            let declared: Vec<bool> = stmt
                .columns()
                .iter()
                .map(|col| {
                    col.decl_type()
                        .is_some_and(|t| matches!(t.to_ascii_uppercase().as_str(), "DATETIME" | "TIMESTAMP" | "DATE"))
                })
                .collect();
            let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(value))).map_err(to_error)?;
            let mut out = Vec::new();
            let mut size = ResultSize::default();
            while let Some(row) = rows.next().map_err(to_error)? {
                let values = (0..declared.len())
                    .map(|i| row.get_ref(i).map(|v| decode(v, declared[i])).map_err(to_error))
                    .collect::<Result<Vec<_>, _>>()?;
                size.add(&values)?;
                out.push(values);
            }
            Ok(Answer::Rows(out))
        }
    }
}

/// The host makes the transactions; a statement that would end one would
/// commit its neighbours' work early.
fn refuse_transaction_control(sql: &str) -> Result<(), SqlError> {
    let first = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    if matches!(first.as_str(), "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "ATTACH" | "DETACH")
    {
        return Err(SqlError::Statement(format!("`{first}` is the host's to say on SQLite; send single statements")));
    }
    Ok(())
}

fn value(v: &SqlValue) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        SqlValue::Null => V::Null,
        SqlValue::Bool(b) => V::Integer(i64::from(*b)),
        SqlValue::Int(i) => V::Integer(*i),
        SqlValue::Float(f) => V::Real(*f),
        SqlValue::Text(s) => V::Text(s.clone()),
        SqlValue::Bytes(b) => V::Blob(b.clone()),
        SqlValue::Timestamp(ms) => V::Text(SqlValue::naive_utc(*ms).format(TIMESTAMP_FORMAT).to_string()),
    }
}

/// A column by its stored type; text in a column declared as a date or time
/// comes back as a timestamp.
fn decode(v: rusqlite::types::ValueRef<'_>, is_time: bool) -> SqlValue {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => SqlValue::Null,
        V::Integer(i) => SqlValue::Int(i),
        V::Real(f) => SqlValue::Float(f),
        V::Blob(b) => SqlValue::Bytes(b.to_vec()),
        V::Text(t) => {
            let text = String::from_utf8_lossy(t).into_owned();
            match is_time.then(|| parse_timestamp(&text)).flatten() {
                Some(ms) => SqlValue::Timestamp(ms),
                None => SqlValue::Text(text),
            }
        }
    }
}

fn parse_timestamp(text: &str) -> Option<i64> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(SqlValue::millis)
}

fn to_error(e: rusqlite::Error) -> SqlError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen | ErrorCode::DiskFull) => {
            SqlError::Unavailable(e.to_string())
        }
        Some(ErrorCode::AuthorizationForStatementDenied) => SqlError::Statement(format!(
            "{e}: on SQLite the host owns transactions, attached files, pragmas and extensions"
        )),
        Some(ErrorCode::OperationInterrupted) => {
            SqlError::Statement(format!("{e}: the statement ran longer than the pool's statement_timeout"))
        }
        _ => SqlError::Statement(e.to_string()),
    }
}

fn clone_error(e: &SqlError) -> SqlError {
    match e {
        SqlError::Unavailable(m) => SqlError::Unavailable(m.clone()),
        SqlError::Statement(m) => SqlError::Statement(m.clone()),
        SqlError::TooLarge(m) => SqlError::TooLarge(m.clone()),
        SqlError::Conflict(m) => SqlError::Conflict(m.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(super::super::pool::SCHEMA).unwrap();
        super::super::guard::install(&c, std::time::Duration::from_millis(300)).unwrap();
        c
    }

    const INSERT: &str = "INSERT INTO mqtt_msg(msgid, topic, arrived) VALUES (?, 't', 0)";

    fn row(msgid: &str) -> Vec<SqlValue> {
        vec![SqlValue::Text(msgid.into())]
    }

    /// Runs `works` as one group; each job's answer, as the affected count or
    /// the error's text.
    fn run(c: &rusqlite::Connection, works: Vec<Work>) -> Vec<Result<u64, String>> {
        let (jobs, answers): (Vec<Job>, Vec<_>) = works
            .into_iter()
            .map(|work| {
                let (reply, answer) = oneshot::channel();
                (Job { work, reply }, answer)
            })
            .unzip();
        let waiting = std::sync::Mutex::new(jobs);
        assert!(!drain(c, &waiting, || false));
        answers
            .into_iter()
            .map(|mut a| match a.try_recv().expect("answered") {
                Ok(Answer::Affected(n)) => Ok(n),
                Ok(Answer::Rows(rows)) => Ok(rows.len() as u64),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }

    fn stored(c: &rusqlite::Connection) -> Vec<String> {
        let mut s = c.prepare("SELECT msgid FROM mqtt_msg ORDER BY msgid").unwrap();
        s.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// A group that all succeeds is committed whole, in one transaction.
    #[test]
    fn a_group_is_committed_together() {
        let c = connection();
        let answers = run(
            &c,
            vec![
                Work::Execute(INSERT.into(), row("m1")),
                Work::Batch(vec![(INSERT.into(), vec![row("m2"), row("m3")])]),
                Work::Query("SELECT msgid FROM mqtt_msg".into(), vec![]),
            ],
        );
        assert_eq!(answers, vec![Ok(1), Ok(2), Ok(3)], "the query sees the rows written before it");
        assert_eq!(stored(&c), ["m1", "m2", "m3"]);
        assert!(c.is_autocommit(), "no transaction left open");
    }

    /// A job that fails halfway takes back its own rows and only those: the
    /// jobs before and after it are committed, and each is answered once.
    #[test]
    fn a_job_that_fails_halfway_takes_back_only_its_own_rows() {
        let c = connection();
        let answers = run(
            &c,
            vec![
                Work::Execute(INSERT.into(), row("m1")),
                // m2 goes in, then m1 again breaks the unique msgid.
                Work::Batch(vec![(INSERT.into(), vec![row("m2"), row("m1")])]),
                Work::Execute(INSERT.into(), row("m3")),
                Work::Execute("INSERT INTO no_such_table VALUES (1)".into(), vec![]),
                Work::Execute(INSERT.into(), row("m4")),
            ],
        );
        assert_eq!(answers[0], Ok(1));
        assert!(answers[1].as_ref().is_err_and(|e| e.contains("UNIQUE")), "{:?}", answers[1]);
        assert_eq!(answers[2], Ok(1));
        assert!(answers[3].as_ref().is_err_and(|e| e.contains("no_such_table")), "{:?}", answers[3]);
        assert_eq!(answers[4], Ok(1));
        assert_eq!(stored(&c), ["m1", "m3", "m4"]);
        assert!(c.is_autocommit(), "no transaction left open");
    }
}
