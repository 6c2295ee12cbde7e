//! The action's pool, seen through the host's `sql` interface, with the
//! pool's dialect (from the settings, or else asked of the host when first
//! needed) and the statements of that dialect.

use std::cell::OnceCell;

use cistern_guest::{sql, Context, Dialect, Error, Value};

use crate::statements::Statements;

pub struct Db<'a> {
    ctx: &'a Context,
    dialect: OnceCell<Dialect>,
}

impl<'a> Db<'a> {
    /// The host names the pool's dialect in the settings, which spares asking.
    pub fn new(ctx: &'a Context) -> Self {
        let dialect = OnceCell::new();
        let known = match cistern_guest::settings::get(ctx, "dialect") {
            Some("sqlite") => Some(Dialect::Sqlite),
            Some("mysql") => Some(Dialect::Mysql),
            Some("postgres") => Some(Dialect::Postgres),
            _ => None,
        };
        if let Some(d) = known {
            let _ = dialect.set(d);
        }
        Db { ctx, dialect }
    }

    pub fn dialect(&self) -> Result<Dialect, Error> {
        if let Some(d) = self.dialect.get() {
            return Ok(*d);
        }
        let d = sql::pool_dialect(&self.ctx.pool)?;
        Ok(*self.dialect.get_or_init(|| d))
    }

    /// The statements of this pool's dialect.
    pub fn sql(&self) -> Result<&'static Statements, Error> {
        Ok(Statements::of(self.dialect()?))
    }

    /// The pool's name among every backend's: `pool1` of `mysql` is not `pool1` of `pgsql`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.ctx.backend, self.ctx.pool)
    }

    pub fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, Error> {
        sql::execute(&self.ctx.pool, statement, params)
    }

    pub fn execute_batch(&self, statement: &str, rows: &[Vec<Value>]) -> Result<u64, Error> {
        sql::execute_batch(&self.ctx.pool, statement, rows)
    }

    /// Each statement with each of its lists of values, all in one transaction.
    pub fn execute_batches(&self, batches: &[(String, Vec<Vec<Value>>)]) -> Result<u64, Error> {
        sql::execute_batches(&self.ctx.pool, batches)
    }

    pub fn query(&self, statement: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
        sql::query(&self.ctx.pool, statement, params)
    }
}
