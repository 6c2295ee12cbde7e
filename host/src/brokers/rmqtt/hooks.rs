//! rmqtt's hooks, as cistern events; outcomes applied to that one client.

use std::sync::Arc;

use async_trait::async_trait;
use rmqtt::codec::types::QoS;
use rmqtt::codec::v5::PublishAckReason;
use rmqtt::codec::v5::{RetainHandling, SubscriptionOptions as SubscriptionOptionsV5};
use rmqtt::context::ServerContext;
use rmqtt::hook::{HookResult, Parameter, ReturnType};
use rmqtt::inflight::MomentStatus;
use rmqtt::session::Session;
use rmqtt::types::{From, Id, Message as SessionMessage, PublishAclResult, PublishResult, Reason, Subscribe};
use tokio::sync::Semaphore;

use super::away::AwaySessions;
use super::feed::Feeds;
use super::live::{self, Overlap, Publishing};
use super::order::ClientOrder;
use super::restore::{Pending, Restore};
use super::retained_properties::RetainedProperties;
use super::sessions::Sessions;
use super::{convert, retain};
use crate::model::{Event, Message, NextPage, Outcome, Subscription};
use crate::runtime::Runtime;

pub struct Adapter {
    runtime: Arc<Runtime>,
    scx: ServerContext,
    node: String,
    sessions: Sessions,
    order: Arc<ClientOrder>,
    /// What `session.created` returned, for `client.connected` (see `restore`).
    pending: Arc<Pending>,
    /// Notes each CONNECT that asks to resume a session, for its takeover.
    resume: Arc<Restore>,
    /// Room for QoS 0 messages being stored in the background.
    background: Arc<Semaphore>,
    /// The MQTT 5 properties of retained messages a store keeps.
    retained: Arc<RetainedProperties>,
    /// Messages stored for away sessions before their publish was acknowledged.
    away: AwaySessions,
    /// Publishes in their hook, for what a new subscription gets live (see `live`).
    publishing: Publishing,
    /// Fetched messages handed to sessions and not yet delivered (see `feed`).
    feeds: Feeds,
    /// Messages a new subscription might get both live and fetched (see `live`).
    overlap: Overlap,
}

/// QoS 0 messages that may be in the background at once; past that, in line.
const BACKGROUND_LIMIT: usize = 4096;

/// The handler registered for every hook type; rmqtt wants one box per type.
pub struct Handler(pub Arc<Adapter>);

#[async_trait]
impl rmqtt::hook::Handler for Handler {
    /// rmqtt boxes this future on every hook call. The adapter's own future
    /// holds the state of every action call it may await, several KiB, so
    /// it is boxed separately and only for the calls that need it: a publish's
    /// ACL check, its expiry check and the like allocate a few bytes, not that.
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        match self.0.answer_at_once(param, acc) {
            Ok(answer) => answer,
            // The call made for every message, in a box its size.
            Err(acc) => match param {
                Parameter::MessagePublish(s, from, publish) => {
                    Box::pin(self.0.message_publish(*s, from, publish, acc)).await
                }
                _ => Box::pin(self.0.hook(param, acc)).await,
            },
        }
    }
}

impl Adapter {
    pub fn new(
        runtime: Arc<Runtime>,
        scx: ServerContext,
        node: String,
        pending: Arc<Pending>,
        resume: Arc<Restore>,
        retained: Arc<RetainedProperties>,
    ) -> Self {
        Adapter {
            feeds: Feeds::new(feed_window(&runtime)),
            runtime,
            scx,
            node,
            sessions: Sessions::default(),
            order: Arc::default(),
            pending,
            resume,
            background: Arc::new(Semaphore::new(BACKGROUND_LIMIT)),
            retained,
            away: AwaySessions::default(),
            publishing: Publishing::default(),
            overlap: Overlap::default(),
        }
    }

