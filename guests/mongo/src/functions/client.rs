//! Connection state in `mqtt_client`, and subscriptions by broker from `mqtt_sub`.

use cistern_guest::{wrong_hook, Error, Event, Outcome, Subscription};
use serde_json::json;

use super::now_secs;
use crate::db::Db;

/// `on_client_connected`: the client's document says state 1, its node,
/// `online_at` now and `offline_at` null, as the seed's example shows an
/// online client. An upsert by client id, so it can be repeated.
pub fn connected(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientConnected(c) = event else {
        return Err(wrong_hook("on_client_connected", "client.connected", event));
    };
    db.update_one(
        "mqtt_client",
        &json!({"clientid": c.clientid}),
        &json!({"$set": {"state": 1, "node": c.node, "online_at": now_secs(), "offline_at": null}}),
        true,
    )?;
    Ok(Outcome::none())
}

/// `on_client_disconnected`: state 0 and `offline_at` now; `online_at` stays.
pub fn disconnected(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientDisconnected(c) = event else {
        return Err(wrong_hook("on_client_disconnected", "client.disconnected", event));
    };
    db.update_one(
        "mqtt_client",
        &json!({"clientid": c.clientid}),
        &json!({"$set": {"state": 0, "node": c.node, "offline_at": now_secs()}, "$setOnInsert": {"online_at": null}}),
        true,
    )?;
    Ok(Outcome::none())
}

/// `on_subscribe_lookup`: the client's documents in `mqtt_sub` become its
/// subscriptions, in the order they were written.
pub fn subscribe_lookup(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let client = match event {
        Event::ClientConnected(c) | Event::SessionCreated(c) => c,
        _ => return Err(wrong_hook("on_subscribe_lookup", "client.connected or session.created", event)),
    };
    let docs = db.find("mqtt_sub", &json!({"clientid": client.clientid}), &json!({"_id": 1}), 0)?;
    let mut outcome = Outcome::none();
    for d in docs {
        let Some(topic) = d.str("topic") else { continue };
        if let Some(problem) = cistern_topic::filter_error(topic) {
            cistern_guest::warn(&format!(
                "mqtt_sub document for client {:?} has topic {topic:?}, skipped: {problem}",
                client.clientid
            ));
            continue;
        }
        let qos = d.int("qos").unwrap_or(0).clamp(0, 2) as u8;
        outcome.subscribe.push(Subscription { topic: topic.to_string(), qos });
    }
    Ok(outcome)
}
