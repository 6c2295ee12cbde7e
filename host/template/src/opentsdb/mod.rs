//! The OpenTSDB template file (`emqx_backend_opentsdb.tmpl`): JSON keyed by
//! topic filter; each value has a `measurement` (the metric) and a `value`
//! (required), `tags` (at least one: OpenTSDB stores no point without one)
//! and a `timestamp`, and turns a message into data points for
//! `POST /api/put` ([`bodies`]), whose answer [`answer`] reads.

mod answer;
mod body;

pub use answer::{answer, PutAnswer, PutError};
pub use body::bodies;

use crate::file;
use crate::point::{self, Shape};
use crate::spec::{Message, TemplateError, Value};

/// One template of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The topic filter the template is for.
    pub filter: String,
    shape: Shape,
}

/// One data point, as `/api/put` takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub metric: String,
    /// Milliseconds since the Unix epoch (see [`Template::points`]).
    pub timestamp: i64,
    pub value: Number,
    /// At least one; tags whose value is null or empty are left out.
    pub tags: Vec<(String, String)>,
}

/// A data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

const KEYS: &[&str] = &["measurement", "tags", "value", "timestamp"];

/// Reads a template file's text; the error names the template and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Template>, String> {
    file::entries(text, KEYS)?
        .into_iter()
        .map(|entry| {
            let f = &entry.fields;
            let shape = Shape {
                measurement: point::required(f, "measurement").map_err(|e| entry.at(e))?,
                tags: point::named(f, "tags").map_err(|e| entry.at(e))?,
                values: vec![("value".into(), point::required(f, "value").map_err(|e| entry.at(e))?)],
                timestamp: point::optional(f, "timestamp").map_err(|e| entry.at(e))?,
            };
            if shape.tags.is_empty() {
                return Err(entry.at("\"tags\" must name at least one tag: OpenTSDB stores no data point without one"));
            }
            if let Some((key, _)) = shape.tags.iter().find(|(k, _)| k.is_empty()) {
                return Err(entry.at(format!("the tag name {key:?} is empty")));
            }
            Ok(Template { filter: entry.filter, shape })
        })
        .collect()
}

impl Template {
    /// The data points this template makes of a message: one, or one per
    /// element `$0` walks; or why the message cannot be stored.
    ///
    /// Timestamps: with no `timestamp` in the template, the message's own
    /// time is used. OpenTSDB takes seconds or milliseconds, but `$timestamp`
    /// is in nanoseconds, so an integer of 10^13 or more (a millisecond count
    /// past the year 2286) is read as finer than milliseconds and divided by
    /// 1000 until it is below that: nanoseconds and microseconds become
    /// milliseconds, seconds and milliseconds pass as they are.
    pub fn points(&self, message: &Message) -> Result<Vec<DataPoint>, TemplateError> {
        self.shape.expand(message)?.into_iter().map(|e| point(e, message)).collect()
    }
}

fn refuse(problem: String) -> TemplateError {
    TemplateError::Unwritable(format!("cannot write to OpenTSDB: {problem}"))
}

fn point(e: point::Expanded, message: &Message) -> Result<DataPoint, TemplateError> {
    let metric = point::text(&e.measurement).filter(|m| !m.is_empty());
    let metric = metric.ok_or_else(|| refuse("the measurement (metric) is null or empty".into()))?;
    let tags: Vec<(String, String)> =
        e.tags.into_iter().filter_map(|(k, v)| point::text(&v).filter(|s| !s.is_empty()).map(|s| (k, s))).collect();
    if tags.is_empty() {
        return Err(refuse("every tag is null or empty here, and a data point needs at least one".into()));
    }
    let value = number(&e.values[0].1)?;
    let timestamp = match e.timestamp {
        Some(t) => point::integer(&t, "timestamp")?,
        None => message.timestamp_ns,
    };
    Ok(DataPoint { metric, timestamp: to_millis(timestamp), value, tags })
}

/// Seconds and milliseconds stay; anything finer is brought to milliseconds.
fn to_millis(mut t: i64) -> i64 {
    while t >= 10_000_000_000_000 {
        t /= 1000;
    }
    t
}

/// The value as a number: a JSON number, or text holding one.
fn number(value: &Value) -> Result<Number, TemplateError> {
    let n = match value {
        Value::Int(i) => Number::Int(*i),
        Value::Float(f) => Number::Float(*f),
        Value::Text(s) => match (s.trim().parse::<i64>(), s.trim().parse::<f64>()) {
            (Ok(i), _) => Number::Int(i),
            (_, Ok(f)) => Number::Float(f),
            _ => return Err(refuse(format!("the value {s:?} is not a number"))),
        },
        other => return Err(refuse(format!("the value must be a number, not {other:?}"))),
    };
    match n {
        Number::Float(f) if !f.is_finite() => Err(refuse(format!("the value {f} is not a finite number"))),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests;