    /// The answer to a hook call that awaits nothing, or `acc` back when the
    /// call needs [`Adapter::hook`].
    fn answer_at_once(&self, param: &Parameter<'_>, acc: Option<HookResult>) -> Result<ReturnType, Option<HookResult>> {
        match param {
            Parameter::ClientConnect(info) => self.resume.connecting(info),
            Parameter::MessagePublishCheckAcl(_, publish) if convert::refusal(publish).is_none() => {}
            Parameter::OfflineMessage(_, _, publish) if publish.qos == QoS::AtMostOnce => {}
            Parameter::MessageExpiryCheck(s, _from, publish) => {
                // A first delivery still carries the id (`message.delivered` takes it out).
                let twin = !publish.dup
                    && convert::stamped(publish).is_some_and(|id| self.overlap.is_twin(&s.id.client_id, &id));
                if twin {
                    tracing::debug!(client = ?s.id.client_id, "a stored message came live too; delivered once");
                    return Ok((false, Some(HookResult::MessageExpiry)));
                }
            }
            Parameter::MessageDropped(Some(to), _from, publish, Reason::MessageExpiration) => {
                // A twin of a message delivered already, or one whose MQTT 5 expiry
                // passed: nothing the client should have had.
                if let Some(id) = convert::stamped(publish) {
                    self.feeds.taken(&to.client_id, &id);
                }
                tracing::debug!(client = ?to.client_id, "not delivered: a twin, or expired");
            }
            Parameter::MessageDropped(Some(to), _from, publish, reason) => {
                self.runtime.metrics.queue_dropped();
                let id = convert::stamped(publish);
                if id.as_ref().is_some_and(|id| self.feeds.taken(&to.client_id, id)) {
                    // Handed over from a store: still there, unacknowledged, for the next fetch.
                    tracing::warn!(client = ?to.client_id, msgid = ?id, %reason, "the broker dropped a fetched message");
                } else {
                    tracing::debug!(client = ?to.client_id, msgid = ?id, %reason, "the broker dropped a queued message");
                }
                self.sessions.dropped(&to.client_id);
            }
            Parameter::MessageDropped(None, ..) => {}
            _ => return Err(acc),
        }
        Ok((true, acc))
    }

