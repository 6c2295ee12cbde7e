//! Published messages in `mqtt_msg`, offline fetch, and the per-client,
//! per-topic read position in `mqtt_acked`.

use cistern_guest::page::Page;
use cistern_guest::{clock, row, settings, wrong_hook, Context, Error, Event, Message, Outcome, Value};

use crate::db::Db;
use crate::statements::like_prefix;
use crate::tables::{self, Kind};

/// Rows read per round trip while fetching; a fetch pages until it has what it needs.
const PAGE: u64 = 500;

/// `on_message_publish` (`min_qos` 1) and `on_message_store` (`min_qos` 0).
pub fn publish(db: &Db, ctx: &Context, event: &Event, min_qos: u8) -> Result<Outcome, Error> {
    let kind = publish_kind(ctx);
    let w = tables::write(db, kind)?;
    if let Some(params) = publish_params(&w, kind, event, min_qos)? {
        tables::execute_params(db, &w, &params)?;
    }
    Ok(Outcome::none())
}

/// Several events of `on_message_publish` or `on_message_store`: their rows
/// in one transaction (`execute-batch`), one commit for all. An event that
/// cannot become a row fails alone; when the database refuses the batch,
/// each event is written alone, so that only the row it refuses fails.
pub fn publish_batch(db: &Db, ctx: &Context, events: &[Event], min_qos: u8) -> Vec<Result<Outcome, Error>> {
    let kind = publish_kind(ctx);
    let w = match tables::write(db, kind) {
        Ok(w) => w,
        Err(e) => return events.iter().map(|_| Err(e.clone())).collect(),
    };
    let mut rows: Vec<Result<Option<Vec<Value>>, Error>> =
        events.iter().map(|e| publish_params(&w, kind, e, min_qos)).collect();
    let stores: Vec<bool> = rows.iter().map(|r| matches!(r, Ok(Some(_)))).collect();
    // Moved, not copied: each row holds its message's payload.
    let batch: Vec<Vec<Value>> = rows.iter_mut().filter_map(|r| r.as_mut().ok().and_then(Option::take)).collect();
    let written = if batch.is_empty() { Ok(0) } else { tables::execute_batch(db, &w, batch) };
    match written {
        Err(e) if !matches!(e, Error::Unavailable(_)) => {
            events.iter().map(|event| publish(db, ctx, event, min_qos)).collect()
        }
        written => rows
            .into_iter()
            .zip(stores)
            .map(|(row, stores)| match row {
                Err(e) => Err(e),
                Ok(_) if stores => written.clone().map(|_| Outcome::none()),
                Ok(_) => Ok(Outcome::none()),
            })
            .collect(),
    }
}

/// A replay from the outbox inserts if absent by msgid (the statement binds
/// it twice), so it stores nothing twice; a live write is a plain insert.
fn publish_kind(ctx: &Context) -> Kind {
    if settings::is_replay(ctx) {
        Kind::MessageReplay
    } else {
        Kind::Message
    }
}

/// The values of `w`'s parameters for the published message, or none when
/// its QoS is below `min_qos`.
fn publish_params(w: &tables::Write, kind: Kind, event: &Event, min_qos: u8) -> Result<Option<Vec<Value>>, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_publish", "message.publish", event));
    };
    let m = &publish.message;
    if m.qos < min_qos {
        return Ok(None);
    }
    tables::params(w, |column| {
        Ok(match column {
            "msgid" => Value::Text(m.id.clone()),
            "topic" => Value::Text(m.topic.clone()),
            "sender" => Value::Text(m.sender.clone()),
            "node" => Value::Text(publish.client.node.clone()),
            "qos" => Value::Int(m.qos.into()),
            "retain" => Value::Int(m.retain.into()),
            "payload" => tables::payload(w, kind, m)?,
            "arrived" => Value::Timestamp(m.timestamp_ms as i64),
            other => return Err(tables::no_value(other)),
        })
    })
    .map(Some)
}

/// `on_message_fetch`: the stored messages on the subscribed filter that this
/// client has not acknowledged, oldest first, within `max_returned_count`
/// and `time_range`, a page a call.
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
    let since_ms = match settings::limit(ctx, "time_range")? {
        Some(secs) => (clock::now_ms() as i64).saturating_sub(secs.saturating_mul(1000) as i64),
        None => 0,
    };
    let filter = &sub.subscription.topic;
    let (statement, key) = if cistern_topic::has_wildcard(filter) {
        (db.sql()?.fetch_like, like_prefix(cistern_topic::literal_prefix(filter)))
    } else {
        (db.sql()?.fetch_exact, filter.clone())
    };

    // Paged (see `cistern_guest::page`): the position is the last row id read.
    let mut page = Page::begin(0i64)?;
    let mut outcome = Outcome::none();
    loop {
        let wanted = max.map_or(PAGE, |m| m.saturating_sub(page.delivered()));
        let query_rows = wanted.min(page.limit().unwrap_or(PAGE)).clamp(1, PAGE);
        let rows = db.query(
            statement,
            &[
                Value::Text(sub.client.clientid.clone()),
                Value::Text(key.clone()),
                Value::Timestamp(since_ms),
                Value::Int(page.position),
                Value::Int(query_rows as i64),
            ],
        )?;
        let full_query = rows.len() as u64 == query_rows;
        for r in &rows {
            let (id, message) = message_from_row(r)?;
            page.position = id;
            if cistern_topic::matches(filter, &message.topic) {
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
        }
        if !full_query {
            return Ok(outcome);
        }
    }
}

/// `on_message_acked`: move this client's position on the message's topic to it.
pub fn acked(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::MessageAcked(ack) = event else {
        return Err(wrong_hook("on_message_acked", "message.acked", event));
    };
    db.execute(
        db.sql()?.ack,
        &[
            Value::Text(ack.client.clientid.clone()),
            Value::Text(ack.message.topic.clone()),
            Value::Timestamp(clock::now_ms() as i64),
            Value::Text(ack.message.id.clone()),
        ],
    )?;
    Ok(Outcome::none())
}

/// A row of `id, msgid, topic, sender, qos, retain, payload, arrived`.
pub(crate) fn message_from_row(r: &[Value]) -> Result<(i64, Message), Error> {
    let field = |i: usize| r.get(i).ok_or_else(|| Error::Other(format!("mqtt_msg row has no column {i}")));
    let id = row::int(field(0)?).ok_or_else(|| Error::Other("mqtt_msg.id is not a number".into()))?;
    let message = Message {
        id: row::text(field(1)?).unwrap_or_default(),
        topic: row::text(field(2)?).unwrap_or_default(),
        sender: row::text(field(3)?).unwrap_or_default(),
        qos: row::int(field(4)?).unwrap_or(0).clamp(0, 2) as u8,
        retain: row::int(field(5)?).unwrap_or(0) != 0,
        payload: row::bytes(field(6)?),
        timestamp_ms: row::timestamp_ms(field(7)?).unwrap_or(0).max(0) as u64,
    };
    Ok((id, message))
}
