//! Retained messages: `retain` holds each topic's retained message id, and
//! the message itself is its row in `msg`.

use cistern_guest::{wrong_hook, Error, Event, Outcome};

use crate::db::{self, text};
use crate::stored;

/// `on_message_retain`: a retained publish with a payload becomes its
/// topic's retained message; its `msg` row is written too (an upsert: the
/// same row `on_message_publish` writes), so a QoS 0 retained message can
/// be found.
pub fn store(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_retain", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && !m.payload.is_empty() {
        db::execute(pool, stored::INSERT, &stored::values(m)?)?;
        db::execute(pool, "INSERT INTO retain (topic, msgid) VALUES (?, ?)", &[text(&m.topic), text(&m.id)])?;
    }
    Ok(Outcome::none())
}

/// `on_retain_delete`: a retained publish with an empty payload removes the topic's retained message.
pub fn delete(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_retain_delete", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && m.payload.is_empty() {
        db::execute(pool, "DELETE FROM retain WHERE topic = ?", &[text(&m.topic)])?;
    }
    Ok(Outcome::none())
}

/// `on_retain_lookup`: the retained messages the subscribed filter matches.
pub fn lookup(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_retain_lookup", "session.subscribed", event));
    };
    let filter = &sub.subscription.topic;
    let rows = if cistern_topic::has_wildcard(filter) {
        db::query(pool, "SELECT topic, msgid FROM retain", &[])?
    } else {
        db::query(pool, "SELECT topic, msgid FROM retain WHERE topic = ?", &[text(filter)])?
    };
    let statement = format!("SELECT {} FROM msg WHERE topic = ? AND msgid = ?", stored::COLUMNS);
    let mut outcome = Outcome::none();
    for row in &rows {
        let (Some(topic), Some(id)) = (db::get_text(row, 0), db::get_text(row, 1)) else { continue };
        if !cistern_topic::matches(filter, &topic) {
            continue;
        }
        let found = db::query(pool, &statement, &[text(&topic), text(&id)])?;
        if let Some(mut m) = found.first().and_then(stored::from_row) {
            m.retain = true;
            outcome.deliver.push(m);
        }
    }
    outcome.deliver.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(outcome)
}