    /// A hook call that [`Adapter::answer_at_once`] left: one that may run actions.
    async fn hook(self: &Arc<Self>, param: &Parameter<'_>, acc: Option<HookResult>) -> ReturnType {
        match param {
            Parameter::ClientConnected(s) => {
                let _after_last_disconnect = self.order.turn(&s.id.client_id).await;
                let mut outcome = self.runtime.handle(Event::ClientConnected(self.client(s).await)).await;
                // What session.created found, now that the session takes it.
                let restored = match self.pending.take(&s.id.client_id) {
                    Some((created, restored)) => {
                        let mut first = created;
                        first.merge(outcome);
                        outcome = first;
                        restored
                    }
                    None => false,
                };
                self.apply(s, outcome, None, restored).await;
            }
            Parameter::ClientDisconnected(s, _reason) => {
                self.feeds.forget(&s.id.client_id);
                self.overlap.forget(&s.id.client_id);
                // In the background, in this client's turn: see `order`.
                let turn = self.order.turn(&s.id.client_id).await;
                let (runtime, order, client) = (self.runtime.clone(), self.order.clone(), self.client(s).await);
                tokio::spawn(async move {
                    let id = client.clientid.clone();
                    runtime.handle(Event::ClientDisconnected(client)).await;
                    order.release(&id, turn);
                });
            }
            Parameter::SessionCreated(s) => {
                let client = self.client(s).await;
                // A session resumed from a store ran its session.created actions already.
                if client.clean_start || !self.pending.has(&client.clientid) {
                    let outcome = self.runtime.handle(Event::SessionCreated(client)).await;
                    self.pending.put(&s.id.client_id, outcome, false);
                }
            }
            Parameter::SessionSubscribed(s, sub) => {
                // The subscription is in the router already: from here on, messages come live.
                let live_from = self.publishing.live_from(&self.runtime.ids);
                self.overlap.subscribed(&s.id.client_id, &live_from);
                let topic = sub.topic_filter.to_string();
                let qos = convert::qos(sub.opts.qos());
                let created = created_at(s).await;
                let existed = self.sessions.holds(&s.id.client_id, created, &topic);
                let resumed = self.sessions.subscribed(&s.id.client_id, created, &topic);
                let subscription_topic = topic.clone();
                let subscription = Subscription { topic, qos };
                let event = Event::SessionSubscribed { client: self.client(s).await, subscription, resumed };
                let mut outcome = self.runtime.handle(event).await;
                leave_out_live(&mut outcome, &live_from, &s.id.client_id);
                retain::at_subscribe(&mut outcome, sub.opts.retain_handling(), existed, sub.opts.has_shared_group());
                let fetched = Fetched { filter: &subscription_topic, qos, live_from: Some(live_from) };
                self.apply(s, outcome, Some(fetched), false).await;
            }
            Parameter::SessionUnsubscribed(s, unsub) => {
                let topic = unsub.topic_filter.to_string();
                self.sessions.unsubscribed(&s.id.client_id, created_at(s).await, &topic);
                self.runtime.handle(Event::SessionUnsubscribed { client: self.client(s).await, topic }).await;
            }
            Parameter::SessionTerminated(s, _reason) => {
                self.sessions.terminated(&s.id.client_id, created_at(s).await);
                self.feeds.forget(&s.id.client_id);
                self.overlap.forget(&s.id.client_id);
                // In line, after client.disconnected is stored: the session task
                // leaves the broker only once its end is written, so a client id
                // that connects again at once asks the store (see `takeover`) after
                // that, never finding the ended session there.
                let client = self.client(s).await;
                let turn = self.order.turn(&client.clientid).await;
                let id = client.clientid.clone();
                self.runtime.handle(Event::SessionTerminated(client)).await;
                self.order.release(&id, turn);
            }
            Parameter::OfflineMessage(s, from, publish) if publish.qos != QoS::AtMostOnce => {
                let id = convert::stamped(publish).unwrap_or_else(|| self.runtime.ids.next());
                if self.away.stored_already(&s.id.client_id, &id) {
                    return (true, acc);
                }
                let message = convert::message(publish, id, &from.id.client_id);
                self.runtime.handle(Event::MessageOffline { client: self.client(s).await, message }).await;
            }
            Parameter::OfflineInflightMessages(s, in_flight) => {
                // Sent but not received yet: the client gets them again.
                let client = self.client(s).await;
                for m in in_flight.iter().filter(|m| matches!(m.status, MomentStatus::UnAck | MomentStatus::UnReceived))
                {
                    let packet = m.publish.packet_id.map(|id| id.get());
                    let id = convert::stamped(&m.publish)
                        .or_else(|| packet.and_then(|p| self.sessions.in_flight(&s.id.client_id, p)));
                    let Some(id) = id else { continue };
                    let message = convert::message(&m.publish, id, &m.from.id.client_id);
                    self.runtime.handle(Event::MessageOffline { client: client.clone(), message }).await;
                }
            }
            Parameter::MessagePublishCheckAcl(s, publish) => {
                if let Some(why) = convert::refusal(publish) {
                    return (false, Some(HookResult::PublishAclResult(self.refuse(s, &why).await)));
                }
            }
            Parameter::MessageDelivered(s, from, publish) => {
                let mut p = (*publish).clone();
                let stamped = convert::unstamp(&mut p);
                let packet = p.packet_id.map(|id| id.get());
                if let Some(id) = &stamped {
                    self.feeds.taken(&s.id.client_id, id);
                }
                let id = match (stamped, packet) {
                    (Some(id), Some(packet)) => {
                        self.sessions.delivered(&s.id.client_id, created_at(s).await, packet, id.clone());
                        Some(id)
                    }
                    (Some(id), None) => Some(id),
                    // A redelivery: the first delivery took the stamp and recorded it.
                    (None, Some(packet)) => self.sessions.in_flight(&s.id.client_id, packet),
                    (None, None) => None,
                };
                tracing::debug!(client = ?s.id.client_id, ?packet, msgid = ?id, dup = p.dup, "delivered");
                let id = id.unwrap_or_else(|| self.runtime.ids.next());
                let message = convert::message(&p, id, &from.id.client_id);
                self.runtime.handle(Event::MessageDelivered { client: self.client(s).await, message }).await;
                return (true, Some(HookResult::Publish(p)));
            }
            Parameter::MessageAcked(s, from, publish) => {
                let packet = publish.packet_id.map(|id| id.get());
                let id = packet.and_then(|packet| self.sessions.acked(&s.id.client_id, packet));
                tracing::debug!(client = ?s.id.client_id, ?packet, msgid = ?id, "acked");
                match id {
                    Some(id) => {
                        let message = convert::message(publish, id, &from.id.client_id);
                        self.runtime.handle(Event::MessageAcked { client: self.client(s).await, message }).await;
                    }
                    None => {
                        tracing::debug!(client = ?s.id.client_id, ?packet, "acknowledged a message with no cistern id")
                    }
                }
            }
            _ => {}
        }
        (true, acc)
    }

