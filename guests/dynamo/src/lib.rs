//! The stock DynamoDB actions of the seed (`on_client_connected`,
//! `on_message_publish`, `on_message_fetch_for_queue`, ...) over the seed's
//! tables: `mqtt_client`, `mqtt_sub`, `mqtt_msg`, `mqtt_topic_msg_map`,
//! `mqtt_retain` and `mqtt_acked` (their definitions: `sql/dynamodb/`).
//!
//! Each function lives in `functions/`: it checks the event is one it
//! handles, reads or writes items through the host's `dynamo` interface
//! (`db.rs`), and says what the broker should do. Messages become items
//! and back in `stored.rs`.

mod db;
mod functions;
mod stored;

use cistern_guest::{Context, Error, Event, FunctionInfo, Guest, Outcome};

struct DynamoGuest;

impl Guest for DynamoGuest {
    fn functions() -> Vec<FunctionInfo> {
        cistern_guest::function_infos(functions::ALL)
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        functions::dispatch(&ctx, &event)
    }
}

cistern_guest::export!(DynamoGuest);
