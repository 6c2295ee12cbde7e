//! What the host asks of any database's pool, whichever database it is: a
//! health check for the outbox's drainer, what a stock guest must know of it,
//! and the raw actions (`{"sql": ...}`, `{"commands": ...}`, `{"cql": ...}`)
//! it can run. Host interfaces get their own pool type back with
//! [`AnyPool::downcast`].

/// The most bytes one read may hand a guest (text and blobs at their
/// length): every backend that reads a result in parts counts them as they
/// come and gives the read up past it, before the host holds more. A guest
/// pages past it (LIMIT, SCAN, its page cursor).
pub const MAX_RESULT_BYTES: usize = 32 << 20;

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::ActionSpec;
use crate::model::{Event, HookPoint};

#[async_trait]
pub trait Pool: Any + Send + Sync {
    /// The database answers a trivial request.
    async fn ping(&self) -> Result<(), String>;

    /// What a stock guest needs to know of its pool, passed in its settings.
    fn guest_settings(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Compiles a raw action for `point`. `None`: this database has no raw
    /// action of that kind.
    fn raw_action(&self, spec: &ActionSpec, point: HookPoint) -> Option<Result<Box<dyn RawAction>, String>> {
        let _ = (spec, point);
        None
    }
}

/// A pool of any database, shared.
#[derive(Clone)]
pub struct AnyPool(Arc<dyn Pool>);

impl AnyPool {
    pub fn new<P: Pool>(pool: P) -> AnyPool {
        AnyPool(Arc::new(pool))
    }

    /// The pool as its own type, if it is one.
    pub fn downcast<P: Pool>(&self) -> Option<&P> {
        (self.0.as_ref() as &dyn Any).downcast_ref::<P>()
    }
}

impl std::ops::Deref for AnyPool {
    type Target = dyn Pool;
    fn deref(&self) -> &dyn Pool {
        self.0.as_ref()
    }
}

/// Statements or commands from the configuration, compiled once, with the
/// event's values bound as parameters, never spliced into their text.
#[async_trait]
pub trait RawAction: Send + Sync {
    async fn run(&self, event: &Event) -> Result<(), RawError>;
}

/// A raw action's failure: which of its statements or commands (1-based;
/// `None` when the batch as a whole failed) and whether the database was
/// unreachable rather than refusing what it was sent.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", match .index { Some(i) => format!("{} {i} failed: ", .what), None => format!("{}s failed: ", .what) })]
pub struct RawError {
    /// `statement`, `command`.
    pub what: &'static str,
    pub index: Option<usize>,
    pub unavailable: bool,
    pub message: String,
}
