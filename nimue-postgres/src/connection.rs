//! `PgConnection`: a PEP 249 connection over one client (its async form in `connection/aio.rs`).

mod aio;

use crate::client::{Client, HasClient};
use crate::convert::describe;
use crate::cursor::PgStream;
use crate::error::{connection_lost, map_err};
use crate::placeholders::{hint_syntax_error, rewrite_for};
use crate::status::writes_probe;
use nimue_core::{
    CheckFuture, Columns, Connection, DatabaseError, Error, ErrorKind, Liveness, PoolHooks, Result,
    SessionReset, StreamingCursor,
};
use postgres::Statement;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a returned session is cleared of, after the `ROLLBACK` of an open transaction, in the
/// same simple query (its statements then run in one implicit transaction, which each of them
/// allows): what `DISCARD ALL` does, but for the protocol-level prepared statements nimue
/// caches (`DEALLOCATE ALL` is added when a SQL `PREPARE` ran) and the plans cached with them.
/// `SET SESSION AUTHORIZATION DEFAULT` (which anyone may run) also resets the role, and
/// `RESET ALL` every other setting to the session's start, the startup options (the
/// connector's `statement_timeout`) included.
const CLEAR_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// Prepared statements kept per connection before the cache is emptied and refilled.
const STATEMENT_CACHE_SIZE: usize = 256;

/// The cursor of a [`PgConnection`]: rows are read from the server as they are fetched (see
/// [`StreamingCursor`] for `rowcount` of long results), never the whole result at once. While
/// a query's rows are being read the connection is busy with them: fetch to the end, execute
/// another statement (the rows not read are skipped), or drop the cursor (it reads the rest
/// first, so the statement is finished when the cursor is gone, as when it was read whole).
/// An error the server reports after the first rows (e.g. a division by zero in a later row)
/// comes from the fetch that reaches it rather than from `execute`.
pub type PgCursor<'c> = StreamingCursor<PgStream<'c>>;

/// A connection to a PostgreSQL server.
///
/// Statements use `?` placeholders (rewritten to `$n`, see
/// [`rewrite_placeholders`](crate::rewrite_placeholders)) and are prepared once per
/// connection, so a repeated statement costs one round trip. With autocommit off (PEP 249's
/// default) the first statement of a transaction sends `BEGIN` with it, in the same round
/// trip; `commit()`/`rollback()` end the transaction. The pool's
/// [`reset`](PoolHooks::reset) sends its `ROLLBACK` without waiting for the reply (the
/// server handles it before anything the next user sends).
/// After an error inside a transaction PostgreSQL refuses further statements until
/// `rollback()`, as with every PEP 249 driver.
pub struct PgConnection {
    client: Client,
    session: Session,
    ping_timeout: Duration,
    /// How much of a used session `reset` clears.
    session_reset: SessionReset,
    /// The autocommit of the session as set up: what `reset` restores.
    set_up_autocommit: bool,
    /// Whether the last `reset` cleared the session (the pool runs its set-up again).
    session_cleared: bool,
}

/// What a connection tracks besides its client (a cursor borrows both, apart).
pub(crate) struct Session {
    pub(crate) autocommit: bool,
    /// Whether this side has opened a transaction that is not yet ended.
    pub(crate) in_transaction: bool,
    /// Statements are sent unnamed, never kept on the server (`Statements::Unnamed`).
    pub(crate) unnamed: bool,
    /// The server refused a write as read-only (a standby, or a demoted primary): the
    /// connection is to be replaced.
    pub(crate) read_only: bool,
    /// A statement that writes ran in the open transaction.
    pub(crate) wrote: bool,
    /// A statement ran (or the client was lent out) since the last reset: the session may
    /// hold something for the next user.
    pub(crate) used: bool,
    /// A request went out whose outcome this side has not seen (its future was dropped
    /// midway): what the server did with it is asked before the next statement
    /// ([`settle`](Session::settle)), and a reset rolls back whatever it may have opened.
    pub(crate) settling: bool,
    statements: HashMap<String, Prepared>,
    /// The `standard_conforming_strings` the cached statements were rewritten under.
    standard_strings: bool,
}

/// What [`PgConnection::run`] runs: a future of the async client.
pub type ClientFuture<'a, T> =
    Pin<Box<dyn Future<Output = std::result::Result<T, tokio_postgres::Error>> + 'a>>;

/// A statement prepared on the connection, with its result columns.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) stmt: Statement,
    pub(crate) columns: Columns,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("closed", &self.client.is_closed())
            .field("autocommit", &self.session.autocommit)
            .field("in_transaction", &self.session.in_transaction)
            .field("cached_statements", &self.session.statements.len())
            .finish()
    }
}

