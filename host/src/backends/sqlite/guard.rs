//! What a statement from a guest or a raw action may do to the store. The
//! host runs every statement on one connection, inside transactions and
//! savepoints of its own (group commit), so a statement that ends a
//! transaction, attaches a file, changes a pragma or loads an extension would
//! act on its neighbours' writes or beyond the store. SQLite's own
//! authorizer judges each statement as it is prepared, whatever its
//! spelling (`/**/COMMIT` included); attaching is off altogether (which also
//! stops `VACUUM INTO`), and the defensive flag keeps the schema from being
//! corrupted by writes to it.
//!
//! A statement may not run for ever either: the one connection is every
//! action's, and a statement that never ends (a recursive query without a
//! bound) would hold up every later write. SQLite's progress handler
//! interrupts one that has run longer than the pool's `statement_timeout`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;

thread_local! {
    /// Set while the host itself prepares a statement on this thread.
    static TRUSTED: Cell<bool> = const { Cell::new(false) };
    /// When the statement of an action running on this thread began.
    static STATEMENT_BEGAN: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How many steps of its virtual machine SQLite runs between two looks at
/// the clock: a few hundred microseconds of work.
const STEPS_BETWEEN_LOOKS: std::ffi::c_int = 10_000;

/// Puts the guard on a connection the host has finished setting up.
pub fn install(c: &rusqlite::Connection, statement_timeout: Duration) -> rusqlite::Result<()> {
    c.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0);
    c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    c.authorizer(Some(authorize));
    c.progress_handler(
        STEPS_BETWEEN_LOOKS,
        Some(move || STATEMENT_BEGAN.with(Cell::get).is_some_and(|began| began.elapsed() > statement_timeout)),
    );
    Ok(())
}

/// Runs an action's statement (or batch of them) under the statement
/// timeout; the host's own transaction control runs outside it.
pub fn timed<T>(f: impl FnOnce() -> T) -> T {
    STATEMENT_BEGAN.with(|b| b.set(Some(Instant::now())));
    let out = f();
    STATEMENT_BEGAN.with(|b| b.set(None));
    out
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
