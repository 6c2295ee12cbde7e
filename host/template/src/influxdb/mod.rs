//! The InfluxDB template file (`emqx_backend_influxdb.tmpl`): JSON keyed by
//! topic filter; each value has a `measurement` and `fields` (required),
//! `tags` and a `timestamp` (optional; nanoseconds, as `$timestamp` gives),
//! and turns a message into points written in line protocol ([`lines`]).

mod line;

pub use line::lines;

use serde_json::Value as Json;

use crate::file;
use crate::point::{self, Shape};
use crate::spec::{Message, TemplateError, Value};

/// One template of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The topic filter the template is for.
    pub filter: String,
    /// `"typed_fields": true`, our addition to the seed's format: a JSON
    /// number is written as a float (`23.9`), or as an integer (`1i`) when it
    /// is one, and a JSON boolean as a boolean; text stays a string. Without
    /// it (or with `false`) every field is a string, as in the seed's example
    /// (`temperature="1"`).
    pub typed_fields: bool,
    shape: Shape,
}

/// One point, ready for [`Point::line`].
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    /// Tags with a value; a tag whose value is null or empty is left out.
    pub tags: Vec<(String, String)>,
    /// Fields with a value, in template order; null ones are left out.
    pub fields: Vec<(String, Field)>,
    /// Nanoseconds since the Unix epoch; `None` lets the server set it.
    pub timestamp: Option<i64>,
}

/// A field's value, as line protocol types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

const KEYS: &[&str] = &["measurement", "tags", "fields", "timestamp", "typed_fields"];

/// Reads a template file's text; the error names the template and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Template>, String> {
    file::entries(text, KEYS)?
        .into_iter()
        .map(|entry| {
            let f = &entry.fields;
            let typed_fields = match f.get("typed_fields") {
                None => false,
                Some(Json::Bool(b)) => *b,
                Some(other) => return Err(entry.at(format!("\"typed_fields\" must be true or false, not {other}"))),
            };
            let shape = Shape {
                measurement: point::required(f, "measurement").map_err(|e| entry.at(e))?,
                tags: point::named(f, "tags").map_err(|e| entry.at(e))?,
                values: point::named(f, "fields").map_err(|e| entry.at(e))?,
                timestamp: point::optional(f, "timestamp").map_err(|e| entry.at(e))?,
            };
            if shape.values.is_empty() {
                return Err(entry.at("\"fields\" is required and must name at least one field"));
            }
            for (key, _) in shape.tags.iter().chain(&shape.values) {
                check_key(key).map_err(|e| entry.at(e))?;
            }
            Ok(Template { filter: entry.filter, typed_fields, shape })
        })
        .collect()
}

/// A tag or field key must be writable as it is (see [`Point::line`]).
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.ends_with('\\') || key.contains(['\n', '\r']) {
        return Err(format!(
            "the key {key:?} cannot be written: it is empty, ends in a backslash or holds a line break"
        ));
    }
    Ok(())
}

impl Template {
    /// The points this template makes of a message: one, or one per element
    /// `$0` walks; or why the message cannot be stored.
    pub fn points(&self, message: &Message) -> Result<Vec<Point>, TemplateError> {
        self.shape.expand(message)?.into_iter().map(|e| self.point(e)).collect()
    }

    /// The points as a line protocol body: one line each, ended by a newline.
    pub fn lines(&self, message: &Message) -> Result<String, TemplateError> {
        lines(&self.points(message)?)
    }

    fn point(&self, e: point::Expanded) -> Result<Point, TemplateError> {
        let measurement = point::text(&e.measurement)
            .ok_or_else(|| TemplateError::Unwritable("cannot write to InfluxDB: the measurement is null".into()))?;
        let tags =
            e.tags.into_iter().filter_map(|(k, v)| point::text(&v).filter(|s| !s.is_empty()).map(|s| (k, s))).collect();
        let fields = e.values.into_iter().filter_map(|(k, v)| self.field(v).map(|f| (k, f))).collect();
        let timestamp = e.timestamp.map(|t| point::integer(&t, "timestamp")).transpose()?;
        Ok(Point { measurement, tags, fields, timestamp })
    }

    fn field(&self, value: Value) -> Option<Field> {
        Some(match value {
            Value::Null => return None,
            Value::Int(i) if self.typed_fields => Field::Int(i),
            Value::Float(f) if self.typed_fields => Field::Float(f),
            Value::Bool(b) if self.typed_fields => Field::Bool(b),
            other => Field::Text(point::text(&other)?),
        })
    }
}

#[cfg(test)]
mod tests;
