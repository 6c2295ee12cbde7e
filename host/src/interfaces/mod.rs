//! The host side of each WIT interface, one module each: a thin `Host` impl
//! that checks the call is allowed for the action in progress, then calls a
//! plain async function over the pool (in `backends`).

mod clock;
mod influx;
mod log;
mod opentsdb;
mod redis;
mod sql;

use crate::engine::bindings::types;
use crate::engine::HostState;

impl types::Host for HostState {}

/// The WIT error for a call that names a pool other than the action's own.
fn denied(asked: &str, allowed: Option<&str>) -> types::Error {
    match allowed {
        Some(own) => types::Error::Denied(format!("this action may use pool `{own}` only, not `{asked}`")),
        None => types::Error::Denied("no action is running".into()),
    }
}

/// The one place a time-series write's error becomes a WIT error.
fn write_error(e: crate::backends::batch::WriteError) -> types::Error {
    match e {
        crate::backends::batch::WriteError::Unavailable(m) => types::Error::Unavailable(m),
        crate::backends::batch::WriteError::Refused(m) => types::Error::Other(m),
    }
}
