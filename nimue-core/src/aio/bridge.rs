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
use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::row::{Column, Row};
use crate::value::Value;
use futures_channel::oneshot;

mod hooks;
pub use hooks::BridgedRows;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// Work for the connection's thread.
type Job<C> = Box<dyn FnOnce(&mut C) + Send>;

/// What the connection's thread is asked to do.
enum Command<C> {
    /// Run a closure on the connection (commit, rollback, settings).
    Run(Job<C>),
    /// Open a cursor and execute a statement on it (once, or once per set); the cursor stays
    /// open for `Fetch`es carrying the same `cursor` id.
    Execute {
        cursor: u64,
        sql: String,
        sets: Sets,
        reply: oneshot::Sender<Result<Executed>>,
    },
    /// Fetch up to `size` rows from the open cursor `cursor`.
    Fetch {
        cursor: u64,
        size: usize,
        reply: oneshot::Sender<Result<Fetched>>,
    },
    /// Close the connection, and end the thread.
    Close(oneshot::Sender<Result<()>>),
}

/// One parameter set, or many (`executemany`).
enum Sets {
    One(Vec<Value>),
    Many(Vec<Vec<Value>>),
}

/// What an `execute` tells its cursor.
struct Executed {
    description: Option<Vec<Column>>,
    rowcount: i64,
    lastrowid: Option<i64>,
}

/// A batch of rows, and the cursor's row count after it.
struct Fetched {
    rows: Vec<Row>,
    rowcount: i64,
    /// The last batch: the thread no longer holds the cursor.
    ended: bool,
}

/// The connection's thread: run commands until the handle is dropped or closes it. A panic
/// in the driver ends it (the connection's state is unknown, so it is dropped, not reused).
fn serve<C: PoolHooks>(mut conn: C, commands: mpsc::Receiver<Command<C>>, flags: &Flags) {
    let mut next = commands.recv();
    while let Ok(command) = next {
        let ran = catch_unwind(AssertUnwindSafe(|| match command {
            Command::Run(job) => {
                job(&mut conn);
                flags.publish(&conn);
                flags.done();
                commands.recv()
            }
            Command::Execute {
                cursor: id,
                sql,
                sets,
                reply,
            } => serve_cursor(&mut conn, &commands, id, &sql, sets, reply, flags),
            Command::Fetch { reply, .. } => {
                flags.done();
                let _ = reply.send(Err(gone_rows()));
                commands.recv()
            }
            Command::Close(reply) => {
                let _ = reply.send(Ok(()));
                Err(mpsc::RecvError)
            }
        }));
        match ran {
            Ok(following) => {
                next = following;
            }
            Err(_) => {
                log::warn!(target: "nimue::aio", "a bridged connection's driver panicked: the connection is dropped");
                return;
            }
        }
    }
}

/// What the pool asks of a bridged connection without waiting for its thread: the
/// connection's answers, as its thread published them after the last command it finished
/// (`broken` also once the thread is gone). They hold only while no command is on its way
/// and no cursor is open on the thread ([`settled`](Flags::settled)); else the handle
/// answers as if nothing were known.
#[derive(Default)]
struct Flags {
    /// Commands sent and not yet finished. The handle adds one before each send; the thread
    /// takes it off (Release) after publishing what the command left: a reader that sees 0
    /// (Acquire) sees what was published before.
    pending: AtomicUsize,
    /// A cursor with rows is open on the thread (the connection cannot be asked).
    cursor_open: AtomicBool,
    broken: AtomicBool,
    reset_is_local: AtomicBool,
    reset_waits: AtomicBool,
    holds_uncommitted_writes: AtomicBool,
}

impl Flags {
    /// A command is on its way to the thread.
    fn sent(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// The thread finished a command (after publishing what it left).
    fn done(&self) {
        self.pending.fetch_sub(1, Ordering::Release);
    }

    /// Whether the published answers are the connection's now.
    fn settled(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0 && !self.cursor_open.load(Ordering::Relaxed)
    }

    fn publish<C: PoolHooks>(&self, conn: &C) {
        self.broken.store(conn.is_broken(), Ordering::Relaxed);
        self.reset_is_local
            .store(conn.reset_is_local(), Ordering::Relaxed);
        self.reset_waits
            .store(conn.reset_waits(), Ordering::Relaxed);
        self.holds_uncommitted_writes
            .store(conn.holds_uncommitted_writes(), Ordering::Relaxed);
    }
}

/// Marks the connection broken when its thread ends, however it ends.
struct Ended(Arc<Flags>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.broken.store(true, Ordering::Relaxed);
    }
}

