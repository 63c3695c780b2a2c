//! The MySQL / MariaDB adapter of nimue, on the [`mysql`] crate (pure Rust; TLS with rustls
//! behind the `tls` feature).
//!
//! [`MySqlConnector`] opens [`MySqlConnection`]s, which implement nimue's PEP 249
//! [`Connection`](nimue_core::Connection) and [`Cursor`](nimue_core::Cursor) traits:
//!
//! - cursors: [`MySqlCursor`] reads rows from the server as they are fetched (a scan of any
//!   size holds a few batches); dropping it in the middle of a result reads the rest first;
//! - parameters: qmark (`?`), MySQL's own style, bound through the binary protocol;
//! - values: `TINYINT(1)`/`BOOLEAN` as `Bool`, integers as `Int` (an `UNSIGNED BIGINT` above
//!   `i64::MAX` as `Decimal`), `FLOAT`/`DOUBLE` as `Float`, `DECIMAL` as `Decimal`, `CHAR`/
//!   `VARCHAR`/`TEXT`/`ENUM`/`JSON` as `Text`, `BINARY`/`VARBINARY`/`BLOB` as `Bytes`,
//!   `DATE`, `TIME` (a negative or 24 h+ `TIME` is a `DataError`), `DATETIME`/`TIMESTAMP` as
//!   `Timestamp`;
//! - errors: by server code, then SQLSTATE: 1062 duplicate → Integrity, 1064 syntax and 1146
//!   no such table → Programming, 2006/2013 gone away → Operational, 1264 out of range → Data;
//! - pool hooks: `ping` is `COM_PING`; `reset` is `COM_RESET_CONNECTION` (rollback and a clean
//!   session in one round trip) when the checkout may have changed the session, else a
//!   rollback when a transaction may be open, and nothing after a checkout that only queried
//!   with autocommit on (see [`SessionReset`]); `is_broken` turns true after a
//!   connection-level failure.
//!
//! ```no_run
//! use nimue_core::{params, Connect, Connection};
//! use nimue_mysql::MySqlConnector;
//!
//! let mut conn = MySqlConnector::from_url("mysql://app:secret@127.0.0.1:3306/app")?.connect()?;
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
mod session;

pub use connection::{MySqlConnection, MySqlCursor};
pub use connector::MySqlConnector;
pub use cursor::MySqlStream;
pub use mysql;
pub use session::SessionReset;

/// nimue's [`Error`](nimue_core::Error) for a `mysql` error, mapped as this adapter maps its
/// own (the PEP 249 class from the server's error code; the driver's error kept for
/// [`Error::driver_error`](nimue_core::Error::driver_error)): for code that calls the
/// driver itself, through [`MySqlConnection::native`], and reports errors as nimue's.
///
/// ```
/// let err = nimue_mysql::map_error(nimue_mysql::mysql::Error::MySqlError(
///     nimue_mysql::mysql::MySqlError {
///         state: "23000".into(),
///         code: 1062,
///         message: "Duplicate entry '1' for key 'PRIMARY'".into(),
///     },
/// ));
/// assert_eq!(err.kind(), nimue_core::ErrorKind::Integrity);
/// ```
pub fn map_error(e: mysql::Error) -> nimue_core::Error {
    error::map_err(e)
}
