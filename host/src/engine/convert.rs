//! Between the broker-neutral model and the WIT types, in one place.

use super::bindings::types;
use crate::model::{Client, Event, Message, Outcome, Subscription};

pub fn client(c: &Client) -> types::Client {
    types::Client {
        clientid: c.clientid.clone(),
        username: c.username.clone(),
        peerhost: c.peerhost.clone(),
        node: c.node.clone(),
        clean_start: c.clean_start,
        persistent: c.persistent,
    }
}

pub fn message(m: &Message) -> types::Message {
    types::Message {
        id: m.id.clone(),
        topic: m.topic.clone(),
        payload: m.payload.to_vec(),
        qos: m.qos,
        retain: m.retain,
        sender: m.sender.clone(),
        timestamp_ms: m.timestamp_ms,
    }
}

pub fn event(e: &Event) -> types::Event {
    let message_event = |c: &Client, m: &Message| types::MessageEvent { client: client(c), message: message(m) };
    match e {
        Event::ClientConnected(c) => types::Event::ClientConnected(client(c)),
        Event::ClientDisconnected(c) => types::Event::ClientDisconnected(client(c)),
        Event::SessionCreated(c) => types::Event::SessionCreated(client(c)),
        Event::SessionSubscribed { client: c, subscription, resumed } => {
            types::Event::SessionSubscribed(types::Subscribed {
                client: client(c),
                subscription: types::Subscription { topic: subscription.topic.clone(), qos: subscription.qos },
                resumed: *resumed,
            })
        }
        Event::SessionUnsubscribed { client: c, topic } => {
            types::Event::SessionUnsubscribed(types::Unsubscribed { client: client(c), topic: topic.clone() })
        }
        Event::MessagePublish { client: c, message: m } => types::Event::MessagePublish(message_event(c, m)),
        Event::MessageDelivered { client: c, message: m } => types::Event::MessageDelivered(message_event(c, m)),
        Event::MessageAcked { client: c, message: m } => types::Event::MessageAcked(message_event(c, m)),
        Event::MessageOffline { client: c, message: m } => types::Event::MessageOffline(message_event(c, m)),
        Event::SessionTerminated(c) => types::Event::SessionTerminated(client(c)),
    }
}

/// A guest's outcome in the model's terms. Messages with a QoS over 2 or a
/// topic that is not a valid topic name are dropped here, with a reason.
pub fn outcome(o: types::Outcome) -> (Outcome, Vec<String>) {
    let mut problems = Vec::new();
    let mut out = Outcome::default();
    for m in o.deliver {
        if m.qos > 2 || m.topic.is_empty() || cistern_topic::has_wildcard(&m.topic) {
            problems.push(format!("message {} on {:?} with QoS {} cannot be delivered", m.id, m.topic, m.qos));
            continue;
        }
        out.deliver.push(Message {
            id: m.id,
            topic: m.topic,
            payload: m.payload.into(),
            qos: m.qos,
            retain: m.retain,
            sender: m.sender,
            timestamp_ms: m.timestamp_ms,
        });
    }
    for s in o.subscribe {
        if s.qos > 2 || cistern_topic::filter_error(&s.topic).is_some() {
            problems.push(format!("subscription {:?} with QoS {} is not valid", s.topic, s.qos));
            continue;
        }
        out.subscribe.push(Subscription { topic: s.topic, qos: s.qos });
    }
    (out, problems)
}
