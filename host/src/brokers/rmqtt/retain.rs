//! Retained messages, with MQTT's rules, whether or not a store keeps them.
//!
//! rmqtt keeps retained messages in memory and delivers them itself: to a new
//! subscription only, with the retain flag set, as MQTT 5's retain handling
//! says, and an empty retained payload deletes. A topic that a store's
//! `on_retain_lookup` hook covers is the store's instead: rmqtt neither keeps
//! nor delivers it, the hook's lookup delivers it, once, and
//! [`at_subscribe`] applies the same rules to what the lookup found.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmqtt::codec::v5::RetainHandling;
use rmqtt::retain::{DefaultRetainStorage, RetainStorage};
use rmqtt::types::{Retain, TopicFilter, TopicName};

use super::convert;
use super::retained_properties::{worth_keeping, RetainedProperties};
use crate::model::{HookPoint, Outcome};
use crate::runtime::Runtime;

/// The stock function that delivers retained messages from a store.
const LOOKUP: &str = "on_retain_lookup";

/// rmqtt's retained storage: memory, for the topics no store looks up.
pub struct Retainer {
    memory: DefaultRetainStorage,
    runtime: Arc<Runtime>,
    /// The MQTT 5 properties of the store's retained messages, which its tables cannot hold.
    properties: Arc<RetainedProperties>,
}

impl Retainer {
    pub fn new(runtime: Arc<Runtime>, properties: Arc<RetainedProperties>) -> Self {
        Retainer { memory: DefaultRetainStorage::new(), runtime, properties }
    }

    /// Whether a subscription to `filter` (or a publish to the topic) gets
    /// its retained messages from a store's lookup.
    fn in_store(&self, filter: &str) -> bool {
        self.runtime.loaded().router().reaches_function(HookPoint::SessionSubscribed, filter, LOOKUP)
    }
}

#[async_trait]
impl RetainStorage for Retainer {
    fn enable(&self) -> bool {
        true
    }

    async fn set(&self, topic: &TopicName, retain: Retain, expiry: Option<Duration>) -> rmqtt::Result<()> {
        if self.in_store(topic) {
            // The store keeps the message (its hook ran already); the
            // properties it has no column for are kept here, durably, before
            // the publish is acknowledged.
            let Some(msgid) = convert::stamped(&retain.publish) else { return Ok(()) };
            let keep = if retain.publish.payload.is_empty() {
                None
            } else {
                worth_keeping(retain.publish.properties.as_ref())
            };
            let (properties, topic) = (self.properties.clone(), topic.to_string());
            let kept = tokio::task::spawn_blocking(move || properties.set(&topic, &msgid, keep)).await;
            if let Err(e) = kept.map_err(|e| e.to_string()).and_then(|r| r) {
                tracing::error!(topic = ?retain.publish.topic, "cannot keep a retained message's MQTT 5 properties: {e}");
            }
            return Ok(());
        }
        self.memory.set_with_timeout(topic, retain, expiry).await
    }

    async fn get(&self, filter: &TopicFilter) -> rmqtt::Result<Vec<(TopicName, Retain)>> {
        if self.in_store(filter) {
            return Ok(Vec::new());
        }
        self.memory.get_message(filter).await
    }

    async fn count(&self) -> isize {
        self.memory.count().await
    }

    async fn max(&self) -> isize {
        self.memory.max().await
    }
}

/// MQTT's rules for the retained messages a store's lookup found for a new
/// subscription: none for a shared subscription, and with MQTT 5's retain
/// handling, 0 sends them, 1 only if the session did not hold the
/// subscription already, 2 never. Other messages (an offline fetch's) stay.
pub fn at_subscribe(outcome: &mut Outcome, handling: Option<RetainHandling>, existed: bool, shared: bool) {
    let send = !shared
        && match handling {
            None | Some(RetainHandling::AtSubscribe) => true,
            Some(RetainHandling::AtSubscribeNew) => !existed,
            Some(RetainHandling::NoAtSubscribe) => false,
        };
    if !send {
        outcome.deliver.retain(|m| !m.retain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn outcome() -> Outcome {
        let m = |retain| Message {
            id: "1".into(),
            topic: "t".into(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: 1,
            retain,
            sender: "s".into(),
            timestamp_ms: 0,
        };
        Outcome { deliver: vec![m(true), m(false)], ..Outcome::default() }
    }

    /// Retain handling 0, 1 and 2, and shared subscriptions, keep or drop the
    /// retained messages and only those.
    #[test]
    fn retain_handling() {
        let kept = |handling, existed, shared| {
            let mut o = outcome();
            at_subscribe(&mut o, handling, existed, shared);
            o.deliver.iter().filter(|m| m.retain).count()
        };
        assert_eq!(kept(None, true, false), 1, "MQTT 3.1.1 sends them on every subscribe");
        assert_eq!(kept(Some(RetainHandling::AtSubscribe), true, false), 1);
        assert_eq!(kept(Some(RetainHandling::AtSubscribeNew), false, false), 1);
        assert_eq!(kept(Some(RetainHandling::AtSubscribeNew), true, false), 0);
        assert_eq!(kept(Some(RetainHandling::NoAtSubscribe), false, false), 0);
        assert_eq!(kept(None, false, true), 0, "a shared subscription gets none");
        let mut o = outcome();
        at_subscribe(&mut o, Some(RetainHandling::NoAtSubscribe), false, false);
        assert_eq!(o.deliver.len(), 1, "a message that is not retained stays");
    }
}
