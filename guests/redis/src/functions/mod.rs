//! One module per group of stock functions, and the table that names them
//! with the hook points of the seed's "Description of Persistence Hooks".

mod client;
mod message;
mod retain;
mod scan;

use cistern_guest::{Context, Error, Event, FunctionKind, Outcome};
use FunctionKind::{Read, Write};

/// Every function of this guest with the hook points it handles.
pub const ALL: &[(&str, &[&str], FunctionKind)] = &[
    ("on_client_connected", &["client.connected"], Write),
    ("on_subscribe_lookup", &["client.connected", "session.created"], Read),
    ("on_client_disconnected", &["client.disconnected"], Write),
    ("on_message_fetch_for_queue", &["session.subscribed"], Read),
    ("on_message_fetch_for_pubsub", &["session.subscribed"], Read),
    ("on_retain_lookup", &["session.subscribed"], Read),
    ("on_message_publish", &["message.publish"], Write),
    ("on_message_retain", &["message.publish"], Write),
    ("on_retain_delete", &["message.publish"], Write),
    ("on_message_acked_for_queue", &["message.acked"], Write),
    ("on_message_acked_for_pubsub", &["message.acked"], Write),
];

/// How a topic's stored messages are shared among its subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// One-to-one: a message goes to one subscriber, and is removed once acknowledged.
    Queue,
    /// Many-to-many: a message goes to every subscriber, each with its own read position.
    Pubsub,
}

pub fn dispatch(ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let pool = ctx.pool.as_str();
    match ctx.function.as_str() {
        "on_client_connected" => client::connected(pool, event),
        "on_subscribe_lookup" => client::subscribe_lookup(pool, event),
        "on_client_disconnected" => client::disconnected(pool, event),
        "on_message_fetch_for_queue" => message::fetch(pool, ctx, event, Sharing::Queue),
        "on_message_fetch_for_pubsub" => message::fetch(pool, ctx, event, Sharing::Pubsub),
        "on_retain_lookup" => retain::lookup(pool, event),
        "on_message_publish" => message::publish(pool, ctx, event),
        "on_message_retain" => retain::store(pool, event),
        "on_retain_delete" => retain::delete(pool, event),
        "on_message_acked_for_queue" => message::acked(pool, ctx, event, Sharing::Queue),
        "on_message_acked_for_pubsub" => message::acked(pool, ctx, event, Sharing::Pubsub),
        other => Err(Error::InvalidInput(format!("the redis guest has no function {other}"))),
    }
}

/// The functions that take several events a call. `on_message_publish`
/// writes a batch in one pipeline; the others write each in turn
/// (`each_in_turn`), which still lets a connection's publishes be stored
/// side by side under the seed's hook block, where every publish also
/// meets `on_message_retain` and `on_retain_delete`.
pub const BATCHED: &[&str] = &["on_message_publish", "on_message_retain", "on_retain_delete"];

pub fn dispatch_batch(ctx: &Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
    match ctx.function.as_str() {
        "on_message_publish" => message::publish_batch(&ctx.pool, ctx, &events),
        _ => cistern_guest::each_in_turn(&events, |event| dispatch(ctx, event)),
    }
}
