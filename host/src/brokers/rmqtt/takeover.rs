//! A client that reconnects while its previous connection is ending.
//!
//! To take a client id over, rmqtt asks the previous connection's session
//! task to end (`Entry::kick`) and waits for its answer. When that task is
//! already ending (the client sent DISCONNECT and reconnected at once, as
//! devices on a flaky link do), it drops the request unanswered, and rmqtt
//! 0.24 refuses the new connection: CONNACK "Server unavailable" (seen for
//! about one quick reconnect in twenty here, with or without a store). A
//! request dropped unanswered means the session task is gone, so asking
//! again finds its channel closed and takes the session over at once, as
//! rmqtt already does when the task does not answer in time.
//!
//!
//! The kick also races what the previous connection had already sent:
//! rmqtt's session task picks among its socket and its channel at random,
//! so a kick that arrives while a PUBLISH and a DISCONNECT wait unread on
//! the socket ended the session without processing them (16 QoS 0 messages
//! in 100 lost with no store at all, in `quick_reconnects_keep_what_was_sent`).
//! A connection that is still up is therefore given [`GRACE`] to end on its
//! own before it is kicked: one that already said DISCONNECT ends within
//! milliseconds, having processed everything before it; one that is truly
//! being taken over (a device whose old link is dead but not yet noticed)
//! costs its successor that much more to connect.
//!
//!
//! A client that resumes a session the broker does not hold (after a
//! restart) has the store asked for it here ([`Restore::lookup`]); a
//! session found there is reported as one to resume, so that the CONNACK
//! says session present 1 (see `restore`).
//!
//! rmqtt lets a broker replace its `Shared` state; [`Takeover`] is rmqtt's
//! own, with `kick` asked once more in that one case. Everything else is
//! passed through unchanged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmqtt::session::{OfflineInfo, Session};
use rmqtt::shared::{DefaultShared, Entry, RetainLoadCallback, Shared};
use rmqtt::types::*;
use rmqtt::utils::timestamp_millis;
use rmqtt::Result;

use super::convert;
use super::restore::Restore;

/// rmqtt's message when the session task dropped a kick unanswered.
const DROPPED: &str = "recv kick result";

/// How long a connection still up is given to end on its own before it is kicked.
const GRACE: Duration = Duration::from_millis(100);
/// How often, within [`GRACE`], whether it has ended is looked at.
const GRACE_POLL: Duration = Duration::from_millis(2);

/// rmqtt's shared state with the takeover above.
pub struct Takeover {
    shared: DefaultShared,
    restore: Arc<Restore>,
}

impl Takeover {
    pub fn new(scx: &rmqtt::context::ServerContext, restore: Arc<Restore>) -> Takeover {
        Takeover { shared: DefaultShared::new(Some(scx.clone())), restore }
    }
}

struct TakeoverEntry(Box<dyn Entry>, Arc<Restore>);

impl TakeoverEntry {
    /// Waits up to [`GRACE`] for the previous connection, if one is up, to end.
    async fn let_end_on_its_own(&self) {
        let deadline = tokio::time::Instant::now() + GRACE;
        while self.ending_connection_is_up().await && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(GRACE_POLL).await;
        }
    }

    async fn ending_connection_is_up(&self) -> bool {
        self.0.tx().is_some_and(|tx| !tx.is_closed()) && self.0.is_connected().await
    }
}

#[async_trait]
impl Entry for TakeoverEntry {
    async fn try_lock(&self) -> Result<Box<dyn Entry>> {
        Ok(Box::new(TakeoverEntry(self.0.try_lock().await?, self.1.clone())))
    }

    fn id(&self) -> Id {
        self.0.id()
    }

    fn id_same(&self) -> Option<bool> {
        self.0.id_same()
    }

    async fn set(&mut self, session: Session, tx: Tx) -> Result<()> {
        self.0.set(session, tx).await
    }

    async fn remove(&mut self) -> Result<Option<(Session, Tx)>> {
        self.0.remove().await
    }

    async fn remove_with(&mut self, id: &Id) -> Result<Option<(Session, Tx)>> {
        self.0.remove_with(id).await
    }