    /// `message.publish`: the message stored before rmqtt acknowledges and
    /// forwards it (see the delivery contract).
    async fn message_publish(
        self: &Arc<Self>,
        s: Option<&Session>,
        from: &From,
        publish: &rmqtt::types::Publish,
        acc: Option<HookResult>,
    ) -> ReturnType {
        let mut p = match acc {
            Some(HookResult::Publish(p)) => p,
            _ => (*publish).clone(),
        };
        // In the set of publishes in their hook until this arm returns and rmqtt forwards it.
        let in_hook = self.publishing.start(&self.runtime.ids);
        let id = in_hook.id().to_string();
        convert::stamp(&mut p, &id);
        let client = match s {
            Some(s) => self.client(s).await,
            None => convert::client(&from.id, &self.node),
        };
        let message = convert::message(&p, id.clone(), &from.id.client_id);
        let event = Event::MessagePublish { client, message };
        match s {
            // QoS 0 asks for no acknowledgement, so its storing need not hold up the
            // publisher's session (see `order`); it keeps its place among the
            // client's other messages all the same.
            Some(s) if p.qos == QoS::AtMostOnce => match self.background.clone().try_acquire_owned() {
                Ok(permit) => {
                    let turn = self.order.turn(&s.id.client_id).await;
                    let (adapter, session) = (self.clone(), (*s).clone());
                    tokio::spawn(async move {
                        let outcome = adapter.runtime.handle(event).await;
                        adapter.apply(&session, outcome, None, false).await;
                        adapter.order.release(&session.id.client_id, turn);
                        drop(permit);
                    });
                }
                // Too much already in the background: store this one in line.
                Err(_) => {
                    self.publish_in_line(s, event).await;
                }
            },
            Some(s) => {
                let refused = match self.publish_in_line(s, event).await {
                    None => self.store_for_away_sessions(&from.id, &p, &id).await,
                    refused => refused,
                };
                if let Some(why) = refused {
                    // Not acknowledged: the publish ACL check, next in this
                    // session's task, refuses it (see `refuse`).
                    convert::mark_refused(&mut p, &why);
                }
            }
            // Not from a client's session (rare): its action calls in a box of their own.
            None => {
                Box::pin(self.runtime.handle(event)).await;
            }
        }
        (true, Some(HookResult::Publish(p)))
    }

    /// Stores a publish before the broker goes on (and acknowledges it), in
    /// the client's turn, after any of its messages still in the background
    /// (see `order`). The turn is shared with the client's other publishes
    /// in their hook when every action they meet keeps a client's writes in
    /// order. Why it was refused, if it could be neither stored nor deferred.
    async fn publish_in_line(self: &Arc<Self>, s: &Session, event: Event) -> Option<String> {
        let overlap = event.topic().is_some_and(|topic| self.runtime.publishes_may_overlap(topic));
        let turn = if overlap {
            self.order.shared_turn(&s.id.client_id).await
        } else {
            self.order.turn(&s.id.client_id).await
        };
        let mut outcome = self.runtime.handle(event).await;
        let refused = outcome.refused.take();
        self.apply(s, outcome, None, false).await;
        self.order.release(&s.id.client_id, turn);
        refused
    }

