//! Published messages in `mqtt_msg`, their offline fetch, and each
//! client's read position per topic in `mqtt_acked`.
//!
//! A message's `_id` (the seed's `_id: int`) is the microsecond stamp of
//! its id shifted left by 10 bits, the low 10 taken from the id's node and
//! run (see [`position`]): in the order the broker took the messages, so
//! `mqtt_acked.mongo_id`, the `_id` of the last message a client
//! acknowledged on a topic, orders them as EMQX's counter did. Storing a
//! message is an insert keyed by that `_id`: a replay from the outbox finds
//! it there and stores nothing twice, with no index of the user's needed.
//! Two nodes writing one database in the same microsecond get different
//! `_id`s but for one chance in 1,024; then the second takes the next free
//! `_id` ([`PROBES`]), so neither message is lost.

use std::collections::HashMap;

use cistern_guest::page::Page;
use cistern_guest::{settings, wrong_hook, Context, Error, Event, Message, Outcome};
use serde_json::{json, Map, Value};

use super::{now_secs, prefix_range};
use crate::db::{Db, Doc};
use crate::payload;

/// Documents read per round trip while fetching; a fetch pages until it has what it needs.
const PAGE: u64 = 500;

/// A message's `_id` and read position: the microseconds that begin the
/// host's message id ([`cistern_guest::id_micros`]; never repeated on one
/// node), times 1,024, plus 10 bits folded from the rest of the id (its
/// node and run). An id of another shape takes its timestamp's
/// microseconds. Microseconds since 1970 need 51 bits, so this stays well
/// inside an `int64` (and older `_id`s, the bare microseconds, all sort
/// before newer ones).
pub fn position(id: &str, timestamp_ms: u64) -> i64 {
    let (micros, origin) = match cistern_guest::id_micros(id) {
        Some(micros) => (micros, u64::from_str_radix(&id[16..], 16).unwrap_or(0)),
        None => (timestamp_ms.saturating_mul(1000), 0),
    };
    let folded = (origin ^ (origin >> 10) ^ (origin >> 20) ^ (origin >> 30) ^ (origin >> 40) ^ (origin >> 50)) & 0x3ff;
    (micros.min(i64::MAX as u64 >> 10) << 10 | folded) as i64
}

/// How many `_id`s after its own a message may take when another message
/// holds its own already (another node, the same microsecond, the same 10 bits).
const PROBES: i64 = 8;

/// `on_message_publish` (`min_qos` 1) and `on_message_store` (`min_qos` 0).
pub fn publish(db: &Db, ctx: &Context, event: &Event, min_qos: u8) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook(&ctx.function, "message.publish", event));
    };
    let m = &publish.message;
    if m.qos < min_qos {
        return Ok(Outcome::none());
    }
    let id = position(&m.id, m.timestamp_ms);
    let mut fields = Map::new();
    fields.insert("_id".into(), json!(id));
    fields.insert("topic".into(), json!(m.topic));
    fields.insert("msgid".into(), json!(m.id));
    fields.insert("sender".into(), json!(m.sender));
    fields.insert("qos".into(), json!(m.qos));
    fields.insert("retain".into(), json!(m.retain));
    fields.insert("payload".into(), Value::Null);
    fields.insert("arrived".into(), json!(m.timestamp_ms / 1000));
    let mut doc = Doc::new(fields);
    let mut as_document = payload::set(&mut doc, &m.payload, payload::format(ctx)?);
    let mut taken = Vec::new();
    for at in id..id.saturating_add(PROBES) {
        doc.fields.insert("_id".into(), json!(at));
        let inserted = match db.insert_one("mqtt_msg", doc.clone()) {
            Err(e @ Error::Unavailable(_)) => return Err(e),
            Err(e) if as_document => {
                // A JSON object the server will not hold as a document (a field
                // name it refuses, too deep): the payload is kept as text instead.
                cistern_guest::warn(&format!("message {} on {:?}: payload stored as a string: {e:?}", m.id, m.topic));
                payload::set_text(&mut doc, &m.payload);
                as_document = false;
                db.insert_one("mqtt_msg", doc.clone())?
            }
            other => other?,
        };
        if inserted {
            return Ok(Outcome::none());
        }
        // Stored before (a replay), unless another message took this `_id`.
        let there = db.find("mqtt_msg", &json!({"_id": at}), &json!({}), 1)?;
        match there.first().and_then(|d| d.str("msgid")) {
            Some(other) if other != m.id => taken.push(other.to_string()),
            _ => return Ok(Outcome::none()),
        }
    }
    Err(Error::Other(format!(
        "mqtt_msg _id {id} to {} are taken by other messages ({}), so message {} has no place",
        id.saturating_add(PROBES - 1),
        taken.join(", "),
        m.id
    )))
}