    async fn kick(
        &mut self,
        clean_start: bool,
        clear_subscriptions: bool,
        is_admin: IsAdmin,
    ) -> Result<OfflineSession> {
        self.let_end_on_its_own().await;
        // Asked before the kick, which takes the session away; after the
        // wait, so that a DISCONNECT's own expiry counts.
        let previous_ends = match self.0.session() {
            Some(s) => !convert::session_is_persistent(&s).await,
            None => false,
        };
        // An ended session's subscriptions leave the router with it: rmqtt
        // keeps them for a resuming client id otherwise, and the session's
        // own clean-up no longer finds itself in the entry to remove them.
        let clear_subscriptions = clear_subscriptions || previous_ends;
        let taken = match self.0.kick(clean_start, clear_subscriptions, is_admin).await {
            Err(e) if e.to_string().starts_with(DROPPED) => {
                tracing::debug!(client = ?self.0.id().client_id, "the previous connection ended while taken over");
                self.0.kick(clean_start, clear_subscriptions, is_admin).await
            }
            result => result,
        };
        match taken {
            Ok(OfflineSession::NotExist) if !clean_start => {
                let id = self.0.id();
                if !self.1.lookup(&id).await {
                    return Ok(OfflineSession::NotExist);
                }
                // Nothing of it is in the broker: the session comes from the store at `client.connected`.
                Ok(OfflineSession::Exist(Some(OfflineInfo {
                    created_at: timestamp_millis(),
                    id,
                    subscriptions: Vec::new(),
                    offline_messages: Default::default(),
                    inflight_messages: Vec::new(),
                })))
            }
            // rmqtt hands over a session that ends with its connection (clean
            // session, or MQTT 5 expiry 0) when its connection is still going as
            // the client id connects again. That session has ended
            // (MQTT-3.1.2-6): nothing of it carries over, and it is not present.
            Ok(OfflineSession::Exist(_)) if previous_ends => {
                self.1.resumed_by_broker(&self.0.id());
                Ok(OfflineSession::NotExist)
            }
            taken => {
                self.1.resumed_by_broker(&self.0.id());
                taken
            }
        }
    }

    async fn online(&self) -> bool {
        self.0.online().await
    }

    async fn is_connected(&self) -> bool {
        self.0.is_connected().await
    }

    fn session(&self) -> Option<Session> {
        self.0.session()
    }

    fn exist(&self) -> bool {
        self.0.exist()
    }

    fn tx(&self) -> Option<Tx> {
        self.0.tx()
    }

    async fn subscribe(&self, subscribe: &Subscribe) -> Result<SubscribeReturn> {
        self.0.subscribe(subscribe).await
    }

    async fn unsubscribe(&self, unsubscribe: &Unsubscribe) -> Result<bool> {
        self.0.unsubscribe(unsubscribe).await
    }

    async fn publish(&self, from: From, p: Publish) -> std::result::Result<(), (From, Publish, Reason)> {
        self.0.publish(from, p).await
    }

    async fn subscriptions(&self) -> Option<Vec<SubsSearchResult>> {
        self.0.subscriptions().await
    }
}

#[async_trait]
impl Shared for Takeover {
    fn entry(&self, id: Id) -> Box<dyn Entry> {
        Box::new(TakeoverEntry(self.shared.entry(id), self.restore.clone()))
    }

    fn exist(&self, client_id: &str) -> bool {
        self.shared.exist(client_id)
    }

    async fn forwards(
        &self,
        msg_id: Option<MsgID>,
        from: From,
        publish: Publish,
    ) -> std::result::Result<ForwardedCount, (ForwardedCount, Vec<(To, From, Publish, Reason)>)> {
        self.shared.forwards(msg_id, from, publish).await
    }

    async fn forwards_and_get_shareds(
        &self,
        from: From,
        publish: Publish,
    ) -> std::result::Result<
        (SubRelationsMap, ForwardedRecipients),
        (ForwardedRecipients, Vec<(To, From, Publish, Reason)>),
    > {
        self.shared.forwards_and_get_shareds(from, publish).await
    }

    async fn forwards_to(
        &self,
        from: From,
        publish: &Publish,
        relations: SubRelations,
        msg_id: Option<MsgID>,
    ) -> std::result::Result<ForwardedRecipients, (ForwardedRecipients, Vec<(To, From, Publish, Reason)>)> {
        self.shared.forwards_to(from, publish, relations, msg_id).await
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Box<dyn Entry>> + Sync + Send + '_> {
        self.shared.iter()
    }

    fn random_session(&self) -> Option<Session> {
        self.shared.random_session()
    }

    async fn session_status(&self, client_id: &str) -> Option<SessionStatus> {
        self.shared.session_status(client_id).await
    }

    async fn client_states_count(&self) -> usize {
        self.shared.client_states_count().await
    }

    fn sessions_count(&self) -> usize {
        self.shared.sessions_count()
    }

    async fn query_subscriptions(&self, q: &SubsSearchParams) -> Vec<SubsSearchResult> {
        self.shared.query_subscriptions(q).await
    }

    async fn subscriptions_count(&self) -> usize {
        self.shared.subscriptions_count().await
    }

    fn grpc_enable(&self) -> bool {
        self.shared.grpc_enable()
    }

    fn node_name(&self, id: NodeId) -> String {
        self.shared.node_name(id)
    }

    async fn check_health(&self) -> Result<HealthInfo> {
        self.shared.check_health().await
    }

    async fn health_status(&self) -> Result<NodeHealthStatus> {
        self.shared.health_status().await
    }

    fn operation_is_busy(&self) -> bool {
        self.shared.operation_is_busy()
    }

    async fn retain_load_with(
        &self,
        topic_filter: &TopicFilter,
        cb: std::sync::Arc<dyn RetainLoadCallback>,
    ) -> Result<Vec<(NodeId, MsgID)>> {
        self.shared.retain_load_with(topic_filter, cb).await
    }

    async fn retain_set_broadcast(
        &self,
        topic: &TopicName,
        retain: &Retain,
        expiry_interval: Option<Duration>,
    ) -> Result<()> {
        self.shared.retain_set_broadcast(topic, retain, expiry_interval).await
    }
}
