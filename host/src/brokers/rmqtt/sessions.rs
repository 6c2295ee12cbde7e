//! What the adapter remembers of each live session: the filters it holds
//! (so a re-subscribe is known as resumed), whether the broker dropped any of
//! its queued messages (then a re-subscribe must fetch from storage after
//! all), and which of our message ids each in-flight packet carries (so an
//! acknowledgement names the stored message).
//!
//! A session is known by its client id and creation time, which rmqtt keeps
//! across a resume; a new session for the same client starts afresh.

use std::collections::{HashMap, HashSet};

use dashmap::DashMap;

#[derive(Default)]
pub struct Sessions {
    clients: DashMap<String, SessionState>,
}

struct SessionState {
    created_at: i64,
    filters: HashSet<String>,
    /// Filters whose queued messages the broker dropped while the client was away.
    lossy: HashSet<String>,
    /// Packet id → message id of what is in flight to the client.
    in_flight: HashMap<u16, String>,
}

impl SessionState {
    fn new(created_at: i64) -> Self {
        SessionState { created_at, filters: HashSet::new(), lossy: HashSet::new(), in_flight: HashMap::new() }
    }
}

impl Sessions {
    fn with<R>(&self, client: &str, created_at: i64, f: impl FnOnce(&mut SessionState) -> R) -> R {
        let mut state = self.clients.entry(client.to_string()).or_insert_with(|| SessionState::new(created_at));
        if state.created_at != created_at {
            *state = SessionState::new(created_at);
        }
        f(&mut state)
    }

    /// Notes a subscription; true when the session already held it and the
    /// broker kept everything it queued for it.
    pub fn subscribed(&self, client: &str, created_at: i64, filter: &str) -> bool {
        self.with(client, created_at, |s| {
            let held = !s.filters.insert(filter.to_string());
            let lossless = !s.lossy.remove(filter);
            held && lossless
        })
    }

    /// Whether the session holds a subscription to `filter`.
    pub fn holds(&self, client: &str, created_at: i64, filter: &str) -> bool {
        self.clients.get(client).is_some_and(|s| s.created_at == created_at && s.filters.contains(filter))
    }

    pub fn unsubscribed(&self, client: &str, created_at: i64, filter: &str) {
        self.with(client, created_at, |s| {
            s.filters.remove(filter);
            s.lossy.remove(filter);
        });
    }

    /// The broker dropped a message queued for this client.
    pub fn dropped(&self, client: &str) {
        if let Some(mut s) = self.clients.get_mut(client) {
            let all = s.filters.clone();
            s.lossy.extend(all);
        }
    }

    pub fn delivered(&self, client: &str, created_at: i64, packet_id: u16, msgid: String) {
        self.with(client, created_at, |s| s.in_flight.insert(packet_id, msgid));
    }

    /// The message id of a packet in flight, if it was still being tracked.
    pub fn in_flight(&self, client: &str, packet_id: u16) -> Option<String> {
        self.clients.get(client).and_then(|s| s.in_flight.get(&packet_id).cloned())
    }

    pub fn acked(&self, client: &str, packet_id: u16) -> Option<String> {
        self.clients.get_mut(client).and_then(|mut s| s.in_flight.remove(&packet_id))
    }

    /// The session ended; forget it unless a newer one has taken its place.
    pub fn terminated(&self, client: &str, created_at: i64) {
        self.clients.remove_if(client, |_, s| s.created_at == created_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter held by the live session is resumed; a new session, a new
    /// filter or a lossy one is not.
    #[test]
    fn resumed_subscriptions() {
        let s = Sessions::default();
        assert!(!s.subscribed("c", 1, "a/#"));
        assert!(s.subscribed("c", 1, "a/#"));
        assert!(!s.subscribed("c", 1, "b"));
        s.dropped("c");
        assert!(!s.subscribed("c", 1, "a/#"));
        assert!(s.subscribed("c", 1, "a/#"));
        assert!(!s.subscribed("c", 2, "a/#"), "a new session holds nothing");
        s.terminated("c", 1);
        assert!(s.subscribed("c", 2, "a/#"), "an old session's end leaves the new one");
    }

    /// An acknowledgement finds the message id its packet carried, once.
    #[test]
    fn in_flight_ids() {
        let s = Sessions::default();
        s.delivered("c", 1, 7, "M7".into());
        assert_eq!(s.in_flight("c", 7).as_deref(), Some("M7"));
        assert_eq!(s.acked("c", 7).as_deref(), Some("M7"));
        assert_eq!(s.acked("c", 7), None);
    }
}
