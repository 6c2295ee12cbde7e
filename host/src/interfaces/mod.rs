//! The host side of the WIT interfaces every guest has (`log`, `clock`, `paging`), and
//! what the databases' own interfaces share. A database's interface lives in
//! its folder (`backends/<db>/interface.rs`): a thin `Host` impl that checks
//! the call is allowed for the action in progress, then calls a plain async
//! function over the pool.

mod clock;
mod log;
mod paging;

use crate::backends::Pool;
use crate::engine::bindings::types;
use crate::engine::HostState;

impl types::Host for HostState {}

impl HostState {
    /// The action's own pool, if `asked` names it and it is a `P`
    /// (`what` names that kind of pool in the error).
    /// A refusal is counted against the action and logged with its name.
    pub(crate) fn pool<P: Pool + Clone>(&self, asked: &str, what: &str) -> Result<P, types::Error> {
        let Some(scope) = self.scope() else {
            return Err(types::Error::Denied("no action is running".into()));
        };
        let pool = if scope.pool_name == asked {
            scope.pool.downcast::<P>().cloned().ok_or_else(|| format!("pool `{asked}` is not {what}"))
        } else {
            Err(format!("this action may use pool `{}` only, not `{asked}`", scope.pool_name))
        };
        pool.map_err(|why| {
            scope.counters.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(action = %scope.action, asked, "guest call denied: {why}");
            types::Error::Denied(why)
        })
    }
}

/// The one place a time-series write's error becomes a WIT error.
pub(crate) fn write_error(e: crate::backends::batch::WriteError) -> types::Error {
    match e {
        crate::backends::batch::WriteError::Unavailable(m) => types::Error::Unavailable(m),
        crate::backends::batch::WriteError::Refused(m) => types::Error::Other(m),
    }
}
