//! Retained messages in `mqtt_retain`, one document per topic: stored,
//! deleted by an empty retained publish, and looked up for a new subscription.

use cistern_guest::{wrong_hook, Context, Error, Event, Outcome};
use serde_json::{json, Map, Value};

use super::message::message_from_doc;
use super::prefix_range;
use crate::db::{Db, Doc};
use crate::payload;

/// Documents read per round trip in a wildcard lookup.
const PAGE: u32 = 500;

/// `on_message_retain`: a retained publish with a payload replaces the
/// topic's document (or makes it), so a replay leaves the same document.
pub fn store(db: &Db, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_retain", "message.publish", event));
    };
    let m = &publish.message;
    if !m.retain || m.payload.is_empty() {
        return Ok(Outcome::none());
    }
    let mut fields = Map::new();
    fields.insert("topic".into(), json!(m.topic));
    fields.insert("msgid".into(), json!(m.id));
    fields.insert("sender".into(), json!(m.sender));
    fields.insert("qos".into(), json!(m.qos));
    fields.insert("payload".into(), Value::Null);
    fields.insert("arrived".into(), json!(m.timestamp_ms / 1000));
    let mut doc = Doc::new(fields);
    let as_document = payload::set(&mut doc, &m.payload, payload::format(ctx)?);
    let filter = json!({"topic": m.topic});
    match db.replace_one("mqtt_retain", &filter, doc.clone(), true) {
        Err(e) if as_document && !matches!(e, Error::Unavailable(_)) => {
            cistern_guest::warn(&format!("retained {} on {:?}: payload stored as a string: {e:?}", m.id, m.topic));
            payload::set_text(&mut doc, &m.payload);
            db.replace_one("mqtt_retain", &filter, doc, true)?;
        }
        other => {
            other?;
        }
    }
    Ok(Outcome::none())
}

/// `on_retain_delete`: a retained publish with an empty payload removes the topic's document.
pub fn delete(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_retain_delete", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && m.payload.is_empty() {
        db.delete_many("mqtt_retain", &json!({"topic": m.topic}))?;
    }
    Ok(Outcome::none())
}

/// `on_retain_lookup`: the retained messages the subscribed filter matches.
/// A filter with wildcards reads the topics under its literal prefix, in
/// topic order, page by page.
pub fn lookup(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_retain_lookup", "session.subscribed", event));
    };
    let filter = &sub.subscription.topic;
    let mut outcome = Outcome::none();
    let mut deliver = |d: &Doc| {
        let mut m = message_from_doc(d);
        if cistern_topic::matches(filter, &m.topic) {
            m.retain = true;
            outcome.deliver.push(m);
        }
    };
    if !cistern_topic::has_wildcard(filter) {
        db.find("mqtt_retain", &json!({"topic": filter}), &json!({}), 1)?.iter().for_each(&mut deliver);
        return Ok(outcome);
    }
    let range = prefix_range(cistern_topic::literal_prefix(filter));
    let mut after: Option<String> = None;
    loop {
        let mut topic = match &range {
            Some(Value::Object(r)) => r.clone(),
            _ => Map::new(),
        };
        if let Some(a) = &after {
            topic.insert("$gt".into(), json!(a));
        } else if range.is_none() {
            // Every string topic; leaves out documents whose topic is not one.
            topic.insert("$gte".into(), json!(""));
        }
        let docs = db.find("mqtt_retain", &json!({"topic": topic}), &json!({"topic": 1}), PAGE)?;
        for d in &docs {
            after = d.str("topic").map(str::to_string).or(after);
            deliver(d);
        }
        if (docs.len() as u32) < PAGE {
            return Ok(outcome);
        }
    }
}
