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

/// `#[derive(FromRow)]` (feature `derive`): each field reads the column of its name, in any
/// column order; `#[nimue(rename = "column")]` reads another, `#[nimue(flatten)]` reads a
/// nested `FromRow` from the same row, an `Option` field reads `NULL` as `None`; a tuple
/// struct reads the columns in order. A column the row lacks is a `ProgrammingError` naming
/// it; a value that does not convert, a `DataError`.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use nimue::sqlite::SqliteConnector;
/// use nimue::{Connect, Connection, FromRow};
///
/// #[derive(Debug, FromRow)]
/// struct User {
///     id: i64,
///     #[nimue(rename = "email_address")]
///     email: String,
///     #[nimue(flatten)]
///     plan: Plan,
/// }
///
/// #[derive(Debug, FromRow)]
/// struct Plan {
///     tier: String,
///     seats: Option<i64>,
/// }
///
/// let mut conn = SqliteConnector::memory().connect()?;
/// conn.execute("CREATE TABLE users (id INTEGER, email_address TEXT, tier TEXT, seats INTEGER)", ())?;
/// conn.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (1, "ada@example.org", "pro", None::<i64>))?;
/// let user: User = conn.query_one("SELECT * FROM users WHERE id = ?", (1,))?;
/// assert_eq!((user.email.as_str(), user.plan.tier.as_str(), user.plan.seats), ("ada@example.org", "pro", None));
/// let all: Vec<User> = conn.query_as("SELECT * FROM users", ())?;
/// # assert_eq!(all.len(), 1);
/// # }
/// # Ok::<(), nimue::Error>(())
/// ```
///
/// What it cannot read is a compile error at the attribute (an enum, a unit struct, an
/// unknown or misplaced attribute, a renamed flattened field):
///
/// ```compile_fail
/// #[derive(nimue::FromRow)]
/// struct User {
///     #[nimue(column = "user_id")] // `rename = "..."` or `flatten`
///     id: i64,
/// }
/// ```
///
/// ```compile_fail
/// #[derive(nimue::FromRow)]
/// enum Role { Admin, Member }
/// ```
///
/// ```compile_fail
/// #[derive(nimue::FromRow)]
/// struct User { id: i64, #[nimue(flatten, rename = "plan")] plan: Plan }
/// #[derive(nimue::FromRow)]
/// struct Plan { tier: String }
/// ```
///
/// ```compile_fail
/// // A field type that is not read from a cell.
/// #[derive(nimue::FromRow)]
/// struct User { id: i64, tags: std::collections::HashMap<String, String> }
/// ```
#[cfg(feature = "derive")]
pub use nimue_derive::FromRow;

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