impl PgConnection {
    /// Wrap a connected client (autocommit off, as PEP 249 wants). `ping_timeout` bounds
    /// [`ping`](PoolHooks::ping).
    pub(crate) fn from_client(
        client: Client,
        ping_timeout: Duration,
        unnamed: bool,
        session_reset: SessionReset,
    ) -> Self {
        PgConnection {
            client,
            session: Session {
                autocommit: false,
                in_transaction: false,
                unnamed,
                read_only: false,
                wrote: false,
                used: false,
                settling: false,
                statements: HashMap::new(),
                standard_strings: true,
            },
            ping_timeout,
            session_reset,
            set_up_autocommit: false,
            session_cleared: false,
        }
    }

    /// Run `f` with the async `tokio_postgres` client, for what nimue does not cover (COPY,
    /// notifications, ...): the future it returns runs to its end on this thread. Statements
    /// run through it bypass nimue's transaction tracking.
    ///
    /// ```no_run
    /// # use nimue_core::Connect;
    /// # let mut conn = nimue_postgres::PgConnector::from_url("postgres://127.0.0.1/db")?.connect()?;
    /// let n: i64 = conn.run(|client| {
    ///     Box::pin(async move {
    ///         Ok(client.query_one("SELECT count(*) FROM pg_class", &[]).await?.get(0))
    ///     })
    /// })?;
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn run<T>(
        &mut self,
        f: impl for<'a> FnOnce(&'a tokio_postgres::Client) -> ClientFuture<'a, T>,
    ) -> Result<T> {
        self.session.used = true;
        let done = self.client.block_on_local(f);
        self.session.synced(&self.client);
        done
    }

    /// The driver's client (every adapter's `native`): the async `tokio_postgres` client,
    /// whose futures [`run`](Self::run) drives (there is no `native_mut`: a future of it
    /// needs the connection driven too, which `run` does).
    pub fn native(&self) -> &tokio_postgres::Client {
        self.client.inner()
    }

    /// The backend's process id, for `pg_terminate_backend` or `pg_cancel_backend`.
    pub fn backend_pid(&mut self) -> Result<i32> {
        Client::blocking(self, async |c| c.backend_pid_async().await)
    }

    /// [`backend_pid`](Self::backend_pid) from async code.
    pub async fn backend_pid_async(&mut self) -> Result<i32> {
        let (client, link) = self.client.parts();
        let row = link
            .run(client.query_one("SELECT pg_backend_pid()", &[]))
            .await?;
        Ok(row.get(0))
    }

    /// `COMMIT` or `ROLLBACK` the open transaction, if one is.
    async fn end_transaction(&mut self, command: &str) -> Result<()> {
        self.session.settle(&mut self.client).await?;
        if !self.session.in_transaction {
            return Ok(());
        }
        self.session.settling = true;
        let (client, link) = self.client.parts();
        let ended = link.run(client.batch_execute(command)).await;
        self.session.settling = false;
        // What the server says now (a failed COMMIT rolls back), or nothing open when the
        // connection is gone.
        self.session.synced(&self.client);
        if self.client.is_closed() {
            self.session.in_transaction = false;
        }
        ended
    }
}

impl Session {
    /// After a request whose future was dropped midway: wait until the server has answered
    /// everything sent (an empty query's reply comes after all of theirs) and take the
    /// transaction status from it, so that the next statement opens PEP 249's transaction
    /// if none is open, whatever the dropped request had done (sent or not, committed or not).
    pub(crate) async fn settle(&mut self, client: &mut Client) -> Result<()> {
        if !self.settling {
            return Ok(());
        }
        let (inner, link) = client.parts();
        link.run(inner.simple_query("")).await?;
        self.synced(client);
        self.settling = false;
        Ok(())
    }

    /// An error from the server, seen by the connection: a write refused because the server
    /// is read-only (SQLSTATE 25006: a standby, or a primary demoted by a failover) is an
    /// `OperationalError`, and marks the connection for replacement.
    pub(crate) fn watch(&mut self, e: Error) -> Error {
        if e.sqlstate() != Some("25006") {
            return e;
        }
        self.read_only = true;
        let message = format!(
            "{e}: the server is read-only (a standby, or a primary demoted by a failover); \
             the connection will be replaced"
        );
        DatabaseError::new(ErrorKind::Operational, message)
            .with_sqlstate("25006")
            .with_driver_error(e)
            .into()
    }

    /// The prepared statement for `sql` from the cache, if it is there (and was rewritten
    /// under the session's `standard_conforming_strings`).
    pub(crate) fn cached(&mut self, client: &Client, sql: &str) -> Option<Prepared> {
        let standard_strings = client.standard_strings();
        if standard_strings != self.standard_strings {
            // The setting changed: every cached rewrite may be wrong now.
            self.statements.clear();
            self.standard_strings = standard_strings;
        }
        self.statements.get(sql).cloned()
    }

