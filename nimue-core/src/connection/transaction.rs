//! [`Transaction`]: a closure run in a transaction that commits on `Ok` and rolls back on
//! `Err` or a panic, nesting as savepoints.

use super::Connection;
use crate::error::{Error, Result};
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

/// A connection inside [`Connection::transaction`]: it derefs to the connection, and its own
/// [`transaction`](Self::transaction) nests as a savepoint.
#[derive(Debug)]
pub struct Transaction<'c, C: Connection> {
    conn: &'c mut C,
    /// Savepoints this one is inside (0: the transaction itself).
    depth: usize,
}

impl<C: Connection> Deref for Transaction<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn
    }
}

impl<C: Connection> DerefMut for Transaction<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
    }
}

impl<C: Connection> Transaction<'_, C> {
    /// Run `f` inside a savepoint: released on `Ok`, rolled back to on `Err` or a panic (the
    /// enclosing transaction goes on either way).
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Error, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// conn.transaction(|tx| {
    ///     tx.execute("INSERT INTO orders (id) VALUES (?)", &params![1])?;
    ///     // A failed inner step undoes only itself.
    ///     let _ = tx.transaction(|inner| {
    ///         inner.execute("INSERT INTO audit (order_id) VALUES (?)", &params![1])?;
    ///         Err::<(), _>(Error::programming("not now"))
    ///     });
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_, C>) -> Result<T>,
    ) -> Result<T> {
        let name = format!("nimue_savepoint_{}", self.depth + 1);
        self.conn.execute(&format!("SAVEPOINT {name}"), &[])?;
        let mut inner = Transaction {
            conn: &mut *self.conn,
            depth: self.depth + 1,
        };
        match catch_unwind(AssertUnwindSafe(|| f(&mut inner))) {
            Ok(Ok(value)) => {
                self.conn
                    .execute(&format!("RELEASE SAVEPOINT {name}"), &[])?;
                Ok(value)
            }
            Ok(Err(e)) => {
                self.undo(&name);
                Err(e)
            }
            Err(panic) => {
                self.undo(&name);
                resume_unwind(panic)
            }
        }
    }

    /// Roll back to savepoint `name` and drop it; a failure here leaves the enclosing
    /// transaction to fail (its commit, or the connection's reset on return).
    fn undo(&mut self, name: &str) {
        let _ = self
            .conn
            .execute(&format!("ROLLBACK TO SAVEPOINT {name}"), &[]);
        let _ = self.conn.execute(&format!("RELEASE SAVEPOINT {name}"), &[]);
    }
}

/// [`Connection::transaction`]: run `f`, commit on `Ok`, roll back on `Err` or a panic, with
/// autocommit off for the time of it.
pub(crate) fn run<C: Connection, T>(
    conn: &mut C,
    f: impl FnOnce(&mut Transaction<'_, C>) -> Result<T>,
) -> Result<T> {
    let autocommit = conn.autocommit();
    if autocommit {
        conn.set_autocommit(false)?;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        f(&mut Transaction {
            conn: &mut *conn,
            depth: 0,
        })
    }));
    let ended = match &outcome {
        Ok(Ok(_)) => conn.commit(),
        _ => conn.rollback(),
    };
    let restored = autocommit.then(|| conn.set_autocommit(true));
    settle(outcome, ended, restored)
}

/// A transaction's result from what its body did (`outcome`: a value, an error, or a panic),
/// how its commit or rollback went (`ended`), and how turning autocommit back on went, if it
/// was on (`restored`; best effort after a failure: the pool restores it on return anyway).
/// A panic goes on. Shared by the synchronous and the async transaction.
pub(crate) fn settle<T>(
    outcome: std::thread::Result<Result<T>>,
    ended: Result<()>,
    restored: Option<Result<()>>,
) -> Result<T> {
    if let (Some(restored), true) = (restored, ended.is_ok()) {
        restored?;
    }
    match outcome {
        Ok(Ok(value)) => ended.map(|()| value),
        Ok(Err(e)) => Err(e),
        Err(panic) => resume_unwind(panic),
    }
}

/// Whether `e` says the transaction lost a race and may simply be run again: a serialization
/// failure or deadlock (SQLSTATE 40001, 40P01; MySQL 1213 deadlock, 1205 lock wait timeout).
pub(crate) fn is_retryable(e: &Error) -> bool {
    matches!(e.sqlstate(), Some("40001" | "40P01"))
        || e.as_database()
            .and_then(|d| d.code())
            .is_some_and(|code| matches!(code, 1213 | 1205))
}

/// The pauses between attempts of a transaction that lost a race: 10 ms, 20 ms, 40 ms, ...,
/// at most 1 s (the synchronous and the async retrying share them).
pub(crate) fn retry_pauses() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(Duration::from_millis(10)), |pause| {
        Some((*pause * 2).min(Duration::from_secs(1)))
    })
}

/// [`Connection::transaction_retrying`]: [`run`] again while it fails with a retryable error,
/// `attempts` times at most, waiting 10 ms, 20 ms, 40 ms, ... (at most 1 s) in between.
pub(crate) fn run_retrying<C: Connection, T>(
    conn: &mut C,
    attempts: usize,
    mut f: impl FnMut(&mut Transaction<'_, C>) -> Result<T>,
) -> Result<T> {
    let mut pauses = retry_pauses();
    let mut attempt = 1;
    loop {
        match run(conn, &mut f) {
            Err(e) if attempt < attempts && is_retryable(&e) => {
                log::debug!("transaction attempt {attempt} lost a race ({e}); running it again");
                std::thread::sleep(pauses.next().unwrap_or_default());
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}
