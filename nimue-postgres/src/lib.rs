//! The PostgreSQL adapter of nimue, on [`tokio_postgres`] driven on the calling thread (as the
//! synchronous [`postgres`] crate drives it, whose types it uses), so that requests can be
//! pipelined: a transaction's `BEGIN` goes out with its first statement, and the pool's
//! `ROLLBACK` on return does not wait for its reply.
//!
//! [`PgConnector`] opens [`PgConnection`]s, which implement nimue's PEP 249
//! [`Connection`](nimue_core::Connection) and [`Cursor`](nimue_core::Cursor) traits:
//!
//! - parameters: qmark (`?`), rewritten to `$n` outside literals, identifiers, comments and
//!   dollar-quoted bodies ([`rewrite_placeholders`]); `??` is a literal `?` operator. Values
//!   are bound through the protocol, never spliced into SQL;
//! - values: `bool`, `int2/4/8`, `float4/8`, `numeric` (as `Decimal`), `text`/`varchar`/
//!   `char`/`name`/enums, `bytea`, `date`, `time`, `timestamp`, `timestamptz` (as a UTC
//!   `Timestamp`), `json`/`jsonb`/`uuid`/`xml` (as text), domains as their base type; other
//!   types are a `NotSupportedError` naming the type (cast them, e.g. `col::text`), and so is
//!   text with a NUL byte (PostgreSQL's text types cannot hold one: use `bytea`). A
//!   parameter takes the type the server infers for it, so `SELECT ?` is text: cast it
//!   (`?::int8`) to get a number back;
//! - cursors ([`PgCursor`]) stream: `execute` starts the statement, the fetch methods read its
//!   rows from the server as they go, so a scan of any size holds a few batches in memory;
//! - errors: by SQLSTATE class: 23 → Integrity, 42 → Programming, 08/57 → Operational,
//!   22 → Data, 0A → NotSupported, XX → Internal;
//! - pool hooks: `ping` is an empty-query round trip, `is_broken` the client's closed state,
//!   `reset` a rollback only when a transaction is open, sent without waiting for the reply.
//!
//! ```no_run
//! use nimue_core::{params, Connect, Connection};
//! use nimue_postgres::PgConnector;
//!
//! let mut conn = PgConnector::from_url("postgres://app:secret@127.0.0.1:5432/app")?.connect()?;
//! let n = conn.execute("UPDATE jobs SET state = ? WHERE id = ?", &params!["done", 7])?;
//! conn.commit()?;
//! # Ok::<(), nimue_core::Error>(())
//! ```

// Feature badges on docs.rs (built with `--cfg docsrs` on nightly).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod client;
mod connection;
mod connector;
mod convert;
mod cursor;
mod error;
mod link;
mod negotiate;
mod placeholders;
mod runtime;
mod status;
mod text;
#[cfg(feature = "tls")]
mod tls;
mod url;

pub use connection::{ClientFuture, PgConnection, PgCursor};
pub use connector::{PgConnector, Statements};
pub use cursor::PgStream;
pub use placeholders::rewrite_placeholders;
pub use postgres;
pub use tokio_postgres;

/// nimue's [`Error`](nimue_core::Error) for a `postgres` (`tokio_postgres`) error, mapped as
/// this adapter maps its own (the PEP 249 class from the SQLSTATE, as psycopg does; the
/// driver's error kept for [`Error::driver_error`](nimue_core::Error::driver_error)): for
/// code that calls the driver itself, through [`PgConnection::run`], and reports errors as
/// nimue's.
///
/// ```
/// fn report(e: nimue_postgres::postgres::Error) -> nimue_core::Error {
///     nimue_postgres::map_error(e)
/// }
/// ```
pub fn map_error(e: postgres::Error) -> nimue_core::Error {
    error::map_err(e)
}
