//! `clock`: wall-clock time for guests, which have no other.

use crate::engine::bindings::clock;
use crate::engine::HostState;

impl clock::Host for HostState {
    async fn now_ms(&mut self) -> u64 {
        crate::model::now_ms()
    }
}
