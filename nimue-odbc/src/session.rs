//! What a returned ODBC session is cleared of, for the database systems whose SQL for it is
//! known, and the settings it keeps across the clear (those the session had when set up).

use nimue_core::{Result, Row};

/// Database systems whose sessions a statement clears completely (what a fresh session would
/// not have: settings, the role, cursors, `LISTEN`s, advisory locks, temporary tables,
/// SQL-prepared statements), run with autocommit on after a checkout that ran statements.
/// On PostgreSQL what `DISCARD ALL` does, but for the driver's own server-side prepared
/// statements (psqlODBC's `_PLAN…`, which it must keep track of itself: deallocated behind its
/// back, its next prepare of one fails).
const CLEAR_SESSION: [(&str, &str); 1] = [(
    "PostgreSQL",
    "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
     SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES; \
     DO $$ DECLARE s record; BEGIN FOR s IN SELECT name FROM pg_prepared_statements \
     WHERE from_sql LOOP EXECUTE 'DEALLOCATE ' || quote_ident(s.name); END LOOP; END $$",
)];

/// The clear for database system `dbms` (its `SQL_DBMS_NAME`), if known.
pub(crate) fn clear_for(dbms: &str) -> Option<&'static str> {
    CLEAR_SESSION
        .iter()
        .find(|(name, _)| dbms.eq_ignore_ascii_case(name))
        .map(|(_, sql)| *sql)
}

/// The settings a PostgreSQL session has of its own (not from the server's configuration):
/// name and value.
pub(crate) const SETTINGS: &str = "SELECT name, setting FROM pg_settings WHERE source = 'session' \
     AND name NOT IN ('transaction_isolation', 'transaction_read_only')";

/// A statement that sets each of the settings `rows` (of [`SETTINGS`]) to its value then, or
/// `None` without any.
pub(crate) fn restore_settings(rows: &[Row]) -> Result<Option<String>> {
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let sets: Vec<String> = rows
        .iter()
        .map(|row| {
            let (name, value) = (row.get::<String>(0)?, row.get::<String>(1)?);
            Ok(format!(
                "set_config({}, {}, false)",
                literal(&name),
                literal(&value)
            ))
        })
        .collect::<Result<_>>()?;
    Ok((!sets.is_empty()).then(|| format!("SELECT {}", sets.join(", "))))
}
