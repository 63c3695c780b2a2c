//! The connection's own thread: it runs the [`Command`]s a [`Bridged`](super::Bridged) handle
//! sends, keeps the cursor of the last `execute` open for its fetches, and publishes what the
//! pool asks of the connection ([`Flags`]) after every command.

use crate::connection::PoolHooks;
use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::row::{Column, Row};
use crate::value::Value;
use futures_channel::oneshot;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// Work for the connection's thread.
pub(super) type Job<C> = Box<dyn FnOnce(&mut C) + Send>;

/// What the connection's thread is asked to do.
pub(super) enum Command<C> {
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
pub(super) enum Sets {
    One(Vec<Value>),
    Many(Vec<Vec<Value>>),
}

/// What an `execute` tells its cursor, with the result's first rows (as many as a streaming
/// cursor reads ahead, and one more: a result that ends within them needs no fetch, and
/// leaves no cursor open on the thread).
pub(super) struct Executed {
    pub(super) description: Option<Vec<Column>>,
    pub(super) rowcount: i64,
    pub(super) lastrowid: Option<i64>,
    pub(super) first: Vec<Row>,
    /// The rows ended within `first` (or there were none): the thread holds no cursor.
    pub(super) ended: bool,
}

/// Rows an `execute` brings back with its answer.
const FIRST_ROWS: usize = crate::stream::READ_AHEAD + 1;

/// A batch of rows, and the cursor's row count after it.
pub(super) struct Fetched {
    pub(super) rows: Vec<Row>,
    pub(super) rowcount: i64,
    /// The last batch: the thread no longer holds the cursor.
    pub(super) ended: bool,
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
pub(super) struct Flags {
    /// Commands sent and not yet finished. The handle adds one before each send; the thread
    /// takes it off (Release) after publishing what the command left: a reader that sees 0
    /// (Acquire) sees what was published before.
    pub(super) pending: AtomicUsize,
    /// A cursor with rows is open on the thread (the connection cannot be asked).
    pub(super) cursor_open: AtomicBool,
    pub(super) broken: AtomicBool,
    pub(super) reset_is_local: AtomicBool,
    pub(super) reset_waits: AtomicBool,
    pub(super) holds_uncommitted_writes: AtomicBool,
}

impl Flags {
    /// A command is on its way to the thread.
    pub(super) fn sent(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// The thread finished a command (after publishing what it left).
    fn done(&self) {
        self.pending.fetch_sub(1, Ordering::Release);
    }

    /// Whether the published answers are the connection's now.
    pub(super) fn settled(&self) -> bool {
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
pub(super) type Opened = oneshot::Receiver<Result<(bool, &'static str)>>;

/// A connection's thread, as its handle sees it: where commands go, what it last said of the
/// connection, and (once open) its answer.
pub(super) struct Thread<C> {
    pub(super) commands: mpsc::Sender<Command<C>>,
    pub(super) flags: Arc<Flags>,
    pub(super) opened: Opened,
}

/// Start a connection's thread: `open` makes the connection there, then the thread serves the
/// commands sent to it.
pub(super) fn spawn<C: PoolHooks + 'static>(
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
    let executed = executed.and_then(|()| {
        let description = cursor.description().map(<[Column]>::to_vec);
        let first = match description {
            Some(_) => cursor.fetchmany(FIRST_ROWS)?,
            None => Vec::new(),
        };
        Ok(Executed {
            ended: first.len() < FIRST_ROWS,
            description,
            rowcount: cursor.rowcount(),
            lastrowid: cursor.lastrowid(),
            first,
        })
    });
    if !matches!(&executed, Ok(Executed { ended: false, .. })) {
        // No rows, all of them here, or an error: the cursor is done with.
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
pub(super) fn gone() -> Error {
    Error::interface("the connection is gone: it was closed, or its driver panicked")
}
