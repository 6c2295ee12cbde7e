//! Retained messages in `mqtt_retain`: stored, deleted by an empty retained
//! publish, and looked up for a new subscription.

use cistern_guest::{row, wrong_hook, Error, Event, Message, Outcome, Value};

use crate::db::Db;
use crate::statements::like_prefix;
use crate::tables::{self, Kind};

const PAGE: i64 = 500;

/// `on_message_retain`: a retained publish with a payload replaces the topic's row.
pub fn store(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_retain", "message.publish", event));
    };
    let m = &publish.message;
    if !m.retain || m.payload.is_empty() {
        return Ok(Outcome::none());
    }
    let w = tables::write(db, Kind::Retain)?;
    tables::execute(db, &w, |column| {
        Ok(match column {
            "topic" => Value::Text(m.topic.clone()),
            "msgid" => Value::Text(m.id.clone()),
            "sender" => Value::Text(m.sender.clone()),
            "node" => Value::Text(publish.client.node.clone()),
            "qos" => Value::Int(m.qos.into()),
            "payload" => tables::payload(&w, Kind::Retain, m)?,
            "arrived" => Value::Timestamp(m.timestamp_ms as i64),
            other => return Err(tables::no_value(other)),
        })
    })?;
    Ok(Outcome::none())
}

/// `on_retain_delete`: a retained publish with an empty payload removes the topic's row.
pub fn delete(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_retain_delete", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && m.payload.is_empty() {
        db.execute(db.sql()?.delete_retained, &[Value::Text(m.topic.clone())])?;
    }
    Ok(Outcome::none())
}

/// `on_retain_lookup`: the retained messages the subscribed filter matches.
pub fn lookup(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_retain_lookup", "session.subscribed", event));
    };
    let filter = &sub.subscription.topic;
    let mut outcome = Outcome::none();
    if !cistern_topic::has_wildcard(filter) {
        for r in db.query(db.sql()?.retained_exact, &[Value::Text(filter.clone())])? {
            let (_, m) = retained_from_row(&r)?;
            if m.topic == *filter {
                outcome.deliver.push(m);
            }
        }
        return Ok(outcome);
    }
    let pattern = like_prefix(cistern_topic::literal_prefix(filter));
    let mut after_id = 0i64;
    loop {
        let rows =
            db.query(db.sql()?.retained_like, &[Value::Text(pattern.clone()), Value::Int(after_id), Value::Int(PAGE)])?;
        for r in &rows {
            let (id, m) = retained_from_row(r)?;
            after_id = id;
            if cistern_topic::matches(filter, &m.topic) {
                outcome.deliver.push(m);
            }
        }
        if (rows.len() as i64) < PAGE {
            return Ok(outcome);
        }
    }
}

/// A row of `id, msgid, topic, sender, qos, payload, arrived`.
fn retained_from_row(r: &[Value]) -> Result<(i64, Message), Error> {
    let field = |i: usize| r.get(i).ok_or_else(|| Error::Other(format!("mqtt_retain row has no column {i}")));
    let id = row::int(field(0)?).ok_or_else(|| Error::Other("mqtt_retain.id is not a number".into()))?;
    let message = Message {
        id: row::text(field(1)?).unwrap_or_default(),
        topic: row::text(field(2)?).unwrap_or_default(),
        sender: row::text(field(3)?).unwrap_or_default(),
        qos: row::int(field(4)?).unwrap_or(0).clamp(0, 2) as u8,
        retain: true,
        payload: row::bytes(field(5)?),
        timestamp_ms: row::timestamp_ms(field(6)?).unwrap_or(0).max(0) as u64,
    };
    Ok((id, message))
}
