//! What a checkout did to a MySQL session: PEP 249's transaction bookkeeping, and whether the
//! session may differ from its set-up, which decides how much `reset` has to clear.

use crate::error::{is_gone, map_err};
use mysql::session_state_change::SessionStateChange;
use nimue_core::Result;

/// How [`reset`](nimue_core::PoolHooks::reset) cleans a MySQL session that a checkout used
/// ([`MySqlConnector::session_reset`](crate::MySqlConnector::session_reset)). On MySQL:
///
/// - `Always` (the default): `COM_RESET_CONNECTION` clears everything a session can hold
///   (the transaction and its next characteristics, user variables, temporary tables, session
///   variables, `GET_LOCK` and `LOCK TABLES` locks, prepared statements, `HANDLER`s,
///   `LAST_INSERT_ID()`, sequences' `LASTVAL`): the next checkout sees a fresh session. It
///   costs a round trip (run off the caller's path by the pool's resetter when other
///   connections are idle), and since it drops the driver's prepared statements the next
///   checkout prepares its statements again.
/// - `WhenChanged`: `COM_RESET_CONNECTION` when the server's session tracking reported a
///   change. The server reports changes of variables, temporary tables, the schema and the
///   transaction state for statements that end without rows; it does not report
///   `LAST_INSERT_ID()` (set by every auto-increment insert), a sequence's `LASTVAL`, an open
///   `HANDLER`, `SET TRANSACTION` for the next transaction, or anything done by a query that
///   returns rows (a query whose text mentions a variable, `@`, or a lock, `lock`, counts as a
///   change; one that changes the session inside a stored function it calls is not seen), or
///   what runs through [`MySqlConnection::conn`](crate::MySqlConnection::conn). Those reach
///   the next checkout. On a server without session tracking this is `Always`.
/// - `Rollback`: only the rollback.
pub use nimue_core::SessionReset;

/// How many of a checkout's statements are prepared again after its session is reset.
const KEPT_STATEMENTS: usize = 8;

/// PEP 249's bookkeeping of a session, apart from the driver connection: a cursor reading a
/// result (which borrows the driver connection) still updates it.
#[derive(Debug, Default)]
pub(crate) struct Session {
    pub(crate) autocommit: bool,
    /// A transaction may be open: a statement ran with autocommit off, or the server reported
    /// one (an explicit `START TRANSACTION`), since the last commit/rollback.
    pub(crate) in_transaction: bool,
    /// The session may differ from its set-up in more than autocommit and the transaction:
    /// what `COM_RESET_CONNECTION` is for.
    pub(crate) changed: bool,
    /// The server reported a write in the open transaction (session tracking).
    pub(crate) wrote: bool,
    /// How changes are found (`WhenChanged` only with the server's session tracking on).
    pub(crate) reset: SessionReset,
    /// The server's `autocommit`, when known for sure (this side set it, and no statement
    /// that could set it ran since).
    pub(crate) server_autocommit: Option<bool>,
    /// The statements this checkout prepared (the first few): prepared again after a
    /// `COM_RESET_CONNECTION`, which drops them, so the next checkout finds them ready.
    pub(crate) statements: Vec<String>,
    pub(crate) broken: bool,
}

impl Session {
    /// Map a driver error, remembering when the connection is gone (the pool discards it).
    pub(crate) fn watch<T>(&mut self, result: std::result::Result<T, mysql::Error>) -> Result<T> {
        result.map_err(|e| {
            self.broken |= is_gone(&e);
            map_err(e)
        })
    }

    /// A statement is about to run: it opens PEP 249's implicit transaction, and may change
    /// the session in ways the server will not report.
    pub(crate) fn starting(&mut self, sql: &str) {
        self.server_autocommit = None;
        if self.statements.len() < KEPT_STATEMENTS && !self.statements.iter().any(|s| s == sql) {
            self.statements.push(sql.to_owned());
        }
        if !self.autocommit {
            self.in_transaction = true;
        }
        match self.reset {
            SessionReset::Always => self.changed = true,
            SessionReset::WhenChanged => self.changed |= may_change_session(sql),
            SessionReset::Rollback => {}
        }
    }

    /// The driver's connection was lent out: anything may have run on it, so a transaction
    /// may be open and (for `Always`) the session changed.
    pub(crate) fn borrowed(&mut self) {
        self.server_autocommit = None;
        self.in_transaction = true;
        self.changed |= self.reset == SessionReset::Always;
    }

    /// A statement ended: take in what the server's session tracker reported in its final
    /// status (nothing after a result set's rows). A report that cannot be read counts as a
    /// change.
    pub(crate) fn ended(&mut self, conn: &mysql::Conn) {
        let Ok(reports) = conn.session_state_changes() else {
            self.changed = true;
            return;
        };
        for report in reports {
            match report.decode() {
                // "________" is no transaction; the 8th place is `L` under `LOCK TABLES`,
                // which a rollback does not release.
                Ok(SessionStateChange::TransactionState(state)) => {
                    // The server's word replaces what was known (a SQL `COMMIT` reports
                    // "________": nothing open, nothing written).
                    let state = state.as_bytes();
                    self.in_transaction = state.iter().any(|&b| b != b'_');
                    // The 4th and 5th places: a non-transactional (`w`) or transactional (`W`)
                    // write.
                    self.wrote = state.get(3) == Some(&b'w') || state.get(4) == Some(&b'W');
                    self.changed |= state.get(7) == Some(&b'L');
                }
                // Variables, temporary tables, prepared statements: a change.
                _ => self.changed = true,
            }
        }
    }
}

/// Whether a statement's text may change the session where the server does not report it
/// (a query returning rows): it mentions a variable or a lock.
fn may_change_session(sql: &str) -> bool {
    sql.contains('@')
        || sql
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"lock"))
}

/// The session variables that make the server report session changes in every status:
/// state changes (variables, temporary tables, ...) and the transaction state
/// (Every variable: MariaDB reports a change of one it does not track, e.g. `sql_mode`, as
/// no change at all.)
pub(crate) const TRACK_CHANGES: &str = "SET SESSION session_track_state_change = 1, \
     session_track_system_variables = '*', session_track_transaction_info = 'STATE'";

#[cfg(test)]
mod tests {
    use super::may_change_session;

    #[test]
    fn queries_that_name_a_variable_or_a_lock_may_change_the_session() {
        for sql in [
            "SELECT @x := 1",
            "SELECT GET_LOCK('a', 1)",
            "select get_lock('a', 1)",
            "SELECT a INTO @b FROM t",
            "LOCK TABLES t READ",
        ] {
            assert!(may_change_session(sql), "{sql}");
        }
        for sql in ["SELECT ? + 1", "SELECT id, t FROM e2e_fetch", "SELECT 'lo'"] {
            assert!(!may_change_session(sql), "{sql}");
        }
    }
}
