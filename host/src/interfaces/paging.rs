//! `paging`: what page of a fetch the call in progress answers, and where
//! the guest says it stopped (see [`crate::engine::Page`]).

use crate::engine::bindings::paging;
use crate::engine::HostState;

impl paging::Host for HostState {
    async fn limit(&mut self) -> Option<u32> {
        self.page.as_ref().map(|p| p.limit)
    }

    async fn after(&mut self) -> Option<String> {
        self.page.as_ref().and_then(|p| p.after.clone())
    }

    async fn more(&mut self, cursor: String) {
        // Outside a paged call there is no next page to ask for.
        if self.page.is_some() {
            self.more = Some(cursor);
        }
    }
}
