//! What cistern may ask of a broker outside of any event, and the slot a
//! broker adapter attaches it to. Here, not under `brokers`, because pools
//! take requests through it (Redis's control channel) and the broker adapters
//! depend on the runtime, which depends on the pools.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

/// What cistern may ask of the broker outside of an event.
#[async_trait]
pub trait BrokerControl: Send + Sync {
    /// Subscribes a connected client to `topic`, as if it had asked.
    async fn subscribe(&self, clientid: &str, topic: &str, qos: u8) -> Result<(), ControlError>;
    /// Unsubscribes a connected client from `topic`.
    async fn unsubscribe(&self, clientid: &str, topic: &str) -> Result<(), ControlError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("client {0:?} is not connected")]
    NotConnected(String),
    #[error("the broker refused: {0}")]
    Refused(String),
}

/// Where a broker adapter puts its [`BrokerControl`] once it runs; the
/// runtime's listeners find it here. Empty when no broker is attached (a
/// configuration check, a benchmark).
#[derive(Clone, Default)]
pub struct ControlSlot(Arc<OnceLock<Arc<dyn BrokerControl>>>);

impl ControlSlot {
    /// Attaches the broker's control; only the first attach counts.
    pub fn attach(&self, control: Arc<dyn BrokerControl>) -> bool {
        self.0.set(control).is_ok()
    }

    pub fn get(&self) -> Option<&Arc<dyn BrokerControl>> {
        self.0.get()
    }
}
