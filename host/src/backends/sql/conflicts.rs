//! Statements that lose to a concurrent one, and run again.
//!
//! Under concurrent writes a database may roll a statement back rather
//! than wait: a deadlock, a serialization failure, a lock wait that timed
//! out. Nothing of it was written, and the same statement run again
//! succeeds, so a client is expected to retry. On MariaDB the stock
//! insert-if-absent (`INSERT ... SELECT ... WHERE NOT EXISTS`, which keeps
//! outbox replays from storing twice) takes the table's AUTO-INC lock and
//! row locks in an order two such statements can deadlock on, reported as
//! error 1467, "Failed to read auto-increment value from storage engine"
//! (seen with four publishers when every live insert was one; live inserts
//! are plain now, and replays still meet it). Without a retry, such a write
//! would fail and its message be lost.

use std::future::Future;
use std::time::Duration;

use sqlx::error::DatabaseError;

use super::SqlError;

/// Attempts in all; the pauses between them grow from the first.
const ATTEMPTS: u32 = 6;
const FIRST_PAUSE: Duration = Duration::from_millis(2);

/// MySQL/MariaDB error numbers of a statement rolled back by a concurrent
/// one: lock wait timeout (1205), deadlock (1213), and the deadlock on the
/// AUTO-INC lock that InnoDB reports as a failed auto-increment read (1467).
const MYSQL_CONFLICTS: [u16; 3] = [1205, 1213, 1467];

/// Whether the database rolled the statement back for a concurrent one.
pub fn is_conflict(e: &dyn DatabaseError) -> bool {
    // SQLSTATE 40001 serialization failure (MySQL's deadlock too), 40P01
    // PostgreSQL's deadlock detected.
    if matches!(e.code().as_deref(), Some("40001" | "40P01")) {
        return true;
    }
    e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|m| MYSQL_CONFLICTS.contains(&m.number()))
}

/// Runs `attempt` until it does not lose to a concurrent statement, at most
/// [`ATTEMPTS`] times, pausing a little longer each time (with jitter, so
/// two that deadlocked do not meet again in step). One that still loses is
/// unavailable, not refused: the write waits in the outbox and is replayed.
pub async fn retried<T, F, Fut>(mut attempt: F) -> Result<T, SqlError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SqlError>>,
{
    let mut pause = FIRST_PAUSE;
    for _ in 1..ATTEMPTS {
        match attempt().await {
            Err(SqlError::Conflict(m)) => {
                tracing::debug!("a statement lost to a concurrent one, running it again: {m}");
                let jitter = Duration::from_micros(u64::from(rand_below(1000)));
                tokio::time::sleep(pause + jitter).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    attempt().await.map_err(|e| match e {
        SqlError::Conflict(m) => SqlError::Unavailable(format!("still conflicting after {ATTEMPTS} attempts: {m}")),
        other => other,
    })
}

/// A cheap, good-enough spread for jitter: the clock's nanoseconds.
fn rand_below(n: u32) -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()) % n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A conflict is run again until it passes; another error is not.
    #[tokio::test]
    async fn conflicts_are_run_again() {
        let calls = AtomicU32::new(0);
        let r = retried(|| async {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            if n < 3 {
                Err(SqlError::Conflict("deadlock".into()))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);

        calls.store(0, Ordering::Relaxed);
        let r: Result<(), _> = retried(|| async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(SqlError::Statement("no such table".into()))
        })
        .await;
        assert!(matches!(r, Err(SqlError::Statement(_))));
        assert_eq!(calls.load(Ordering::Relaxed), 1);

        let r: Result<(), _> = retried(|| async { Err(SqlError::Conflict("deadlock".into())) }).await;
        assert!(matches!(r, Err(SqlError::Unavailable(_))), "{r:?}");
    }
}
