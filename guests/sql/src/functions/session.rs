//! Persistent sessions that outlive the broker: their subscriptions in
//! `cistern_session_sub`, the QoS 1 and 2 messages queued for them in
//! `cistern_session_msg` (cistern's tables, not the seed's).
//!
//! `on_session_store` keeps that state as the broker changes it, and
//! `on_session_restore` gives it back when a client resumes a session the
//! broker no longer holds (after a restart). A clean session stores nothing.

use cistern_guest::{row, wrong_hook, Client, Error, Event, Outcome, Subscription, Value};

use super::message::message_from_row;
use crate::db::Db;

/// The hook points `on_session_store` handles; the default configuration
/// names it on each.
pub const STORE_HOOKS: &[&str] = &[
    "client.connected",
    "session.subscribed",
    "session.unsubscribed",
    "message.offline",
    "message.acked",
    "session.terminated",
];

/// Whether the client's session may have state in the store: it is
/// persistent, or it resumed one that was.
fn may_hold(c: &Client) -> bool {
    c.persistent || !c.clean_start
}

/// `on_session_store`: a clean start or a session's end deletes what was
/// kept; a persistent session's subscriptions and the messages queued for it
/// are kept until it unsubscribes, or the client acknowledges them.
pub fn store(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let sql = db.sql()?;
    let id = |c: &Client| Value::Text(c.clientid.clone());
    match event {
        // Not session.created: rmqtt raises none when a clean start replaces a live session.
        Event::ClientConnected(c) if c.clean_start => clear(db, c)?,
        Event::ClientConnected(_) => {}
        Event::SessionTerminated(c) if may_hold(c) => clear(db, c)?,
        Event::SessionTerminated(_) => {}
        Event::SessionSubscribed(s) if s.client.persistent => {
            let sub = &s.subscription;
            db.execute(
                sql.session_subscribe,
                &[id(&s.client), Value::Text(sub.topic.clone()), Value::Int(sub.qos.into())],
            )?;
        }
        Event::SessionSubscribed(_) => {}
        Event::SessionUnsubscribed(u) if may_hold(&u.client) => {
            db.execute(sql.session_unsubscribe, &[id(&u.client), Value::Text(u.topic.clone())])?;
        }
        Event::SessionUnsubscribed(_) => {}
        Event::MessageOffline(m) if m.message.qos > 0 => {
            let msg = &m.message;
            db.execute(
                sql.session_queue,
                &[
                    id(&m.client),
                    Value::Text(msg.id.clone()),
                    Value::Text(msg.topic.clone()),
                    Value::Text(msg.sender.clone()),
                    Value::Int(msg.qos.into()),
                    Value::Int(msg.retain.into()),
                    Value::Bytes(msg.payload.clone()),
                    Value::Timestamp(msg.timestamp_ms as i64),
                ],
            )?;
        }
        Event::MessageOffline(_) => {}
        Event::MessageAcked(m) if may_hold(&m.client) => {
            db.execute(sql.session_dequeue, &[id(&m.client), Value::Text(m.message.id.clone())])?;
        }
        Event::MessageAcked(_) => {}
        other => return Err(wrong_hook("on_session_store", &STORE_HOOKS.join(", "), other)),
    }
    Ok(Outcome::none())
}

fn clear(db: &Db, c: &Client) -> Result<(), Error> {
    let sql = db.sql()?;
    db.execute(sql.session_clear_subscriptions, &[Value::Text(c.clientid.clone())])?;
    db.execute(sql.session_clear_messages, &[Value::Text(c.clientid.clone())])?;
    Ok(())
}

/// `on_session_restore`: for a client resuming a session the broker does
/// not hold, its stored subscriptions and then its queued messages, oldest
/// first. A clean start gets nothing.
pub fn restore(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::SessionCreated(c) = event else {
        return Err(wrong_hook("on_session_restore", "session.created", event));
    };
    let mut outcome = Outcome::none();
    if c.clean_start {
        return Ok(outcome);
    }
    let sql = db.sql()?;
    let key = [Value::Text(c.clientid.clone())];
    for r in db.query(sql.session_subscriptions, &key)? {
        let Some(topic) = r.first().and_then(row::text) else { continue };
        if cistern_topic::filter_error(&topic).is_some() {
            continue;
        }
        let qos = r.get(1).and_then(row::int).unwrap_or(0).clamp(0, 2) as u8;
        outcome.subscribe.push(Subscription { topic, qos });
    }
    for r in db.query(sql.session_messages, &key)? {
        let (_, message) = message_from_row(&r)?;
        outcome.deliver.push(message);
    }
    Ok(outcome)
}
