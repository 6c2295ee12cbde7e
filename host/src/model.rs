//! The broker-neutral events and outcomes: what any broker adapter hands the
//! runtime, and what it gets back. They mirror the WIT `types` interface.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The MQTT client an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub clientid: String,
    pub username: Option<String>,
    /// The client's IP address.
    pub peerhost: Option<String>,
    /// The broker node serving the client.
    pub node: String,
    /// The connection asked for a clean start (see the WIT `client` record).
    #[serde(default)]
    pub clean_start: bool,
    /// The session outlives the connection (see the WIT `client` record).
    #[serde(default)]
    pub persistent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Unique and time-ordered; see [`crate::message_id`].
    pub id: String,
    pub topic: String,
    pub payload: bytes::Bytes,
    pub qos: u8,
    pub retain: bool,
    /// The publisher's client id.
    pub sender: String,
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub topic: String,
    pub qos: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    ClientConnected(Client),
    ClientDisconnected(Client),
    SessionCreated(Client),
    /// `resumed`: the live session already held this subscription, so the
    /// broker kept what the client missed (see the WIT `subscribed` record).
    SessionSubscribed {
        client: Client,
        subscription: Subscription,
        resumed: bool,
    },
    SessionUnsubscribed {
        client: Client,
        topic: String,
    },
    /// The client is the publisher.
    MessagePublish {
        client: Client,
        message: Message,
    },
    /// The client is the receiver.
    MessageDelivered {
        client: Client,
        message: Message,
    },
    /// The client is the receiver.
    MessageAcked {
        client: Client,
        message: Message,
    },
    /// A QoS 1 or 2 message queued for a persistent session whose client is
    /// away; the client is the receiver.
    MessageOffline {
        client: Client,
        message: Message,
    },
    /// The session ended (a clean session disconnected, a persistent one expired).
    SessionTerminated(Client),
}

impl Event {
    pub fn hook_point(&self) -> HookPoint {
        match self {
            Event::ClientConnected(_) => HookPoint::ClientConnected,
            Event::ClientDisconnected(_) => HookPoint::ClientDisconnected,
            Event::SessionCreated(_) => HookPoint::SessionCreated,
            Event::SessionSubscribed { .. } => HookPoint::SessionSubscribed,
            Event::SessionUnsubscribed { .. } => HookPoint::SessionUnsubscribed,
            Event::MessagePublish { .. } => HookPoint::MessagePublish,
            Event::MessageDelivered { .. } => HookPoint::MessageDelivered,
            Event::MessageAcked { .. } => HookPoint::MessageAcked,
            Event::MessageOffline { .. } => HookPoint::MessageOffline,
            Event::SessionTerminated(_) => HookPoint::SessionTerminated,
        }
    }

    pub fn client(&self) -> &Client {
        match self {
            Event::ClientConnected(c)
            | Event::ClientDisconnected(c)
            | Event::SessionCreated(c)
            | Event::SessionTerminated(c) => c,
            Event::SessionSubscribed { client, .. }
            | Event::SessionUnsubscribed { client, .. }
            | Event::MessagePublish { client, .. }
            | Event::MessageDelivered { client, .. }
            | Event::MessageAcked { client, .. }
            | Event::MessageOffline { client, .. } => client,
        }
    }

    /// The topic (or, for subscriptions, the topic filter) the router matches
    /// configured filters against; client events have none.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Event::ClientConnected(_)
            | Event::ClientDisconnected(_)
            | Event::SessionCreated(_)
            | Event::SessionTerminated(_) => None,
            Event::SessionSubscribed { subscription, .. } => Some(&subscription.topic),
            Event::SessionUnsubscribed { topic, .. } => Some(topic),
            Event::MessagePublish { message, .. }
            | Event::MessageDelivered { message, .. }
            | Event::MessageAcked { message, .. }
            | Event::MessageOffline { message, .. } => Some(&message.topic),
        }
    }

    pub fn message(&self) -> Option<&Message> {
        match self {
            Event::MessagePublish { message, .. }
            | Event::MessageDelivered { message, .. }
            | Event::MessageAcked { message, .. }
            | Event::MessageOffline { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, as events carry it.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What the broker should do for the event's client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Messages to deliver to this client, in order.
    pub deliver: Vec<Message>,
    /// Subscriptions to add for this client.
    pub subscribe: Vec<Subscription>,
    /// Set when a write could neither be stored nor deferred to the outbox
    /// (it is full, or its disk fails): the broker must not acknowledge the
    /// message (an MQTT 5 client gets an error reason code, an MQTT 3.1.1
    /// client is disconnected so that it sends the message again).
    pub refused: Option<String>,
    /// Reads that answered one page and have more: the broker asks for
    /// each next page ([`crate::runtime::Runtime::next_page`]) once the
    /// client has taken what it was given.
    pub more: Vec<NextPage>,
}

/// Where a paged read stopped: the action, the event it answered, and the
/// guest's cursor for the next page.
#[derive(Debug, Clone)]
pub struct NextPage {
    /// The action's name; a reload that drops it ends the fetch.
    pub action: std::sync::Arc<str>,
    pub event: Event,
    pub after: String,
}

impl PartialEq for NextPage {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action && self.after == other.after
    }
}
impl Eq for NextPage {}

impl Outcome {
    pub fn is_empty(&self) -> bool {
        self.deliver.is_empty() && self.subscribe.is_empty() && self.more.is_empty()
    }

    /// Keeps the deliveries a client may have: those matching one of
    /// `filters` (the subscriptions the client holds or is being given) or
    /// one of this outcome's own subscriptions. Returns the others. A guest
    /// may fetch for a client, never send it what it did not ask for
    /// (another client's topics, `$SYS/...`).
    pub fn keep_subscribed(&mut self, filters: &[&str]) -> Vec<Message> {
        let (keep, refused): (Vec<Message>, Vec<Message>) =
            std::mem::take(&mut self.deliver).into_iter().partition(|m| {
                filters
                    .iter()
                    .copied()
                    .chain(self.subscribe.iter().map(|s| s.topic.as_str()))
                    .any(|f| cistern_topic::matches(f, &m.topic))
            });
        self.deliver = keep;
        refused
    }

    /// Appends what another action returned. A message two actions both
    /// return (an offline fetch and a retained lookup may) is delivered once,
    /// where it first appeared, retained if either said so; a subscription
    /// named twice is added once, at the later QoS.
    pub fn merge(&mut self, other: Outcome) {
        for m in other.deliver {
            match self.deliver.iter_mut().find(|d| d.id == m.id && !m.id.is_empty()) {
                Some(seen) => seen.retain |= m.retain,
                None => self.deliver.push(m),
            }
        }
        for s in other.subscribe {
            match self.subscribe.iter_mut().find(|have| have.topic == s.topic) {
                Some(have) => have.qos = s.qos,
                None => self.subscribe.push(s),
            }
        }
        self.more.extend(other.more);
    }
}

/// The hook points of the seed, as the configuration spells them, and
/// cistern's own: `message.offline` and `session.terminated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPoint {
    ClientConnected,
    ClientDisconnected,
    SessionCreated,
    SessionSubscribed,
    SessionUnsubscribed,
    MessagePublish,
    MessageDelivered,
    MessageAcked,
    MessageOffline,
    SessionTerminated,
}

