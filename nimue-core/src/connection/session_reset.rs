//! [`SessionReset`]: how much of a used session an adapter's reset clears.

/// How [`reset`](crate::PoolHooks::reset) cleans a session that a checkout used, for the
/// adapters that offer a choice (`PgConnector::session_reset`, `MySqlConnector::session_reset`;
/// each says what its server's clear covers and what its server reports).
///
/// ```
/// use nimue::SessionReset;
/// assert_eq!(SessionReset::default(), SessionReset::Always);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionReset {
    /// Roll back (when a transaction may be open) and restore autocommit; whatever else the
    /// checkout left in the session (settings, temporary tables, locks, prepared statements)
    /// stays for the next one: what HikariCP and deadpool-postgres' default recycling do.
    Rollback,
    /// Clear the session when the server reported a change in it, else as `Rollback`:
    /// cheaper, but incomplete (what a server does not report reaches the next checkout), so
    /// only for code that knows what it leaves. The adapters document what their server
    /// reports.
    WhenChanged,
    /// The default: clear the session after every checkout that ran a statement, so that
    /// nothing of one checkout reaches the next.
    #[default]
    Always,
}
