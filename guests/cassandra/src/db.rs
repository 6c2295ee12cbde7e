//! The host's `cql` interface for the functions: statements with `?`
//! markers and their values, and columns read back by position.

use cistern_guest::bindings::cistern::hooks::cql as host;
use cistern_guest::Error;

pub use host::Value;

pub type Row = Vec<Value>;

pub fn text(t: &str) -> Value {
    Value::Text(t.to_string())
}

pub fn execute(pool: &str, statement: &str, values: &[Value]) -> Result<(), Error> {
    host::execute(pool, statement, values)
}

/// One run of `statement` per row of values, side by side; one result each.
pub fn execute_each(pool: &str, statement: &str, rows: &[Vec<Value>]) -> Vec<Result<(), Error>> {
    if rows.is_empty() {
        return Vec::new();
    }
    host::execute_each(pool, statement, rows)
}

pub fn query(pool: &str, statement: &str, values: &[Value]) -> Result<Vec<Row>, Error> {
    host::query(pool, statement, values)
}

/// A column as text.
pub fn get_text(row: &Row, i: usize) -> Option<String> {
    match row.get(i)? {
        Value::Text(t) => Some(t.clone()),
        _ => None,
    }
}

/// A column as a whole number.
pub fn get_int(row: &Row, i: usize) -> Option<i64> {
    match row.get(i)? {
        Value::Int(n) => Some((*n).into()),
        Value::Bigint(n) | Value::Timestamp(n) => Some(*n),
        Value::Boolean(b) => Some((*b).into()),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}
