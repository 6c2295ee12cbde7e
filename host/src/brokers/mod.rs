//! Brokers. cistern's API towards any broker is [`crate::runtime::Runtime`]:
//!
//! 1. for each hook the broker raises, build a [`crate::model::Event`] (with
//!    a message id from [`crate::runtime::Runtime::ids`] for a new publish,
//!    and the same id again when that message is delivered and acknowledged);
//! 2. `runtime.handle(event).await`, inline, so a publish is stored before
//!    the broker acknowledges it;
//! 3. apply the [`crate::model::Outcome`] to that event's client: deliver its
//!    messages to that one client, add its subscriptions to that client;
//! 4. optionally, attach a [`BrokerControl`] (`runtime.control.attach(..)`),
//!    through which cistern asks for things outside of any event: the Redis
//!    control channel's subscribe and unsubscribe requests.
//!
//! The standalone binary embeds rmqtt ([`rmqtt`]); other brokers get an
//! adapter of the same shape.

pub mod rmqtt;

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
