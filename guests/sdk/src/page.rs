//! Paged fetches (the `paging` interface): a fetch answers at most the
//! host's limit of messages a call, and at most [`PAGE_BYTES`] of payload, so
//! that no backlog outgrows the guest's memory; the host calls again, with
//! the cursor the guest gave, once the client has taken the page.
//!
//! A cursor is the guest's position in its own store plus how many messages
//! the fetch delivered so far, because `max_returned_count` counts the whole
//! fetch, not a page.

use std::fmt::Display;
use std::str::FromStr;

use crate::bindings::cistern::hooks::paging;
use crate::{Error, Message};

/// The most payload one page holds, whatever the host's limit. The host
/// copies a page out of the guest's memory within the call's CPU time, so a
/// page stays small enough to copy well inside `cistern.limits.cpu_time`.
pub const PAGE_BYTES: usize = 1 << 20;

/// One page of a fetch being filled.
pub struct Page<P> {
    /// Most messages this page may hold; none when the call is not paged.
    limit: Option<u64>,
    count: u64,
    bytes: usize,
    /// Where the fetch stands in the guest's store.
    pub position: P,
    /// Messages the fetch delivered before this page.
    pub before: u64,
}

impl<P: FromStr + Display> Page<P> {
    /// The page this call answers: the first one at `start`, or the one
    /// after the cursor the host handed back.
    pub fn begin(start: P) -> Result<Page<P>, Error> {
        let limit = paging::limit().map(u64::from);
        let (position, before) = match paging::after() {
            None => (start, 0),
            Some(cursor) => {
                let bad = || Error::Other(format!("the host handed back a cursor this guest never gave: `{cursor}`"));
                let (position, before) = cursor.rsplit_once(' ').ok_or_else(bad)?;
                (position.parse().map_err(|_| bad())?, before.parse().map_err(|_| bad())?)
            }
        };
        Ok(Page { limit, count: 0, bytes: 0, position, before })
    }

    /// Counts a message into the page.
    pub fn add(&mut self, m: &Message) {
        self.count += 1;
        self.bytes += m.payload.len();
    }

    /// Messages the fetch has delivered, this page's included.
    pub fn delivered(&self) -> u64 {
        self.before + self.count
    }

    /// Whether the page holds all it may (a call that is not paged never fills).
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|limit| self.count >= limit || self.bytes >= PAGE_BYTES)
    }

    /// The most messages a page holds; none when the call is not paged.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Of `max` (`max_returned_count`, which counts the whole fetch), how
    /// many this page and those after it may still deliver; none: no cap.
    pub fn left(&self, max: Option<u64>) -> Option<u64> {
        max.map(|m| m.saturating_sub(self.before))
    }

    /// The most one topic may give this page, with `left` still to deliver:
    /// no topic gives a page more than the page holds.
    pub fn per_topic(&self, left: Option<u64>) -> Option<u64> {
        match (left, self.limit) {
            (Some(l), Some(p)) => Some(l.min(p)),
            (l, p) => l.or(p),
        }
    }

    /// How many more messages the page may hold (all, when not paged).
    pub fn room(&self) -> u64 {
        self.limit.map_or(u64::MAX, |limit| limit.saturating_sub(self.count))
    }

    /// Takes from `messages` what still fits the page, at most `at_most` of
    /// them, leaving the rest: by count, and by payload once the page holds
    /// one message (a page always takes one, however large).
    pub fn fitting<I: Iterator<Item = Message>>(
        &self,
        messages: &mut std::iter::Peekable<I>,
        at_most: u64,
    ) -> Vec<Message> {
        let (mut count, mut bytes) = (self.count, self.bytes);
        let mut taken = Vec::new();
        while (taken.len() as u64) < at_most.min(self.room()) {
            let Some(next) = messages.peek() else { break };
            if self.limit.is_some() && count > 0 && bytes + next.payload.len() > PAGE_BYTES {
                break;
            }
            count += 1;
            bytes += next.payload.len();
            taken.extend(messages.next());
        }
        taken
    }

    /// Tells the host there may be more after this page's position.
    pub fn more(&self) {
        paging::more(&format!("{} {}", self.position, self.delivered()));
    }
}
