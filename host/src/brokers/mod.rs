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

pub use crate::control::{BrokerControl, ControlError, ControlSlot};
