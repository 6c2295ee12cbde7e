//! One module per group of stock functions, and the table that names them
//! with the hook points of the seed's "Description of MongoDB Persistence Hooks".

mod client;
mod message;
mod retain;

use cistern_guest::{clock, Context, Error, Event, FunctionKind, Outcome};
use FunctionKind::{Read, Write};

use crate::db::Db;

/// Every function of this guest with the hook points it handles.
pub const ALL: &[(&str, &[&str], FunctionKind)] = &[
    ("on_client_connected", &["client.connected"], Write),
    ("on_subscribe_lookup", &["client.connected", "session.created"], Read),
    ("on_client_disconnected", &["client.disconnected"], Write),
    ("on_message_fetch", &["session.subscribed"], Read),
    ("on_retain_lookup", &["session.subscribed"], Read),
    ("on_message_publish", &["message.publish"], Write),
    ("on_message_store", &["message.publish"], Write),
    ("on_message_retain", &["message.publish"], Write),
    ("on_retain_delete", &["message.publish"], Write),
    ("on_message_acked", &["message.acked"], Write),
];

pub fn dispatch(ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let db = Db::new(&ctx.pool);
    match ctx.function.as_str() {
        "on_client_connected" => client::connected(&db, event),
        "on_subscribe_lookup" => client::subscribe_lookup(&db, event),
        "on_client_disconnected" => client::disconnected(&db, event),
        "on_message_fetch" => message::fetch(&db, ctx, event),
        "on_retain_lookup" => retain::lookup(&db, event),
        "on_message_publish" => message::publish(&db, ctx, event, 1),
        "on_message_store" => message::publish(&db, ctx, event, 0),
        "on_message_retain" => retain::store(&db, ctx, event),
        "on_retain_delete" => retain::delete(&db, event),
        "on_message_acked" => message::acked(&db, event),
        other => Err(Error::InvalidInput(format!("the mongo guest has no function {other}"))),
    }
}

/// Seconds since the epoch, as the seed's documents hold times.
fn now_secs() -> i64 {
    (clock::now_ms() / 1000) as i64
}

/// The filter for topics that start with `prefix`: every string from the
/// prefix up to (not including) the prefix with its last character raised
/// by one. UTF-8 sorts as code points do, so this range holds exactly the
/// topics with that prefix; `None` when any topic may match. Bounds are
/// values, so no character of a topic means anything to the server.
fn prefix_range(prefix: &str) -> Option<serde_json::Value> {
    if prefix.is_empty() {
        return None;
    }
    let mut upper: Vec<char> = prefix.chars().collect();
    while let Some(last) = upper.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            upper.push(next);
            let upper: String = upper.into_iter().collect();
            return Some(serde_json::json!({"$gte": prefix, "$lt": upper}));
        }
    }
    Some(serde_json::json!({"$gte": prefix}))
}

#[cfg(test)]
mod tests {
    use super::prefix_range;
    use serde_json::json;

    /// The range's upper bound is the prefix with its last character raised.
    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_range(""), None);
        assert_eq!(prefix_range("a/b/"), Some(json!({"$gte": "a/b/", "$lt": "a/b0"})));
        assert_eq!(prefix_range("x\u{10FFFF}"), Some(json!({"$gte": "x\u{10FFFF}", "$lt": "y"})));
        assert_eq!(prefix_range("\u{D7FF}"), Some(json!({"$gte": "\u{D7FF}", "$lt": "\u{E000}"})));
    }
}
