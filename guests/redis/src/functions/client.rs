//! Connection state in `mqtt:client:${clientid}` and `mqtt:node:${node}`,
//! and subscriptions by broker from `mqtt:sub:${clientid}`.

use cistern_guest::redis::{cmd, exec, run};
use cistern_guest::{clock, wrong_hook, Error, Event, Outcome, Subscription};

use crate::keys;

/// Seconds since the epoch, as the seed's examples store times.
fn now_secs() -> u64 {
    clock::now_ms() / 1000
}

/// `on_client_connected`: state 1, `online_at` now, `offline_at` `undefined`
/// (as the seed's `HGETALL mqtt:client:test` shows a connected client);
/// the client joins its node's hash.
pub fn connected(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientConnected(c) = event else {
        return Err(wrong_hook("on_client_connected", "client.connected", event));
    };
    let now = now_secs();
    exec(
        pool,
        vec![
            cmd("HSET")
                .arg(keys::client(&c.clientid))
                .arg("state")
                .arg("1")
                .arg("online_at")
                .num(now)
                .arg("offline_at")
                .arg("undefined"),
            cmd("HSET").arg(keys::node(&c.node)).arg(&c.clientid).num(now),
        ],
        false,
    )?;
    Ok(Outcome::none())
}

/// `on_client_disconnected`: state 0 and `offline_at` now; `online_at`
/// stays; the client leaves its node's hash.
pub fn disconnected(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let Event::ClientDisconnected(c) = event else {
        return Err(wrong_hook("on_client_disconnected", "client.disconnected", event));
    };
    exec(
        pool,
        vec![
            cmd("HSET").arg(keys::client(&c.clientid)).arg("state").arg("0").arg("offline_at").num(now_secs()),
            cmd("HDEL").arg(keys::node(&c.node)).arg(&c.clientid),
        ],
        false,
    )?;
    Ok(Outcome::none())
}

/// `on_subscribe_lookup`: the fields of `mqtt:sub:${clientid}` (topic -> qos)
/// become the client's subscriptions.
pub fn subscribe_lookup(pool: &str, event: &Event) -> Result<Outcome, Error> {
    let client = match event {
        Event::ClientConnected(c) | Event::SessionCreated(c) => c,
        _ => return Err(wrong_hook("on_subscribe_lookup", "client.connected or session.created", event)),
    };
    let reply = run(pool, cmd("HGETALL").arg(keys::subscriptions(&client.clientid)))?;
    let mut outcome = Outcome::none();
    for (topic, qos) in reply.into_pairs() {
        let Ok(topic) = String::from_utf8(topic) else { continue };
        if let Some(problem) = cistern_topic::filter_error(&topic) {
            cistern_guest::warn(&format!("mqtt:sub:{} has topic {topic:?}, skipped: {problem}", client.clientid));
            continue;
        }
        let qos = qos.as_int().unwrap_or(0).clamp(0, 2) as u8;
        outcome.subscribe.push(Subscription { topic, qos });
    }
    Ok(outcome)
}
