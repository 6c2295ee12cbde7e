//! The stock SQL actions of the seed (`on_client_connected`, `on_message_fetch`, ...)
//! over the seed's tables (`mqtt_client`, `mqtt_sub`, `mqtt_msg`, `mqtt_retain`,
//! `mqtt_acked`), for every SQL dialect the host offers.
//!
//! Each function lives in `functions/`, and each does the same three things:
//! check the event is one it handles, run its statements through the host's
//! `sql` interface with bound parameters, and say what the broker should do.

mod db;
mod functions;
mod statements;
mod tables;

use cistern_guest::{Batch, Context, Error, Event, FunctionInfo, Guest, Outcome};

struct SqlGuest;

impl Guest for SqlGuest {
    fn functions() -> Vec<FunctionInfo> {
        cistern_guest::function_infos(functions::ALL)
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        functions::dispatch(&ctx, &event)
    }
}

impl Batch for SqlGuest {
    fn batch_functions() -> Vec<String> {
        functions::BATCHED.iter().map(|f| f.to_string()).collect()
    }

    fn handle_batch(ctx: Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
        functions::dispatch_batch(&ctx, events)
    }
}

cistern_guest::export_batch!(SqlGuest);