/// `on_message_fetch`: the stored messages on the subscribed filter that
/// this client has not acknowledged, oldest first, within
/// `max_returned_count` and `time_range`.
pub fn fetch(db: &Db, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_message_fetch", "session.subscribed", event));
    };
    if sub.resumed {
        // The broker's live session kept what this subscription missed.
        return Ok(Outcome::none());
    }
    let max = settings::limit(ctx, "max_returned_count")?;
    if max == Some(0) {
        // Offline messages are off for this subscription.
        return Ok(Outcome::none());
    }
    let since = settings::limit(ctx, "time_range")?.map(|secs| now_secs().saturating_sub(secs as i64));
    let filter = &sub.subscription.topic;
    let clientid = &sub.client.clientid;
    let wildcard = cistern_topic::has_wildcard(filter);

    let acked_filter =
        if wildcard { json!({"clientid": clientid}) } else { json!({"clientid": clientid, "topic": filter}) };
    let mut positions: HashMap<String, i64> = HashMap::new();
    for d in db.find("mqtt_acked", &acked_filter, &json!({}), 0)? {
        if let (Some(topic), Some(at)) = (d.str("topic"), d.int("mongo_id")) {
            let p = positions.entry(topic.to_string()).or_insert(at);
            *p = (*p).max(at);
        }
    }

    let mut query = Map::new();
    if !wildcard {
        query.insert("topic".into(), json!(filter));
    } else if let Some(range) = prefix_range(cistern_topic::literal_prefix(filter)) {
        query.insert("topic".into(), range);
    }
    if let Some(since) = since {
        query.insert("arrived".into(), json!({"$gte": since}));
    }
    // Compared with a number, `_id` also leaves out documents whose `_id` is not one.
    let start = if wildcard { i64::MIN } else { positions.get(filter).copied().unwrap_or(i64::MIN) };
    // Paged (see `cistern_guest::page`): the position is the last `_id` read.
    let mut page = Page::begin(start)?;
    page.position = page.position.max(start);

    let mut outcome = Outcome::none();
    loop {
        let wanted = max.map_or(PAGE, |m| m.saturating_sub(page.delivered()));
        let read = wanted.min(page.limit().unwrap_or(PAGE)).clamp(1, PAGE);
        query.insert("_id".into(), json!({"$gt": page.position}));
        let docs = db.find("mqtt_msg", &Value::Object(query.clone()), &json!({"_id": 1}), read as u32)?;
        let full_read = docs.len() as u64 == read;
        for d in &docs {
            let Some(id) = d.int("_id") else { continue };
            page.position = page.position.max(id);
            let message = message_from_doc(d);
            if !cistern_topic::matches(filter, &message.topic) {
                continue;
            }
            if positions.get(&message.topic).is_some_and(|acked| id <= *acked) {
                continue;
            }
            page.add(&message);
            outcome.deliver.push(message);
            if max.is_some_and(|m| page.delivered() >= m) {
                return Ok(outcome);
            }
            if page.is_full() {
                page.more();
                return Ok(outcome);
            }
        }
        if !full_read {
            return Ok(outcome);
        }
    }
}

/// `on_message_acked`: this client's position on the message's topic moves
/// up to the message (never back: `$max`), so a repeated ack is harmless.
pub fn acked(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::MessageAcked(ack) = event else {
        return Err(wrong_hook("on_message_acked", "message.acked", event));
    };
    let m = &ack.message;
    db.update_one(
        "mqtt_acked",
        &json!({"clientid": ack.client.clientid, "topic": m.topic}),
        &json!({"$max": {"mongo_id": position(&m.id, m.timestamp_ms)}}),
        true,
    )?;
    Ok(Outcome::none())
}

/// A message from an `mqtt_msg` or `mqtt_retain` document.
pub fn message_from_doc(d: &Doc) -> Message {
    Message {
        id: d.str("msgid").unwrap_or_default().to_string(),
        topic: d.str("topic").unwrap_or_default().to_string(),
        sender: d.str("sender").unwrap_or_default().to_string(),
        qos: d.int("qos").unwrap_or(0).clamp(0, 2) as u8,
        retain: d.int("retain").unwrap_or(0) != 0,
        payload: payload::read(d),
        timestamp_ms: d.int("arrived").unwrap_or(0).max(0) as u64 * 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::position;

    /// Positions follow ids in time; an id of another shape takes its timestamp.
    #[test]
    fn positions() {
        assert_eq!(position("00060A24181E4000ABCD", 0) >> 10, 0x00060A24181E4000);
        assert!(position("00060A24181E4001ABCD", 0) > position("00060A24181E4000FFFF", 0));
        assert_eq!(position("not-an-id", 1_700_000_000_123), 1_700_000_000_123_000 << 10);
        let now = "00064A0B1C2D3E4F";
        // Bare microseconds (the `_id`s written before) sort before any new one.
        assert!(position(&format!("{now}00000000ABCDEF01"), 0) > 0x0006_4A0B_1C2D_3E4F);
    }

    /// Nodes (and runs) writing in the same microsecond mostly get `_id`s of their own.
    #[test]
    fn same_microsecond_other_nodes() {
        let now = "00064A0B1C2D3E4F";
        let ids: std::collections::HashSet<i64> =
            (0..64u64).map(|node| position(&format!("{now}{:08X}1234ABCD", node * 0x0101_0101), 0)).collect();
        assert!(ids.len() > 56, "64 nodes, {} distinct _ids", ids.len());
        assert!(ids.iter().all(|id| id >> 10 == 0x0006_4A0B_1C2D_3E4F));
    }
}
