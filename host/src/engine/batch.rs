//! Coalescing one action's events into batch calls, for guests that export
//! the `batch-action` world (`handle-batch`).
//!
//! Events queue per action; at most [`CALLS_IN_FLIGHT`] batch calls of the
//! action run at once, and each takes what is queued when it starts (up to
//! [`MAX_EVENTS`]): everything, or, when other calls could start too, every
//! event of its share of the waiting clients. A lone event finds a free slot and goes at once, by
//! itself: batches form only while earlier calls are still running, so
//! batching adds no waiting to a quiet broker and grows with the load (the
//! way a database's group commit does).
//!
//! A client's events are written in the order they came: a batch leaves
//! out the events of a client that has one in a batch still running (and
//! every later event of that client), and they go in a batch taken once
//! that one has answered. Two batches running at once commit in either
//! order, and the stored order is what a fetch reads (`ORDER BY id`), so a
//! publisher with several messages in flight (`cistern.mqtt.publishes_in_flight`)
//! would otherwise find them stored out of order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Notify, Semaphore, SemaphorePermit};

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
    pub event: Arc<types::Event>,
    pub answer: oneshot::Sender<Answer>,
    taken: Arc<AtomicBool>,
    client: ClientKey,
}

/// A client id as the queue tells clients apart: a 64-bit digest, made once
/// when the event is queued, so that taking a batch compares numbers rather
/// than hashing and comparing every waiting event's client id each time. Two
/// ids with one digest only count as one client: their events keep a shared
/// order, which batches less but never reorders a client's writes.
type ClientKey = u64;

/// Hashes a [`ClientKey`] as it is: it is a digest already, and hashing it
/// again (the default SipHash) was most of what a take cost. Client ids
/// chosen to collide cost no more than a scan of the map, which holds at most
/// the clients of [`CALLS_IN_FLIGHT`] batches of [`MAX_EVENTS`] events.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = crate::message_id::fnv1a(bytes);
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// A caller's event in the queue: its answer, and whether a batch has
/// taken it already. A caller whose event was taken still runs a batch if
/// it gets a slot and finds events to take, but once it finds none it waits
/// for its answer alone: with many events in flight, callers whose events
/// were taken would otherwise each take a slot and look through the queue
/// for nothing every time a batch answers.
pub(super) struct Pushed {
    pub answer: oneshot::Receiver<Answer>,
    taken: Arc<AtomicBool>,
}

impl Pushed {
    pub fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }
}

/// One action's queue of events waiting for a batch call.
pub struct Batcher {
    queue: Mutex<Queue>,
    calls: Semaphore,
    /// Told when a batch has answered, so that events left out for their
    /// client's earlier one are taken.
    answered: Notify,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    /// Clients with events in a batch still running, and how many batches.
    running: HashMap<ClientKey, usize, std::hash::BuildHasherDefault<KeyHasher>>,
}

/// The events one batch call took. Its clients' later events wait until it
/// is dropped (it has answered, or its caller has gone).
pub(super) struct Taken<'a> {
    pub events: Vec<Waiting>,
    clients: Vec<ClientKey>,
    batcher: &'a Batcher,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.batcher.answered(&self.clients);
    }
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher { queue: Mutex::default(), calls: Semaphore::new(CALLS_IN_FLIGHT), answered: Notify::new() }
    }
}

impl Batcher {
    pub(super) fn push(&self, event: Arc<types::Event>) -> Pushed {
        let (answer, receiver) = oneshot::channel();
        let taken = Arc::new(AtomicBool::new(false));
        let client = crate::message_id::fnv1a(client_of(&event).as_bytes());
        self.queue.lock().expect("batch queue").waiting.push_back(Waiting {
            event,
            answer,
            taken: taken.clone(),
            client,
        });
        Pushed { answer: receiver, taken }
    }

