//! Coalescing one action's events into batch calls, for guests that export
//! the `batch-action` world (`handle-batch`).
//!
//! Events queue per action; at most [`CALLS_IN_FLIGHT`] batch calls of the
//! action run at once, and each takes everything queued when it starts (up
//! to [`MAX_EVENTS`]). A lone event finds a free slot and goes at once, by
//! itself: batches form only while earlier calls are still running, so
//! batching adds no waiting to a quiet broker and grows with the load (the
//! way a database's group commit does).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::{oneshot, Semaphore, SemaphorePermit};

use super::bindings::types;
use super::CallError;

/// Batch calls of one action running at once. Each holds a guest instance
/// and, inside it, usually one database round trip for all its events.
/// Measured with 64 events in flight (`sql_publish`, `cassandra_publish`,
/// `redis_publish`): 4 gave the most throughput and the least CPU per
/// event; 16 and 64 made smaller batches and gained nothing.
pub const CALLS_IN_FLIGHT: usize = 4;
/// Events one batch call takes at most.
pub const MAX_EVENTS: usize = 64;

pub(super) type Answer = Result<types::Outcome, CallError>;

pub(super) struct Waiting {
    pub event: types::Event,
    pub answer: oneshot::Sender<Answer>,
}

/// One action's queue of events waiting for a batch call.
pub struct Batcher {
    queue: Mutex<VecDeque<Waiting>>,
    calls: Semaphore,
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher { queue: Mutex::new(VecDeque::new()), calls: Semaphore::new(CALLS_IN_FLIGHT) }
    }
}

impl Batcher {
    pub(super) fn push(&self, event: types::Event) -> oneshot::Receiver<Answer> {
        let (answer, receiver) = oneshot::channel();
        self.queue.lock().expect("batch queue").push_back(Waiting { event, answer });
        receiver
    }

    pub(super) async fn slot(&self) -> SemaphorePermit<'_> {
        self.calls.acquire().await.expect("never closed")
    }

    /// The oldest waiting events, up to [`MAX_EVENTS`]; those whose caller
    /// has gone (its deadline passed, so it deferred the event itself) are
    /// dropped rather than written twice.
    pub(super) fn take(&self) -> Vec<Waiting> {
        let mut queue = self.queue.lock().expect("batch queue");
        let mut taken = Vec::with_capacity(queue.len().min(MAX_EVENTS));
        while taken.len() < MAX_EVENTS {
            match queue.pop_front() {
                Some(w) if w.answer.is_closed() => continue,
                Some(w) => taken.push(w),
                None => break,
            }
        }
        taken
    }
}
