//! What a statement from a guest or a raw action may do to the store. The
//! host runs every statement on one connection, inside transactions and
//! savepoints of its own (group commit), so a statement that ends a
//! transaction, attaches a file, changes a pragma or loads an extension would
//! act on its neighbours' writes or beyond the store. SQLite's own
//! authorizer judges each statement as it is prepared, whatever its
//! spelling (`/**/COMMIT` included); attaching is off altogether (which also
//! stops `VACUUM INTO`), and the defensive flag keeps the schema from being
//! corrupted by writes to it.

use std::cell::Cell;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;

thread_local! {
    /// Set while the host itself prepares a statement on this thread.
    static TRUSTED: Cell<bool> = const { Cell::new(false) };
}

/// Puts the guard on a connection the host has finished setting up.
pub fn install(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    c.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0);
    c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    c.authorizer(Some(authorize));
    Ok(())
}

/// Runs the host's own statement (a transaction, a savepoint) past the guard.
pub fn trusted<T>(f: impl FnOnce() -> T) -> T {
    TRUSTED.with(|t| t.set(true));
    let out = f();
    TRUSTED.with(|t| t.set(false));
    out
}

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    if TRUSTED.with(Cell::get) {
        return Authorization::Allow;
    }
    match ctx.action {
        // Reading a table's columns changes nothing; the stock guest asks
        // them (`pragma_table_info`) to fit its writes to the table it finds.
        AuthAction::Pragma { pragma_name, .. } if pragma_name.eq_ignore_ascii_case("table_info") => {
            Authorization::Allow
        }
        AuthAction::Transaction { .. }
        | AuthAction::Savepoint { .. }
        | AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::Pragma { .. }
        | AuthAction::CreateVtable { .. }
        | AuthAction::DropVtable { .. } => Authorization::Deny,
        AuthAction::Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}
