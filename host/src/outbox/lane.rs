//! One lane of the outbox per pool: whether its database answers, and the
//! entries deferred for it that are not yet replayed, in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// An entry of the lane, as kept in memory (the event itself stays on disk).
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: u64,
    pub bytes: u64,
    /// When it was deferred, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub action: Arc<str>,
}

pub struct Lane {
    /// The pool, as `backend.pool` (e.g. `pgsql.pool1`).
    pub name: Arc<str>,
    available: AtomicBool,
    down_since: Mutex<Option<Instant>>,
    queue: Mutex<VecDeque<Pending>>,
    /// The queue's length, read on every write without taking the lock.
    waiting: AtomicUsize,
    /// Wakes the lane's drainer: an entry was deferred, or the database went away.
    pub(crate) wake: Notify,
    pub(crate) drainer: AtomicBool,
}

impl Lane {
    pub(super) fn new(name: Arc<str>) -> Lane {
        Lane {
            name,
            available: AtomicBool::new(true),
            down_since: Mutex::new(None),
            queue: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
            wake: Notify::new(),
            drainer: AtomicBool::new(false),
        }
    }

    /// Whether the database last answered.
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// Whether a write must go to the outbox rather than to the database:
    /// the database is away, or earlier writes are still waiting there (a
    /// write that overtook them would break each client's order).
    pub fn defers(&self) -> bool {
        !self.is_available() || self.has_pending()
    }

    pub fn has_pending(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// The database did not answer: from now on its writes go to the outbox
    /// until a health check sees it back. Logged once per outage.
    pub fn mark_unavailable(&self, why: &str) {
        if self.available.swap(false, Ordering::AcqRel) {
            *self.down_since.lock().expect("down since") = Some(Instant::now());
            tracing::warn!(pool = %self.name, reason = why, "database unavailable; its writes go to the outbox");
            self.wake.notify_one();
        }
    }

    /// A health check saw the database answer again.
    pub fn mark_available(&self) {
        if !self.available.swap(true, Ordering::AcqRel) {
            let down = self.down_since.lock().expect("down since").take();
            tracing::info!(
                pool = %self.name,
                down_for = ?down.map(|t| t.elapsed()),
                waiting = self.depth(),
                "database available again; replaying its outbox"
            );
        }
    }

    pub(super) fn push(&self, pending: Pending) {
        let mut queue = self.queue.lock().expect("lane queue");
        queue.push_back(pending);
        self.waiting.store(queue.len(), Ordering::Release);
        drop(queue);
        self.wake.notify_one();
    }

    /// The first `n` entries waiting, oldest first.
    pub fn front(&self, n: usize) -> Vec<Pending> {
        self.queue.lock().expect("lane queue").iter().take(n).cloned().collect()
    }

    /// Takes the entries `seqs` out of the queue; returns their bytes.
    pub(super) fn take(&self, seqs: &[u64]) -> u64 {
        let mut queue = self.queue.lock().expect("lane queue");
        let mut bytes = 0;
        queue.retain(|p| {
            let gone = seqs.contains(&p.seq);
            if gone {
                bytes += p.bytes;
            }
            !gone
        });
        self.waiting.store(queue.len(), Ordering::Release);
        bytes
    }

    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Entries, bytes and the age of the oldest entry (milliseconds since the epoch).
    pub fn stats(&self) -> (u64, u64, Option<u64>) {
        let queue = self.queue.lock().expect("lane queue");
        (queue.len() as u64, queue.iter().map(|p| p.bytes).sum(), queue.front().map(|p| p.at_ms))
    }

    /// Entries waiting per action.
    pub fn per_action(&self) -> Vec<(Arc<str>, u64)> {
        let queue = self.queue.lock().expect("lane queue");
        let mut counts: Vec<(Arc<str>, u64)> = Vec::new();
        for p in queue.iter() {
            match counts.iter_mut().find(|(a, _)| *a == p.action) {
                Some((_, n)) => *n += 1,
                None => counts.push((p.action.clone(), 1)),
            }
        }
        counts
    }
}
