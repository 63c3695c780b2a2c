//! # nimue
//!
//! A fast, safe, self-healing connection pool for SQL databases behind one DB-API (PEP 249)
//! style interface: SQLite (the default feature), PostgreSQL, MySQL/MariaDB and anything with
//! an ODBC driver, from threads or from async code.
//!
//! ## A pool, a query, a transaction
//!
//! ```
//! use nimue::sqlite::SqliteConnector;
//! use nimue::{Connection, Pool};
//!
//! // One database in memory, shared by the pool's connections (a file: `SqliteConnector::new("app.db")`).
//! let pool = Pool::builder(SqliteConnector::memory()).max_size(4).build()?;
//! let mut conn = pool.get()?; // a guard: derefs to the connection, gives it back on drop
//! conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)", ())?;
//!
//! // Both rows or neither: committed on Ok, rolled back on Err or panic.
//! conn.transaction(|tx| {
//!     tx.execute("INSERT INTO users (name, age) VALUES (?, ?)", ("ada", 36))?;
//!     tx.execute("INSERT INTO users (name, age) VALUES (?, ?)", ("grace", 85))?;
//!     Ok(())
//! })?;
//!
//! let adults: i64 = conn.query_scalar("SELECT COUNT(*) FROM users WHERE age >= ?", (18,))?;
//! let (name, age): (String, i64) = conn.query_one("SELECT name, age FROM users WHERE id = ?", (1,))?;
//! let users: Vec<(i64, String)> = conn.query_as("SELECT id, name FROM users ORDER BY id", ())?;
//! assert_eq!((adults, name.as_str(), age, users.len()), (2, "ada", 36, 2));
//! # Ok::<(), nimue::Error>(())
//! ```
//!
//! Like PEP 249 (and psycopg), a connection starts with autocommit off: work outside
//! [`transaction`](Connection::transaction) is committed by [`commit`](Connection::commit);
//! a connection given back with writes nobody committed is rolled back, counted
//! ([`PoolState::dirty_returns`]) and announced ([`pool::PoolEvent::DirtyReturn`], and at
//! warn level through `log`).
//!
//! ## In an async handler
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use nimue::sqlite::SqliteConnector;
//! use nimue::{Connection, Pool};
//!
//! /// An axum or other tokio handler: the checkout waits as a task, the driver code runs on
//! /// a blocking thread (feature `tokio`).
//! async fn user_count(pool: Pool<SqliteConnector>) -> nimue::Result<i64> {
//!     pool.interact(|conn| conn.query_scalar("SELECT COUNT(*) FROM users", ())).await?
//! }
//! # }
//! ```
//!
//! ## Start here
//!
//! 1. [`Pool`]: [`Pool::builder`] and its settings ([`PoolBuilder`]), [`get`](Pool::get),
//!    [`get_async`](Pool::get_async), [`state`](Pool::state); the [`pool`] module says how it
//!    keeps itself healthy (the checker), and lists its events and metrics.
//! 2. [`Connection`]: what you call on a connection: `execute`, `query_as`, `query_one`,
//!    `query_opt`, `query_scalar`, `transaction`, `commit`; [`Cursor`] for PEP 249's cursors
//!    (streaming, `fetchmany`, `executemany` over any iterator).
//! 3. [`Params`] (tuples, `params![..]`, slices) and [`FromRow`] (tuples, and
//!    `#[derive(FromRow)]` with the `derive` feature): what goes in and what comes out;
//!    [`Value`] and [`FromValue`] for single values.
//! 4. [`Error`]: PEP 249's classes ([`ErrorKind`]), [`Error::violation`] for integrity errors.
//! 5. A driver per cargo feature, or one picked at run time from a URL: [`any::connector`].
//!
//! | feature  | module          | driver                          |
//! |----------|-----------------|---------------------------------|
//! | `sqlite` (default) | [`sqlite`] | `rusqlite`, SQLite bundled |
//! | `postgres` | `postgres` | the synchronous `postgres` crate (`postgres-tls`: with rustls) |
//! | `mysql` | `mysql` | the `mysql` crate, MySQL and MariaDB (`mysql-tls`: with rustls) |
//! | `odbc` | `odbc` | `odbc-api`: any ODBC driver through unixODBC (needs `libodbc`) |
//!
//! Writing an adapter for another driver: implement [`Connect`], [`Connection`] (usually
//! through [`Execute`] or [`RowStream`]) and [`PoolHooks`] (what the pool asks of a
//! connection; every method has a default). `examples/custom_driver.rs` is a whole one.

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
