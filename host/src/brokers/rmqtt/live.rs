//! Which stored messages a new subscription already gets live.
//!
//! rmqtt puts a new subscription in its router before it raises
//! `session.subscribed`, so a message published from then on reaches the
//! subscriber live; a fetch from the store (`on_message_fetch`, the Redis
//! queue and pubsub fetches, `on_retain_lookup`) that also returned it
//! delivered it twice. Message ids grow with time, so the adapter takes a
//! bound when the subscription's hook starts, [`Publishing::live_from`]: the
//! id of the oldest publish still in its hook (its forward comes after, and
//! finds the subscription), or else the next id. Stored messages from that
//! id on are left out of what the subscription's actions return.
//!
//! One window is left: a publish whose hook returned before the bound was
//! taken but whose forward reaches the router after the subscription did
//! (microseconds, between rmqtt's hook and its router lookup) comes live and
//! from the store. [`Overlap`] catches that second copy at delivery (rmqtt's
//! `message.expiry_check`, asked just before each delivery), for the ids just
//! below the bound, where such a twin can be.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use crate::message_id::MessageIds;

/// The ids of publishes in their `message.publish` hook.
#[derive(Default)]
pub struct Publishing {
    ids: Arc<Mutex<InHookIds>>,
}

/// Ids are given out in order under the lock, so the publishes in their hook
/// are a queue by age: each has a place in it, `None` once it has left, and
/// the ones that left at the front are dropped. The oldest still in its hook
/// is at the front, found and removed with no comparison of ids.
#[derive(Default)]
struct InHookIds {
    /// The place of the queue's front among every publish given an id.
    front: u64,
    queue: VecDeque<Option<String>>,
}

/// A publish in its hook; leaves the set when dropped.
pub struct InHook {
    id: String,
    place: u64,
    ids: Arc<Mutex<InHookIds>>,
}

impl InHook {
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for InHook {
    fn drop(&mut self) {
        let mut set = self.ids.lock().expect("publishing ids");
        let at = (self.place - set.front) as usize;
        set.queue[at] = None;
        while set.queue.front().is_some_and(Option::is_none) {
            set.queue.pop_front();
            set.front += 1;
        }
    }
}

impl Publishing {
    /// A new id for a publish entering its hook. Taken under the same lock
    /// as [`Publishing::live_from`], so that no id is given out between a
    /// bound and the set it was taken from.
    pub fn start(&self, ids: &MessageIds) -> InHook {
        let mut set = self.ids.lock().expect("publishing ids");
        let id = ids.next();
        let place = set.front + set.queue.len() as u64;
        set.queue.push_back(Some(id.clone()));
        InHook { id, place, ids: self.ids.clone() }
    }

    /// The smallest id a message delivered live to a subscription already
    /// in the router may have.
    pub fn live_from(&self, ids: &MessageIds) -> String {
        let set = self.ids.lock().expect("publishing ids");
        set.queue.front().cloned().flatten().unwrap_or_else(|| ids.next())
    }
}

/// Whether a stored message's id is one of ours and at or after `bound`
/// (ids of another shape, from other writers, are never left out).
pub fn delivered_live(id: &str, bound: &str) -> bool {
    id.len() == bound.len() && id.bytes().all(|b| b.is_ascii_hexdigit()) && id >= bound
}

/// How far below a subscription's bound a message's id may lie and still have
/// a live twin: its publish's hook returned before the bound was taken, and
/// its forward was still on its way to the router.
const TWIN_WINDOW_MICROS: u64 = 2_000_000;

/// Per client, the ids delivered just below its newest subscription's bound
/// (within [`TWIN_WINDOW_MICROS`]), so that a second copy of one of them,
/// live and fetched, is dropped rather than delivered twice.
#[derive(Default)]
pub struct Overlap {
    clients: Mutex<HashMap<String, Window>>,
}

struct Window {
    lowest: String,
    bound: String,
    delivered: HashSet<String>,
}

impl Overlap {
    /// A subscription of `client` starts with `bound` (see [`Publishing::live_from`]).
    pub fn subscribed(&self, client: &str, bound: &str) {
        let Some(micros) = bound.get(..16).and_then(|m| u64::from_str_radix(m, 16).ok()) else { return };
        let lowest = format!("{:016X}", micros.saturating_sub(TWIN_WINDOW_MICROS));
        let window = Window { lowest, bound: bound.to_owned(), delivered: HashSet::new() };
        self.clients.lock().expect("overlap").insert(client.to_owned(), window);
    }

    /// The message is about to be delivered to `client`: whether it is a
    /// second copy of one already delivered (then it must not be).
    pub fn is_twin(&self, client: &str, id: &str) -> bool {
        let mut clients = self.clients.lock().expect("overlap");
        let Some(w) = clients.get_mut(client) else { return false };
        let near = id.len() == w.bound.len() && id >= w.lowest.as_str() && id < w.bound.as_str();
        near && !w.delivered.insert(id.to_owned())
    }

    /// The client's session ended.
    pub fn forget(&self, client: &str) {
        self.clients.lock().expect("overlap").remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound is the oldest id still in its hook, or a new one.
    #[test]
    fn bound_is_the_oldest_publish_in_its_hook() {
        let ids = MessageIds::new("n@h");
        let p = Publishing::default();
        let first = p.start(&ids);
        let second = p.start(&ids);
        assert_eq!(p.live_from(&ids), first.id());
        drop(first);
        assert_eq!(p.live_from(&ids), second.id());
        drop(second);
        // Out of order: the oldest leaves last.
        let (a, b, c) = (p.start(&ids), p.start(&ids), p.start(&ids));
        drop(b);
        assert_eq!(p.live_from(&ids), a.id());
        drop(a);
        assert_eq!(p.live_from(&ids), c.id());
        drop(c);
        assert!(p.ids.lock().unwrap().queue.is_empty(), "nothing is kept once every publish left");
        let bound = p.live_from(&ids);
        let later = p.start(&ids);
        assert!(delivered_live(later.id(), &bound));
        assert!(!delivered_live("0000000000000001ABCD", &bound));
        assert!(!delivered_live("not-one-of-ours", &bound));
    }

    /// A message just below the bound is delivered once, its twin not;
    /// messages far below it, and live ones, are not tracked.
    #[test]
    fn a_twin_just_below_the_bound_is_caught() {
        let ids = MessageIds::new("n@h");
        let just_below = ids.next();
        let bound = Publishing::default().live_from(&ids);
        let live = ids.next();
        let overlap = Overlap::default();
        overlap.subscribed("c", &bound);
        assert!(!overlap.is_twin("c", &just_below), "the first copy goes");
        assert!(overlap.is_twin("c", &just_below), "the second does not");
        assert!(!overlap.is_twin("c", &live) && !overlap.is_twin("c", &live), "live messages are not tracked");
        let old = format!("{:016X}{}", 1u64, &bound[16..]);
        assert!(!overlap.is_twin("c", &old) && !overlap.is_twin("c", &old), "nor old ones");
        assert!(!overlap.is_twin("other", &just_below), "nor another client's");
        overlap.forget("c");
        assert!(!overlap.is_twin("c", &just_below));
    }
}