    /// Stores a QoS 1 or 2 message for the sessions it goes to whose client
    /// is away (see `away`), before the publish is acknowledged. Why it was
    /// refused, if it could be neither stored nor deferred for one of them.
    async fn store_for_away_sessions(&self, from: &Id, p: &rmqtt::types::Publish, id: &str) -> Option<String> {
        if !self.runtime.handles(crate::model::HookPoint::MessageOffline, &p.topic) {
            return None;
        }
        let mut refused = None;
        for away in self.away.find(&self.scx, from, &p.topic, p.qos).await {
            let mut message = convert::message(p, id.to_string(), &from.client_id);
            message.qos = convert::qos(away.qos);
            let client = self.client(&away.session).await;
            let client_id = client.clientid.clone();
            // A publish finds away sessions rarely: their calls in a box of their own.
            let outcome = Box::pin(self.runtime.handle(Event::MessageOffline { client, message })).await;
            match outcome.refused {
                Some(why) => refused = Some(why),
                None => self.away.stored(&client_id, id),
            }
        }
        refused
    }

    /// The answer to a publish that could not be stored: no acknowledgement.
    /// An MQTT 5 client gets a PUBACK (or PUBREC) with reason 0x97, Quota
    /// exceeded; an MQTT 3.1.1 client, whose PUBACK carries no reason, is
    /// disconnected, so that it sends the message again.
    async fn refuse(&self, s: &Session, why: &str) -> PublishAclResult {
        let v5 = s.protocol().await.is_ok_and(|p| p == 5);
        tracing::warn!(client = ?s.id.client_id, v5, "publish not acknowledged: {why}");
        self.runtime.metrics.publish_refused();
        PublishAclResult(PublishResult {
            reason_code: PublishAckReason::QuotaExceeded,
            properties: Default::default(),
            reason_string: Some(why.into()),
            disconnect: !v5,
        })
    }

    async fn client(&self, s: &Session) -> crate::model::Client {
        convert::session_client(s, &self.node).await
    }

    /// Delivers the outcome's messages to this one client (at most at the
    /// QoS of the subscription that fetched them) and adds its subscriptions;
    /// `restored` subscriptions are the session's own, resumed from a store,
    /// so they send no retained messages (MQTT 5 retain handling 2).
    /// `fetched`: the subscription the event is about. Messages past what
    /// the session's queue has room for, and further pages of a paged read,
    /// are handed over in the background as the client takes them (`feed`).
    async fn apply(self: &Arc<Self>, s: &Session, outcome: Outcome, fetched: Option<Fetched<'_>>, restored: bool) {
        // Most outcomes (every write's) are empty: only the others pay for
        // the state of delivering, in a box of their own.
        if !outcome.is_empty() {
            Box::pin(self.apply_outcome(s, outcome, fetched, restored)).await;
        }
    }

