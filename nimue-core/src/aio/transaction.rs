//! [`AsyncConnection::transaction`](super::AsyncConnection::transaction): a future run in a
//! transaction that commits on `Ok` and rolls back on `Err`, a panic, or being dropped.

use super::connection::AsyncConnection;
use crate::connection::settle;
use crate::error::{Error, Result};
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of a transaction's (or savepoint's) body: what its closure returns, boxed.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 't>>;

/// The connection inside [`AsyncConnection::transaction`]: it derefs to the connection, and
/// its own [`transaction`](Self::transaction) nests as a savepoint. Dropped before the
/// transaction ended (its future was dropped), it asks the connection to roll back before its
/// next call; a savepoint dropped so makes the transaction around it roll back at its end.
pub struct AsyncTransaction<'c, C: AsyncConnection> {
    conn: &'c mut C,
    /// Whether the transaction (or savepoint) is still open.
    open: bool,
    /// Savepoints this one is inside (0: the transaction itself).
    depth: usize,
    /// A savepoint inside was abandoned unfinished: this transaction cannot commit.
    abandoned_inside: bool,
    /// For a savepoint: the transaction (or savepoint) around it, told when this one is
    /// abandoned.
    outer_abandoned: Option<&'c mut bool>,
}

impl<'c, C: AsyncConnection> AsyncTransaction<'c, C> {
    /// Run `f` inside a savepoint: released when its future ends in `Ok`, rolled back to on
    /// `Err` or a panic (the transaction around it goes on either way). If its future is
    /// dropped unfinished, the transaction around it rolls back at its end (with an error
    /// that says why) instead of committing what is left.
    ///
    /// ```
    /// use nimue::aio::AsyncConnection;
    /// # async fn f<C: AsyncConnection>(conn: &mut C) -> nimue::Result<()> {
    /// conn.transaction(|tx| Box::pin(async move {
    ///     tx.execute("INSERT INTO orders (id) VALUES (?)", (1,)).await?;
    ///     // A failed inner step undoes only itself.
    ///     let _ = tx.transaction(|inner| Box::pin(async move {
    ///         inner.execute("INSERT INTO audit (order_id) VALUES (?)", (1,)).await?;
    ///         Err::<(), _>(nimue::Error::programming("not now"))
    ///     })).await;
    ///     Ok(())
    /// }))
    /// .await
    /// # }
    /// ```
    pub fn transaction<'s, T, F>(&'s mut self, f: F) -> TxFuture<'s, T>
    where
        T: Send + 's,
        F: for<'t> FnOnce(&'t mut AsyncTransaction<'s, C>) -> TxFuture<'t, T> + Send + 's,
    {
        // Boxed, as `AsyncConnection::transaction`.
        Box::pin(self.savepoint(f))
    }

    async fn savepoint<'s, T, F>(&'s mut self, f: F) -> Result<T>
    where
        T: Send + 's,
        F: for<'t> FnOnce(&'t mut AsyncTransaction<'s, C>) -> TxFuture<'t, T> + Send + 's,
    {
        let name = format!("nimue_savepoint_{}", self.depth + 1);
        let depth = self.depth + 1;
        let AsyncTransaction {
            conn,
            abandoned_inside,
            ..
        } = self;
        conn.execute(&format!("SAVEPOINT {name}"), ()).await?;
        let mut inner = AsyncTransaction {
            conn: &mut **conn,
            open: true,
            depth,
            abandoned_inside: false,
            outer_abandoned: Some(abandoned_inside),
        };
        let outcome = inner.run_body(f).await;
        let ended = match &outcome {
            Ok(Ok(_)) => inner
                .conn
                .execute(&format!("RELEASE SAVEPOINT {name}"), ())
                .await
                .map(drop),
            _ => {
                // As the synchronous savepoint: a failure here leaves the transaction around
                // it to fail.
                let _ = inner
                    .conn
                    .execute(&format!("ROLLBACK TO SAVEPOINT {name}"), ())
                    .await;
                let _ = inner
                    .conn
                    .execute(&format!("RELEASE SAVEPOINT {name}"), ())
                    .await;
                Ok(())
            }
        };
        // Released or rolled back to: nothing is left to undo.
        inner.open = false;
        drop(inner);
        settle(outcome, ended, None)
    }

    /// Run the body `f` on this transaction: its output, or the panic that ended it. An `Ok`
    /// is an error when a savepoint inside was abandoned unfinished: then it cannot commit.
    async fn run_body<T, F>(&mut self, f: F) -> std::thread::Result<Result<T>>
    where
        F: for<'t> FnOnce(&'t mut AsyncTransaction<'c, C>) -> TxFuture<'t, T>,
    {
        match CatchUnwind(f(self)).await {
            Ok(Ok(_)) if self.abandoned_inside => Ok(Err(abandoned())),
            other => other,
        }
    }
}

