//! cistern's requests outside of events, for rmqtt: a subscribe or
//! unsubscribe goes to the client's own session task, which runs it as if
//! the client had asked (raising `session.subscribed`, and with it the
//! configured fetches and retained lookups).

use async_trait::async_trait;
use rmqtt::context::ServerContext;
use rmqtt::types::{Message as SessionMessage, Subscribe, Tx, Unsubscribe};
use tokio::sync::oneshot;

use super::convert;
use crate::control::{BrokerControl, ControlError};

pub struct Control {
    scx: ServerContext,
}

impl Control {
    pub fn new(scx: ServerContext) -> Self {
        Control { scx }
    }

    /// The session task of a client that is connected now.
    async fn live_session(&self, clientid: &str) -> Result<Tx, ControlError> {
        let not_connected = || ControlError::NotConnected(clientid.to_string());
        let shared = self.scx.extends.shared().await;
        let status = shared.session_status(clientid).await.filter(|s| s.online).ok_or_else(not_connected)?;
        shared.entry(status.id).tx().filter(|tx| !tx.is_closed()).ok_or_else(not_connected)
    }
}

#[async_trait]
impl BrokerControl for Control {
    async fn subscribe(&self, clientid: &str, topic: &str, qos: u8) -> Result<(), ControlError> {
        let sub = Subscribe::from_v3(&topic.into(), convert::to_qos(qos), false, false)
            .map_err(|e| ControlError::Refused(e.to_string()))?;
        let tx = self.live_session(clientid).await?;
        let (reply, answer) = oneshot::channel();
        tx.unbounded_send(SessionMessage::Subscribe(sub, reply))
            .map_err(|_| ControlError::NotConnected(clientid.to_string()))?;
        let done = answer
            .await
            .map_err(|_| ControlError::NotConnected(clientid.to_string()))?
            .map_err(|e| ControlError::Refused(e.to_string()))?;
        if done.failure() {
            return Err(ControlError::Refused(format!("{:?}", done.ack_reason)));
        }
        Ok(())
    }

    async fn unsubscribe(&self, clientid: &str, topic: &str) -> Result<(), ControlError> {
        let unsub = Unsubscribe::from(&topic.into(), false, false).map_err(|e| ControlError::Refused(e.to_string()))?;
        let tx = self.live_session(clientid).await?;
        let (reply, answer) = oneshot::channel();
        tx.unbounded_send(SessionMessage::Unsubscribe(unsub, reply))
            .map_err(|_| ControlError::NotConnected(clientid.to_string()))?;
        answer
            .await
            .map_err(|_| ControlError::NotConnected(clientid.to_string()))?
            .map_err(|e| ControlError::Refused(e.to_string()))
    }
}
