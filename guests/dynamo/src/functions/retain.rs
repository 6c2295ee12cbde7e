//! Retained messages in `mqtt_retain`, one item per topic: stored, deleted
//! by an empty retained publish, and looked up for a new subscription.

use cistern_guest::{wrong_hook, Error, Event, Outcome};

use crate::db::{self, s, RETAIN};
use crate::stored;

/// `on_message_retain`: a retained publish with a payload replaces the topic's item.
pub fn store(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_retain", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && !m.payload.is_empty() {
        db::put(pool, RETAIN, stored::to_item(m))?;
    }
    Ok(Outcome::none())
}

/// `on_retain_delete`: a retained publish with an empty payload removes the topic's item.
pub fn delete(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_retain_delete", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && m.payload.is_empty() {
        db::delete(pool, RETAIN, db::item([("topic", s(&m.topic))]))?;
    }
    Ok(Outcome::none())
}

/// `on_retain_lookup`: the retained messages the subscribed filter matches.
pub fn lookup(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_retain_lookup", "session.subscribed", event));
    };
    let filter = &sub.subscription.topic;
    let items = if cistern_topic::has_wildcard(filter) {
        db::scan_topics(pool, RETAIN, "topic", filter)?
    } else {
        db::get_item(pool, RETAIN, db::item([("topic", s(filter))]))?.into_iter().collect()
    };
    let mut outcome = Outcome::none();
    for item in &items {
        if let Some(mut m) = stored::from_item(item).filter(|m| cistern_topic::matches(filter, &m.topic)) {
            m.retain = true;
            outcome.deliver.push(m);
        }
    }
    outcome.deliver.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(outcome)
}
