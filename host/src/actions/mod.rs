//! Actions: what one configured hook does with an event. Either a call into
//! a guest component (a stock function or a custom module), or raw
//! statements or commands from the configuration (`{"sql": [...]}`,
//! `{"commands": [...]}`, `{"cql": [...]}`) that the database's own folder
//! compiles ([`crate::backends::Pool::raw_action`]) and runs straight
//! through the same operations its host interface uses.

pub mod params;

use std::sync::Arc;

use crate::backends::{RawAction, RawError};
use crate::config::Location;
use crate::engine::bindings::types;
use crate::engine::{Batcher, CallError, Guest, Page, Scope};
use crate::metrics::ActionCounters;
use crate::model::{Event, NextPage, Outcome};

/// The setting (`true`) that tells a guest its call replays a write from the
/// outbox: an earlier attempt may have committed (it timed out), so the write
/// must not store twice. A live write's earlier attempts were rolled back.
pub const REPLAY_SETTING: &str = "cistern.replay";

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
    /// `replay_ctx` is `ctx` with the setting [`REPLAY_SETTING`], for replays from the outbox.
    Guest {
        guest: Arc<Guest>,
        ctx: types::Context,
        replay_ctx: Box<types::Context>,
        scope: Arc<Scope>,
        /// Where live events wait for a batch call, when the guest takes
        /// this function's events several at a time.
        batcher: Option<Box<Batcher>>,
    },
    Raw(Box<dyn RawAction>),
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Raw(#[from] RawError),
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
            ActionError::Raw(e) => e.unavailable,
            ActionError::Call(CallError::Timeout(_) | CallError::Abandoned) | ActionError::Deadline(_) => true,
            // No instance could be made now (the engine's slots are all taken): a
            // shortage that passes, not a refusal; the guest instantiated when it loaded.
            ActionError::Call(CallError::Instantiate(_)) => true,
            ActionError::Call(_) => false,
        }
    }
}

impl Action {
    /// Whether its guest takes several of its events in one call.
    pub fn batches(&self) -> bool {
        matches!(&self.kind, ActionKind::Guest { batcher: Some(_), .. })
    }

    /// Whether a client's writes through it keep the order they came in when
    /// several are in flight at once: a batcher never runs two batches of one
    /// client at once (`engine::batch`); every other action may store them in
    /// any order (a pool's several connections, or a guest's earlier host call
    /// answered out of turn before SQLite's one writer). A read needs no order.
    pub fn keeps_client_order(&self) -> bool {
        !self.writes || self.batches()
    }

    /// Replays several events from the outbox in as few guest calls as the
    /// guest takes them (see [`Action::batches`]); one answer per event, in
    /// order. An action that does not batch runs each alone.
    pub async fn replay_many(&self, events: &[&Event]) -> Vec<Result<Outcome, ActionError>> {
        let ActionKind::Guest { guest, replay_ctx, scope, batcher: Some(_), .. } = &self.kind else {
            let mut answers = Vec::with_capacity(events.len());
            for event in events {
                answers.push(self.run(event, &mut None, true).await);
            }
            return answers;
        };
        let wit: Vec<types::Event> = events.iter().map(|e| crate::engine::convert::event(e)).collect();
        let answers = guest.call_many(scope.clone(), replay_ctx, &wit).await;
        answers.into_iter().map(|a| Ok(self.outcome(a?))).collect()
    }

    /// The guest's answer as the broker takes it; what it may not do is logged.
    fn outcome(&self, answer: types::Outcome) -> Outcome {
        let (outcome, problems) = crate::engine::convert::outcome(answer);
        for p in problems {
            tracing::warn!(action = %self.name, "{p}");
        }
        outcome
    }

    /// Runs a read for one page of its answer (see [`Page`]). A guest that
    /// has more says where it stopped, and the outcome carries the next page
    /// to ask for ([`Outcome::more`]); any other action answers whole.
    pub async fn read(
        &self,
        event: &Event,
        wit_event: &mut Option<Arc<types::Event>>,
        page: Page,
    ) -> Result<Outcome, ActionError> {
        let ActionKind::Guest { guest, ctx, scope, .. } = &self.kind else {
            return self.run(event, wit_event, false).await;
        };
        let wit_event = wit_event.get_or_insert_with(|| Arc::new(crate::engine::convert::event(event)));
        let (answer, more) = guest.call_paged(scope.clone(), ctx, wit_event, page).await?;
        let mut outcome = self.outcome(answer);
        if let Some(after) = more {
            outcome.more.push(NextPage { action: self.name.clone(), event: event.clone(), after });
        }
        Ok(outcome)
    }

    /// Runs the action for one event. `wit_event` holds the event in WIT form
    /// once a guest action has needed it, for the guest actions after it.
    /// `replay`: the event comes from the outbox (see [`REPLAY_SETTING`]).
    pub async fn run(
        &self,
        event: &Event,
        wit_event: &mut Option<Arc<types::Event>>,
        replay: bool,
    ) -> Result<Outcome, ActionError> {
        match &self.kind {
            ActionKind::Guest { guest, ctx, replay_ctx, scope, batcher } => {
                let wit_event = wit_event.get_or_insert_with(|| Arc::new(crate::engine::convert::event(event)));
                let answer = match batcher {
                    // Replays run one at a time per client already, with their own setting.
                    Some(batcher) if !replay => {
                        guest.call_batched(batcher, scope.clone(), ctx, wit_event.clone()).await?
                    }
                    _ => guest.call(scope.clone(), if replay { replay_ctx } else { ctx }, wit_event).await?,
                };
                Ok(self.outcome(answer))
            }
            ActionKind::Raw(raw) => {
                raw.run(event).await?;
                Ok(Outcome::default())
            }
        }
    }
}
