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
//! Left: a publish whose hook returned before the bound was taken but whose
//! forward reaches the router after the subscription did (microseconds,
//! between rmqtt's hook and its router lookup) may still come twice.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::message_id::MessageIds;

/// The ids of publishes in their `message.publish` hook.
#[derive(Default)]
pub struct Publishing {
    ids: Arc<Mutex<BTreeSet<String>>>,
}

/// A publish in its hook; leaves the set when dropped.
pub struct InHook {
    id: String,
    ids: Arc<Mutex<BTreeSet<String>>>,
}

impl InHook {
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for InHook {
    fn drop(&mut self) {
        self.ids.lock().expect("publishing ids").remove(&self.id);
    }
}

impl Publishing {
    /// A new id for a publish entering its hook. Taken under the same lock
    /// as [`Publishing::live_from`], so that no id is given out between a
    /// bound and the set it was taken from.
    pub fn start(&self, ids: &MessageIds) -> InHook {
        let mut set = self.ids.lock().expect("publishing ids");
        let id = ids.next();
        set.insert(id.clone());
        InHook { id, ids: self.ids.clone() }
    }

    /// The smallest id a message delivered live to a subscription already
    /// in the router may have.
    pub fn live_from(&self, ids: &MessageIds) -> String {
        let set = self.ids.lock().expect("publishing ids");
        set.first().cloned().unwrap_or_else(|| ids.next())
    }
}

/// Whether a stored message's id is one of ours and at or after `bound`
/// (ids of another shape, from other writers, are never left out).
pub fn delivered_live(id: &str, bound: &str) -> bool {
    id.len() == bound.len() && id.bytes().all(|b| b.is_ascii_hexdigit()) && id >= bound
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
        let bound = p.live_from(&ids);
        let later = p.start(&ids);
        assert!(delivered_live(later.id(), &bound));
        assert!(!delivered_live("0000000000000001ABCD", &bound));
        assert!(!delivered_live("not-one-of-ours", &bound));
    }
}
