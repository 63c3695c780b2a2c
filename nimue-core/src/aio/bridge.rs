//! [`Bridged`]: any synchronous connection as an [`AsyncConnection`], living on a thread of
//! its own. Each call is a message to that thread and a reply awaited, so no driver call ever
//! runs on (or blocks) an async runtime's thread, and nothing here depends on a runtime.
//!
//! A future dropped while its call runs does not stop the call: the thread finishes it and
//! the reply is dropped, so the connection is never left halfway through a request. The
//! thread keeps the cursor of the last `execute` open for its fetches; any other call ends it.

use super::connection::{AsyncConnect, AsyncConnection};
use super::cursor::AsyncCursor;
use crate::connection::{Connect, Connection};
use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::row::{Column, Row};
use crate::value::Value;
use futures_channel::oneshot;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
}

/// The connection's thread: run commands until the handle is dropped or closes it. A panic
/// in the driver ends it (the connection's state is unknown, so it is dropped, not reused).
fn serve<C: Connection>(mut conn: C, commands: mpsc::Receiver<Command<C>>) {
    let mut next = commands.recv();
    while let Ok(command) = next {
        let ran = catch_unwind(AssertUnwindSafe(|| match command {
            Command::Run(job) => {
                job(&mut conn);
                commands.recv()
            }
            Command::Execute {
                cursor: id,
                sql,
                sets,
                reply,
            } => serve_cursor(&mut conn, &commands, id, &sql, sets, reply),
            Command::Fetch { reply, .. } => {
                let _ = reply.send(Err(gone_rows()));
                commands.recv()
            }
            Command::Close(reply) => {
                let _ = reply.send(Ok(()));
                Err(mpsc::RecvError)
            }
        }));
        match ran {
            Ok(following) => next = following,
            Err(_) => {
                log::warn!(target: "nimue::aio", "a bridged connection's driver panicked: the connection is dropped");
                return;
            }
        }
    }
}

/// The answer of a connection's thread once its connection is open: its autocommit, or the
/// error opening it.
type Opened = oneshot::Receiver<Result<bool>>;

/// Start a connection's thread: `open` makes the connection there, then the thread serves the
/// commands sent to the returned sender. The connection's autocommit, or `open`'s error,
/// comes on the returned receiver.
fn spawn<C: Connection + 'static>(
    open: impl FnOnce() -> Result<C> + Send + 'static,
) -> std::io::Result<(mpsc::Sender<Command<C>>, Opened)> {
    let (commands, inbox) = mpsc::channel();
    let (reply, opened) = oneshot::channel();
    std::thread::Builder::new()
        .name("nimue-bridge".into())
        .spawn(move || match open() {
            Ok(conn) => {
                let _ = reply.send(Ok(conn.autocommit()));
                serve(conn, inbox);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        })?;
    Ok((commands, opened))
}

/// Execute on a new cursor, then serve its fetches; the first other command ends the cursor
/// and is returned to be run.
fn serve_cursor<C: Connection>(
    conn: &mut C,
    commands: &mpsc::Receiver<Command<C>>,
    id: u64,
    sql: &str,
    sets: Sets,
    reply: oneshot::Sender<Result<Executed>>,
) -> std::result::Result<Command<C>, mpsc::RecvError> {
    let mut cursor = match conn.cursor() {
        Ok(cursor) => cursor,
        Err(e) => {
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
    let _ = reply.send(executed);
    if !has_rows {
        return commands.recv();
    }
    loop {
        match commands.recv()? {
            Command::Fetch {
                cursor: asked,
                size,
                reply,
            } if asked == id => {
                let fetched = cursor.fetchmany(size).map(|rows| Fetched {
                    rows,
                    rowcount: cursor.rowcount(),
                });
                let _ = reply.send(fetched);
            }
            other => return Ok(other),
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
/// [`Connection`], on a thread of its own (see the [module](crate::aio) docs).
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
pub struct Bridged<C: Connection + 'static> {
    commands: mpsc::Sender<Command<C>>,
    autocommit: bool,
    /// The id of the last cursor that executed (fetches of older ones are refused).
    cursors: u64,
}

impl<C: Connection + 'static> Bridged<C> {
    /// Move `conn` to a thread of its own.
    pub fn new(conn: C) -> Self {
        let autocommit = conn.autocommit();
        let (commands, _opened) =
            spawn(move || Ok(conn)).expect("spawning a thread for a bridged connection");
        Bridged {
            commands,
            autocommit,
            cursors: 0,
        }
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
        self.commands.send(Command::Run(job)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Close the connection, reporting the driver's error; its thread ends.
    pub async fn close(self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Close(reply))
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl<C: Connection + 'static> AsyncConnection for Bridged<C> {
    type Cursor<'c> = BridgedCursor<'c, C>;

    async fn cursor(&mut self) -> Result<BridgedCursor<'_, C>> {
        Ok(BridgedCursor {
            conn: self,
            id: None,
            description: None,
            rowcount: -1,
            lastrowid: None,
        })
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
        let _ = self.commands.send(Command::Run(job));
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
pub struct BridgedCursor<'c, C: Connection + 'static> {
    conn: &'c mut Bridged<C>,
    /// The id of this cursor's last execute (`None`: nothing executed).
    id: Option<u64>,
    description: Option<Vec<Column>>,
    rowcount: i64,
    lastrowid: Option<i64>,
}

impl<C: Connection + 'static> BridgedCursor<'_, C> {
    async fn start(&mut self, sql: &str, sets: Sets) -> Result<()> {
        self.id = None;
        self.description = None;
        self.rowcount = -1;
        self.lastrowid = None;
        self.conn.cursors += 1;
        let id = self.conn.cursors;
        let (reply, answer) = oneshot::channel();
        let command = Command::Execute {
            cursor: id,
            sql: sql.to_owned(),
            sets,
            reply,
        };
        self.conn.commands.send(command).map_err(|_| gone())?;
        let executed = answer.await.map_err(|_| gone())??;
        self.id = Some(id);
        self.description = executed.description;
        self.rowcount = executed.rowcount;
        self.lastrowid = executed.lastrowid;
        Ok(())
    }
}

impl<C: Connection + 'static> AsyncCursor for BridgedCursor<'_, C> {
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
        let (reply, answer) = oneshot::channel();
        let command = Command::Fetch {
            cursor: id,
            size,
            reply,
        };
        self.conn.commands.send(command).map_err(|_| gone())?;
        let fetched = answer.await.map_err(|_| gone())??;
        self.rowcount = fetched.rowcount;
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
        let connector = Arc::clone(&self.connector);
        let (commands, opened) = spawn(move || connector.connect())
            .map_err(|e| Error::interface(format!("could not start a connection's thread: {e}")))?;
        let autocommit = opened.await.map_err(|_| gone())??;
        Ok(Bridged {
            commands,
            autocommit,
            cursors: 0,
        })
    }
}
