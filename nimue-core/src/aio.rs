//! The DB-API's async twin, as psycopg 3 has it (`AsyncConnection`, `AsyncCursor`): the same
//! [`Value`](crate::Value)s, [`Row`](crate::Row)s, `?` parameters ([`Params`](crate::Params)),
//! [`FromRow`](crate::FromRow) and errors as the synchronous traits, with every call that
//! talks to the database a future.
//!
//! Any synchronous adapter gets these traits through [`Bridged`]: the connection lives on a
//! thread of its own, and each call is a message to it (SQLite and ODBC, and a driver of your
//! own, unchanged). The futures are runtime-agnostic (no tokio needed).
//!
//! ```
//! use nimue::aio::{AsyncConnect, AsyncConnection, BridgedConnector};
//! use nimue::sqlite::SqliteConnector;
//!
//! async fn count(connector: &BridgedConnector<SqliteConnector>) -> nimue::Result<i64> {
//!     let mut conn = connector.connect().await?;
//!     conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)", ()).await?;
//!     conn.execute("INSERT INTO t VALUES (?)", (1,)).await?;
//!     conn.commit().await?;
//!     conn.query_scalar("SELECT COUNT(*) FROM t", ()).await
//! }
//! # let connector = BridgedConnector::new(SqliteConnector::memory());
//! # let n = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(count(&connector))?;
//! # assert_eq!(n, 1);
//! # Ok::<(), nimue::Error>(())
//! ```

mod bridge;
mod connection;
mod cursor;
mod pooled;
mod stream;
mod transaction;

pub use bridge::{Bridged, BridgedConnector, BridgedCursor, BridgedRows};
pub use connection::{AsyncConnect, AsyncConnection};
pub use cursor::AsyncCursor;
pub use stream::{AsyncRowStream, AsyncStreamingCursor};
pub use transaction::{AsyncTransaction, TxFuture};
