//! [`AsyncConnection::transaction`](super::AsyncConnection::transaction): a future run in a
//! transaction that commits on `Ok` and rolls back on `Err`, a panic, or being dropped.

use super::connection::AsyncConnection;
use crate::connection::settle;
use crate::error::Result;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The connection inside [`AsyncConnection::transaction`]: it derefs to the connection.
/// Dropped before the transaction ended (its future was dropped), it asks the connection to
/// roll back before its next call.
pub struct AsyncTransaction<'c, C: AsyncConnection> {
    conn: &'c mut C,
    /// Whether the transaction is still open (not committed nor rolled back).
    open: bool,
}

impl<C: AsyncConnection> std::ops::Deref for AsyncTransaction<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn
    }
}

impl<C: AsyncConnection> std::ops::DerefMut for AsyncTransaction<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
    }
}

impl<C: AsyncConnection> Drop for AsyncTransaction<'_, C> {
    fn drop(&mut self) {
        if self.open {
            self.conn.rollback_later();
        }
    }
}

/// A future's output, or the panic that ended it.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

pub(crate) async fn run<'c, C, T, F>(conn: &'c mut C, f: F) -> Result<T>
where
    C: AsyncConnection,
    T: Send + 'c,
    F: for<'t> FnOnce(
            &'t mut AsyncTransaction<'c, C>,
        ) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 't>>
        + Send
        + 'c,
{
    let autocommit = conn.autocommit();
    if autocommit {
        conn.set_autocommit(false).await?;
    }
    let mut tx = AsyncTransaction { conn, open: true };
    let outcome = CatchUnwind(f(&mut tx)).await;
    let ended = match &outcome {
        Ok(Ok(_)) => tx.conn.commit().await,
        _ => tx.conn.rollback().await,
    };
    // Committed or rolled back: nothing is left to undo.
    tx.open = false;
    let restored = match autocommit {
        true => Some(tx.conn.set_autocommit(true).await),
        false => None,
    };
    settle(outcome, ended, restored)
}
