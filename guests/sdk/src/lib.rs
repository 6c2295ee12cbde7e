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

/// The `batch-action` world: `action` plus `handle-batch`. Its imports and
/// types are those of [`bindings`], so one guest's code serves both.
#[allow(clippy::all, missing_docs)]
pub mod batch_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "batch-action",
        pub_export_macro: true,
        export_macro_name: "export_batch",
        default_bindings_module: "cistern_guest::batch_bindings",
        with: {
            "cistern:hooks/types@0.2.2": crate::bindings::cistern::hooks::types,
            "cistern:hooks/log@0.2.2": crate::bindings::cistern::hooks::log,
            "cistern:hooks/clock@0.2.2": crate::bindings::cistern::hooks::clock,
            "cistern:hooks/paging@0.2.2": crate::bindings::cistern::hooks::paging,
            "cistern:hooks/sql@0.2.2": crate::bindings::cistern::hooks::sql,
            "cistern:hooks/redis@0.2.2": crate::bindings::cistern::hooks::redis,
            "cistern:hooks/influx@0.2.2": crate::bindings::cistern::hooks::influx,
            "cistern:hooks/opentsdb@0.2.2": crate::bindings::cistern::hooks::opentsdb,
            "cistern:hooks/dynamo@0.2.2": crate::bindings::cistern::hooks::dynamo,
            "cistern:hooks/mongo@0.2.2": crate::bindings::cistern::hooks::mongo,
            "cistern:hooks/cql@0.2.2": crate::bindings::cistern::hooks::cql,
        },
    });
}

pub use batch_bindings::export_batch;
pub use bindings::cistern::hooks::sql::{self, Dialect, Value};
pub use bindings::cistern::hooks::types::{
    Client, Context, Error, Event, FunctionInfo, FunctionKind, Message, MessageEvent, Outcome, Subscribed,
    Subscription, Unsubscribed,
};
pub use bindings::cistern::hooks::{clock, log, paging};
pub use bindings::{export, Guest};

pub mod page;
pub mod redis;
pub mod row;
pub mod settings;
pub mod template;

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

/// What a guest adds to [`Guest`] to take several events of one action in
/// one call (the `batch-action` world); exported with `export_batch!`.
pub trait Batch: Guest {
    /// The functions whose events [`Batch::handle_batch`] takes.
    fn batch_functions() -> Vec<String>;
    /// One result per event, in the order of `events`.
    fn handle_batch(ctx: Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>>;
}

impl<T: Batch> batch_bindings::Guest for T {
    fn functions() -> Vec<FunctionInfo> {
        <T as Guest>::functions()
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        <T as Guest>::handle(ctx, event)
    }

    fn batch_functions() -> Vec<String> {
        <T as Batch>::batch_functions()
    }

    fn handle_batch(ctx: Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
        <T as Batch>::handle_batch(ctx, events)
    }
}

/// A batch's events handled one after another, for a function with no
/// write of several events at once: taking them in a batch still lets a
/// connection's publishes be stored side by side (the host keeps each
/// client's events in order only for functions that batch). Once an event
/// fails `unavailable`, the ones after it are not tried and fail alike, so
/// the host defers them behind it in the same order: a retained message
/// replayed later must never overwrite a newer one stored meanwhile.
pub fn each_in_turn(
    events: &[Event],
    mut handle: impl FnMut(&Event) -> Result<Outcome, Error>,
) -> Vec<Result<Outcome, Error>> {
    let mut away: Option<String> = None;
    events
        .iter()
        .map(|event| {
            if let Some(why) = &away {
                return Err(Error::Unavailable(format!("not tried after an earlier event of its batch: {why}")));
            }
            let answer = handle(event);
            if let Err(Error::Unavailable(why)) = &answer {
                away = Some(why.clone());
            }
            answer
        })
        .collect()
}

/// The microseconds since the epoch that begin a message id the host made:
/// 16 hex digits of them, then 16 naming the node and the process (4 naming
/// the node, in ids that earlier builds of cistern made). `None` for an id of another
/// shape (another writer's).
pub fn id_micros(id: &str) -> Option<u64> {
    let hex = id.len() == 32 || id.len() == 20;
    id.get(..16)
        .filter(|_| hex && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|m| u64::from_str_radix(m, 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(clientid: &str) -> Event {
        Event::ClientConnected(Client {
            clientid: clientid.to_string(),
            username: None,
            peerhost: None,
            node: "n".to_string(),
            clean_start: true,
            persistent: false,
        })
    }

    /// Events are tried in order; after one fails `unavailable` the rest are
    /// not tried and fail `unavailable` too (so they are deferred behind it),
    /// while a refusal stays the event's own.
    #[test]
    fn each_in_turn_stops_at_the_first_unavailable() {
        let events: Vec<Event> = ["ok", "refused", "ok", "away", "ok"].into_iter().map(connected).collect();
        let mut tried = Vec::new();
        let answers = each_in_turn(&events, |e| {
            let id = e.client().clientid.clone();
            tried.push(id.clone());
            match id.as_str() {
                "refused" => Err(Error::InvalidInput("no".into())),
                "away" => Err(Error::Unavailable("down".into())),
                _ => Ok(Outcome::none()),
            }
        });
        assert_eq!(tried, ["ok", "refused", "ok", "away"], "nothing after the unavailable one is tried");
        let kinds: Vec<&str> = answers
            .iter()
            .map(|a| match a {
                Ok(_) => "ok",
                Err(Error::InvalidInput(_)) => "refused",
                Err(Error::Unavailable(_)) => "unavailable",
                Err(_) => "other",
            })
            .collect();
        assert_eq!(kinds, ["ok", "refused", "ok", "unavailable", "unavailable"]);
    }
}
