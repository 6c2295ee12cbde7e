//! What the end-to-end tests share: a cistern broker started from a
//! configuration on a free port in a fresh directory, real MQTT clients
//! (`mosquitto_pub`, `mosquitto_sub`, paho-mqtt, a bare socket client), and a look into the stores: SQLite,
//! the Redis and FerretDB servers the scripts start (or ones a test starts itself).

pub mod broker;
pub mod cassandra;
pub mod configs;
pub mod corpus;
pub mod databases;
pub mod dynamo;
pub mod influx;
pub mod load;
pub mod mongo;
pub mod mqtt;
pub mod raw;
pub mod redis;
pub mod store;

pub use self::redis::{Redis, RedisServer};
pub use broker::Broker;
pub use mqtt::{backlog_arrives_whole, publish, publish_many, publish_paho, Received, Subscriber, SubscriberOptions};
pub use store::Store;
