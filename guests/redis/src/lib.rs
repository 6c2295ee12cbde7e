//! The stock Redis actions of the seed (`on_client_connected`,
//! `on_message_fetch_for_queue`, `on_message_fetch_for_pubsub`, ...) over the
//! seed's key layouts (`mqtt:client:*`, `mqtt:msg:*`, `mqtt:retain:*`,
//! `mqtt:acked:*`, `mqtt:sub:*`).
//!
//! Each function lives in `functions/` and does the same three things:
//! check the event is one it handles, send its commands through the host's
//! `redis` interface (one round trip where it can), and say what the broker
//! should do. Keys are built in `keys.rs`, stored messages read and written
//! in `stored.rs`.

mod functions;
mod keys;
mod stored;

use cistern_guest::{Batch, Context, Error, Event, FunctionInfo, Guest, Outcome};

struct RedisGuest;

impl Guest for RedisGuest {
    fn functions() -> Vec<FunctionInfo> {
        cistern_guest::function_infos(functions::ALL)
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        functions::dispatch(&ctx, &event)
    }
}

impl Batch for RedisGuest {
    fn batch_functions() -> Vec<String> {
        functions::BATCHED.iter().map(|f| f.to_string()).collect()
    }

    fn handle_batch(ctx: Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
        functions::dispatch_batch(&ctx, events)
    }
}

cistern_guest::export_batch!(RedisGuest);