    pub(super) async fn slot(&self) -> SemaphorePermit<'_> {
        self.calls.acquire().await.expect("never closed")
    }

    /// Batch calls that could start now besides the caller's (which holds a slot).
    pub(super) fn free_slots(&self) -> usize {
        self.calls.available_permits()
    }

    /// The oldest waiting events, up to [`MAX_EVENTS`], but none of a
    /// client with an event in a batch still running; those whose caller
    /// has gone (its deadline passed, so it deferred the event itself) are
    /// dropped rather than written twice.
    ///
    /// `share` is how many batches could start now, this one included: the
    /// clients whose events may go are split between them, each batch
    /// taking every event of its share of the clients. One batch taking
    /// every client would hold all of them, and the next batch could take
    /// none until it answered: with as many clients as events in flight,
    /// batches would run one at a time.
    pub(super) fn take(&self, share: usize) -> Taken<'_> {
        let mut queue = self.queue.lock().expect("batch queue");
        let Queue { waiting, running } = &mut *queue;
        waiting.retain(|w| !w.answer.is_closed());
        let mut ready: Vec<ClientKey> = waiting.iter().map(|w| w.client).filter(|c| !running.contains_key(c)).collect();
        ready.sort_unstable();
        ready.dedup();
        let most_clients = ready.len().div_ceil(share.max(1)).max(1);
        let mut events = Vec::with_capacity(waiting.len().min(MAX_EVENTS));
        let mut clients: Vec<ClientKey> = Vec::new();
        // One pass, each event moved once: into the batch or back into the
        // queue, where what is left out keeps its place ahead of what came after.
        let mut left = VecDeque::with_capacity(waiting.len());
        for w in waiting.drain(..) {
            let client = w.client;
            // A client held by a running batch, or left to another batch,
            // stays out for the whole of this take, so its order holds.
            let mine = events.len() < MAX_EVENTS
                && (clients.contains(&client)
                    || (!running.contains_key(&client) && clients.len() < most_clients && {
                        clients.push(client);
                        true
                    }));
            if mine {
                w.taken.store(true, Ordering::Release);
                events.push(w);
            } else {
                left.push_back(w);
            }
        }
        *waiting = left;
        for c in &clients {
            *running.entry(*c).or_default() += 1;
        }
        Taken { events, clients, batcher: self }
    }

    /// A batch has answered: its clients' later events may go.
    fn answered(&self, clients: &[ClientKey]) {
        if clients.is_empty() {
            return;
        }
        let mut queue = self.queue.lock().expect("batch queue");
        for c in clients {
            if let Some(n) = queue.running.get_mut(c) {
                *n -= 1;
                if *n == 0 {
                    queue.running.remove(c);
                }
            }
        }
        drop(queue);
        self.answered.notify_waiters();
    }

    /// Resolves when a batch answers after this is called and enabled.
    pub(super) fn batch_answered(&self) -> tokio::sync::futures::Notified<'_> {
        self.answered.notified()
    }
}

impl Taken<'_> {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// The client whose order an event keeps: the publisher of a message, the
/// receiver of an offline one, the client of the other events.
fn client_of(event: &types::Event) -> &str {
    use types::Event as E;
    match event {
        E::ClientConnected(c) | E::ClientDisconnected(c) | E::SessionCreated(c) | E::SessionTerminated(c) => {
            &c.clientid
        }
        E::SessionSubscribed(s) => &s.client.clientid,
        E::SessionUnsubscribed(u) => &u.client.clientid,
        E::MessagePublish(m) | E::MessageDelivered(m) | E::MessageAcked(m) | E::MessageOffline(m) => &m.client.clientid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(client: &str, n: u32) -> Arc<types::Event> {
        Arc::new(crate::engine::convert::event(&crate::model::Event::ClientConnected(crate::model::Client {
            clientid: client.into(),
            username: Some(n.to_string()),
            peerhost: None,
            node: "n".into(),
            clean_start: true,
            persistent: false,
        })))
    }

    fn names(taken: &Taken) -> Vec<String> {
        taken
            .events
            .iter()
            .map(|w| match &*w.event {
                types::Event::ClientConnected(c) => format!("{}{}", c.clientid, c.username.as_deref().unwrap()),
                _ => unreachable!(),
            })
            .collect()
    }

    /// A client's events never run in two batches at once: those that come
    /// while one of its batches runs go in the next, in order, while other
    /// clients' events go at once.
    #[tokio::test]
    async fn a_clients_events_wait_for_its_running_batch() {
        let batcher = Batcher::default();
        let mut answers = vec![batcher.push(event("a", 1))];
        let first = batcher.take(1);
        assert_eq!(names(&first), ["a1"]);
        for (c, n) in [("a", 2), ("b", 1), ("a", 3), ("c", 1)] {
            answers.push(batcher.push(event(c, n)));
        }
        let second = batcher.take(1);
        assert_eq!(names(&second), ["b1", "c1"], "a's events wait for its running batch");
        assert!(batcher.take(1).is_empty(), "nothing else may go yet");

        let answered = batcher.batch_answered();
        tokio::pin!(answered);
        answered.as_mut().enable();
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(5), answered).await.expect("a batch answered is told");
        assert_eq!(names(&batcher.take(1)), ["a2", "a3"], "in the order they came");
        drop(second);
        assert!(batcher.queue.lock().unwrap().running.is_empty(), "no client is held after its batches");
        drop(answers);
    }

    /// Within one batch a client's events keep their order, however many.
    #[test]
    fn one_batch_takes_a_clients_events_in_order() {
        let batcher = Batcher::default();
        let _answers: Vec<_> =
            (1..=3).flat_map(|n| [batcher.push(event("a", n)), batcher.push(event("b", n))]).collect();
        assert_eq!(names(&batcher.take(1)), ["a1", "b1", "a2", "b2", "a3", "b3"]);
    }

    /// With several batches free to start, each takes its share of the
    /// clients (all of each one's events), so the others have clients left
    /// to take rather than waiting for the first to answer.
    #[test]
    fn free_batches_share_the_clients() {
        let batcher = Batcher::default();
        let _answers: Vec<_> =
            (1..=2).flat_map(|n| ["a", "b", "c", "d", "e"].map(|c| batcher.push(event(c, n)))).collect();
        let first = batcher.take(2);
        assert_eq!(names(&first), ["a1", "b1", "c1", "a2", "b2", "c2"], "three of five clients, every event of each");
        let second = batcher.take(1);
        assert_eq!(names(&second), ["d1", "e1", "d2", "e2"], "the rest, at once");
        assert!(batcher.take(4).is_empty());
    }
}
