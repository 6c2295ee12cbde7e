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

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub struct ClientOrder {
    locks: DashMap<String, Arc<Mutex<()>>>,
}

impl ClientOrder {
    /// Waits for the client's earlier background work, and holds its turn.
    pub async fn turn(&self, client: &str) -> OwnedMutexGuard<()> {
        let lock = self.locks.entry(client.to_string()).or_default().clone();
        lock.lock_owned().await
    }

    /// Lets go of a turn taken for background work, forgetting the client
    /// when nobody else is waiting on it.
    pub fn release(&self, client: &str, turn: OwnedMutexGuard<()>) {
        drop(turn);
        self.locks.remove_if(client, |_, lock| Arc::strong_count(lock) == 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's next turn waits for the background work of the last one.
    #[tokio::test]
    async fn turns_are_taken_in_order() {
        let order = Arc::new(ClientOrder::default());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let first = order.turn("c").await;
        let (o, d) = (order.clone(), done.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            d.store(true, std::sync::atomic::Ordering::SeqCst);
            o.release("c", first);
        });
        let _second = order.turn("c").await;
        assert!(done.load(std::sync::atomic::Ordering::SeqCst), "the second turn came before the first ended");
        drop(_second);
        order.release("c", order.turn("c").await);
        assert!(order.locks.is_empty(), "an idle client is forgotten");
    }
}
