//! The seed's key layouts. Keys are bytes: a client id or topic goes in as
//! it is, whatever it holds, and the whole key is one argument.

const CLIENT: &[u8] = b"mqtt:client:";
const NODE: &[u8] = b"mqtt:node:";
const RETAIN: &[u8] = b"mqtt:retain:";
const MSG: &[u8] = b"mqtt:msg:";
const ACKED: &[u8] = b"mqtt:acked:";
const SUB: &[u8] = b"mqtt:sub:";
const CLAIM: &[u8] = b"mqtt:claim:";

/// `mqtt:client:${clientid}`: hash {state, online_at, offline_at}.
pub fn client(clientid: &str) -> Vec<u8> {
    [CLIENT, clientid.as_bytes()].concat()
}

/// `mqtt:node:${node}`: hash clientid -> connected at.
pub fn node(node: &str) -> Vec<u8> {
    [NODE, node.as_bytes()].concat()
}

/// `mqtt:retain:${topic}`: hash {id, from, qos, topic, retain, payload, ts}.
pub fn retain(topic: &str) -> Vec<u8> {
    [RETAIN, topic.as_bytes()].concat()
}

/// `mqtt:retain:` and what follows, for SCAN.
pub fn retain_prefix(topic_prefix: &str) -> Vec<u8> {
    retain(topic_prefix)
}

/// The topic of a `mqtt:retain:${topic}` key.
pub fn retain_topic(key: &[u8]) -> Option<String> {
    key.strip_prefix(RETAIN).and_then(|t| String::from_utf8(t.to_vec()).ok())
}

/// `mqtt:msg:${msgid}`: hash {id, from, qos, topic, retain, payload, ts}.
pub fn message(msgid: &str) -> Vec<u8> {
    [MSG, msgid.as_bytes()].concat()
}

/// `mqtt:claim:${msgid}`: cistern's, not the seed's: the client a queue
/// message was fetched for, until it acknowledges it or the claim lapses.
pub fn claim(msgid: &str) -> Vec<u8> {
    [CLAIM, msgid.as_bytes()].concat()
}

/// `mqtt:msg:${topic}`: sorted set of the topic's msgids (see `stored::score`).
pub fn topic(topic: &str) -> Vec<u8> {
    [MSG, topic.as_bytes()].concat()
}

/// The topic of a `mqtt:msg:${topic}` key.
pub fn topic_of(key: &[u8]) -> Option<String> {
    key.strip_prefix(MSG).and_then(|t| String::from_utf8(t.to_vec()).ok())
}

/// `mqtt:acked:${clientid}:${topic}`: the last msgid the client acknowledged on the topic.
pub fn acked(clientid: &str, topic: &str) -> Vec<u8> {
    [ACKED, clientid.as_bytes(), b":", topic.as_bytes()].concat()
}

/// `mqtt:sub:${clientid}`: hash topic -> qos.
pub fn subscriptions(clientid: &str) -> Vec<u8> {
    [SUB, clientid.as_bytes()].concat()
}
