//! Published messages in `msg` (one partition per topic, newest first),
//! their offline fetch, and each client's acknowledged position per topic
//! in `acked`: a fetch returns what came after it.

use cistern_guest::page::Page;
use cistern_guest::{clock, settings, wrong_hook, Context, Error, Event, Message, Outcome};

use crate::db::{self, text, Value};
use crate::stored;

/// Rows read per round trip while fetching; a fetch pages until it has what it needs.
const PAGE: u64 = 500;

/// `on_message_publish` (`min_qos` 1) and `on_message_store` (`min_qos` 0).
/// The row is keyed on topic and msgid and an INSERT is an upsert, so a
/// replay from the outbox stores nothing twice.
pub fn publish(pool: &str, event: &Event, min_qos: u8) -> Result<Outcome, Error> {
    if let Some(values) = row(event, min_qos)? {
        db::execute(pool, stored::INSERT, &values)?;
    }
    Ok(Outcome::none())
}

/// Several events of `on_message_publish` or `on_message_store`: their rows
/// in one `execute-each`, run side by side by the host. Each event's result
/// is its own row's.
pub fn publish_batch(pool: &str, events: &[Event], min_qos: u8) -> Vec<Result<Outcome, Error>> {
    let mut rows: Vec<Result<Option<Vec<Value>>, Error>> = events.iter().map(|e| row(e, min_qos)).collect();
    let stores: Vec<bool> = rows.iter().map(|r| matches!(r, Ok(Some(_)))).collect();
    // Moved, not copied: each row holds its message's payload.
    let to_write: Vec<Vec<Value>> = rows.iter_mut().filter_map(|r| r.as_mut().ok().and_then(Option::take)).collect();
    let mut written = db::execute_each(pool, stored::INSERT, &to_write).into_iter();
    rows.into_iter()
        .zip(stores)
        .map(|(row, stores)| match row {
            Err(e) => Err(e),
            Ok(_) if stores => {
                written.next().unwrap_or_else(|| Err(Error::Other("execute-each answered too few results".into())))
            }
            Ok(_) => Ok(()),
        })
        .map(|r| r.map(|()| Outcome::none()))
        .collect()
}

/// The message's row in `msg`, or none when its QoS is below `min_qos`.
fn row(event: &Event, min_qos: u8) -> Result<Option<Vec<Value>>, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_publish", "message.publish", event));
    };
    let m = &publish.message;
    if m.qos < min_qos {
        return Ok(None);
    }
    stored::values(m).map(Some)
}

/// The client's acknowledged message on `topic`, if any.
fn position(pool: &str, clientid: &str, topic: &str) -> Result<Option<String>, Error> {
    let rows =
        db::query(pool, "SELECT msgid FROM acked WHERE client_id = ? AND topic = ?", &[text(clientid), text(topic)])?;
    Ok(rows.first().and_then(|r| db::get_text(r, 0)))
}

/// `on_message_fetch`: the stored messages on the subscribed filter's
/// topics that came after this client's acknowledged position on each,
/// oldest first, within `max_returned_count` and `time_range`.
pub fn fetch(pool: &str, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        return Err(wrong_hook("on_message_fetch", "session.subscribed", event));
    };
    if sub.resumed {
        // The broker's live session kept what this subscription missed.
        return Ok(Outcome::none());
    }
    let max = settings::limit(ctx, "max_returned_count")?;
    let since = settings::limit(ctx, "time_range")?
        .map(|secs| stored::first_id_at(clock::now_ms().saturating_sub(secs.saturating_mul(1000))));
    let filter = &sub.subscription.topic;
    let topics: Vec<String> = if cistern_topic::has_wildcard(filter) {
        // Topics are the partition keys: listing them reads no message.
        db::query(pool, "SELECT DISTINCT topic FROM msg", &[])?
            .iter()
            .filter_map(|r| db::get_text(r, 0))
            .filter(|t| cistern_topic::matches(filter, t))
            .collect()
    } else {
        vec![filter.clone()]
    };

    // Paged (see `cistern_guest::page`): the position is the last msgid delivered.
    let mut page = Page::begin(String::new())?;
    let resume = (!page.position.is_empty()).then(|| page.position.clone());
    let left = page.left(max);
    if left == Some(0) {
        return Ok(Outcome::none());
    }
    let per_topic = page.per_topic(left);

    let statement =
        format!("SELECT {} FROM msg WHERE topic = ? AND msgid > ? ORDER BY msgid ASC LIMIT ?", stored::COLUMNS);
    let mut found: Vec<Message> = Vec::new();
    let mut topic_has_more = false;
    for topic in &topics {
        let acked = position(pool, &sub.client.clientid, topic)?;
        // Past the acknowledged position, the time range's start and the previous page.
        let mut after = acked.into_iter().chain(since.clone()).chain(resume.clone()).max().unwrap_or_default();
        let mut taken = 0u64;
        loop {
            let read = per_topic.map_or(PAGE, |m| m - taken).clamp(1, PAGE);
            let rows = db::query(pool, &statement, &[text(topic), text(&after), Value::Int(read as i32)])?;
            for m in rows.iter().filter_map(stored::from_row) {
                after.clone_from(&m.id);
                taken += 1;
                found.push(m);
            }
            if (rows.len() as u64) < read {
                break;
            }
            if per_topic.is_some_and(|m| taken >= m) {
                topic_has_more = true;
                break;
            }
        }
    }
    // The host's ids sort in the order their messages were published.
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut found = found.into_iter().peekable();
    let mut outcome = Outcome::none();
    for m in page.fitting(&mut found, left.unwrap_or(u64::MAX)) {
        page.add(&m);
        page.position.clone_from(&m.id);
        outcome.deliver.push(m);
    }
    let max_reached = left.is_some_and(|l| page.delivered() - page.before >= l);
    if !max_reached && (found.peek().is_some() || topic_has_more) && !outcome.deliver.is_empty() {
        page.more();
    }
    Ok(outcome)
}

/// `on_message_acked`: move this client's position on the message's topic
/// to it; a position only moves forward, so an acknowledgement that
/// arrives late (or is replayed) leaves a later one in place.
pub fn acked(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::MessageAcked(ack) = event else {
        return Err(wrong_hook("on_message_acked", "message.acked", event));
    };
    let (clientid, m) = (&ack.client.clientid, &ack.message);
    if position(pool, clientid, &m.topic)?.is_some_and(|at| at >= m.id) {
        return Ok(Outcome::none());
    }
    db::execute(
        pool,
        "INSERT INTO acked (client_id, topic, msgid) VALUES (?, ?, ?)",
        &[text(clientid), text(&m.topic), Value::Text(m.id.clone())],
    )?;
    Ok(Outcome::none())
}