impl HookPoint {
    pub const ALL: [HookPoint; 10] = [
        HookPoint::ClientConnected,
        HookPoint::ClientDisconnected,
        HookPoint::SessionCreated,
        HookPoint::SessionSubscribed,
        HookPoint::SessionUnsubscribed,
        HookPoint::MessagePublish,
        HookPoint::MessageDelivered,
        HookPoint::MessageAcked,
        HookPoint::MessageOffline,
        HookPoint::SessionTerminated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookPoint::ClientConnected => "client.connected",
            HookPoint::ClientDisconnected => "client.disconnected",
            HookPoint::SessionCreated => "session.created",
            HookPoint::SessionSubscribed => "session.subscribed",
            HookPoint::SessionUnsubscribed => "session.unsubscribed",
            HookPoint::MessagePublish => "message.publish",
            HookPoint::MessageDelivered => "message.delivered",
            HookPoint::MessageAcked => "message.acked",
            HookPoint::MessageOffline => "message.offline",
            HookPoint::SessionTerminated => "session.terminated",
        }
    }

    pub fn parse(name: &str) -> Option<HookPoint> {
        HookPoint::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether events at this point carry a topic the configured filter applies to.
    pub fn has_topic(self) -> bool {
        !matches!(
            self,
            HookPoint::ClientConnected
                | HookPoint::ClientDisconnected
                | HookPoint::SessionCreated
                | HookPoint::SessionTerminated
        )
    }

    /// The `${name}` parameters a raw statement may use at this point
    /// (the seed's "SQL Parameters Description", plus the client's details).
    pub fn parameters(self) -> &'static [&'static str] {
        const CLIENT: &[&str] = &["clientid", "username", "peerhost", "node"];
        match self {
            HookPoint::ClientConnected
            | HookPoint::ClientDisconnected
            | HookPoint::SessionCreated
            | HookPoint::SessionTerminated => CLIENT,
            HookPoint::SessionSubscribed => &["clientid", "username", "peerhost", "node", "topic", "qos"],
            HookPoint::SessionUnsubscribed => &["clientid", "username", "peerhost", "node", "topic"],
            HookPoint::MessagePublish
            | HookPoint::MessageDelivered
            | HookPoint::MessageAcked
            | HookPoint::MessageOffline => &[
                "clientid",
                "username",
                "peerhost",
                "node",
                "msgid",
                "topic",
                "payload",
                "qos",
                "retain",
                "sender",
                "timestamp",
            ],
        }
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, retain: bool) -> Message {
        Message {
            id: id.into(),
            topic: "t".into(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: 1,
            retain,
            sender: "p".into(),
            timestamp_ms: 0,
        }
    }

    /// A message returned by two actions is delivered once, keeping the retain flag.
    #[test]
    fn merge_deduplicates_messages() {
        let mut a = Outcome { deliver: vec![msg("1", false), msg("2", false)], ..Outcome::default() };
        a.merge(Outcome { deliver: vec![msg("2", true), msg("3", true)], ..Outcome::default() });
        let ids: Vec<_> = a.deliver.iter().map(|m| (m.id.as_str(), m.retain)).collect();
        assert_eq!(ids, [("1", false), ("2", true), ("3", true)]);
    }

    /// Every hook point name parses back to itself.
    #[test]
    fn hook_point_names_round_trip() {
        for p in HookPoint::ALL {
            assert_eq!(HookPoint::parse(p.name()), Some(p));
        }
        assert_eq!(HookPoint::parse("message.published"), None);
    }
}
