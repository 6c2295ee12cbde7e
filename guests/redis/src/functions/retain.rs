//! Retained messages in `mqtt:retain:${topic}`: stored, deleted by an empty
//! retained publish, and looked up for a new subscription.

use cistern_guest::redis::{cmd, exec, run_all_ok};
use cistern_guest::{wrong_hook, Error, Event, Outcome};

use super::scan;
use crate::{keys, stored};

/// Hashes read per pipeline in a wildcard lookup.
const PAGE: usize = 500;

/// `on_message_retain`: a retained publish with a payload replaces the topic's hash.
pub fn store(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_retain", "message.publish", event));
    };
    let m = &publish.message;
    if !m.retain || m.payload.is_empty() {
        return Ok(Outcome::none());
    }
    exec(pool, vec![stored::hset(cmd("HSET").arg(keys::retain(&m.topic)), m)], false)?;
    Ok(Outcome::none())
}

/// `on_retain_delete`: a retained publish with an empty payload removes the topic's hash.
pub fn delete(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_retain_delete", "message.publish", event));
    };
    let m = &publish.message;
    if m.retain && m.payload.is_empty() {
        exec(pool, vec![cmd("DEL").arg(keys::retain(&m.topic))], false)?;
    }
    Ok(Outcome::none())
}

/// `on_retain_lookup`: the retained messages the subscribed filter matches,
/// by topic.
pub fn lookup(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_retain_lookup", "session.subscribed", event));
    };
    let filter = &sub.subscription.topic;
    let keys: Vec<Vec<u8>> = if cistern_topic::has_wildcard(filter) {
        scan::keys(pool, &keys::retain_prefix(cistern_topic::literal_prefix(filter)), "hash")?
            .into_iter()
            .filter(|k| keys::retain_topic(k).is_some_and(|t| cistern_topic::matches(filter, &t)))
            .collect()
    } else {
        vec![keys::retain(filter)]
    };
    let mut outcome = Outcome::none();
    for page in keys.chunks(PAGE) {
        let reads = page.iter().map(|k| cmd("HGETALL").arg(k)).collect();
        for reply in run_all_ok(pool, reads, false)? {
            if let Some(mut m) = stored::from_hash(reply).filter(|m| cistern_topic::matches(filter, &m.topic)) {
                m.retain = true;
                outcome.deliver.push(m);
            }
        }
    }
    Ok(outcome)
}