/// The error of a transaction whose savepoint was abandoned unfinished.
fn abandoned() -> Error {
    Error::interface(
        "a savepoint of this transaction was abandoned unfinished (its future was dropped): \
         the transaction was rolled back",
    )
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
        if !self.open {
            return;
        }
        match self.outer_abandoned.as_deref_mut() {
            // A savepoint: the transaction around it must not commit.
            Some(outer) => *outer = true,
            None => self.conn.rollback_later(),
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
    F: for<'t> FnOnce(&'t mut AsyncTransaction<'c, C>) -> TxFuture<'t, T> + Send + 'c,
{
    AsyncTransaction::on(conn).attempt(f).await
}

/// [`AsyncConnection::transaction_retrying`]: one [`attempt`](AsyncTransaction::attempt)
/// after another while it fails with a retryable error, as
/// [`Connection::transaction_retrying`](crate::Connection::transaction_retrying) does (the
/// same errors, the same pauses, waited for by a timer that needs no runtime).
pub(crate) async fn run_retrying<'c, C, T, F>(
    conn: &'c mut C,
    attempts: usize,
    mut f: F,
) -> Result<T>
where
    C: AsyncConnection,
    T: Send + 'c,
    F: for<'t> FnMut(&'t mut AsyncTransaction<'c, C>) -> TxFuture<'t, T> + Send + 'c,
{
    let mut tx = AsyncTransaction::on(conn);
    let mut pauses = crate::connection::retry_pauses();
    let mut attempt = 1;
    loop {
        match tx.attempt(&mut f).await {
            Err(e) if attempt < attempts && crate::connection::is_retryable(&e) => {
                log::debug!("transaction attempt {attempt} lost a race ({e}); running it again");
                futures_timer::Delay::new(pauses.next().unwrap_or_default()).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

impl<'c, C: AsyncConnection> AsyncTransaction<'c, C> {
    /// A transaction on `conn`, not begun.
    fn on(conn: &'c mut C) -> Self {
        AsyncTransaction {
            conn,
            open: false,
            depth: 0,
            abandoned_inside: false,
            outer_abandoned: None,
        }
    }

    /// Run `f` in the transaction: autocommit off for its time, committed on `Ok`, rolled
    /// back on `Err` or a panic (and, if this future is dropped, before the connection's next
    /// call).
    async fn attempt<T, F>(&mut self, f: F) -> Result<T>
    where
        F: for<'t> FnOnce(&'t mut AsyncTransaction<'c, C>) -> TxFuture<'t, T>,
    {
        let autocommit = self.conn.autocommit();
        if autocommit {
            self.conn.set_autocommit(false).await?;
        }
        self.open = true;
        self.abandoned_inside = false;
        let outcome = self.run_body(f).await;
        let ended = match &outcome {
            Ok(Ok(_)) => self.conn.commit().await,
            _ => self.conn.rollback().await,
        };
        // Committed or rolled back: nothing is left to undo.
        self.open = false;
        let restored = match autocommit {
            true => Some(self.conn.set_autocommit(true).await),
            false => None,
        };
        settle(outcome, ended, restored)
    }
}
