//! One module per group of stock functions, and the table that names them.

mod client;
mod message;
mod retain;
mod session;
mod timescale;

use cistern_guest::{Context, Error, Event, FunctionKind, Outcome};
use FunctionKind::{Read, Write};

use crate::db::Db;

/// Every function of this guest with the hook points it handles.
pub const ALL: &[(&str, &[&str], FunctionKind)] = &[
    ("on_client_connected", &["client.connected"], Write),
    ("on_client_disconnected", &["client.disconnected"], Write),
    ("on_subscribe_lookup", &["client.connected", "session.created"], Read),
    ("on_message_publish", &["message.publish"], Write),
    ("on_message_store", &["message.publish"], Write),
    ("on_message_fetch", &["session.subscribed"], Read),
    ("on_message_acked", &["message.acked"], Write),
    ("on_message_retain", &["message.publish"], Write),
    ("on_retain_delete", &["message.publish"], Write),
    ("on_retain_lookup", &["session.subscribed"], Read),
    ("on_session_store", session::STORE_HOOKS, Write),
    ("on_session_restore", &["session.created"], Read),
];

pub fn dispatch(ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    run(&Db::new(ctx), ctx, event)
}

fn run(db: &Db, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let f = ctx.function.as_str();
    match f {
        "on_client_connected" => client::connected(db, event),
        "on_client_disconnected" => client::disconnected(db, event),
        "on_subscribe_lookup" => client::subscribe_lookup(db, event),
        // TimescaleDB's on_message_publish writes rows by its template file.
        "on_message_publish" if ctx.backend == "timescale" => timescale::publish(db, ctx, event),
        "on_message_publish" => message::publish(db, ctx, event, 1),
        "on_message_store" => message::publish(db, ctx, event, 0),
        "on_message_fetch" => message::fetch(db, ctx, event),
        "on_message_acked" => message::acked(db, event),
        "on_message_retain" => retain::store(db, event),
        "on_retain_delete" => retain::delete(db, event),
        "on_retain_lookup" => retain::lookup(db, event),
        "on_session_store" => session::store(db, event),
        "on_session_restore" => session::restore(db, event),
        other => Err(Error::InvalidInput(format!("the sql guest has no function {other}"))),
    }
}

/// The functions that take several events a call. `on_message_publish`
/// and `on_message_store` write a batch together; the others write each in
/// turn (`each_in_turn`), which still lets a connection's publishes be
/// stored side by side under the seed's hook block, where every publish
/// also meets `on_message_retain` and `on_retain_delete`.
pub const BATCHED: &[&str] =
    &["on_message_publish", "on_message_store", "on_message_retain", "on_retain_delete", "on_session_store"];

pub fn dispatch_batch(ctx: &Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
    let db = Db::new(ctx);
    match ctx.function.as_str() {
        "on_message_publish" if ctx.backend == "timescale" => timescale::publish_batch(&db, ctx, &events),
        "on_message_publish" => message::publish_batch(&db, ctx, &events, 1),
        "on_message_store" => message::publish_batch(&db, ctx, &events, 0),
        _ => cistern_guest::each_in_turn(&events, |event| run(&db, ctx, event)),
    }
}
