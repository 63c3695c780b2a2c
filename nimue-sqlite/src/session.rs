//! Whether a checkout changed the connection's session (a setting, an attached database, a
//! temporary object), as SQLite's own parser reports it: the authorizer callback sees every
//! statement as it is prepared, with what it will do.
//!
//! Invariant: every statement in the connection's statement cache was prepared on it after
//! the watch was last cleared, so a cached statement that changes the session flagged it when
//! it was prepared. [`SessionWatch::clear`] therefore empties the cache too, and a change is
//! only ever cleared by a new connection (whose cache is empty) or by the set-up.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The flag the authorizer raises on a connection.
#[derive(Clone, Default)]
pub(crate) struct SessionWatch(Arc<AtomicBool>);

/// Pragmas that only read, whatever their argument.
const READING_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_info",
    "index_xinfo",
    "index_list",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

impl SessionWatch {
    /// Watch `conn` (replacing any authorizer it had; `&mut`: rusqlite 0.43 asks for it).
    pub(crate) fn install(&self, conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        let flag = Arc::clone(&self.0);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if changes_session(&ctx) {
                // Relaxed: the connection is used by one thread at a time; the atomic only
                // lets the callback (which must be Send) share the flag.
                flag.store(true, Ordering::Relaxed);
            }
            Authorization::Allow
        }))
    }

    /// Something may have changed the session behind the authorizer's back (the driver's
    /// connection was lent out).
    pub(crate) fn raise(&self) {
        // Relaxed: see `install`.
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the session may differ from its set-up.
    pub(crate) fn changed(&self) -> bool {
        // Relaxed: see `install`.
        self.0.load(Ordering::Relaxed)
    }

    /// The session as it is now is the set-up: forget the changes, and the statements
    /// prepared so far (see the module's invariant).
    pub(crate) fn clear(&self, conn: &rusqlite::Connection) {
        conn.flush_prepared_statement_cache();
        // Relaxed: see `install`.
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Whether a statement doing what `ctx` says leaves something in the session for the next
/// user: a setting, an attached database, or anything but a read in the `temp` schema.
fn changes_session(ctx: &AuthContext<'_>) -> bool {
    if ctx.database_name == Some("temp") && !matches!(ctx.action, AuthAction::Read { .. }) {
        return true;
    }
    match &ctx.action {
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            pragma_value.is_some()
                && !READING_PRAGMAS
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(pragma_name))
        }
        AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. } => true,
        _ => false,
    }
}
