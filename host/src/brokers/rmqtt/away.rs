//! Messages for sessions whose client is away, stored before the publish
//! that brought them is acknowledged.
//!
//! rmqtt queues a message for an away session in that session's own task,
//! and raises `message.offline` there: after the publisher's PUBACK, not
//! before it. A broker that died in between lost a message it had
//! acknowledged, for the sessions that were to keep it. So while the
//! publisher waits, [`AwaySessions::find`] asks rmqtt's router which
//! sessions the message goes to and which of them are away, and the
//! adapter stores it for those; [`AwaySessions::stored_already`] then tells
//! the later `message.offline` that its work is done.
//!
//! Left out: members of shared subscriptions (rmqtt picks one when it
//! forwards, and an away member is not picked), and a client that goes
//! away between the router's answer and the forward (its message is in
//! flight, and stored by `message.offline` as before).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rmqtt::codec::types::QoS;
use rmqtt::context::ServerContext;
use rmqtt::session::Session;
use rmqtt::types::{Id, TopicName};

/// How long a message stored early is remembered for its `message.offline`;
/// past it, that hook stores it again (harmless: the stores are idempotent).
const REMEMBERED: Duration = Duration::from_secs(60);
/// How many remembered messages make the next store prune the old ones.
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
pub struct AwaySessions {
    /// (client id, message id) of messages stored early, and when.
    stored: DashMap<(String, String), Instant>,
}

/// A session a message goes to while its client is away, and at what QoS.
pub struct Away {
    pub session: Session,
    pub qos: QoS,
}

impl AwaySessions {
    /// The away sessions on this node that a message on `topic` at `qos`
    /// goes to at QoS 1 or 2, once each.
    pub async fn find(&self, scx: &ServerContext, from: &Id, topic: &TopicName, qos: QoS) -> Vec<Away> {
        if qos == QoS::AtMostOnce {
            return Vec::new();
        }
        let relations = match scx.extends.router().await.matches(from.clone(), topic).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%topic, "cannot ask the router who subscribes: {e}");
                return Vec::new();
            }
        };
        let shared = scx.extends.shared().await;
        let mut seen = HashSet::new();
        let mut away = Vec::new();
        for (node, relations) in relations {
            for (_filter, client_id, opts, _ids, group) in relations {
                if group.is_some() || node != scx.node.id() || !seen.insert(client_id.clone()) {
                    continue;
                }
                let granted = qos.min(opts.qos());
                if granted == QoS::AtMostOnce {
                    continue;
                }
                let entry = shared.entry(Id::from(node, client_id));
                if let Some(session) = entry.session().filter(|_| entry.exist()) {
                    if !entry.is_connected().await {
                        away.push(Away { session, qos: granted });
                    }
                }
            }
        }
        away
    }

    /// Notes that the message was stored for the client.
    pub fn stored(&self, client: &str, msgid: &str) {
        if self.stored.len() >= PRUNE_AT {
            self.stored.retain(|_, at| at.elapsed() < REMEMBERED);
        }
        self.stored.insert((client.to_string(), msgid.to_string()), Instant::now());
    }

    /// Whether the message was stored for the client already (forgets it).
    pub fn stored_already(&self, client: &str, msgid: &str) -> bool {
        self.stored.remove(&(client.to_string(), msgid.to_string())).is_some()
    }
}
