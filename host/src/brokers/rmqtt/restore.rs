//! Persistent sessions across a broker restart.
//!
//! rmqtt keeps sessions in memory. When a client asks to resume its session
//! (clean start 0) and the broker holds none, as after a restart, the
//! `session.created` actions run while rmqtt takes the client id over
//! ([`Restore::lookup`], from our `Entry::kick`), before it answers the
//! CONNECT: a store's `on_session_restore` finds what it kept of the session
//! (its subscriptions, the QoS 1 and 2 messages queued for it). If it found
//! anything, the takeover reports a session to resume, so that rmqtt's
//! CONNACK says session present 1 in MQTT 5 as in 3.1.1 (rmqtt's MQTT 5
//! handshake takes the flag from the takeover alone). What the actions
//! returned waits in [`Pending`] until `client.connected`, when the session
//! can take subscriptions and messages: rmqtt raises `session.created`
//! before it registers the session's channel.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use rmqtt::context::ServerContext;
use rmqtt::session::{DefaultSession, SessionLike, SessionManager};
use rmqtt::types::{
    ConnectInfo, ConnectInfoType, DisconnectInfo, FitterType, Id, ListenerConfig, MessageQueueType, OutInflightType,
    SessionSubs, TimestampMillis,
};

use super::convert;
use crate::model::{Client, Event, Outcome};
use crate::runtime::Runtime;

/// What `session.created` actions returned, per client id, for its
/// `client.connected`; and whether it was a restore (a resumed session whose
/// subscriptions must not send retained messages again).
#[derive(Default)]
pub struct Pending(DashMap<String, (Outcome, bool)>);

impl Pending {
    pub fn put(&self, client: &str, outcome: Outcome, restored: bool) {
        self.0.insert(client.to_string(), (outcome, restored));
    }

    pub fn take(&self, client: &str) -> Option<(Outcome, bool)> {
        self.0.remove(client).map(|(_, v)| v)
    }

    pub fn has(&self, client: &str) -> bool {
        self.0.contains_key(client)
    }

    /// Whether a store gave back a session for the client, not yet taken.
    pub fn found(&self, client: &str) -> bool {
        self.0.get(client).is_some_and(|e| e.1 && !e.0.is_empty())
    }
}

/// Asks the store for a session the broker does not hold.
pub struct Restore {
    runtime: Arc<Runtime>,
    pending: Arc<Pending>,
    node: String,
    /// The client of each connection asking to resume, from its CONNECT
    /// (`client.connect`), until its takeover asks the store.
    connecting: DashMap<String, Client>,
}

impl Restore {
    pub fn new(runtime: Arc<Runtime>, pending: Arc<Pending>, node: String) -> Self {
        Self { runtime, pending, node, connecting: DashMap::new() }
    }

    /// A CONNECT arrived; noted when it asks to resume a session.
    pub fn connecting(&self, info: &ConnectInfo) {
        if !info.clean_start() {
            let id = info.id();
            self.connecting.insert(id.client_id.to_string(), convert::connect_client(id, info, &self.node));
        }
    }

    /// For a client resuming a session the broker does not hold: runs the
    /// `session.created` actions, keeps what they returned for
    /// `client.connected`, and says whether they found a session.
    pub async fn lookup(&self, id: &Id) -> bool {
        let client = match self.connecting.remove(&*id.client_id) {
            Some((_, client)) => client,
            // Not seen at `client.connect` (it runs for every CONNECT; this is a safeguard).
            None => Client { clean_start: false, persistent: true, ..convert::client(id, &self.node) },
        };
        let outcome = self.runtime.handle(Event::SessionCreated(client)).await;
        let found = !outcome.is_empty();
        self.pending.put(&id.client_id, outcome, true);
        found
    }

    /// Forgets a CONNECT whose takeover found a session the broker holds.
    pub fn resumed_by_broker(&self, id: &Id) {
        self.connecting.remove(&*id.client_id);
    }
}

/// rmqtt's session manager: its own sessions, present when the store gave
/// one back (see [`Restore::lookup`]).
pub struct Restorer {
    pub pending: Arc<Pending>,
}

impl Restorer {
    pub fn new(pending: Arc<Pending>) -> Self {
        Self { pending }
    }
}

#[async_trait]
impl SessionManager for Restorer {
    async fn create(
        &self,
        id: Id,
        scx: ServerContext,
        listen_cfg: ListenerConfig,
        _fitter: FitterType,
        subscriptions: SessionSubs,
        deliver_queue: MessageQueueType,
        out_inflight: OutInflightType,
        conn_info: ConnectInfoType,
        created_at: TimestampMillis,
        connected_at: TimestampMillis,
        mut session_present: bool,
        superuser: bool,
        connected: bool,
        disconnect_info: Option<DisconnectInfo>,
        _last_id: Option<Id>,
    ) -> rmqtt::Result<Arc<dyn SessionLike>> {
        if self.pending.found(&id.client_id) {
            session_present = true;
        }
        Ok(Arc::new(DefaultSession::new(
            id,
            scx,
            listen_cfg,
            subscriptions,
            deliver_queue,
            out_inflight,
            conn_info,
            created_at,
            connected_at,
            session_present,
            superuser,
            connected,
            disconnect_info,
        )))
    }
}
