//! Published messages in `mqtt_msg`, each topic's message ids in
//! `mqtt_topic_msg_map` (a string set `MsgId`), their offline fetch, and
//! acknowledgements: one-to-one (queue), so an acknowledged message is
//! removed and the client's last acknowledged message on the topic is kept
//! in `mqtt_acked`.

use cistern_guest::page::Page;
use cistern_guest::{clock, settings, wrong_hook, Context, Error, Event, Message, Outcome};

use crate::db::{self, expr, s, Item, Value, ACKED, MSG, TOPIC_MSG};
use crate::stored;

/// Messages read per BatchGetItem while fetching (DynamoDB's own limit).
const PAGE: usize = 100;

/// `on_message_publish` (`min_qos` 1): the message's item, and its id added
/// to its topic's set; `on_message_store` (`min_qos` 0): the item alone.
/// Both are keyed by the message id and a set holds an id once, so a
/// replay from the outbox stores nothing twice.
pub fn publish(pool: &str, event: &Event, min_qos: u8) -> Result<Outcome, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_publish", "message.publish", event));
    };
    let m = &publish.message;
    if m.qos < min_qos {
        return Ok(Outcome::none());
    }
    db::put(pool, MSG, stored::to_item(m))?;
    if min_qos > 0 {
        let add = expr("ADD MsgId :ids", &[], vec![(":ids", Value::Ss(vec![m.id.clone()]))]);
        db::update(pool, TOPIC_MSG, db::item([("topic", s(&m.topic))]), add)?;
    }
    Ok(Outcome::none())
}

/// `on_message_fetch_for_queue`: the stored messages on the subscribed
/// filter's topics, oldest first, within `max_returned_count` and
/// `time_range`.
pub fn fetch(pool: &str, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_message_fetch_for_queue", "session.subscribed", event));
    };
    if sub.resumed {
        // The broker's live session kept what this subscription missed.
        return Ok(Outcome::none());
    }
    let max = settings::limit(ctx, "max_returned_count")?.map(|m| m as usize);
    if max == Some(0) {
        // Offline messages are off for this subscription.
        return Ok(Outcome::none());
    }
    let since_ms =
        settings::limit(ctx, "time_range")?.map(|secs| clock::now_ms().saturating_sub(secs.saturating_mul(1000)));
    let filter = &sub.subscription.topic;
    let maps: Vec<Item> = if cistern_topic::has_wildcard(filter) {
        db::scan_topics(pool, TOPIC_MSG, "topic", filter)?
            .into_iter()
            .filter(|i| db::text(i, "topic").is_some_and(|t| cistern_topic::matches(filter, &t)))
            .collect()
    } else {
        db::get_item(pool, TOPIC_MSG, db::item([("topic", s(filter))]))?.into_iter().collect()
    };
    let recent = |id: &str| match (since_ms, stored::id_micros(id)) {
        (Some(since), Some(micros)) => micros / 1000 >= since,
        _ => true,
    };
    // Paged (see `cistern_guest::page`): the position is the last msgid delivered.
    let mut page = Page::begin(String::new())?;
    let left = page.left(max.map(|m| m as u64));
    if left == Some(0) {
        return Ok(Outcome::none());
    }
    // The host's ids sort in the order their messages were published.
    let mut ids: Vec<String> = maps
        .iter()
        .flat_map(|i| db::strings(i, "MsgId"))
        .filter(|id| recent(id) && (page.position.is_empty() || *id > page.position))
        .collect();
    ids.sort();
    ids.dedup();

    let mut outcome = Outcome::none();
    let read_at_once = page.limit().map_or(PAGE, |l| (l as usize).min(PAGE));
    for chunk in ids.chunks(read_at_once) {
        let keys: Vec<Item> = chunk.iter().map(|id| db::item([("msgid", s(id))])).collect();
        // Ids whose item is gone were acknowledged by another subscriber of the queue.
        let mut found: Vec<Message> = db::batch_get(pool, MSG, &keys)?
            .iter()
            .filter_map(stored::from_item)
            .filter(|m| cistern_topic::matches(filter, &m.topic))
            .filter(|m| stored::id_micros(&m.id).is_some() || since_ms.is_none_or(|s| m.timestamp_ms + 999 >= s))
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        let mut found = found.into_iter().peekable();
        let room = left.map_or(u64::MAX, |l| l - (page.delivered() - page.before));
        for m in page.fitting(&mut found, room) {
            page.add(&m);
            page.position.clone_from(&m.id);
            outcome.deliver.push(m);
        }
        if left.is_some_and(|l| page.delivered() - page.before >= l) {
            return Ok(outcome);
        }
        if found.peek().is_some() || page.is_full() {
            page.more();
            return Ok(outcome);
        }
    }
    Ok(outcome)
}

/// `on_message_acked_for_queue`: the client's position on the topic is the
/// acknowledged message, which leaves `mqtt_msg` and its topic's set.
pub fn acked(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessageAcked(ack) = event else {
        return Err(wrong_hook("on_message_acked_for_queue", "message.acked", event));
    };
    let m = &ack.message;
    let position = db::item([("topic", s(&m.topic)), ("clientid", s(&ack.client.clientid)), ("msgid", s(&m.id))]);
    db::put(pool, ACKED, position)?;
    db::delete(pool, MSG, db::item([("msgid", s(&m.id))]))?;
    let remove = expr("DELETE MsgId :ids", &[], vec![(":ids", Value::Ss(vec![m.id.clone()]))]);
    db::update(pool, TOPIC_MSG, db::item([("topic", s(&m.topic))]), remove)?;
    Ok(Outcome::none())
}

/// `on_acked_delete`: an unsubscribe forgets the client's positions on the
/// topics the filter covers.
pub fn acked_delete(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionUnsubscribed(u) = event else {
        return Err(wrong_hook("on_acked_delete", "session.unsubscribed", event));
    };
    let clientid = &u.client.clientid;
    if !cistern_topic::has_wildcard(&u.topic) {
        db::delete(pool, ACKED, db::item([("topic", s(&u.topic)), ("clientid", s(clientid))]))?;
        return Ok(Outcome::none());
    }
    // `topic` is the table's hash key: the client's positions are found by a scan.
    let prefix = cistern_topic::literal_prefix(&u.topic);
    let filter = if prefix.is_empty() {
        expr("clientid = :c", &[], vec![(":c", s(clientid))])
    } else {
        expr("clientid = :c AND begins_with(topic, :prefix)", &[], vec![(":c", s(clientid)), (":prefix", s(prefix))])
    };
    for item in db::scan_all(pool, ACKED, Some(&filter))? {
        let Some(topic) = db::text(&item, "topic") else { continue };
        if cistern_topic::matches(&u.topic, &topic) {
            db::delete(pool, ACKED, db::item([("topic", s(&topic)), ("clientid", s(clientid))]))?;
        }
    }
    Ok(Outcome::none())
}
