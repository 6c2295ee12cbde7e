//! Actions: what one configured hook does with an event. Either a call into
//! a guest component (a stock function or a custom module), or raw
//! statements from the configuration (`{"sql": [...]}`) run straight through
//! the same pool operations the host interfaces use.

pub mod raw_sql;

use std::sync::Arc;

use crate::backends::SqlPool;
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
}

pub enum ActionKind {
    Guest { guest: Arc<Guest>, ctx: types::Context, scope: Arc<Scope> },
    RawSql { pool: SqlPool, statements: Vec<raw_sql::Statement> },
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("statement {index} failed: {source}")]
    Sql { index: usize, source: crate::backends::SqlError },
}

impl Action {
    /// Runs the action for one event. `wit_event` is the event in WIT form,
    /// made once for all the guest actions of the event.
    pub async fn run(&self, event: &Event, wit_event: &types::Event) -> Result<Outcome, ActionError> {
        match &self.kind {
            ActionKind::Guest { guest, ctx, scope } => {
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
        }
    }

    pub fn is_guest(&self) -> bool {
        matches!(self.kind, ActionKind::Guest { .. })
    }
}
