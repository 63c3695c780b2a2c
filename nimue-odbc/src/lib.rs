//! The ODBC adapter of nimue, on [`odbc_api`]: any database with an ODBC driver, through the
//! system's driver manager (unixODBC on Linux and macOS, the built-in one on Windows).
//!
//! [`OdbcConnector`] opens [`OdbcConnection`]s, which implement nimue's PEP 249
//! [`Connection`](nimue_core::Connection) and [`Cursor`](nimue_core::Cursor) traits:
//!
//! - connecting: a DSN-less connection string (`Driver={PostgreSQL Unicode};Server=…;`), a
//!   data source name ([`OdbcConnector::dsn`]) or an `odbc:` URL
//!   ([`OdbcConnector::from_url`]); all connections share the process's one ODBC environment.
//!   A driver or DSN the driver manager does not know is an `InterfaceError` listing the
//!   installed drivers and what to install;
//! - parameters: qmark (`?`), ODBC's own style, bound with `SQLBindParameter` (never spliced
//!   into SQL). `Null` as a NULL `WVARCHAR`, `Bool` as `BIT`, `Int` as `BIGINT`, `Float` as
//!   `DOUBLE`, `Decimal` as its exact text typed `DECIMAL(p, s)`, `Text` as UTF-16
//!   `WVARCHAR`, `Bytes` as `VARBINARY`, `Date` as the date struct, `Time` and `Timestamp` as
//!   ISO text typed `TIME(p)`/`TIMESTAMP(p)`; the driver converts to the column's type;
//! - values, by the SQL type the driver reports: `BIT` → `Bool`; `TINYINT`…`BIGINT` → `Int`;
//!   `REAL`/`FLOAT`/`DOUBLE` → `Float`; `DECIMAL`/`NUMERIC` (and character columns whose
//!   database type is `DECIMAL`, as the SQLite driver reports them) → `Decimal`; character
//!   types → `Text` (read as UTF-16); binary types → `Bytes`; `DATE` → `Date`; `TIME` →
//!   `Time` (with fractional seconds); `TIMESTAMP` → `Timestamp`; anything else (GUIDs,
//!   intervals, ...) as its text;
//! - fetching: as rows are asked for ([`OdbcCursor`], see [Streaming](#streaming) below). When
//!   every column has a bounded size, rows are fetched in batches into a bound columnar buffer
//!   (up to 1024 rows and 1 MiB); a result with a long or unbounded column (`TEXT`, `BLOB`,
//!   `bytea`, ...) is fetched row by row with `SQLGetData` (see
//!   [`OdbcConnection::binds_variable_size_columns`]);
//! - `description`: names, PEP 249 type codes, the database's type names
//!   (`SQL_DESC_TYPE_NAME`), sizes, precision, scale and nullability from the driver;
//! - errors: by SQLSTATE: 23 → Integrity, 42 → Programming, 08 → Operational, 22 → Data,
//!   0A/HYC00/IM001 → NotSupported, HYT00/HYT01 → Operational, other IM (driver manager) →
//!   InterfaceError; the SQLite driver's `HY000` errors by SQLite's result code;
//! - transactions: [`Connection::transaction`](nimue_core::Connection::transaction) nests with
//!   `SAVEPOINT`s. With psqlODBC, put `Protocol=7.4-1` in the connection string (an error
//!   rolls back the transaction, as PostgreSQL does): the driver's default statement-level
//!   rollback wraps each statement in savepoints of its own, which fail ("internal SAVEPOINT
//!   failed") once the application rolls back to one of its savepoints;
//! - pool hooks: `is_broken` is the driver's connection-dead attribute (no I/O) or an earlier
//!   connection-level error, `ping` that attribute plus a `SELECT 1` round trip, `reset` a
//!   rollback with autocommit back off.
//!
//! `lastrowid` is always `None`: ODBC has no portable way to ask for it.
//!
//! # Streaming
//!
//! A cursor ([`OdbcCursor`], a [`StreamingCursor`](nimue_core::StreamingCursor) over an
//! [`OdbcStream`]) keeps a query's ODBC statement open and reads its rows from the driver as
//! they are fetched: `execute` runs the statement and reads the first
//! [`READ_AHEAD`](nimue_core::stream::READ_AHEAD) rows, each fetch then takes the next batch
//! (or row) from the driver. nimue so holds at most the rows read ahead, one bound batch and
//! the rows a fetch returns. Whether the *driver* holds the whole result is up to the driver
//! and its settings; measured with a 200 000-row × 100-byte scan through `fetchmany(1000)`
//! (tests/streaming_odbc.rs):
//!
//! - **PostgreSQL** (psqlODBC) reads the whole result into its own memory when the statement
//!   executes (the process grew by 34 MB), unless the connection string has
//!   `UseDeclareFetch=1`: the driver then reads through a server-side cursor, `Fetch=` rows
//!   per round trip (default 100), and the scan grows the process by under 1 MB. Without
//!   it the driver reports a query's number of rows when it executes, so the cursor's
//!   `rowcount` is known at once, as before streaming; with it, `rowcount` follows the
//!   [`StreamingCursor`](nimue_core::StreamingCursor) rule (`-1` for a result of more than
//!   `READ_AHEAD` rows until its last row was fetched).
//! - **SQLite** (the SQLite3 ODBC driver) reads the whole result when the statement executes
//!   (34 MB), unless the connection string has `StepAPI=1`, autocommit is on and the
//!   statement has no parameters: the driver then steps the SQLite statement as rows are
//!   fetched (under 1 MB). With autocommit off (nimue's default) the driver always works
//!   inside a transaction and reads whole results. Its `rowcount` of a query follows the
//!   `StreamingCursor` rule.
//! - Other drivers: see their documentation for how they fetch; their `rowcount` of a query
//!   follows the `StreamingCursor` rule.
//!
//! Unlike reading a whole result at execute, an error met while reading a later row (a value
//! that does not convert, one longer than the size the driver reported for its column, a
//! lost connection) is raised by the fetch that reaches it, not by `execute`. Until its last
//! row is fetched, a query keeps its statement (and with `UseDeclareFetch=1` a server-side
//! cursor) open: fetch to the end, execute another statement, or drop the cursor to close it.
//!
//! Building needs the driver manager's headers and library (`unixodbc-dev` on Debian/Ubuntu);
//! running needs `libodbc` (`unixodbc`) and the database's driver (e.g. `odbc-postgresql`,
//! `libsqliteodbc`, `odbc-mariadb`). Without `libodbc` a program using this crate does not
//! start at all (the dynamic linker refuses it), so there is no run-time error for that case.
//!
//! Driver notes: PostgreSQL's driver reports `boolean` columns as text unless the connection
//! string sets `BoolsAsChar=0`; it writes a log file per connection to /tmp while its
//! odbcinst.ini entry has `CommLog=1` (Debian's default).
//!
//! ```no_run
//! use nimue_core::{params, Connect, Connection};
//! use nimue_odbc::OdbcConnector;
//!
//! let connector = OdbcConnector::new(
//!     "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=app;\
//!      Uid=app;Pwd=secret;BoolsAsChar=0;",
//! );
//! let mut conn = connector.connect()?;
//! conn.execute("UPDATE jobs SET state = ? WHERE id = ?", &params!["done", 7])?;
//! conn.commit()?;
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
mod fetch;
mod session;

pub use connection::OdbcConnection;
pub use connector::OdbcConnector;
pub use cursor::{OdbcCursor, OdbcStream};
pub use odbc_api;

/// nimue's [`Error`](nimue_core::Error) for an `odbc-api` error, mapped as this adapter maps
/// its own (the PEP 249 class from the diagnostic's SQLSTATE; the driver's error kept for
/// [`Error::driver_error`](nimue_core::Error::driver_error)): for code that calls the driver
/// itself, through [`OdbcConnection::native`], and reports errors as nimue's.
///
/// ```
/// fn report(e: nimue_odbc::odbc_api::Error) -> nimue_core::Error {
///     nimue_odbc::map_error(e)
/// }
/// ```
pub fn map_error(e: odbc_api::Error) -> nimue_core::Error {
    error::map_err(e)
}