    /// The prepared statement for `sql`, from the cache or prepared now on `client`.
    /// A placeholder the server did not read as one (its lexing and nimue's disagreed) is an
    /// error, never a parameter silently dropped.
    pub(crate) async fn statement(&mut self, client: &mut Client, sql: &str) -> Result<Prepared> {
        if let Some(prepared) = self.cached(client, sql) {
            return Ok(prepared);
        }
        let (rewritten, count) = rewrite_for(sql, self.standard_strings);
        let (client, link) = client.parts();
        let stmt = link
            .run(client.prepare(&rewritten))
            .await
            .map_err(|e| hint_syntax_error(e, &rewritten))?;
        if stmt.params().len() < count {
            return Err(Error::programming(format!(
                "nimue found {count} placeholders in this statement, but the server reads {} \
                 parameters in it: a ? it took for a placeholder is inside a string or comment \
                 for the server",
                stmt.params().len()
            )));
        }
        let columns = describe(stmt.columns());
        if self.statements.len() >= STATEMENT_CACHE_SIZE {
            self.statements.clear();
        }
        let prepared = Prepared { stmt, columns };
        self.statements.insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    /// After a statement that begins with `keyword` ran: forget cached statements after DDL
    /// (which may change what they return), note a write in the open transaction, and take
    /// the transaction status from the server.
    pub(crate) fn ran(&mut self, keyword: &str, client: &Client) {
        match keyword {
            "CREATE" | "DROP" | "ALTER" => {
                self.statements.clear();
                self.wrote = true;
            }
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" | "COPY" | "GRANT" | "REVOKE" => {
                self.wrote = true;
            }
            _ => {}
        }
        self.synced(client);
    }

    /// Take the transaction status from what the server said when it was last ready: call
    /// once every reply sent for is read (after a statement, at the end of its rows), never
    /// while a request sent without waiting may be unanswered.
    pub(crate) fn synced(&mut self, client: &Client) {
        self.in_transaction = client.server_in_transaction();
        if !self.in_transaction {
            self.wrote = false;
        }
    }

    /// After `e` from `sql`: forget its statement when the error says the cached plan is
    /// stale (a schema changed by another connection) or gone from the server, so that it is
    /// prepared again next time.
    pub(crate) fn forget_stale(&mut self, e: &Error, sql: &str) {
        if is_stale(e) {
            self.statements.remove(sql);
        }
    }

    /// [`forget_stale`](Self::forget_stale) for an error while reading the rows of the
    /// statement with these `columns` (each prepared statement has its own).
    pub(crate) fn forget_stale_rows(&mut self, e: &Error, columns: &Columns) {
        if is_stale(e) {
            self.statements
                .retain(|_, p| !std::sync::Arc::ptr_eq(&p.columns, columns));
        }
    }
}

/// Whether `e` says a prepared statement is stale or gone: `cached plan must not change result
/// type` (0A000) or `prepared statement does not exist` (26000).
fn is_stale(e: &Error) -> bool {
    matches!(e.sqlstate(), Some("0A000" | "26000"))
}

impl PgConnection {
    /// Before a reset rolls back a transaction in which no statement that writes by its text
    /// ran: ask the server whether the transaction wrote (a writing `WITH`, a function), in a
    /// request of its own (if it fails, the `ROLLBACK` after it still runs), without waiting:
    /// its answer comes with the next request and is taken by
    /// [`took_back_uncommitted_writes`](PoolHooks::took_back_uncommitted_writes). Only when
    /// the pool's warning would be heard (the `nimue::pool` target logs at warn level), and the
    /// transaction has not failed (the question would fail too).
    fn probe_writes(&mut self) {
        let status = self.client.status();
        if !log::log_enabled!(target: "nimue::pool", log::Level::Warn)
            || !status.in_healthy_transaction()
        {
            return;
        }
        let Some(probe) = writes_probe(status.major()) else {
            return;
        };
        let (client, link) = self.client.parts();
        link.send(client.batch_execute(&probe));
    }
}

impl Connection for PgConnection {
    type Cursor<'c> = PgCursor<'c>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(StreamingCursor::new(PgStream::new(
            &mut self.client,
            &mut self.session,
        )))
    }

    fn commit(&mut self) -> Result<()> {
        Client::blocking(self, async |c| c.end_transaction("COMMIT").await)
    }

    fn rollback(&mut self) -> Result<()> {
        Client::blocking(self, async |c| c.end_transaction("ROLLBACK").await)
    }

    /// Sends `Terminate` and closes the socket.
    fn close(self) -> Result<()> {
        drop(self.client);
        Ok(())
    }

    fn autocommit(&self) -> bool {
        self.session.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        self.session.set_autocommit(on)
    }
}

