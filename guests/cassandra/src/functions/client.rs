//! Connection state in `client`, and subscriptions by broker from `sub`.

use cistern_guest::{clock, wrong_hook, Error, Event, Outcome, Subscription};

use crate::db::{self, text, Value};

/// `on_client_connected`: the client's row, state 1, its node, `connected`
/// now and `disconnected` null, as the seed's query shows an online client.
pub fn connected(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientConnected(c) = event else {
        return Err(wrong_hook("on_client_connected", "client.connected", event));
    };
    db::execute(
        pool,
        "INSERT INTO client (client_id, node, state, connected, disconnected) VALUES (?, ?, 1, ?, null)",
        &[text(&c.clientid), text(&c.node), Value::Timestamp(clock::now_ms() as i64)],
    )?;
    Ok(Outcome::none())
}

/// `on_client_disconnected`: state 0 and `disconnected` now; the rest of the row stays.
pub fn disconnected(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientDisconnected(c) = event else {
        return Err(wrong_hook("on_client_disconnected", "client.disconnected", event));
    };
    db::execute(
        pool,
        "UPDATE client SET state = 0, disconnected = ? WHERE client_id = ?",
        &[Value::Timestamp(clock::now_ms() as i64), text(&c.clientid)],
    )?;
    Ok(Outcome::none())
}

/// `on_subscribe_lookup` (`on_subscription_lookup`): the client's rows in
/// `sub` become its subscriptions.
pub fn subscribe_lookup(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let client = match event {
        Event::ClientConnected(c) | Event::SessionCreated(c) => c,
        _ => return Err(wrong_hook("on_subscribe_lookup", "client.connected or session.created", event)),
    };
    let rows = db::query(pool, "SELECT topic, qos FROM sub WHERE client_id = ?", &[text(&client.clientid)])?;
    let mut outcome = Outcome::none();
    for row in &rows {
        let Some(topic) = db::get_text(row, 0) else { continue };
        if let Some(problem) = cistern_topic::filter_error(&topic) {
            cistern_guest::warn(&format!("sub of {:?} has topic {topic:?}, skipped: {problem}", client.clientid));
            continue;
        }
        let qos = db::get_int(row, 1).unwrap_or(0).clamp(0, 2) as u8;
        outcome.subscribe.push(Subscription { topic, qos });
    }
    Ok(outcome)
}
