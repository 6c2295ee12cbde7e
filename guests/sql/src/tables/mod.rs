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
/// forgetting the pool's tables when it is refused. A plain insert's rows
/// go as few multi-row inserts: the database parses, plans and answers one
/// statement for up to `MAX_ROWS` rows rather than one for each.
pub fn execute_batch(db: &Db, w: &Write, rows: Vec<Vec<Value>>) -> Result<u64, Error> {
    if w.rows.is_empty() || rows.len() < 2 {
        return forget_if_refused(db, db.execute_batch(&w.text, &rows));
    }
    forget_if_refused(db, db.execute_batches(&statements(w, rows)))
}

/// `rows` as multi-row inserts of `w`, the largest first: 100 rows are
/// one of 64, one of 32 and one of 4.
fn statements(w: &Write, rows: Vec<Vec<Value>>) -> Vec<(String, Vec<Vec<Value>>)> {
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    let mut statements = Vec::new();
    while left > 0 {
        let n = 1 << left.min(build::MAX_ROWS).ilog2();
        let text = w.of_rows(n).unwrap_or(&w.text).to_string();
        let params: Vec<Value> = rows.by_ref().take(n).flatten().collect();
        statements.push((text, vec![params]));
        left -= n;
    }
    statements
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

#[cfg(test)]
mod tests {
    use super::*;
    use cistern_guest::Dialect;

    /// 100 rows are three statements, the largest first, every row's values
    /// once and in order.
    #[test]
    fn rows_as_few_statements() {
        let w = build::build(Kind::Message, Dialect::Mysql, &columns::Columns::default());
        let rows: Vec<Vec<Value>> = (0..100).map(|i| w.params.iter().map(|_| Value::Int(i)).collect()).collect();
        let statements = statements(&w, rows);
        let sizes: Vec<usize> = statements.iter().map(|(_, r)| r[0].len() / w.params.len()).collect();
        assert_eq!(sizes, [64, 32, 4]);
        for (text, rows) in &statements {
            assert_eq!(rows.len(), 1);
            assert_eq!(text.matches('?').count(), rows[0].len());
        }
        let values: Vec<i64> = statements
            .into_iter()
            .flat_map(|(_, r)| r.into_iter().flatten())
            .map(|v| match v {
                Value::Int(i) => i,
                other => panic!("{other:?}"),
            })
            .collect();
        let expected: Vec<i64> = (0..100).flat_map(|i| w.params.iter().map(move |_| i)).collect();
        assert_eq!(values, expected);
    }

    /// A lone row left over is the one-row insert.
    #[test]
    fn a_lone_row_is_the_plain_insert() {
        let w = build::build(Kind::Message, Dialect::Mysql, &columns::Columns::default());
        let rows = vec![vec![Value::Null; w.params.len()]; 3];
        let statements = statements(&w, rows);
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[1].0, w.text);
    }
}
