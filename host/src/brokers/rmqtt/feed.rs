//! Stored messages handed to a session as fast as it takes them.
//!
//! rmqtt puts what is forwarded to a session in a queue of
//! `cistern.mqtt.max_mqueue_len` messages and, when it is full, drops the
//! oldest QoS 1 or 2 message (`message.dropped`). A fetch that handed its
//! whole backlog over at once lost everything past the queue's length, and
//! for good: a stored position moves to the highest acknowledged message,
//! past the ones dropped. So the adapter keeps at most [`Feeds::window`]
//! fetched messages handed over and not yet delivered per client, hands over
//! more as deliveries (or drops) come back, and asks a paged read for its
//! next page ([`crate::runtime::Runtime::next_page`]) only when it has
//! handed over the last one. The window is half the session's queue, so
//! live traffic has the other half.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The fetched messages each client has been handed and has not taken yet.
pub struct Feeds {
    clients: Mutex<HashMap<String, Arc<Outstanding>>>,
    window: usize,
}

/// One client's messages handed over and not yet delivered, by id.
#[derive(Default)]
pub struct Outstanding {
    ids: Mutex<HashSet<String>>,
    taken: Notify,
}

impl Feeds {
    /// `window`: how many fetched messages a client may have waiting in its
    /// session at once.
    pub fn new(window: usize) -> Self {
        Feeds { clients: Mutex::default(), window: window.max(1) }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// The client's outstanding messages, shared by all of its feeds.
    pub fn outstanding(&self, client: &str) -> Arc<Outstanding> {
        self.clients.lock().expect("feeds").entry(client.to_owned()).or_default().clone()
    }

    /// The session delivered or dropped the message: room for another.
    /// Whether it was one the adapter handed over.
    pub fn taken(&self, client: &str, id: &str) -> bool {
        let outstanding = self.clients.lock().expect("feeds").get(client).cloned();
        outstanding.is_some_and(|o| o.take(id))
    }

    /// The client's session ended: its feeds stop, and a new session starts
    /// with nothing outstanding.
    pub fn forget(&self, client: &str) {
        if let Some(o) = self.clients.lock().expect("feeds").remove(client) {
            o.taken.notify_waiters();
        }
    }
}

impl Outstanding {
    pub fn len(&self) -> usize {
        self.ids.lock().expect("outstanding").len()
    }

    /// Counts a message as handed over; false if it was already.
    pub fn hand_over(&self, id: &str) -> bool {
        self.ids.lock().expect("outstanding").insert(id.to_owned())
    }

    fn take(&self, id: &str) -> bool {
        let taken = self.ids.lock().expect("outstanding").remove(id);
        if taken {
            self.taken.notify_waiters();
        }
        taken
    }

    /// How many more messages the client may be handed now, out of
    /// `window`; when none, waits until a message is taken (or the client's
    /// session ends), at most `bound`, and says again.
    pub async fn room(&self, window: usize, bound: std::time::Duration) -> usize {
        // Registered before looking, so a take between the look and the wait is not lost.
        let taken = self.taken.notified();
        tokio::pin!(taken);
        taken.as_mut().enable();
        let room = window.saturating_sub(self.len());
        if room > 0 {
            return room;
        }
        let _ = tokio::time::timeout(bound, taken).await;
        window.saturating_sub(self.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_taken_message_makes_room_once() {
        let feeds = Feeds::new(2);
        let o = feeds.outstanding("c");
        assert!(o.hand_over("m1") && o.hand_over("m2"));
        assert!(!o.hand_over("m2"), "handed over twice counts once");
        assert_eq!(o.room(2, Duration::from_millis(1)).await, 0);
        assert!(feeds.taken("c", "m1"));
        assert!(!feeds.taken("c", "m1"), "a second delivery of one message makes no more room");
        assert!(!feeds.taken("c", "live"), "a live message was never handed over");
        assert_eq!(o.room(2, Duration::ZERO).await, 1);
        feeds.forget("c");
        assert_eq!(feeds.outstanding("c").room(2, Duration::ZERO).await, 2, "a new session starts empty");
    }

    #[tokio::test]
    async fn a_full_window_waits_for_a_delivery() {
        let feeds = Arc::new(Feeds::new(1));
        let o = feeds.outstanding("c");
        o.hand_over("m1");
        let taker = feeds.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            taker.taken("c", "m1");
        });
        assert_eq!(o.room(1, Duration::from_secs(10)).await, 1);
    }
}
