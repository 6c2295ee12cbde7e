//! cistern: durable storage for MQTT brokers, with every storage action a
//! sandboxed WebAssembly component.
//!
//! An event from a broker ([`model::Event`]) goes to the [`runtime::Runtime`],
//! whose [`router`] picks the configured actions for its hook point and
//! topic; each action is a call into a guest component ([`engine`]) that
//! reaches its database only through the host interfaces ([`interfaces`])
//! over pools the host owns ([`backends`]). What the actions return
//! ([`model::Outcome`]) goes back to the broker adapter ([`brokers`]), which
//! delivers messages to that one client or subscribes it.

pub mod actions;
pub mod backends;
pub mod brokers;
pub mod config;
pub mod control;
pub mod delivery;
pub mod engine;
pub mod http;
pub mod interfaces;
pub mod logging;
pub mod message_id;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod reload;
pub mod router;
pub mod runtime;
pub mod stock;
pub mod templates;
