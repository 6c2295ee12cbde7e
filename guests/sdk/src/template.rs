//! A published message as the seed's template language reads it (`$id`,
//! `$clientid`, `$payload`, `$timestamp`, ...), for the guests whose
//! backends write by template files (TimescaleDB, InfluxDB, OpenTSDB).

use crate::MessageEvent;

/// The template language's view of a `message.publish` event.
pub fn view(publish: &MessageEvent) -> cistern_template::Message<'_> {
    let m = &publish.message;
    cistern_template::Message {
        id: &m.id,
        clientid: &publish.client.clientid,
        username: publish.client.username.as_deref(),
        peerhost: publish.client.peerhost.as_deref(),
        qos: m.qos,
        topic: &m.topic,
        payload: &m.payload,
        timestamp_ns: (m.timestamp_ms as i64).saturating_mul(1_000_000),
    }
}
