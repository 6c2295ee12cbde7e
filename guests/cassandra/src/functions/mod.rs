//! One module per group of stock functions, and the table that names them
//! with the hook points of the seed's Cassandra hook block.

mod client;
mod message;
mod retain;

use cistern_guest::{Context, Error, Event, FunctionKind, Outcome};
use FunctionKind::{Read, Write};

/// Every function of this guest with the hook points it handles. The
/// seed's table says `on_subscribe_lookup` and its configuration
/// `on_subscription_lookup`: both name the same function.
pub const ALL: &[(&str, &[&str], FunctionKind)] = &[
    ("on_client_connected", &["client.connected"], Write),
    ("on_subscribe_lookup", &["client.connected", "session.created"], Read),
    ("on_subscription_lookup", &["client.connected", "session.created"], Read),
    ("on_client_disconnected", &["client.disconnected"], Write),
    ("on_message_fetch", &["session.subscribed"], Read),
    ("on_retain_lookup", &["session.subscribed"], Read),
    ("on_message_publish", &["message.publish"], Write),
    ("on_message_store", &["message.publish"], Write),
    ("on_message_retain", &["message.publish"], Write),
    ("on_retain_delete", &["message.publish"], Write),
    ("on_message_acked", &["message.acked"], Write),
];

pub fn dispatch(ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let pool = ctx.pool.as_str();
    match ctx.function.as_str() {
        "on_client_connected" => client::connected(pool, event),
        "on_subscribe_lookup" | "on_subscription_lookup" => client::subscribe_lookup(pool, event),
        "on_client_disconnected" => client::disconnected(pool, event),
        "on_message_fetch" => message::fetch(pool, ctx, event),
        "on_retain_lookup" => retain::lookup(pool, event),
        "on_message_publish" => message::publish(pool, event, 1),
        "on_message_store" => message::publish(pool, event, 0),
        "on_message_retain" => retain::store(pool, event),
        "on_retain_delete" => retain::delete(pool, event),
        "on_message_acked" => message::acked(pool, event),
        other => Err(Error::InvalidInput(format!("the cassandra guest has no function {other}"))),
    }
}

/// The functions that take several events a call. `on_message_publish`
/// and `on_message_store` run a batch's inserts side by side; the others
/// write each in turn (`each_in_turn`), which still lets a connection's
/// publishes be stored side by side under the seed's hook block, where
/// every publish also meets `on_message_retain` and `on_retain_delete`.
pub const BATCHED: &[&str] = &["on_message_publish", "on_message_store", "on_message_retain", "on_retain_delete"];

pub fn dispatch_batch(ctx: &Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
    let pool = ctx.pool.as_str();
    match ctx.function.as_str() {
        "on_message_publish" => message::publish_batch(pool, &events, 1),
        "on_message_store" => message::publish_batch(pool, &events, 0),
        _ => cistern_guest::each_in_turn(&events, |event| dispatch(ctx, event)),
    }
}