    async fn apply_outcome(
        self: &Arc<Self>,
        s: &Session,
        mut outcome: Outcome,
        fetched: Option<Fetched<'_>>,
        restored: bool,
    ) {
        let mut filters = Vec::new();
        if !outcome.deliver.is_empty() || !outcome.more.is_empty() {
            filters = self.held_filters(s).await;
            filters.extend(fetched.as_ref().map(|f| f.filter.to_owned()));
            filters.extend(outcome.subscribe.iter().map(|sub| sub.topic.clone()));
            self.keep_subscribed(&s.id.client_id, &mut outcome, &filters);
        }
        let shared = self.scx.extends.shared().await;
        if !outcome.subscribe.is_empty() {
            // A resumed session holds them already (rmqtt hands them over only
            // after client.connected, so ask what the adapter saw); subscribing
            // again would only send their retained messages once more.
            let created = created_at(s).await;
            let mut subs = Vec::new();
            let fresh =
                outcome.subscribe.iter().filter(|sub| !self.sessions.holds(&s.id.client_id, created, &sub.topic));
            for sub in fresh {
                let topic = sub.topic.as_str().into();
                let subscribe = if restored {
                    let opts = SubscriptionOptionsV5 {
                        qos: convert::to_qos(sub.qos),
                        no_local: false,
                        retain_as_published: false,
                        retain_handling: RetainHandling::NoAtSubscribe,
                    };
                    Subscribe::from_v5(&topic, &opts, false, false, None)
                } else {
                    Subscribe::from_v3(&topic, convert::to_qos(sub.qos), false, false)
                };
                match subscribe {
                    Ok(s) => subs.push(s),
                    Err(e) => tracing::warn!(client = ?s.id.client_id, topic = ?sub.topic, "cannot subscribe: {e}"),
                }
            }
            // Sent to the session, not run here: this hook runs inside the
            // session's own task, which will process the subscriptions (and
            // raise session.subscribed for each) once the hook returns.
            match shared.entry(s.id.clone()).tx() {
                Some(_) if subs.is_empty() => {}
                Some(tx) => {
                    self.runtime.metrics.subscribed(subs.len());
                    if tx.unbounded_send(SessionMessage::Subscribes(subs, None)).is_err() {
                        tracing::warn!(client = ?s.id.client_id, "session closed before its subscriptions were added");
                    }
                }
                None => tracing::warn!(client = ?s.id.client_id, "no live session to subscribe"),
            }
        }
        if outcome.deliver.is_empty() && outcome.more.is_empty() {
            return;
        }
        let feed = Feed {
            session: s.id.clone(),
            created: created_at(s).await,
            qos: fetched.as_ref().map(|f| f.qos),
            live_from: fetched.and_then(|f| f.live_from),
            filters,
        };
        let mut rest: std::collections::VecDeque<Message> = outcome.deliver.into();
        let outstanding = self.feeds.outstanding(&s.id.client_id);
        // In the hook, only what the session has room for: it takes nothing
        // from its queue until the hook returns.
        let room = outstanding.room(self.feeds.window(), std::time::Duration::ZERO).await;
        let now: Vec<Message> = rest.drain(..room.min(rest.len())).collect();
        self.hand_over(&feed, &outstanding, now).await;
        if !rest.is_empty() || !outcome.more.is_empty() {
            let (this, more) = (self.clone(), outcome.more.into());
            tokio::spawn(async move { this.feed(feed, outstanding, rest, more).await });
        }
    }

    /// Hands the rest of a fetch, and its further pages, to the session as
    /// it takes them; ends when all is handed over or the session is gone
    /// (what was not delivered stays stored, for its next subscription).
    async fn feed(
        self: Arc<Self>,
        feed: Feed,
        outstanding: Arc<super::feed::Outstanding>,
        mut rest: std::collections::VecDeque<Message>,
        mut more: std::collections::VecDeque<NextPage>,
    ) {
        const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_millis(500);
        let client = &feed.session.client_id;
        loop {
            if rest.is_empty() {
                let Some(next) = more.pop_front() else { return };
                let mut page = self.runtime.next_page(&next).await;
                if page.deliver.is_empty() && page.more.iter().any(|p| p.after == next.after) {
                    tracing::warn!(?client, action = %next.action, "a paged fetch ends: a page came back empty at its own cursor");
                    continue;
                }
                if let Some(bound) = &feed.live_from {
                    if leave_out_live(&mut page, bound, client) {
                        // Ids grow: every later page is live too.
                        page.more.clear();
                    }
                }
                self.keep_subscribed(client, &mut page, &feed.filters);
                rest.extend(page.deliver);
                for p in page.more.into_iter().rev() {
                    more.push_front(p);
                }
                continue;
            }
            let room = outstanding.room(self.feeds.window(), LOOK_AGAIN).await;
            if !self.still_connected(&feed).await {
                tracing::debug!(?client, left = rest.len(), "the client left before its fetch was handed over");
                return;
            }
            if room == 0 {
                continue;
            }
            let now: Vec<Message> = rest.drain(..room.min(rest.len())).collect();
            self.hand_over(&feed, &outstanding, now).await;
        }
    }

