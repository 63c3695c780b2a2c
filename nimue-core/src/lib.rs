//! The core of nimue: PEP 249 (DB-API 2.0) traits, values, rows and errors, and the generic
//! connection pool every adapter shares.
//!
//! Adapters (`nimue-sqlite`, `nimue-postgres`, ...) implement [`Connect`], [`Connection`] and
//! [`Cursor`] for one driver; everything else lives here, written once, including the
//! self-healing [`Pool`] (see the [`pool`] module). The `testing` feature adds a
//! fault-injecting in-process driver for tests and benchmarks (`testing::TestConnector`).
//!
//! ```
//! use nimue_core::{params, Connection, Cursor, Result};
//!
//! /// Works the same on every database nimue supports.
//! fn count_users<C: Connection>(conn: &mut C, min_age: i64) -> Result<i64> {
//!     let mut cur = conn.cursor()?;
//!     cur.execute("SELECT COUNT(*) FROM users WHERE age >= ?", &params![min_age])?;
//!     let row = cur.fetchone()?.expect("COUNT(*) returns one row");
//!     row.get(0)
//! }
//! ```

// Feature badges on docs.rs (built with `--cfg docsrs` on nightly).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod aio;
mod cell;
mod connection;
mod cursor;
mod dynamic;
pub mod error;
mod from_row;
mod params;
pub mod pool;
mod progress;
mod row;
pub mod sql;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;
pub mod url;
pub mod value;

pub use cell::RowView;
pub use connection::{
    check_param_count, CheckFuture, Connect, Connection, Liveness, Open, PoolHooks, Poolable,
    SessionReset, Transaction,
};
pub use cursor::{BufferedCursor, Cursor, Execute, ResultSet, Rows};
pub use dynamic::{BoxConnection, BoxConnector, DynConnection};
pub use error::{BoxError, DatabaseError, Error, ErrorKind, PoolTimeout, Result, Violation};
#[doc(hidden)]
pub use from_row::from_row_arity;
pub use from_row::FromRow;
pub use params::{ParamSets, Params};
pub use pool::{Pool, PoolBuilder, PoolState, PooledConnection, Reuse};
pub use row::{Column, Columns, Row, RowIndex};
pub use stream::{RowStream, Started, StreamingCursor};
pub use value::{CellRef, FromValue, RawRow, ToValue, TypeCode, Value};

/// PEP 249's `apilevel`.
pub const APILEVEL: &str = "2.0";
/// PEP 249's `paramstyle`: every nimue adapter accepts `?` placeholders.
pub const PARAMSTYLE: &str = "qmark";
