//! The host's `dynamo` interface for the functions: items built and read
//! by attribute name, expressions with their placeholders, and queries and
//! scans read to their last page.

use cistern_guest::bindings::cistern::hooks::dynamo as host;
use cistern_guest::Error;

pub use host::{Expression, Value};

pub type Item = Vec<(String, Value)>;

/// The seed's table names.
pub const CLIENT: &str = "mqtt_client";
pub const SUB: &str = "mqtt_sub";
pub const MSG: &str = "mqtt_msg";
pub const TOPIC_MSG: &str = "mqtt_topic_msg_map";
pub const RETAIN: &str = "mqtt_retain";
pub const ACKED: &str = "mqtt_acked";

/// A text value.
pub fn s(text: &str) -> Value {
    Value::S(text.to_string())
}

/// A number value.
pub fn n(number: impl Into<i64>) -> Value {
    Value::N(number.into().to_string())
}

/// An item from `(attribute, value)` pairs.
pub fn item<const N: usize>(pairs: [(&str, Value); N]) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// An expression whose `#name` and `:value` placeholders stand for these.
pub fn expr(text: &str, names: &[(&str, &str)], values: Vec<(&str, Value)>) -> Expression {
    Expression {
        text: text.to_string(),
        names: names.iter().map(|(p, a)| (p.to_string(), a.to_string())).collect(),
        values: values.into_iter().map(|(p, v)| (p.to_string(), v)).collect(),
    }
}

/// An attribute of an item.
pub fn get<'a>(item: &'a Item, name: &str) -> Option<&'a Value> {
    item.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// An attribute as text.
pub fn text(item: &Item, name: &str) -> Option<String> {
    match get(item, name)? {
        Value::S(s) => Some(s.clone()),
        Value::N(n) => Some(n.clone()),
        _ => None,
    }
}

/// An attribute as a whole number; a number kept as text counts too.
pub fn int(item: &Item, name: &str) -> Option<i64> {
    match get(item, name)? {
        Value::N(n) | Value::S(n) => n.trim().parse().ok().or_else(|| n.trim().parse::<f64>().ok().map(|f| f as i64)),
        Value::Boolean(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// An attribute as a set of texts (a missing one is empty).
pub fn strings(item: &Item, name: &str) -> Vec<String> {
    match get(item, name) {
        Some(Value::Ss(set)) => set.clone(),
        Some(Value::S(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

pub fn put(pool: &str, table: &str, item: Item) -> Result<(), Error> {
    host::put_item(pool, table, &item, None).map(drop)
}

pub fn update(pool: &str, table: &str, key: Item, update: Expression) -> Result<(), Error> {
    host::update_item(pool, table, &key, &update)
}

pub fn delete(pool: &str, table: &str, key: Item) -> Result<(), Error> {
    host::delete_item(pool, table, &key)
}

pub fn get_item(pool: &str, table: &str, key: Item) -> Result<Option<Item>, Error> {
    host::get_item(pool, table, &key)
}

pub fn batch_get(pool: &str, table: &str, keys: &[Item]) -> Result<Vec<Item>, Error> {
    host::batch_get(pool, table, keys)
}

/// Every item a key condition selects, page after page.
pub fn query_all(pool: &str, table: &str, condition: &Expression) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = host::query(pool, table, condition, None, true, start.as_deref())?;
        items.extend(page.items);
        match page.last_key {
            Some(k) => start = Some(k),
            None => return Ok(items),
        }
    }
}

/// Every item of a table that passes `filter`, page after page.
pub fn scan_all(pool: &str, table: &str, filter: Option<&Expression>) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = host::scan(pool, table, filter, start.as_deref())?;
        items.extend(page.items);
        match page.last_key {
            Some(k) => start = Some(k),
            None => return Ok(items),
        }
    }
}

/// The items of `table` whose `attribute` (a topic) a topic filter with
/// wildcards may match: those starting with the filter's literal part. The
/// caller matches the rest.
pub fn scan_topics(pool: &str, table: &str, attribute: &str, filter: &str) -> Result<Vec<Item>, Error> {
    let prefix = cistern_topic::literal_prefix(filter);
    if prefix.is_empty() {
        return scan_all(pool, table, None);
    }
    let condition = expr("begins_with(#t, :prefix)", &[("#t", attribute)], vec![(":prefix", s(prefix))]);
    scan_all(pool, table, Some(&condition))
}
