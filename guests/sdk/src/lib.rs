//! Bindings to the `cistern:hooks` world for guests written in Rust.
//!
//! A guest implements [`Guest`] and calls `cistern_guest::export!(MyGuest);`.
//! The helpers here keep the common chores (reading typed rows, Redis
//! replies, settings, logging) out of each guest.

#[allow(clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "action",
        pub_export_macro: true,
        default_bindings_module: "cistern_guest::bindings",
    });
}

pub use bindings::cistern::hooks::sql::{self, Dialect, Value};
pub use bindings::cistern::hooks::types::{
    Client, Context, Error, Event, FunctionInfo, FunctionKind, Message, MessageEvent, Outcome, Subscribed,
    Subscription, Unsubscribed,
};
pub use bindings::cistern::hooks::{clock, log};
pub use bindings::{export, Guest};

pub mod redis;
pub mod row;
pub mod settings;

/// Logs a line through the host at `info` level.
pub fn info(message: &str) {
    log::log(log::Level::Info, message);
}

/// Logs a line through the host at `warn` level.
pub fn warn(message: &str) {
    log::log(log::Level::Warn, message);
}

impl Outcome {
    /// An outcome that asks the host for nothing.
    pub fn none() -> Self {
        Outcome { deliver: Vec::new(), subscribe: Vec::new() }
    }
}

impl Event {
    /// The hook point name of this event, as the configuration spells it.
    pub fn hook_point(&self) -> &'static str {
        match self {
            Event::ClientConnected(_) => "client.connected",
            Event::ClientDisconnected(_) => "client.disconnected",
            Event::SessionCreated(_) => "session.created",
            Event::SessionSubscribed(_) => "session.subscribed",
            Event::SessionUnsubscribed(_) => "session.unsubscribed",
            Event::MessagePublish(_) => "message.publish",
            Event::MessageDelivered(_) => "message.delivered",
            Event::MessageAcked(_) => "message.acked",
            Event::MessageOffline(_) => "message.offline",
            Event::SessionTerminated(_) => "session.terminated",
        }
    }

    /// The client the event is about.
    pub fn client(&self) -> &Client {
        match self {
            Event::ClientConnected(c)
            | Event::ClientDisconnected(c)
            | Event::SessionCreated(c)
            | Event::SessionTerminated(c) => c,
            Event::SessionSubscribed(s) => &s.client,
            Event::SessionUnsubscribed(u) => &u.client,
            Event::MessagePublish(m)
            | Event::MessageDelivered(m)
            | Event::MessageAcked(m)
            | Event::MessageOffline(m) => &m.client,
        }
    }
}

/// What `functions()` answers, from a table of (function, the hook points it handles, whether it
/// stores or reads).
pub fn function_infos(table: &[(&str, &[&str], FunctionKind)]) -> Vec<FunctionInfo> {
    table
        .iter()
        .map(|(name, hooks, kind)| FunctionInfo {
            name: name.to_string(),
            hooks: hooks.iter().map(|h| h.to_string()).collect(),
            kind: *kind,
        })
        .collect()
}

/// The error a guest returns when a function is configured on a hook it does not handle.
pub fn wrong_hook(function: &str, expected: &str, event: &Event) -> Error {
    Error::InvalidInput(format!("{function} handles {expected}, but was called for {}", event.hook_point()))
}
