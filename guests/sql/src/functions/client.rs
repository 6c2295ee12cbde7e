//! Connection state in `mqtt_client`, and subscriptions by broker from `mqtt_sub`.

use cistern_guest::{clock, row, wrong_hook, Client, Error, Event, Outcome, Subscription, Value};

use crate::db::Db;
use crate::tables::{self, Kind};

/// `on_client_connected`: state 1, `online_at` now, `offline_at` cleared.
pub fn connected(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientConnected(client) = event else {
        return Err(wrong_hook("on_client_connected", "client.connected", event));
    };
    record(db, Kind::ClientConnected, client)
}

/// `on_client_disconnected`: state 0 and `offline_at` now; `online_at` stays.
pub fn disconnected(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientDisconnected(client) = event else {
        return Err(wrong_hook("on_client_disconnected", "client.disconnected", event));
    };
    record(db, Kind::ClientDisconnected, client)
}

/// The client's row, written as `kind` says (state and which time is now).
fn record(db: &Db, kind: Kind, client: &Client) -> Result<Outcome, Error> {
    let now = Value::Timestamp(clock::now_ms() as i64);
    let w = tables::write(db, kind)?;
    tables::execute(db, &w, |column| {
        Ok(match column {
            "clientid" => Value::Text(client.clientid.clone()),
            "node" => Value::Text(client.node.clone()),
            // online_at (connected) or offline_at (disconnected), and created for a new row.
            "online_at" | "offline_at" | "created" => now.clone(),
            other => return Err(tables::no_value(other)),
        })
    })?;
    Ok(Outcome::none())
}

/// `on_subscribe_lookup`: the client's rows in `mqtt_sub` become its subscriptions.
pub fn subscribe_lookup(db: &Db, event: &Event) -> Result<Outcome, Error> {
    let client = match event {
        Event::ClientConnected(c) | Event::SessionCreated(c) => c,
        _ => return Err(wrong_hook("on_subscribe_lookup", "client.connected or session.created", event)),
    };
    let rows = db.query(db.sql()?.subscriptions, &[Value::Text(client.clientid.clone())])?;
    let mut outcome = Outcome::none();
    for r in rows {
        let Some(topic) = r.first().and_then(row::text) else { continue };
        if let Some(problem) = cistern_topic::filter_error(&topic) {
            cistern_guest::warn(&format!(
                "mqtt_sub row for client {:?} has topic {topic:?}, skipped: {problem}",
                client.clientid
            ));
            continue;
        }
        let qos = r.get(1).and_then(row::int).unwrap_or(0).clamp(0, 2) as u8;
        outcome.subscribe.push(Subscription { topic, qos });
    }
    Ok(outcome)
}
