//! The control channel (the seed's "Redis SUB/UNSUB Publish"): a pool with
//! a `channel` SUBSCRIBEs to it, and a message
//! `{"type": "subscribe", "topic": "t", "clientid": "c", "qos": 1}`
//! subscribes that connected client to `t`; `"unsubscribe"` unsubscribes it.
//!
//! The listener runs on a connection of its own, away from the hot path,
//! and SUBSCRIBEs again whenever the connection is lost. A message it
//! cannot use (bad JSON, an unknown client) is logged and skipped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::pool::Inner;
use crate::control::ControlSlot;

/// How often an idle subscription is checked with a PING.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a control request may take before the next message is read.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a control message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Subscribe { clientid: String, topic: String, qos: u8 },
    Unsubscribe { clientid: String, topic: String },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    topic: String,
    clientid: String,
    /// The seed's example sends `"qos": "0"`; a number does as well.
    #[serde(default)]
    qos: Option<serde_json::Value>,
}

/// Reads one control message.
pub fn parse(payload: &[u8]) -> Result<Request, String> {
    let raw: Raw = serde_json::from_slice(payload).map_err(|e| format!("not a control message: {e}"))?;
    if let Some(problem) = cistern_topic::filter_error(&raw.topic) {
        return Err(format!("topic {:?}: {problem}", raw.topic));
    }
    if raw.clientid.is_empty() {
        return Err("clientid is empty".into());
    }
    match raw.kind.as_str() {
        "subscribe" => {
            let qos = match &raw.qos {
                None => Some(0),
                Some(serde_json::Value::Number(n)) => n.as_u64().filter(|q| *q <= 2),
                Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok().filter(|q| *q <= 2),
                Some(_) => None,
            }
            .map(|q| q as u8);
            let qos = qos.ok_or_else(|| format!("qos {} is not 0, 1 or 2", raw.qos.unwrap_or_default()))?;
            Ok(Request::Subscribe { clientid: raw.clientid, topic: raw.topic, qos })
        }
        "unsubscribe" => Ok(Request::Unsubscribe { clientid: raw.clientid, topic: raw.topic }),
        other => Err(format!("type {other:?} is neither subscribe nor unsubscribe")),
    }
}

/// Listens on `channel` for as long as the pool lives.
pub(super) async fn listen(pool: Arc<Inner>, channel: String, control: ControlSlot) {
    let mut delay = Duration::from_millis(100);
    let mut said_down = false;
    loop {
        match subscribe(&pool, &channel).await {
            Ok(pubsub) => {
                tracing::info!(pool = %pool.name, channel, "listening on the control channel");
                delay = Duration::from_millis(100);
                said_down = false;
                let reason = read(pubsub, &pool, &channel, &control).await;
                tracing::warn!(pool = %pool.name, channel, "the control channel's connection ended ({reason}); subscribing again");
            }
            Err(e) if !said_down => {
                tracing::warn!(pool = %pool.name, channel, "cannot subscribe to the control channel yet ({e}); retrying");
                said_down = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

async fn subscribe(pool: &Inner, channel: &str) -> Result<redis::aio::PubSub, redis::RedisError> {
    let open = async {
        // The pool's server (or master) and password, on a connection of its own.
        let mut pubsub = pool.client().await?.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    tokio::time::timeout(Duration::from_secs(5), open).await.unwrap_or_else(|_| {
        Err(redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "subscribing timed out")))
    })
}

/// Applies messages until the connection ends; returns why it ended.
async fn read(pubsub: redis::aio::PubSub, pool: &Inner, channel: &str, control: &ControlSlot) -> String {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return "closed by the server".into() };
                apply(message.get_payload_bytes(), pool, channel, control).await;
            }
            _ = ping.tick() => {
                let pong = tokio::time::timeout(APPLY_TIMEOUT, sink.ping::<redis::Value>()).await;
                match pong {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e.to_string(),
                    Err(_) => return "no answer to PING".into(),
                }
            }
        }
    }
}

async fn apply(payload: &[u8], pool: &Inner, channel: &str, control: &ControlSlot) {
    let request = match parse(payload) {
        Ok(r) => r,
        Err(e) => {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(200)]).into_owned();
            tracing::warn!(pool = %pool.name, channel, message = %shown, "control message skipped: {e}");
            return;
        }
    };
    let Some(control) = control.get() else {
        tracing::warn!(pool = %pool.name, channel, ?request, "control message skipped: no broker is attached");
        return;
    };
    let result = match &request {
        Request::Subscribe { clientid, topic, qos } => {
            tokio::time::timeout(APPLY_TIMEOUT, control.subscribe(clientid, topic, *qos)).await
        }
        Request::Unsubscribe { clientid, topic } => {
            tokio::time::timeout(APPLY_TIMEOUT, control.unsubscribe(clientid, topic)).await
        }
    };
    match result {
        Ok(Ok(())) => tracing::info!(pool = %pool.name, channel, ?request, "control message applied"),
        Ok(Err(e)) => tracing::warn!(pool = %pool.name, channel, ?request, "control message skipped: {e}"),
        Err(_) => {
            tracing::warn!(pool = %pool.name, channel, ?request, "control message skipped: the broker did not answer in time")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's two examples read as they are, qos as text or number.
    #[test]
    fn reads_the_seed_examples() {
        let sub = parse(br#"{"type": "subscribe", "topic": "topic0", "clientid": "test", "qos": "0"}"#).unwrap();
        assert_eq!(sub, Request::Subscribe { clientid: "test".into(), topic: "topic0".into(), qos: 0 });
        let sub = parse(br#"{"type": "subscribe", "topic": "a/+", "clientid": "c", "qos": 2}"#).unwrap();
        assert_eq!(sub, Request::Subscribe { clientid: "c".into(), topic: "a/+".into(), qos: 2 });
        let unsub = parse(br#"{"type": "unsubscribe", "topic": "test_topic0", "clientid": "test"}"#).unwrap();
        assert_eq!(unsub, Request::Unsubscribe { clientid: "test".into(), topic: "test_topic0".into() });
    }

    /// Malformed messages are refused with a reason, never a panic.
    #[test]
    fn refuses_malformed() {
        for bad in [
            &b"not json"[..],
            br#"{"type": "subscribe", "clientid": "c"}"#,
            br#"{"type": "publish", "topic": "t", "clientid": "c"}"#,
            br#"{"type": "subscribe", "topic": "t", "clientid": "c", "qos": 3}"#,
            br#"{"type": "subscribe", "topic": "t", "clientid": "c", "qos": "high"}"#,
            br#"{"type": "subscribe", "topic": "a/#/b", "clientid": "c"}"#,
            br#"{"type": "subscribe", "topic": "t", "clientid": ""}"#,
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
