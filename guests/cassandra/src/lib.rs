//! The stock Cassandra actions of the seed (`on_client_connected`,
//! `on_message_publish`, `on_message_fetch`, ...) over the seed's tables in
//! the pool's keyspace: `client`, `sub`, `msg`, `retain` and `acked`
//! (their definitions: `sql/cassandra.cql`).
//!
//! Each function lives in `functions/`: it checks the event is one it
//! handles, runs statements through the host's `cql` interface (`db.rs`),
//! with every value bound, and says what the broker should do. Messages
//! become rows and back in `stored.rs`.

mod db;
mod functions;
mod stored;

use cistern_guest::{Batch, Context, Error, Event, FunctionInfo, Guest, Outcome};

struct CassandraGuest;

impl Guest for CassandraGuest {
    fn functions() -> Vec<FunctionInfo> {
        cistern_guest::function_infos(functions::ALL)
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        functions::dispatch(&ctx, &event)
    }
}

impl Batch for CassandraGuest {
    fn batch_functions() -> Vec<String> {
        functions::BATCHED.iter().map(|f| f.to_string()).collect()
    }

    fn handle_batch(ctx: Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
        functions::dispatch_batch(&ctx, events)
    }
}

cistern_guest::export_batch!(CassandraGuest);
