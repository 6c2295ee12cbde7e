//! Typed access to the settings the host resolved for an action.

use crate::{Context, Error};

/// The setting's text, if the host passed one.
pub fn get<'a>(ctx: &'a Context, key: &str) -> Option<&'a str> {
    ctx.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The setting the host adds when a call replays a write from the outbox.
pub const REPLAY: &str = "cistern.replay";

/// Whether this call replays a write from the outbox: an earlier attempt of
/// it may have committed (it timed out), so it must not store twice.
pub fn is_replay(ctx: &Context) -> bool {
    get(ctx, REPLAY) == Some("true")
}

/// A whole-number setting; `infinity` and absence both mean no limit.
pub fn limit(ctx: &Context, key: &str) -> Result<Option<u64>, Error> {
    match get(ctx, key) {
        None | Some("infinity") => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|_| Error::InvalidInput(format!("setting {key} = {v:?} is not a whole number")))
        }
    }
}
