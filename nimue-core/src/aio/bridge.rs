//! [`Bridged`]: any synchronous connection as an [`AsyncConnection`], living on a thread of
//! its own. Each call is a message to that thread and a reply awaited, so no driver call ever
//! runs on (or blocks) an async runtime's thread, and nothing here depends on a runtime.
//!
//! A future dropped while its call runs does not stop the call: the thread finishes it and
//! the reply is dropped, so the connection is never left halfway through a request. The
//! thread keeps the cursor of the last `execute` open for its fetches; any other call ends it.

use super::connection::{AsyncConnect, AsyncConnection};
use super::cursor::AsyncCursor;
use crate::connection::{Connect, PoolHooks};
use crate::error::{Error, Result};
use crate::row::{Column, Row};
use crate::value::Value;
use futures_channel::oneshot;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::Arc;

mod hooks;
mod thread;
pub use hooks::BridgedRows;
use thread::{gone, spawn, Command, Flags, Job, Sets, Thread};

/// A synchronous connection driven from async code: [`AsyncConnection`] for any
/// [`Connection`](crate::Connection), on a thread of its own (see the [module](crate::aio) docs).
///
/// ```
/// use nimue::aio::{AsyncConnection, Bridged};
/// use nimue::sqlite::SqliteConnector;
/// use nimue::Connect;
///
/// async fn work() -> nimue::Result<i64> {
///     let mut conn = Bridged::new(SqliteConnector::memory().connect()?);
///     conn.query_scalar("SELECT 6 * 7", ()).await
/// }
/// # let answer = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(work())?;
/// # assert_eq!(answer, 42);
/// # Ok::<(), nimue::Error>(())
/// ```
pub struct Bridged<C: PoolHooks + 'static> {
    commands: mpsc::Sender<Command<C>>,
    /// What the thread last said of the connection, for the pool.
    flags: Arc<Flags>,
    autocommit: bool,
    backend: &'static str,
    /// What the last reset that was waited for said.
    reset_cleared: bool,
    /// The autocommit the pool set the session up with (what a reset goes back to).
    set_up_autocommit: bool,
    /// The id of the last cursor that executed (fetches of older ones are refused).
    cursors: u64,
}

impl<C: PoolHooks + 'static> Bridged<C> {
    /// Move `conn` to a thread of its own.
    pub fn new(conn: C) -> Self {
        let (autocommit, backend) = (conn.autocommit(), conn.backend());
        let thread = spawn(move || Ok(conn)).expect("spawning a thread for a bridged connection");
        Bridged::on(thread, autocommit, backend)
    }

    fn on(thread: Thread<C>, autocommit: bool, backend: &'static str) -> Self {
        Bridged {
            commands: thread.commands,
            flags: thread.flags,
            autocommit,
            backend,
            reset_cleared: false,
            set_up_autocommit: autocommit,
            cursors: 0,
        }
    }

    /// Send `command` to the thread (counted until the thread has finished it).
    fn send(&self, command: Command<C>) -> Result<()> {
        self.flags.sent();
        self.commands.send(command).map_err(|_| gone())
    }

    /// Run `f` on the connection's thread and wait for its result.
    pub async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut C) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job<C> = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.send(Command::Run(job))?;
        answer.await.map_err(|_| gone())?
    }

    /// Close the connection, reporting the driver's error; its thread ends.
    pub async fn close(self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Close(reply))?;
        answer.await.map_err(|_| gone())?
    }
}

impl<C: PoolHooks + 'static> AsyncConnection for Bridged<C> {
    type Cursor<'c> = BridgedCursor<'c, C>;

    async fn cursor(&mut self) -> Result<BridgedCursor<'_, C>> {
        Ok(BridgedCursor::new(self))
    }

    async fn commit(&mut self) -> Result<()> {
        self.run(|c| c.commit()).await
    }

    async fn rollback(&mut self) -> Result<()> {
        self.run(|c| c.rollback()).await
    }

    fn rollback_later(&mut self) {
        let job: Job<C> = Box::new(|c| {
            if let Err(e) = c.rollback() {
                log::warn!(target: "nimue::aio", "rolling back an abandoned transaction failed: {e}");
            }
        });
        // A closed thread has nothing to roll back.
        let _ = self.send(Command::Run(job));
    }

    fn autocommit(&self) -> bool {
        self.autocommit
    }

    async fn set_autocommit(&mut self, on: bool) -> Result<()> {
        self.run(move |c| c.set_autocommit(on)).await?;
        self.autocommit = on;
        Ok(())
    }
}

