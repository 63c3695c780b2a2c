//! # nimue
//!
//! A fast, safe, self-healing connection pool for SQL databases behind one DB-API (PEP 249)
//! style interface.
//!
//! This facade re-exports [`nimue_core`] (the traits, values, errors and the pool) and, per
//! cargo feature, each database adapter:
//!
//! | feature  | module          | driver                          |
//! |----------|-----------------|---------------------------------|
//! | `sqlite` (default) | [`sqlite`] | `rusqlite`, SQLite bundled |
//! | `postgres` | `postgres` | the synchronous `postgres` crate (`postgres-tls`: with rustls) |
//! | `mysql` | `mysql` | the `mysql` crate, MySQL and MariaDB (`mysql-tls`: with rustls) |
//! | `odbc` | `odbc` | `odbc-api`: any ODBC driver through unixODBC (needs `libodbc`) |
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use nimue::sqlite::SqliteConnector;
//! use nimue::{params, Connect, Connection, Cursor};
//!
//! let mut conn = SqliteConnector::memory().connect()?;
//! let mut cur = conn.cursor()?;
//! cur.execute("SELECT ? + 1 AS answer", &params![41])?;
//! let row = cur.fetchone()?.expect("one row");
//! assert_eq!(row.get::<i64>("answer")?, 42);
//! # }
//! # Ok::<(), nimue::Error>(())
//! ```

// Feature badges on docs.rs (built with `--cfg docsrs` on nightly).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use nimue_core::*;

pub mod any;
#[cfg(feature = "sqlite")]
pub mod matrix;

/// The SQLite adapter (feature `sqlite`, on by default).
#[cfg(feature = "sqlite")]
pub use nimue_sqlite as sqlite;

/// The PostgreSQL adapter (feature `postgres`; `postgres-tls` adds TLS).
#[cfg(feature = "postgres")]
pub use nimue_postgres as postgres;

/// The MySQL / MariaDB adapter (feature `mysql`; `mysql-tls` adds TLS).
#[cfg(feature = "mysql")]
pub use nimue_mysql as mysql;

/// The ODBC adapter (feature `odbc`; links the system's `libodbc`).
#[cfg(feature = "odbc")]
pub use nimue_odbc as odbc;

/// The README's code, compiled as a doc test so it cannot go stale.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
