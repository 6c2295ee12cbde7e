//! `clock`: wall-clock time for guests, which have no other.

use crate::engine::bindings::clock;
use crate::engine::HostState;

impl clock::Host for HostState {
    async fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}