/// A cursor of a [`Bridged`] connection: its statement runs, and its rows wait, on the
/// connection's thread; fetches bring them over in batches.
pub struct BridgedCursor<'c, C: PoolHooks + 'static> {
    conn: &'c mut Bridged<C>,
    /// The id of this cursor's last execute (`None`: nothing executed).
    id: Option<u64>,
    description: Option<Vec<Column>>,
    rowcount: i64,
    lastrowid: Option<i64>,
    /// Rows that came with the `execute`'s answer, not fetched yet.
    first: VecDeque<Row>,
    /// The thread has no more rows for this cursor (they ended, or all came with `first`).
    ended: bool,
}

impl<'c, C: PoolHooks + 'static> BridgedCursor<'c, C> {
    fn new(conn: &'c mut Bridged<C>) -> Self {
        BridgedCursor {
            conn,
            id: None,
            description: None,
            rowcount: -1,
            lastrowid: None,
            first: VecDeque::new(),
            ended: false,
        }
    }

    async fn start(&mut self, sql: &str, sets: Sets) -> Result<()> {
        self.id = None;
        self.description = None;
        self.rowcount = -1;
        self.lastrowid = None;
        self.first.clear();
        self.ended = false;
        self.conn.cursors += 1;
        let id = self.conn.cursors;
        let (reply, answer) = oneshot::channel();
        let command = Command::Execute {
            cursor: id,
            sql: sql.to_owned(),
            sets,
            reply,
        };
        self.conn.send(command)?;
        let executed = answer.await.map_err(|_| gone())??;
        self.id = Some(id);
        self.description = executed.description;
        self.rowcount = executed.rowcount;
        self.lastrowid = executed.lastrowid;
        self.first = executed.first.into();
        self.ended = executed.ended;
        Ok(())
    }
}

impl<C: PoolHooks + 'static> AsyncCursor for BridgedCursor<'_, C> {
    async fn execute_values(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        self.start(sql, Sets::One(params.to_vec())).await
    }

    async fn executemany_values(&mut self, sql: &str, param_sets: Vec<Vec<Value>>) -> Result<()> {
        self.start(sql, Sets::Many(param_sets)).await
    }

    fn description(&self) -> Option<&[Column]> {
        self.description.as_deref()
    }

    fn rowcount(&self) -> i64 {
        self.rowcount
    }

    fn lastrowid(&self) -> Option<i64> {
        self.lastrowid
    }

    async fn fetchmany(&mut self, size: usize) -> Result<Vec<Row>> {
        let Some(id) = self.id else {
            return Err(Error::programming(
                "no results to fetch: nothing was executed",
            ));
        };
        if self.description.is_none() {
            return Err(Error::programming(
                "no results to fetch: the last statement returned no rows",
            ));
        }
        let n = size.min(self.first.len());
        let mut rows: Vec<Row> = self.first.drain(..n).collect();
        if rows.len() == size || self.ended {
            // (Ended: the thread let the cursor go at its last row.)
            return Ok(rows);
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Fetch {
            cursor: id,
            size: size - rows.len(),
            reply,
        };
        self.conn.send(command)?;
        let fetched = answer.await.map_err(|_| gone())??;
        self.rowcount = fetched.rowcount;
        if fetched.ended {
            self.ended = true;
        }
        rows.extend(fetched.rows);
        Ok(rows)
    }
}

/// Opens [`Bridged`] connections from a synchronous connector: each connects on the thread it
/// will live on.
#[derive(Debug, Clone)]
pub struct BridgedConnector<K: Connect> {
    connector: Arc<K>,
}

impl<K: Connect> BridgedConnector<K> {
    /// Bridge `connector`'s connections.
    pub fn new(connector: K) -> Self {
        BridgedConnector {
            connector: Arc::new(connector),
        }
    }
}

impl<K: Connect> AsyncConnect for BridgedConnector<K>
where
    K::Connection: 'static,
{
    type Connection = Bridged<K::Connection>;

    async fn connect(&self) -> Result<Bridged<K::Connection>> {
        let mut thread = self.start()?;
        let (autocommit, backend) = (&mut thread.opened).await.map_err(|_| gone())??;
        Ok(Bridged::on(thread, autocommit, backend))
    }
}

impl<K: Connect> BridgedConnector<K>
where
    K::Connection: 'static,
{
    /// Start a connection's thread, which connects.
    fn start(&self) -> Result<Thread<K::Connection>> {
        let connector = Arc::clone(&self.connector);
        spawn(move || connector.connect())
            .map_err(|e| Error::interface(format!("could not start a connection's thread: {e}")))
    }

    /// [`AsyncConnect::connect`], waiting on this thread (what the pool's connect threads do).
    fn connect_blocking(&self) -> Result<Bridged<K::Connection>> {
        let mut thread = self.start()?;
        let opened = futures_executor::block_on(&mut thread.opened);
        let (autocommit, backend) = opened.map_err(|_| gone())??;
        Ok(Bridged::on(thread, autocommit, backend))
    }
}
