//! The SQLite adapter of nimue, on [`rusqlite`] with SQLite bundled (nothing to install).
//!
//! [`SqliteConnector`] opens [`SqliteConnection`]s, which implement nimue's PEP 249
//! [`Connection`](nimue_core::Connection) and [`Cursor`](nimue_core::Cursor) traits:
//!
//! - parameters: qmark (`?`), SQLite's own style;
//! - values: every [`Value`](nimue_core::Value) round-trips; booleans, dates, times and
//!   decimals are read back by the column's declared type (`BOOLEAN`, `DATE`, `TIME`,
//!   `TIMESTAMP`/`DATETIME`, `DECIMAL`/`NUMERIC`). SQLite stores a `DECIMAL` column's values as
//!   integers or 8-byte floats when it can, so decimals beyond 15 significant digits need a
//!   column without numeric affinity (e.g. `TEXT`);
//! - errors: constraint violations are `IntegrityError`, SQL errors `ProgrammingError`,
//!   busy/locked and I/O `OperationalError`, type mismatches and oversized values `DataError`.
//!
//! ```
//! use nimue_core::{params, Connect, Connection, ErrorKind};
//! use nimue_sqlite::SqliteConnector;
//!
//! let mut conn = SqliteConnector::memory().connect()?;
//! conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)", &[])?;
//! conn.execute("INSERT INTO kv VALUES (?, ?)", &params!["a", vec![1u8, 2, 3]])?;
//! let dup = conn.execute("INSERT INTO kv VALUES (?, ?)", &params!["a", None::<Vec<u8>>]);
//! assert_eq!(dup.unwrap_err().kind(), ErrorKind::Integrity);
//! let row = conn.query_row("SELECT v FROM kv WHERE k = ?", &params!["a"])?.unwrap();
//! assert_eq!(row.get::<Vec<u8>>("v")?, vec![1, 2, 3]);
//! # Ok::<(), nimue_core::Error>(())
//! ```

#![warn(missing_docs)]

mod connection;
mod connector;
mod convert;
mod error;

pub use connection::SqliteConnection;
pub use connector::SqliteConnector;
pub use rusqlite;
