//! Actions: what one configured hook does with an event. Either a call into
//! a guest component (a stock function or a custom module), or raw
//! statements or commands from the configuration (`{"sql": [...]}`,
//! `{"commands": [...]}`) run straight through the same pool operations the
//! host interfaces use.

mod params;
pub mod raw_commands;
pub mod raw_sql;

use std::sync::Arc;

use crate::backends::redis::{operations as redis_ops, RedisError};
use crate::backends::{RedisPool, SqlPool};
use crate::config::Location;
use crate::engine::bindings::types;
use crate::engine::{CallError, Guest, Scope};
use crate::metrics::ActionCounters;
use crate::model::{Event, Outcome};

pub struct Action {
    /// The configuration key, e.g. `backend.sqlite.hook.message.publish.1`.
    pub name: Arc<str>,
    pub at: Location,
    pub kind: ActionKind,
    pub counters: Arc<ActionCounters>,
    /// The pool it uses, as `backend.pool`: its lane in the outbox.
    pub lane: Arc<str>,
    /// Whether it stores (its write may be deferred to the outbox) or reads.
    pub writes: bool,
}

pub enum ActionKind {
    Guest {
        guest: Arc<Guest>,
        ctx: types::Context,
        scope: Arc<Scope>,
    },
    RawSql {
        pool: SqlPool,
        statements: Vec<raw_sql::Statement>,
    },
    /// Sent as one pipeline: one round trip for all of them.
    RawCommands {
        pool: RedisPool,
        commands: Vec<raw_commands::Command>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("statement {index} failed: {source}")]
    Sql { index: usize, source: crate::backends::SqlError },
    /// The commands could not be sent, or their replies not read.
    #[error("commands failed: {0}")]
    Commands(RedisError),
    /// Redis refused one command; the others of the pipeline ran.
    #[error("command {index} failed: {source}")]
    Redis { index: usize, source: RedisError },
    /// No answer within the call's deadline (waiting for an instance or a connection included).
    #[error("no answer within {0:?}")]
    Deadline(std::time::Duration),
}

impl ActionError {
    /// Whether the database could not be reached (rather than refusing what it was sent).
    pub fn is_unavailable(&self) -> bool {
        use crate::engine::bindings::types::Error as WitError;
        match self {
            ActionError::Call(CallError::Guest(WitError::Unavailable(_))) => true,
            ActionError::Sql { source, .. } => matches!(source, crate::backends::SqlError::Unavailable(_)),
            ActionError::Commands(source) | ActionError::Redis { source, .. } => {
                matches!(source, RedisError::Unavailable(_))
            }
            ActionError::Call(CallError::Timeout(_)) | ActionError::Deadline(_) => true,
            ActionError::Call(_) => false,
        }
    }
}

impl Action {
    /// Runs the action for one event. `wit_event` holds the event in WIT form
    /// once a guest action has needed it, for the guest actions after it.
    pub async fn run(&self, event: &Event, wit_event: &mut Option<types::Event>) -> Result<Outcome, ActionError> {
        match &self.kind {
            ActionKind::Guest { guest, ctx, scope } => {
                let wit_event = wit_event.get_or_insert_with(|| crate::engine::convert::event(event));
                let answer = guest.call(scope.clone(), ctx, wit_event).await?;
                let (outcome, problems) = crate::engine::convert::outcome(answer);
                for p in problems {
                    tracing::warn!(action = %self.name, "{p}");
                }
                Ok(outcome)
            }
            ActionKind::RawSql { pool, statements } => {
                for (index, statement) in statements.iter().enumerate() {
                    pool.execute(&statement.text, statement.bind(event))
                        .await
                        .map_err(|source| ActionError::Sql { index: index + 1, source })?;
                }
                Ok(Outcome::default())
            }
            ActionKind::RawCommands { pool, commands } => {
                let args: Vec<Vec<Vec<u8>>> = commands.iter().map(|c| c.args(event)).collect();
                let replies = redis_ops::pipeline(pool, &args, false).await.map_err(ActionError::Commands)?;
                for (index, reply) in replies.iter().enumerate() {
                    if let Some(e) = redis_ops::server_error(reply) {
                        return Err(ActionError::Redis { index: index + 1, source: RedisError::Command(e) });
                    }
                }
                Ok(Outcome::default())
            }
        }
    }
}
