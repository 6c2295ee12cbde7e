//! `log`: a guest's lines go to the host's log, tagged with the action.

use crate::engine::bindings::log;
use crate::engine::HostState;

/// Longer lines are cut, so a guest cannot flood the log with one call.
const MAX_LINE: usize = 4096;

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        let action = self.scope().map(|s| s.action.clone());
        let action = action.as_deref().unwrap_or("(loading)");
        let mut message = message;
        if message.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        // A guest's line is one line, whatever subscriber the embedding broker installed.
        let message = crate::logging::one_line(&message);
        match level {
            log::Level::Trace => tracing::trace!(target: "cistern::guest", action, "{message}"),
            log::Level::Debug => tracing::debug!(target: "cistern::guest", action, "{message}"),
            log::Level::Info => tracing::info!(target: "cistern::guest", action, "{message}"),
            log::Level::Warn => tracing::warn!(target: "cistern::guest", action, "{message}"),
            log::Level::Error => tracing::error!(target: "cistern::guest", action, "{message}"),
        }
    }
}
