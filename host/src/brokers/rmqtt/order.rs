//! Keeps each client's events in order while letting rmqtt's session task
//! go on without waiting for the database where nothing waits on the result.
//!
//! rmqtt refuses a client that reconnects while its previous session is
//! still busy in a hook: the new connection's "kick" can go unanswered
//! ("recv kick result"). So the adapter stores `client.disconnected`, and QoS 0
//! publishes (which no PUBACK waits for), in the background, each in its
//! client's turn: the next `client.connected` waits for the disconnect to be
//! written (the store never shows a connected client as offline), and a
//! client's messages are stored in the order it sent them.
//!
//! A client's QoS 1 and 2 publishes share their turns: rmqtt runs up to
//! `cistern.mqtt.publishes_in_flight` of them in their hook at once (and
//! acknowledges them in order), so they take shared turns, which wait only
//! for the exclusive turns taken before them (a QoS 0 publish or a
//! disconnect still in the background), and an exclusive turn waits for
//! every shared one before it. tokio's lock is fair, first come first served.
//! Shared turns are taken only for publishes whose every action keeps a
//! client's order (`Runtime::publishes_may_overlap`): rmqtt starts their
//! hooks in the order the publishes came, and a batching action's queue is
//! first in, first out and runs no two batches of one client at once.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::RwLock;

/// A client's turn; dropping it (or `release`) ends it.
pub enum Turn {
    Exclusive { _held: tokio::sync::OwnedRwLockWriteGuard<()> },
    Shared { _held: tokio::sync::OwnedRwLockReadGuard<()> },
}

#[derive(Default)]
pub struct ClientOrder {
    locks: DashMap<String, Arc<RwLock<()>>>,
}

impl ClientOrder {
    fn lock(&self, client: &str) -> Arc<RwLock<()>> {
        // A client with publishes in flight has its lock already: no key to make.
        if let Some(lock) = self.locks.get(client) {
            return lock.clone();
        }
        self.locks.entry(client.to_string()).or_default().clone()
    }

    /// Waits for the client's earlier turns, and holds its turn alone.
    pub async fn turn(&self, client: &str) -> Turn {
        Turn::Exclusive { _held: self.lock(client).write_owned().await }
    }

    /// Waits for the client's earlier exclusive turns, and holds a turn that
    /// others may share.
    pub async fn shared_turn(&self, client: &str) -> Turn {
        Turn::Shared { _held: self.lock(client).read_owned().await }
    }

    /// Lets go of a turn, forgetting the client when nobody else holds or
    /// waits for one.
    pub fn release(&self, client: &str, turn: Turn) {
        drop(turn);
        self.locks.remove_if(client, |_, lock| Arc::strong_count(lock) == 1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    /// A client's next turn waits for the background work of the last one.
    #[tokio::test]
    async fn turns_are_taken_in_order() {
        let order = Arc::new(ClientOrder::default());
        let done = Arc::new(AtomicBool::new(false));
        let first = order.turn("c").await;
        let (o, d) = (order.clone(), done.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            d.store(true, Ordering::SeqCst);
            o.release("c", first);
        });
        let second = order.turn("c").await;
        assert!(done.load(Ordering::SeqCst), "the second turn came before the first ended");
        order.release("c", second);
        order.release("c", order.turn("c").await);
        assert!(order.locks.is_empty(), "an idle client is forgotten");
    }

    /// Shared turns run side by side, after the exclusive one before them and
    /// before the exclusive one after them.
    #[tokio::test]
    async fn shared_turns_overlap_between_exclusive_ones() {
        let order = Arc::new(ClientOrder::default());
        let before = order.turn("c").await;
        let (o, d) = (order.clone(), Arc::new(AtomicBool::new(false)));
        let background_done = d.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            d.store(true, Ordering::SeqCst);
            o.release("c", before);
        });
        let one = order.shared_turn("c").await;
        assert!(background_done.load(Ordering::SeqCst), "a shared turn came before the exclusive one ended");
        // A second shared turn is had while the first is held.
        let two = tokio::time::timeout(Duration::from_secs(5), order.shared_turn("c"))
            .await
            .expect("shared turns are held at once");
        let after = {
            let order = order.clone();
            tokio::spawn(async move { order.turn("c").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!after.is_finished(), "an exclusive turn came while shared ones were held");
        order.release("c", one);
        order.release("c", two);
        let after = tokio::time::timeout(Duration::from_secs(5), after).await.expect("the exclusive turn").unwrap();
        order.release("c", after);
        assert!(order.locks.is_empty(), "an idle client is forgotten");
    }
}