    /// Whether the feed's session is the client's session and still connected.
    async fn still_connected(&self, feed: &Feed) -> bool {
        let entry = self.scx.extends.shared().await.entry(feed.session.clone());
        match entry.session() {
            Some(s) if created_at(&s).await == feed.created => entry.is_connected().await,
            _ => false,
        }
    }

    /// Forwards messages to the session, each counted outstanding until it
    /// is delivered or dropped.
    async fn hand_over(&self, feed: &Feed, outstanding: &super::feed::Outstanding, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let entry = self.scx.extends.shared().await.entry(feed.session.clone());
        let mut delivered = 0;
        for m in &messages {
            let properties = if m.retain { self.retained.get(&m.topic, &m.id) } else { Ok(None) };
            let Ok(properties) = properties else {
                // MQTT 5 (3.3.2.3.3): a message whose expiry interval has passed is not delivered.
                continue;
            };
            let qos = feed.qos.map_or(m.qos, |q| q.min(m.qos));
            let from = From::from_system(Id::new(self.scx.node.id(), 0, None, None, m.sender.as_str().into(), None));
            let counted = !m.id.is_empty() && outstanding.hand_over(&m.id);
            match entry.publish(from, convert::publish(m, qos, properties)).await {
                Ok(()) => delivered += 1,
                Err((_, _, reason)) => {
                    if counted {
                        self.feeds.taken(&feed.session.client_id, &m.id);
                    }
                    tracing::warn!(client = ?feed.session.client_id, msgid = ?m.id, %reason, "cannot deliver a stored message")
                }
            }
        }
        self.runtime.metrics.delivered(delivered);
    }

    /// Keeps the deliveries the client may have (see [`Outcome::keep_subscribed`]).
    fn keep_subscribed(&self, client: &str, outcome: &mut Outcome, filters: &[String]) {
        let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
        let refused = outcome.keep_subscribed(&filters);
        if !refused.is_empty() {
            let topics: Vec<&str> = refused.iter().map(|m| m.topic.as_str()).collect();
            tracing::warn!(
                ?client,
                ?topics,
                "not delivered: an action returned messages none of the client's subscriptions match"
            );
            self.runtime.metrics.deliveries_refused(refused.len());
        }
    }
}

impl Adapter {
    /// The filters of the subscriptions the client's session holds now.
    async fn held_filters(&self, s: &Session) -> Vec<String> {
        match s.subscriptions().await {
            Ok(subs) => subs.read().await.keys().map(|filter| filter.to_string()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

async fn created_at(s: &Session) -> i64 {
    s.created_at().await.unwrap_or_default()
}

/// The subscription an event's outcome answers: its filter and QoS, and the
/// bound from which its stored messages come live instead (see `live`).
struct Fetched<'a> {
    filter: &'a str,
    qos: u8,
    live_from: Option<String>,
}

/// Where and how a fetch's messages go: to which session, at most at which
/// QoS, which of them are left out.
struct Feed {
    session: Id,
    created: i64,
    qos: Option<u8>,
    live_from: Option<String>,
    /// The filters the client holds or is given; a delivery must match one.
    filters: Vec<String>,
}

/// Leaves out the stored messages a new subscription gets live; whether there were any.
fn leave_out_live(outcome: &mut Outcome, bound: &str, client: &str) -> bool {
    let fetched = outcome.deliver.len();
    outcome.deliver.retain(|m| !live::delivered_live(&m.id, bound));
    let left_out = fetched - outcome.deliver.len();
    if left_out > 0 {
        tracing::debug!(?client, left_out, "stored messages the subscription gets live");
    }
    left_out > 0
}

/// How many fetched messages a client may have waiting in its session: two
/// pages, half of `cistern.mqtt.max_mqueue_len`.
fn feed_window(runtime: &Runtime) -> usize {
    2 * crate::delivery::page_limit(runtime.loaded().config.cistern.max_mqueue_len) as usize
}
