//! Persistent sessions across a broker restart.
//!
//! rmqtt keeps sessions in memory. When a client asks to resume its session
//! (clean start 0) and the broker holds none, as after a restart, the
//! `session.created` actions run while rmqtt creates the session, before it
//! answers the CONNECT: a store's `on_session_restore` finds what it kept of
//! the session (its subscriptions, the QoS 1 and 2 messages queued for it),
//! and if it found anything the CONNACK says session present 1. What they
//! return waits in [`Pending`] until `client.connected`, when the session can
//! take subscriptions and messages: rmqtt raises `session.created` before it
//! registers the session's channel.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use rmqtt::context::ServerContext;
use rmqtt::session::{DefaultSession, SessionLike, SessionManager};
use rmqtt::types::{
    ConnectInfoType, DisconnectInfo, FitterType, Id, ListenerConfig, MessageQueueType, OutInflightType, SessionSubs,
    TimestampMillis,
};

use super::convert;
use crate::model::{Event, Outcome};
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
}

/// rmqtt's session manager: its own sessions, created after asking the
/// store for a session the broker lost.
pub struct Restorer {
    pub runtime: Arc<Runtime>,
    pub pending: Arc<Pending>,
    pub node: String,
    /// Whether each client id's latest session ends with its connection.
    pub ends_with_connection: DashMap<String, bool>,
}

impl Restorer {
    pub fn new(runtime: Arc<Runtime>, pending: Arc<Pending>, node: String) -> Self {
        Self { runtime, pending, node, ends_with_connection: DashMap::new() }
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
        last_id: Option<Id>,
    ) -> rmqtt::Result<Arc<dyn SessionLike>> {
        let client = convert::connect_client(&id, &conn_info, &self.node);
        let previous_ended = self.ends_with_connection.insert(id.client_id.to_string(), !client.persistent);
        // `last_id` is set when the broker hands over a session it holds. rmqtt
        // also hands over a clean session whose connection it is still taking
        // down when the same client id connects again; that session has ended
        // (MQTT-3.1.2-6), so it is not present.
        if last_id.is_some() && previous_ended == Some(true) {
            session_present = false;
        }
        if last_id.is_none() && !conn_info.clean_start() {
            let outcome = self.runtime.handle(Event::SessionCreated(client)).await;
            session_present = !outcome.is_empty();
            self.pending.put(&id.client_id, outcome, true);
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
