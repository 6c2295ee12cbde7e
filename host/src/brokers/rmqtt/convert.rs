//! rmqtt's types to ours, and our message id carried inside rmqtt's publish.
//!
//! rmqtt's messages have no id of their own, so the adapter writes ours into
//! the publish as the MQTT 5 user property `cistern-msgid` when it first sees
//! the message, and takes it out again at delivery (recording it against the
//! packet id), so clients never see it.

use bytestring::ByteString;
use rmqtt::codec::types::QoS;
use rmqtt::codec::v5::PublishProperties;
use rmqtt::session::Session;
use rmqtt::types::{ConnectInfo, Id, Publish};

use crate::model::{now_ms, Client, Message};

const MSGID: &str = "cistern-msgid";
/// Marks a publish whose storing was refused, for the publish ACL check
/// that follows the publish hook in the same session task.
const REFUSED: &str = "cistern-refused";

/// Whether a user property is one of cistern's own marks, not the client's.
pub fn is_ours(key: &str) -> bool {
    key == MSGID || key == REFUSED
}

/// A client with no session of its own (the broker, a bridge).
pub fn client(id: &Id, node: &str) -> Client {
    Client {
        clientid: id.client_id.to_string(),
        username: id.username.as_ref().map(|u| u.to_string()),
        peerhost: id.remote_addr.map(|a| a.ip().to_string()),
        node: node.to_string(),
        clean_start: true,
        persistent: false,
    }
}

/// The client of a connection, with what its CONNECT asked of its session.
pub fn connect_client(id: &Id, connect: &ConnectInfo, node: &str) -> Client {
    let persistent = match connect {
        ConnectInfo::V3(_, c) => !c.clean_session,
        ConnectInfo::V5(_, c) => c.session_expiry_interval_secs > 0,
    };
    Client { clean_start: connect.clean_start(), persistent, ..client(id, node) }
}

/// Whether the session outlives its connection: as its CONNECT said (see
/// [`connect_client`]), unless an MQTT 5 DISCONNECT set another expiry.
pub async fn session_is_persistent(s: &Session) -> bool {
    if let Ok(Some(rmqtt::types::Disconnect::V5(d))) = s.disconnect().await {
        if let Some(secs) = d.session_expiry_interval_secs {
            return secs > 0;
        }
    }
    s.connect_info().await.is_ok_and(|c| connect_client(&s.id, &c, "").persistent)
}

pub async fn session_client(s: &Session, node: &str) -> Client {
    match s.connect_info().await {
        Ok(connect) => connect_client(&s.id, &connect, node),
        Err(_) => client(&s.id, node),
    }
}

pub fn qos(q: QoS) -> u8 {
    match q {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

pub fn to_qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

pub fn message(p: &Publish, id: String, sender: &str) -> Message {
    Message {
        id,
        topic: p.topic.to_string(),
        payload: p.payload.clone(),
        qos: qos(p.qos),
        retain: p.retain,
        sender: sender.to_string(),
        timestamp_ms: p.create_time.filter(|t| *t > 0).map_or_else(now_ms, |t| t as u64),
    }
}

/// Writes our id into the publish, replacing any a client may have sent.
pub fn stamp(p: &mut Publish, id: &str) {
    let props = p.properties.get_or_insert_with(PublishProperties::default);
    props.user_properties.retain(|(k, _)| k != MSGID);
    props.user_properties.push((ByteString::from_static(MSGID), ByteString::from(id)));
}

/// Our id in the publish, if it carries one.
pub fn stamped(p: &Publish) -> Option<String> {
    let props = p.properties.as_ref()?;
    props.user_properties.iter().find(|(k, _)| k == MSGID).map(|(_, id)| id.to_string())
}

/// Takes our id out of the publish, if it carries one.
pub fn unstamp(p: &mut Publish) -> Option<String> {
    let props = p.properties.as_mut()?;
    let at = props.user_properties.iter().position(|(k, _)| k == MSGID)?;
    let (_, id) = props.user_properties.remove(at);
    if *props == PublishProperties::default() {
        p.properties = None;
    }
    Some(id.to_string())
}

/// Marks the publish as refused (it could be neither stored nor deferred).
pub fn mark_refused(p: &mut Publish, why: &str) {
    let props = p.properties.get_or_insert_with(PublishProperties::default);
    props.user_properties.push((ByteString::from_static(REFUSED), ByteString::from(why)));
}

/// Why the publish was refused, if it was.
pub fn refusal(p: &Publish) -> Option<String> {
    let props = p.properties.as_ref()?;
    props.user_properties.iter().find(|(k, _)| k == REFUSED).map(|(_, why)| why.to_string())
}

/// A publish for delivering a stored message to one client, with the MQTT 5
/// properties it was published with where cistern kept them.
pub fn publish(m: &Message, qos: u8, properties: Option<PublishProperties>) -> Publish {
    let mut p = Publish::from(rmqtt::types::CodecPublish {
        dup: false,
        retain: m.retain,
        qos: to_qos(qos),
        topic: ByteString::from(m.topic.as_str()),
        packet_id: None,
        payload: m.payload.clone(),
        properties,
    });
    p.create_time = Some(now_ms() as i64);
    stamp(&mut p, &m.id);
    p
}
