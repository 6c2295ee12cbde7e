//! Templates that turn an MQTT message into rows (TimescaleDB) or points
//! (InfluxDB, OpenTSDB), as the seed describes them.
//!
//! A value in a template is one of:
//! - a placeholder: `"$id"`, `"$clientid"`, `"$username"`, `"$peerhost"`,
//!   `"$qos"`, `"$topic"`, `"$payload"` or `"$content"` (the whole payload,
//!   as text),
//!   `"$timestamp"` (nanoseconds);
//! - a path into the JSON payload: `["$payload", "data", "$0", "temp"]`,
//!   where `$0` takes every element of an array (one row each) and `$N`
//!   the Nth (from 1);
//! - any other JSON value, used as it is.
//!
//! All the values of one template are expanded together: paths through
//! `$0` must yield the same number of elements, which is the number of rows.
//!
//! Shared by the host (which checks a template file when it loads the
//! configuration) and the guests (which expand it for each message).

mod file;
pub mod influxdb;
pub mod opentsdb;
mod payload;
mod point;
mod spec;
pub mod timescale;

pub use spec::{expand, Message, Spec, TemplateError, Value};