impl Session {
    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if on && self.in_transaction {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction: commit or roll back first",
            ));
        }
        self.autocommit = on;
        Ok(())
    }
}

impl PgConnection {
    /// [`ping`](PoolHooks::ping), awaited.
    pub(crate) async fn ping_async(&mut self) -> Result<()> {
        let timeout = self.ping_timeout;
        let (client, link) = self.client.parts();
        let answer = link
            .run(async { Ok(tokio::time::timeout(timeout, client.simple_query("")).await) })
            .await?;
        match answer {
            Ok(done) => done.map(drop).map_err(map_err),
            Err(_) => Err(Error::operational(format!(
                "the server did not answer a ping within {timeout:?}"
            ))),
        }
    }
}

impl PoolHooks for PgConnection {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    /// An empty query round trip, bounded by the connector's ping timeout.
    fn ping(&mut self) -> Result<()> {
        Client::blocking(self, async |c| c.ping_async().await)
    }

    /// Awaited on the caller's task when the connection was opened on its runtime.
    fn check_future(&mut self, level: Liveness) -> Option<CheckFuture<'_>> {
        if self.client.owns_runtime() {
            return None;
        }
        Some(Box::pin(self.check_awaited(level)))
    }

    /// `INSERT`, `UPDATE`, `DELETE`, DDL and the like ran in the open transaction.
    fn holds_uncommitted_writes(&self) -> bool {
        self.session.in_transaction && self.session.wrote
    }

    /// The client is closed, or the server turned out read-only (writes would fail on it).
    fn is_broken(&self) -> bool {
        self.client.is_closed() || self.session.read_only
    }

    /// Back to a fresh session: after a checkout that ran statements, an open transaction is
    /// rolled back and the session cleared of what a checkout can leave in it (cursors,
    /// `LISTEN`s, advisory locks, settings, the role, temporary tables, sequences' `currval`,
    /// and SQL `PREPARE`d statements when the server reported one), all sent without waiting
    /// for the reply: the server handles it before whatever the next user sends, whose reply
    /// comes after it. The pool then runs its set-up again. A checkout that ran nothing costs
    /// nothing.
    fn reset(&mut self) -> Result<()> {
        let wrote = std::mem::take(&mut self.session.wrote);
        self.session_cleared = false;
        // A request whose outcome is unknown may have opened one (a `BEGIN` of the user's).
        let in_transaction = std::mem::take(&mut self.session.in_transaction)
            | std::mem::take(&mut self.session.settling);
        if in_transaction && !wrote {
            self.probe_writes();
        }
        let changed = self.client.status().take_session_changed();
        let clear = match self.session_reset {
            SessionReset::Always => true,
            SessionReset::WhenChanged => changed,
            SessionReset::Rollback => false,
        };
        if std::mem::take(&mut self.session.used) && clear {
            let deallocate = self.client.take_sql_prepared();
            let mut clear = String::with_capacity(160);
            if in_transaction {
                clear.push_str("ROLLBACK; ");
            }
            clear.push_str(CLEAR_SESSION);
            if deallocate {
                clear.push_str("; DEALLOCATE ALL");
            }
            let (client, link) = self.client.parts();
            link.send(client.batch_execute(&clear));
            if deallocate {
                // DEALLOCATE ALL dropped the cached statements too.
                self.session.statements.clear();
            }
            self.session_cleared = true;
        } else if in_transaction {
            let (client, link) = self.client.parts();
            link.send(client.batch_execute("ROLLBACK"));
        }
        if self.client.is_closed() {
            return Err(connection_lost());
        }
        self.session.autocommit = self.set_up_autocommit;
        Ok(())
    }

    fn reset_cleared_session(&self) -> bool {
        self.session_cleared
    }

    /// The server's answer to the writes probe of an earlier `reset`, read since.
    fn took_back_uncommitted_writes(&mut self) -> bool {
        self.client.status().take_probed_writes()
    }

    /// The session as it is now (after the pool's `autocommit` and `on_connect`) is the
    /// baseline: what the set-up ran is not the next checkout's.
    fn session_set_up(&mut self) {
        self.client.status().take_session_changed();
        self.set_up_autocommit = self.session.autocommit;
        self.session.used = false;
    }

    /// `reset` waits for nothing: its `ROLLBACK` is sent without waiting for the reply.
    fn reset_waits(&self) -> bool {
        false
    }

    /// After a checkout that ran nothing, `reset` only sets flags (the client's, on a
    /// runtime of its own, is not called); on the caller's runtime it never blocks (what it
    /// sends is written as far as the socket takes it now, the rest with the next request).
    fn reset_is_local(&self) -> bool {
        !self.client.owns_runtime() || (!self.session.in_transaction && !self.session.used)
    }
}

impl HasClient for PgConnection {
    fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}
