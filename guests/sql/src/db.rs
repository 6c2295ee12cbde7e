//! The action's pool, seen through the host's `sql` interface, with the
//! statements of the pool's dialect.

use cistern_guest::{sql, Context, Error, Value};

use crate::statements::Statements;

pub struct Db<'a> {
    pool: &'a str,
    pub sql: &'static Statements,
}

impl<'a> Db<'a> {
    pub fn open(ctx: &'a Context) -> Result<Self, Error> {
        let dialect = sql::pool_dialect(&ctx.pool)?;
        Ok(Db { pool: &ctx.pool, sql: Statements::of(dialect) })
    }

    pub fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, Error> {
        sql::execute(self.pool, statement, params)
    }

    pub fn query(&self, statement: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
        sql::query(self.pool, statement, params)
    }
}
