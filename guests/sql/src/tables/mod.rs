//! The writes to the seed's tables, fitted to each table as the pool's
//! database has it: EMQX 4's own tables (no `node` in PostgreSQL's
//! `mqtt_msg`, a `text` payload) as well as cistern's `sql/*.sql`.
//!
//! A table's columns are asked once per guest instance and pool, and the
//! statement built from them is kept; a write the database refuses forgets
//! what was learned of that pool, so a table altered while cistern runs is
//! asked again.

mod build;
mod columns;
mod payload;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use cistern_guest::{Error, Message, Value};

pub use build::{Kind, Write};

use crate::db::Db;

thread_local! {
    /// Each pool's fitted writes, by the pool's key (`backend/pool`).
    static WRITES: RefCell<HashMap<(String, Kind), Rc<Write>>> = RefCell::new(HashMap::new());
}

/// The write of `kind` for `db`'s pool, learning its table first if need be.
pub fn write(db: &Db, kind: Kind) -> Result<Rc<Write>, Error> {
    let key = (db.key(), kind);
    if let Some(w) = WRITES.with(|w| w.borrow().get(&key).cloned()) {
        return Ok(w);
    }
    let dialect = db.dialect()?;
    let cols = columns::learn(dialect, |s, p| db.query(s, p), kind.table())?;
    let w = Rc::new(build::build(kind, dialect, &cols));
    // A table not there yet is asked again next time: it may be created meanwhile.
    if !cols.is_empty() {
        WRITES.with(|ws| ws.borrow_mut().insert(key, w.clone()));
    }
    Ok(w)
}

/// Runs `w` with the values `value` gives for each of its parameters. When the
/// database refuses it, what was learned of the pool's tables is forgotten.
pub fn execute(db: &Db, w: &Write, value: impl Fn(&str) -> Result<Value, Error>) -> Result<u64, Error> {
    execute_params(db, w, &params(w, value)?)
}

/// The values `value` gives for each of `w`'s parameters, in order.
pub fn params(w: &Write, value: impl Fn(&str) -> Result<Value, Error>) -> Result<Vec<Value>, Error> {
    w.params.iter().map(|p| value(p)).collect()
}

/// Runs `w` with `params`, forgetting the pool's tables when it is refused.
pub fn execute_params(db: &Db, w: &Write, params: &[Value]) -> Result<u64, Error> {
    forget_if_refused(db, db.execute(&w.text, params))
}

/// Runs `w` once per list of values, in one transaction (all or none),
/// forgetting the pool's tables when it is refused.
pub fn execute_batch(db: &Db, w: &Write, rows: &[Vec<Value>]) -> Result<u64, Error> {
    forget_if_refused(db, db.execute_batch(&w.text, rows))
}

fn forget_if_refused(db: &Db, result: Result<u64, Error>) -> Result<u64, Error> {
    if matches!(result, Err(ref e) if !matches!(e, Error::Unavailable(_))) {
        let pool = db.key();
        WRITES.with(|ws| ws.borrow_mut().retain(|(p, _), _| *p != pool));
    }
    result
}

/// The payload of `m` as `w`'s table takes it, or the refusal that names the message and column.
pub fn payload(w: &Write, kind: Kind, m: &Message) -> Result<Value, Error> {
    payload::value(w.payload, kind.table(), m)
}

/// A column of the guest's own statement that the caller gives no value for: a bug here, not in the data.
pub fn no_value(column: &str) -> Error {
    Error::Other(format!("the sql guest has no value for column {column}"))
}
