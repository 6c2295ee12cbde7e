//! The host side of the WIT interfaces every guest has (`log`, `clock`), and
//! what the databases' own interfaces share. A database's interface lives in
//! its folder (`backends/<db>/interface.rs`): a thin `Host` impl that checks
//! the call is allowed for the action in progress, then calls a plain async
//! function over the pool.

mod clock;
mod log;

use crate::backends::Pool;
use crate::engine::bindings::types;
use crate::engine::HostState;

impl types::Host for HostState {}

impl HostState {
    /// The action's own pool, if `asked` names it and it is a `P`
    /// (`what` names that kind of pool in the error).
    pub(crate) fn pool<P: Pool + Clone>(&self, asked: &str, what: &str) -> Result<P, types::Error> {
        let scope = self
            .scope()
            .filter(|s| s.pool_name == asked)
            .ok_or_else(|| denied(asked, self.scope().map(|s| s.pool_name.as_str())))?;
        scope.pool.downcast::<P>().cloned().ok_or_else(|| types::Error::Denied(format!("pool `{asked}` is not {what}")))
    }
}

/// The WIT error for a call that names a pool other than the action's own.
fn denied(asked: &str, allowed: Option<&str>) -> types::Error {
    match allowed {
        Some(own) => types::Error::Denied(format!("this action may use pool `{own}` only, not `{asked}`")),
        None => types::Error::Denied("no action is running".into()),
    }
}

/// The one place a time-series write's error becomes a WIT error.
pub(crate) fn write_error(e: crate::backends::batch::WriteError) -> types::Error {
    match e {
        crate::backends::batch::WriteError::Unavailable(m) => types::Error::Unavailable(m),
        crate::backends::batch::WriteError::Refused(m) => types::Error::Other(m),
    }
}
