//! Connection state in `mqtt_client`, and subscriptions by broker from
//! `mqtt_sub`.

use cistern_guest::{clock, wrong_hook, Error, Event, Outcome, Subscription};

use crate::db::{self, expr, n, s, CLIENT, SUB};

/// Seconds since the epoch, as the seed's examples store times.
fn now_secs() -> i64 {
    (clock::now_ms() / 1000) as i64
}

/// `on_client_connected`: the client's item, `connect_state` 1, its node,
/// `online_at` now and `offline_at` 0, as the seed's scan shows it.
pub fn connected(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientConnected(c) = event else {
        return Err(wrong_hook("on_client_connected", "client.connected", event));
    };
    let item = db::item([
        ("clientid", s(&c.clientid)),
        ("connect_state", n(1)),
        ("node", s(&c.node)),
        ("online_at", n(now_secs())),
        ("offline_at", n(0)),
    ]);
    db::put(pool, CLIENT, item)?;
    Ok(Outcome::none())
}

/// `on_client_disconnected`: `connect_state` 0 and `offline_at` now; the
/// rest of the item stays.
pub fn disconnected(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientDisconnected(c) = event else {
        return Err(wrong_hook("on_client_disconnected", "client.disconnected", event));
    };
    let update =
        expr("SET connect_state = :state, offline_at = :at", &[], vec![(":state", n(0)), (":at", n(now_secs()))]);
    db::update(pool, CLIENT, db::item([("clientid", s(&c.clientid))]), update)?;
    Ok(Outcome::none())
}

/// `on_subscribe_lookup`: the client's items in `mqtt_sub` (topic, qos)
/// become its subscriptions.
pub fn subscribe_lookup(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let client = match event {
        Event::ClientConnected(c) | Event::SessionCreated(c) => c,
        _ => return Err(wrong_hook("on_subscribe_lookup", "client.connected or session.created", event)),
    };
    let condition = expr("clientid = :clientid", &[], vec![(":clientid", s(&client.clientid))]);
    let mut outcome = Outcome::none();
    for item in db::query_all(pool, SUB, &condition)? {
        let Some(topic) = db::text(&item, "topic") else { continue };
        if let Some(problem) = cistern_topic::filter_error(&topic) {
            cistern_guest::warn(&format!("mqtt_sub of {:?} has topic {topic:?}, skipped: {problem}", client.clientid));
            continue;
        }
        let qos = db::int(&item, "qos").unwrap_or(0).clamp(0, 2) as u8;
        outcome.subscribe.push(Subscription { topic, qos });
    }
    Ok(outcome)
}
