//! A bridged connection in the pool: the blocking DB-API ([`Connection`]) and the pool's
//! hooks ([`PoolHooks`]) on [`Bridged`], each call a command to the connection's thread and a
//! wait for its reply, and [`Connect`] for [`BridgedConnector`]. So any synchronous adapter's
//! connections can be pooled as async ones: `Pool<BridgedConnector<K>>`, whose checkouts are
//! [`AsyncConnection`](crate::aio::AsyncConnection)s.
//!
//! The pool asks some hooks where nothing may wait (a guard dropped on an async runtime's
//! thread): `is_broken`, `reset_is_local`, `reset_waits` and `holds_uncommitted_writes` are
//! answered from what the thread last published ([`Flags`](super::Flags)), or as if nothing
//! were known while a command is on its way or a cursor is open there. A reset that the
//! connection says makes no driver call is sent without waiting.

use super::{Bridged, BridgedConnector, BridgedCursor, Command, Job};
use crate::aio::cursor::AsyncCursor;
use crate::connection::{CheckFuture, Connect, Connection, Liveness, PoolHooks};
use crate::error::Result;
use crate::params::ParamSets;
use crate::row::{Columns, Row};
use crate::stream::{RowStream, Started, StreamingCursor};
use crate::value::Value;
use futures_executor::block_on;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Rows a blocking cursor of a bridged connection brings over at a time.
const BATCH: usize = 256;

impl<C: PoolHooks + 'static> Bridged<C> {
    /// [`run`](Bridged::run), waited for on this thread.
    fn run_blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut C) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        block_on(self.run(f))
    }
}

/// The blocking DB-API over the bridge: each call waits for the connection's thread. (Async
/// code uses [`AsyncConnection`](crate::aio::AsyncConnection); this is what the pool needs of
/// every connection, and what `interact` runs.)
impl<C: PoolHooks + 'static> Connection for Bridged<C> {
    type Cursor<'c> = StreamingCursor<BridgedRows<'c, C>>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(StreamingCursor::new(BridgedRows {
            cursor: BridgedCursor::new(self),
            batch: VecDeque::new(),
        }))
    }

    fn commit(&mut self) -> Result<()> {
        self.run_blocking(|c| c.commit())
    }

    fn rollback(&mut self) -> Result<()> {
        self.run_blocking(|c| c.rollback())
    }

    fn close(self) -> Result<()> {
        block_on(Bridged::close(self))
    }

    fn autocommit(&self) -> bool {
        self.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        self.run_blocking(move |c| c.set_autocommit(on))?;
        self.autocommit = on;
        Ok(())
    }
}

/// The statement side of a bridged connection's blocking cursor: the statement runs on the
/// connection's thread, its rows come over 256 at a time.
pub struct BridgedRows<'c, C: PoolHooks + 'static> {
    cursor: BridgedCursor<'c, C>,
    batch: VecDeque<Row>,
}

impl<C: PoolHooks + 'static> BridgedRows<'_, C> {
    fn started(&self) -> Started {
        match self.cursor.description() {
            Some(columns) => Started::Rows(Columns::from(columns.to_vec())),
            None => Started::Done {
                rowcount: self.cursor.rowcount(),
                lastrowid: self.cursor.lastrowid(),
            },
        }
    }
}

impl<C: PoolHooks + 'static> RowStream for BridgedRows<'_, C> {
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        self.batch.clear();
        block_on(self.cursor.execute_values(sql, params))?;
        Ok(self.started())
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        if self.batch.is_empty() {
            self.batch = block_on(self.cursor.fetchmany(BATCH))?.into();
        }
        Ok(self.batch.pop_front())
    }

    fn start_many(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<Started> {
        self.batch.clear();
        let sets = param_sets.map(|set| set.into_owned()).collect();
        block_on(self.cursor.executemany_values(sql, sets))?;
        Ok(self.started())
    }

    fn lastrowid(&self) -> Option<i64> {
        self.cursor.lastrowid()
    }
}

impl<C: PoolHooks + 'static> PoolHooks for Bridged<C> {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn ping(&mut self) -> Result<()> {
        self.run_blocking(|c| c.ping())
    }

    fn check(&mut self, level: Liveness) -> Result<()> {
        self.run_blocking(move |c| c.check(level))
    }

    /// The check on the connection's thread, its answer awaited.
    fn check_future(&mut self, level: Liveness) -> Option<CheckFuture<'_>> {
        Some(Box::pin(self.run(move |c| c.check(level))))
    }

    fn is_broken(&self) -> bool {
        self.flags.broken.load(Ordering::Relaxed)
    }

    /// The connection's own reset, on its thread. One that makes no driver call (its
    /// `reset_is_local`) is sent without waiting, with the set-up autocommit restored after
    /// it; a failure marks the connection broken, which the next checkout sees.
    fn reset(&mut self) -> Result<()> {
        if self.reset_is_local() {
            let set_up = self.set_up_autocommit;
            let flags = Arc::clone(&self.flags);
            let job: Job<C> = Box::new(move |c| {
                let reset = c.reset().and_then(|()| {
                    if c.autocommit() != set_up {
                        c.set_autocommit(set_up)?;
                    }
                    Ok(())
                });
                if let Err(e) = reset {
                    log::info!(target: "nimue::aio", "a bridged connection failed to reset: {e}");
                    flags.broken.store(true, Ordering::Relaxed);
                }
            });
            self.reset_cleared = false;
            self.autocommit = set_up;
            return self.send(Command::Run(job));
        }
        let (cleared, autocommit) = self.run_blocking(|c| {
            c.reset()?;
            Ok((c.reset_cleared_session(), c.autocommit()))
        })?;
        self.reset_cleared = cleared;
        self.autocommit = autocommit;
        Ok(())
    }

    fn reset_waits(&self) -> bool {
        !self.flags.settled() || self.flags.reset_waits.load(Ordering::Relaxed)
    }

    fn reset_is_local(&self) -> bool {
        self.flags.settled() && self.flags.reset_is_local.load(Ordering::Relaxed)
    }

    /// As the connection last said (false while that is not known).
    fn holds_uncommitted_writes(&self) -> bool {
        self.flags.settled() && self.flags.holds_uncommitted_writes.load(Ordering::Relaxed)
    }

    fn session_set_up(&mut self) {
        let set_up = self.run_blocking(|c| {
            c.session_set_up();
            Ok(c.autocommit())
        });
        if let Ok(autocommit) = set_up {
            self.autocommit = autocommit;
        }
        self.set_up_autocommit = self.autocommit;
    }

    fn reset_cleared_session(&self) -> bool {
        self.reset_cleared
    }
}

/// Bridged connections for the pool: each connects on the thread it will live on, while the
/// pool's connect thread waits.
impl<K: Connect> Connect for BridgedConnector<K>
where
    K::Connection: 'static,
{
    type Connection = Bridged<K::Connection>;

    fn connect(&self) -> Result<Bridged<K::Connection>> {
        self.connect_blocking()
    }
}
