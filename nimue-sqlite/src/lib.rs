//! The SQLite adapter of nimue, on [`rusqlite`] with SQLite bundled (nothing to install).
//!
//! [`SqliteConnector`] opens [`SqliteConnection`]s, which implement nimue's PEP 249
//! [`Connection`](nimue_core::Connection) and [`Cursor`](nimue_core::Cursor) traits:
//!
//! - parameters: qmark (`?`), SQLite's own style;
//! - values: every [`Value`](nimue_core::Value) round-trips; booleans, dates, times and
//!   decimals are read back by the column's declared type (`BOOLEAN`, `DATE`, `TIME`,
//!   `TIMESTAMP`/`DATETIME`, a type containing `DEC` or `NUMERIC`); for decimals see
//!   [Decimals](#decimals) below;
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
//! let v: Vec<u8> = conn.query_scalar("SELECT v FROM kv WHERE k = ?", ("a",))?;
//! assert_eq!(v, vec![1, 2, 3]);
//! # Ok::<(), nimue_core::Error>(())
//! ```
//!
//! # Decimals
//!
//! A [`Value::Decimal`](nimue_core::Value::Decimal) is bound as TEXT, its exact digits. What
//! SQLite then stores depends on the column's [type
//! affinity](https://www.sqlite.org/datatype3.html#type_affinity), which SQLite derives from
//! the declared type:
//!
//! - **Exact: declare the column `DECIMAL TEXT`.** The `TEXT` in the declared type gives the
//!   column TEXT affinity, so the digits are stored as given; the `DECIMAL` makes nimue read
//!   it back as `Decimal` (type code `NUMBER`). Every `Decimal`, 28 significant digits and
//!   `Decimal::MAX` included, round-trips exactly. SQLite compares and sorts such values as text, and its arithmetic
//!   on them (`SUM`, `+`) goes through 8-byte floats.
//! - **Lossy: a plain `DECIMAL`/`NUMERIC` column** (NUMERIC affinity). SQLite converts
//!   well-formed numeric text: to an INTEGER when the value is a whole number that fits in 64
//!   bits, otherwise to a REAL (an 8-byte float), which keeps only about 15 significant
//!   digits. nimue reads an INTEGER back as that `Decimal`, and a REAL as the `Decimal` of the
//!   float's shortest exact text, or as a `Float` when it is beyond `Decimal`'s range. So a
//!   decimal with at most 15 significant digits round-trips (as the same number); a longer
//!   one comes back rounded to the float nearest to it.
//!
//! ```
//! use nimue_core::{params, Connect, Connection, Value};
//! use nimue_sqlite::SqliteConnector;
//! use rust_decimal::Decimal;
//! use std::str::FromStr;
//!
//! let mut conn = SqliteConnector::memory().connect()?;
//! conn.execute("CREATE TABLE money (exact DECIMAL TEXT, lossy DECIMAL(38, 10))", &[])?;
//! let big = Decimal::from_str("12345678901234567890.123456").unwrap();
//! conn.execute("INSERT INTO money VALUES (?, ?)", &params![big, big])?;
//! conn.execute("INSERT INTO money VALUES (?, ?)", &params![Decimal::MAX, Decimal::MAX])?;
//! let rows = conn.query("SELECT exact, lossy FROM money", &[])?;
//! // DECIMAL TEXT: exact.
//! assert_eq!(rows[0].get::<Decimal>("exact")?, big);
//! assert_eq!(rows[1].get::<Decimal>("exact")?, Decimal::MAX);
//! // DECIMAL(38, 10): stored as an 8-byte float.
//! assert_eq!(rows[0].values()[1], Value::Decimal(Decimal::from_str("12345678901234567000").unwrap()));
//! assert_eq!(rows[1].values()[1], Value::Float(7.922816251426434e28));
//! let stored: (String, String) = conn.query_one("SELECT typeof(exact), typeof(lossy) FROM money", ())?;
//! assert_eq!(stored, ("text".into(), "real".into()));
//! # Ok::<(), nimue_core::Error>(())
//! ```

// Feature badges on docs.rs (built with `--cfg docsrs` on nightly).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod connection;
mod connector;
mod convert;
mod cursor;
mod error;
mod session;

pub use connection::{SqliteConnection, SqliteCursor};
pub use connector::SqliteConnector;
pub use cursor::SqliteStream;
pub use rusqlite;

/// nimue's [`Error`](nimue_core::Error) for a `rusqlite` error, mapped as this adapter maps
/// its own (the PEP 249 class from SQLite's result code; the driver's error kept for
/// [`Error::driver_error`](nimue_core::Error::driver_error)): for code that calls rusqlite
/// itself, through [`SqliteConnection::native`], and reports errors as nimue's.
///
/// ```
/// use nimue_sqlite::rusqlite;
/// let db = rusqlite::Connection::open_in_memory()?;
/// let err = nimue_sqlite::map_error(db.execute("SELEC 1", []).unwrap_err());
/// assert_eq!(err.kind(), nimue_core::ErrorKind::Programming);
/// # Ok::<(), rusqlite::Error>(())
/// ```
pub fn map_error(e: rusqlite::Error) -> nimue_core::Error {
    error::map_err(e)
}
