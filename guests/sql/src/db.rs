//! The action's pool, seen through the host's `sql` interface, with the
//! statements of the pool's dialect (from the settings, or else asked of the
//! host when first needed).

use std::cell::OnceCell;

use cistern_guest::{sql, Context, Dialect, Error, Value};

use crate::statements::Statements;

pub struct Db<'a> {
    pool: &'a str,
    statements: OnceCell<&'static Statements>,
}

impl<'a> Db<'a> {
    /// The host names the pool's dialect in the settings, which spares asking.
    pub fn new(ctx: &'a Context) -> Self {
        let statements = OnceCell::new();
        let known = match cistern_guest::settings::get(ctx, "dialect") {
            Some("sqlite") => Some(Dialect::Sqlite),
            Some("mysql") => Some(Dialect::Mysql),
            Some("postgres") => Some(Dialect::Postgres),
            _ => None,
        };
        if let Some(d) = known {
            let _ = statements.set(Statements::of(d));
        }
        Db { pool: &ctx.pool, statements }
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