/// The answer of a connection's thread once its connection is open: its autocommit and
/// backend, or the error opening it.
type Opened = oneshot::Receiver<Result<(bool, &'static str)>>;

/// A connection's thread, as its handle sees it: where commands go, what it last said of the
/// connection, and (once open) its answer.
struct Thread<C> {
    commands: mpsc::Sender<Command<C>>,
    flags: Arc<Flags>,
    opened: Opened,
}

/// Start a connection's thread: `open` makes the connection there, then the thread serves the
/// commands sent to it.
fn spawn<C: PoolHooks + 'static>(
    open: impl FnOnce() -> Result<C> + Send + 'static,
) -> std::io::Result<Thread<C>> {
    let (commands, inbox) = mpsc::channel();
    let (reply, opened) = oneshot::channel();
    let flags = Arc::new(Flags::default());
    let shared = Arc::clone(&flags);
    std::thread::Builder::new()
        .name("nimue-bridge".into())
        .spawn(move || {
            let _ended = Ended(Arc::clone(&shared));
            match open() {
                Ok(conn) => {
                    shared.publish(&conn);
                    let _ = reply.send(Ok((conn.autocommit(), conn.backend())));
                    serve(conn, inbox, &shared);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        })?;
    Ok(Thread {
        commands,
        flags,
        opened,
    })
}

/// Execute on a new cursor, then serve its fetches; the first other command ends the cursor
/// and is returned to be run.
fn serve_cursor<C: PoolHooks>(
    conn: &mut C,
    commands: &mpsc::Receiver<Command<C>>,
    id: u64,
    sql: &str,
    sets: Sets,
    reply: oneshot::Sender<Result<Executed>>,
    flags: &Flags,
) -> std::result::Result<Command<C>, mpsc::RecvError> {
    let mut cursor = match conn.cursor() {
        Ok(cursor) => cursor,
        Err(e) => {
            flags.done();
            let _ = reply.send(Err(e));
            return commands.recv();
        }
    };
    let executed = match sets {
        Sets::One(params) => cursor.execute_values(sql, &params),
        Sets::Many(sets) => cursor.executemany_values(
            sql,
            &mut sets
                .iter()
                .map(|set| std::borrow::Cow::Borrowed(set.as_slice())),
        ),
    };
    let executed = executed.map(|()| Executed {
        description: cursor.description().map(<[Column]>::to_vec),
        rowcount: cursor.rowcount(),
        lastrowid: cursor.lastrowid(),
    });
    let has_rows = matches!(
        &executed,
        Ok(Executed {
            description: Some(_),
            ..
        })
    );
    if !has_rows {
        drop(cursor);
        flags.publish(conn);
        flags.done();
        let _ = reply.send(executed);
        return commands.recv();
    }
    // Until the cursor ends, what the connection would answer is not known here.
    flags.cursor_open.store(true, Ordering::Relaxed);
    flags.done();
    let _ = reply.send(executed);
    loop {
        match commands.recv()? {
            Command::Fetch {
                cursor: asked,
                size,
                reply,
            } if asked == id => {
                let fetched = cursor.fetchmany(size).map(|rows| Fetched {
                    ended: rows.len() < size,
                    rows,
                    rowcount: cursor.rowcount(),
                });
                // The end of the rows (or an error) ends the cursor: the handle knows.
                let ended = !matches!(&fetched, Ok(Fetched { ended: false, .. }));
                if ended {
                    drop(cursor);
                    flags.publish(conn);
                    flags.cursor_open.store(false, Ordering::Relaxed);
                    flags.done();
                    let _ = reply.send(fetched);
                    break commands.recv();
                }
                flags.done();
                let _ = reply.send(fetched);
            }
            other => {
                drop(cursor);
                flags.publish(conn);
                flags.cursor_open.store(false, Ordering::Relaxed);
                break Ok(other);
            }
        }
    }
}

/// A fetch for a cursor whose rows the thread no longer holds.
fn gone_rows() -> Error {
    Error::programming(
        "no results to fetch: nothing was executed on this cursor, or another statement ran \
         on the connection since",
    )
}

/// The error of a call whose connection's thread is gone (its driver panicked, or it was
/// closed).
fn gone() -> Error {
    Error::interface("the connection is gone: it was closed, or its driver panicked")
}

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
    /// The last fetch reached the end of the rows.
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
            ended: false,
        }
    }

    async fn start(&mut self, sql: &str, sets: Sets) -> Result<()> {
        self.id = None;
        self.description = None;
        self.rowcount = -1;
        self.lastrowid = None;
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
        if self.ended {
            // The thread let the cursor go at its last row.
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Fetch {
            cursor: id,
            size,
            reply,
        };
        self.conn.send(command)?;
        let fetched = answer.await.map_err(|_| gone())??;
        self.rowcount = fetched.rowcount;
        if fetched.ended {
            self.ended = true;
        }
        Ok(fetched.rows)
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
