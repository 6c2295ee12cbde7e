//! The action's pool, seen through the host's `mongo` interface, with
//! documents as `serde_json` values. A field holding bytes travels beside
//! the JSON (see `Doc`), since JSON cannot carry them.

use cistern_guest::bindings::cistern::hooks::mongo as host;
use cistern_guest::Error;
use serde_json::{Map, Value};

/// A document: its JSON fields, and its top-level fields holding bytes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Doc {
    pub fields: Map<String, Value>,
    pub binary: Vec<(String, Vec<u8>)>,
}

impl Doc {
    pub fn new(fields: Map<String, Value>) -> Doc {
        Doc { fields, binary: Vec::new() }
    }

    /// A field's bytes, whether stored as binary data or as text.
    pub fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        if let Some((_, b)) = self.binary.iter().find(|(k, _)| k == name) {
            return Some(b.clone());
        }
        self.fields.get(name).and_then(Value::as_str).map(|s| s.as_bytes().to_vec())
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// A whole number, as MongoDB may hold it: an integer, a double, a boolean.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.fields.get(name)? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn into_wit(self) -> host::Document {
        host::Document { json: Value::Object(self.fields).to_string(), binary: self.binary }
    }

    fn from_wit(d: host::Document) -> Result<Doc, Error> {
        match serde_json::from_str(&d.json) {
            Ok(Value::Object(fields)) => Ok(Doc { fields, binary: d.binary }),
            _ => Err(Error::Other(format!("the host returned a document that is not a JSON object: {}", d.json))),
        }
    }
}

/// A JSON object from `serde_json::json!`, as the text the host reads.
fn text(v: &Value) -> String {
    v.to_string()
}

pub struct Db<'a> {
    pool: &'a str,
}

impl<'a> Db<'a> {
    pub fn new(pool: &'a str) -> Self {
        Db { pool }
    }

    /// False when a document with its `_id` is there already.
    pub fn insert_one(&self, collection: &str, doc: Doc) -> Result<bool, Error> {
        host::insert_one(self.pool, collection, &doc.into_wit())
    }

    pub fn update_one(&self, collection: &str, filter: &Value, update: &Value, upsert: bool) -> Result<u64, Error> {
        host::update_one(self.pool, collection, &text(filter), &text(update), upsert)
    }

    pub fn replace_one(&self, collection: &str, filter: &Value, doc: Doc, upsert: bool) -> Result<u64, Error> {
        host::replace_one(self.pool, collection, &text(filter), &doc.into_wit(), upsert)
    }

    pub fn delete_many(&self, collection: &str, filter: &Value) -> Result<u64, Error> {
        host::delete_many(self.pool, collection, &text(filter))
    }

    pub fn find(&self, collection: &str, filter: &Value, sort: &Value, limit: u32) -> Result<Vec<Doc>, Error> {
        host::find(self.pool, collection, &text(filter), &text(sort), limit)?.into_iter().map(Doc::from_wit).collect()
    }
}
