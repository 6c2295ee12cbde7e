//! The stock MongoDB actions of the seed (`on_client_connected`,
//! `on_message_fetch`, `on_retain_lookup`, ...) over the seed's collections
//! (`mqtt_client`, `mqtt_sub`, `mqtt_msg`, `mqtt_retain`, `mqtt_acked`).
//!
//! Each function lives in `functions/` and does the same three things:
//! check the event is one it handles, send its documents through the host's
//! `mongo` interface (`db.rs`), with every client id, topic and payload a
//! field's value, and say what the broker should do. How a payload is
//! stored (`payload_format`) is in `payload.rs`.

mod db;
mod functions;
mod payload;

use cistern_guest::{Context, Error, Event, FunctionInfo, Guest, Outcome};

struct MongoGuest;

impl Guest for MongoGuest {
    fn functions() -> Vec<FunctionInfo> {
        cistern_guest::function_infos(functions::ALL)
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        functions::dispatch(&ctx, &event)
    }
}

cistern_guest::export!(MongoGuest);
