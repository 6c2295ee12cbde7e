//! The action's pool, seen through the host's `sql` interface, with the
//! statements of the pool's dialect (asked of the host once, when first needed,
//! so a function with nothing to store makes no host call at all).

use std::cell::OnceCell;

use cistern_guest::{sql, Context, Error, Value};

use crate::statements::Statements;

pub struct Db<'a> {
    pool: &'a str,
    statements: OnceCell<&'static Statements>,
}

impl<'a> Db<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Db { pool: &ctx.pool, statements: OnceCell::new() }
    }

    /// The statements of this pool's dialect.
    pub fn sql(&self) -> Result<&'static Statements, Error> {
        if let Some(s) = self.statements.get() {
            return Ok(s);
        }
        let s = Statements::of(sql::pool_dialect(self.pool)?);
        Ok(self.statements.get_or_init(|| s))
    }

    pub fn pool(&self) -> &str {
        self.pool
    }

    pub fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, Error> {
        sql::execute(self.pool, statement, params)
    }

    pub fn query(&self, statement: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
        sql::query(self.pool, statement, params)
    }
}
