//! What the end-to-end tests share: a cistern broker started from a
//! configuration on a free port in a fresh directory, real MQTT clients
//! (`mosquitto_pub`, `mosquitto_sub`), and a look into the SQLite store.

pub mod broker;
pub mod configs;
pub mod databases;
pub mod mqtt;
pub mod store;

pub use broker::Broker;
pub use mqtt::{publish, Received, Subscriber, SubscriberOptions};
pub use store::Store;
