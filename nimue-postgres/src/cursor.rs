//! The statement side of PostgreSQL's streaming cursor: a prepared (cached) statement whose
//! rows are read from the server as they are fetched (`query_raw`'s row stream), so a scan
//! never holds more than the rows read ahead and the driver's bounded read buffer.

use crate::client::{Client, HasClient};
use crate::connection::Session;
use crate::convert::{describe, Param, PgCell, PgValue, Unnamed};
use crate::error::map_err;
use crate::link::Link;
use crate::placeholders::{check_count, hint_syntax_error, rewrite_for};
use crate::runtime::in_async_context;
use futures_util::Stream;
use nimue_core::aio::AsyncRowStream;
use nimue_core::sql::{first_keyword, starts_with_any, DML_KEYWORDS};
use nimue_core::{
    CellRef, Columns, DatabaseError, ErrorKind, RawRow, Result, Row, RowStream, Started, Value,
};
use postgres::types::ToSql;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio_postgres::RowStream as Rows;

/// The rows of the statement a [`PgCursor`](crate::PgCursor) runs.
pub struct PgStream<'c> {
    client: &'c mut Client,
    session: &'c mut Session,
    /// The running query's rows, until its last one.
    rows: Option<Pin<Box<Rows>>>,
    /// A row read to learn an unnamed statement's columns, handed out first.
    first: Option<tokio_postgres::Row>,
    /// The running query's columns (those of its cached statement).
    columns: Columns,
}

impl<'c> PgStream<'c> {
    pub(crate) fn new(client: &'c mut Client, session: &'c mut Session) -> Self {
        PgStream {
            client,
            session,
            rows: None,
            first: None,
            columns: Columns::from(Vec::new()),
        }
    }

    /// Whether `keyword` opens PEP 249's implicit transaction, when autocommit is off and none
    /// is open (not for the statements that control transactions themselves).
    fn opens_transaction(&self, keyword: &str) -> bool {
        let control = matches!(
            keyword,
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
        );
        !self.session.autocommit && !self.session.in_transaction && !control
    }

    /// The columns of a query that returned no rows (so none told them): the server
    /// describes it as a statement prepared and closed again inside one transaction (the
    /// running one, else one opened and rolled back around it without waiting), so that a
    /// transaction pooler keeps it on one server connection and nothing stays behind.
    async fn describe_unnamed(&mut self, rewritten: &str) -> Result<Columns> {
        let wrap = !self.session.in_transaction;
        let (client, link) = self.client.parts();
        let stmt = after_begin(link, client, wrap, client.prepare(rewritten)).await?;
        let columns = describe(stmt.columns());
        // Dropping it queues its Close, ahead of what is sent next.
        drop(stmt);
        if wrap {
            link.send(client.batch_execute("ROLLBACK"));
        }
        Ok(columns)
    }

    /// Start `sql` as an unnamed statement ([`Statements::Unnamed`](crate::Statements)):
    /// parse, bind and execute in one message, nothing kept on the server. Its columns come
    /// with its first row; a query without rows is described by the server in one more round
    /// trip.
    async fn begin_unnamed(
        &mut self,
        sql: &str,
        params: &[Value],
        keyword: &str,
    ) -> Result<Started> {
        let (rewritten, count) = rewrite_for(sql, self.client.standard_strings());
        check_count(count, params.len())?;
        let open = self.opens_transaction(keyword);
        self.session.in_transaction |= open;
        let (client, link) = self.client.parts();
        let args: Vec<Unnamed<'_>> = params.iter().map(Unnamed).collect();
        let typed = args.iter().map(|a| (a, a.declared()));
        let rows = after_begin(
            link,
            client,
            open,
            client.query_typed_raw(&rewritten, typed),
        )
        .await
        .map_err(|e| hint_syntax_error(e, &rewritten))?;
        self.session.ran(keyword, self.client);
        self.rows = Some(Box::pin(rows));
        match self.next_driver_row().await {
            Ok(Some(row)) => {
                self.columns = describe(row.columns());
                self.first = Some(row);
                Ok(Started::Rows(self.columns.clone()))
            }
            Ok(None) => {
                let affected = self.rows.take().and_then(|rows| rows.rows_affected());
                if returns_rows(sql, keyword) {
                    self.columns = self.describe_unnamed(&rewritten).await?;
                    if !self.columns.is_empty() {
                        return Ok(Started::Rows(self.columns.clone()));
                    }
                }
                let rowcount = match affected {
                    Some(n) if starts_with_any(sql, &DML_KEYWORDS) => n as i64,
                    _ => -1,
                };
                Ok(Started::Done {
                    rowcount,
                    lastrowid: None,
                })
            }
            Err(e) => {
                self.rows = None;
                Err(e)
            }
        }
    }

    /// Start `sql`: prepare it (cached), check its parameters, and run it, opening PEP 249's
    /// implicit transaction in the same round trip when autocommit is off and none is open.
    async fn begin(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        let keyword = first_keyword(sql).to_ascii_uppercase();
        // The rarer paths are boxed: their futures would make every statement's larger (and
        // a future is moved, whole, into each that awaits it).
        if self.session.unnamed {
            return Box::pin(self.begin_unnamed(sql, params, &keyword)).await;
        }
        let prepared = match self.session.cached(self.client, sql) {
            Some(prepared) => prepared,
            None => Box::pin(self.session.statement(self.client, sql)).await?,
        };
        check_count(prepared.stmt.params().len(), params.len())?;
        let open = self.opens_transaction(&keyword);
        // Open even when the statement fails (it sits in an aborted transaction then), unless
        // the connection is lost (then nothing is open, and nothing can be sent either).
        self.session.in_transaction |= open;
        let (client, link) = self.client.parts();
        let stmt = &prepared.stmt;
        if prepared.columns.is_empty() {
            let args: Vec<Param<'_>> = params.iter().map(Param).collect();
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|p| p as _).collect();
            let changed = after_begin(link, client, open, client.execute(stmt, &refs)).await?;
            self.session.ran(&keyword, self.client);
            let rowcount = if starts_with_any(sql, &DML_KEYWORDS) {
                changed as i64
            } else {
                -1
            };
            return Ok(Started::Done {
                rowcount,
                lastrowid: None,
            });
        }
        let rows = client.query_raw(stmt, params.iter().map(Param));
        let rows = after_begin(link, client, open, rows).await?;
        self.session.ran(&keyword, self.client);
        self.rows = Some(Box::pin(rows));
        self.columns = prepared.columns;
        Ok(Started::Rows(self.columns.clone()))
    }

    /// Start `sql` after the previous query (its rows not read are skipped as they come).
    async fn start_async(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        self.session.used = true;
        self.rows = None;
        self.first = None;
        if self.session.settling {
            Box::pin(self.session.settle(self.client)).await?;
        }
        // Until it ends: if its future is dropped midway, the next statement settles first.
        self.session.settling = true;
        let started = self.begin(sql, params).await;
        self.session.settling = false;
        if let Err(e) = &started {
            self.session.forget_stale(e, sql);
            // A failed statement may have ended the transaction (a failed COMMIT) or failed it.
            self.session.synced(self.client);
        }
        started.map_err(|e| {
            let e = pooler_hint(e, self.session.unnamed);
            self.session.watch(e)
        })
    }

    /// The next row of the running query, if any. At its end the transaction status is taken
    /// from the server again (a query cannot change it, but what ran before may have been
    /// answered only now).
    async fn next_driver_row(&mut self) -> Result<Option<tokio_postgres::Row>> {
        let next = match self.ready_row() {
            Some(ready) => ready,
            None => self.wait_driver_row().await,
        };
        self.after_row(&next);
        next
    }

    /// [`next_driver_row`](Self::next_driver_row) for the blocking API: a row the
    /// connection already handed over needs no trip through the runtime.
    fn next_driver_row_blocking(&mut self) -> Result<Option<tokio_postgres::Row>> {
        let next = match self.ready_row() {
            Some(ready) => ready,
            None => Client::blocking(self, async |s| s.wait_driver_row().await),
        };
        self.after_row(&next);
        next
    }

    fn after_row(&mut self, next: &Result<Option<tokio_postgres::Row>>) {
        if !matches!(next, Ok(Some(_))) && self.rows.is_some() {
            self.session.synced(self.client);
        }
    }

    /// The next row if it needs no wait: the one read ahead, the end, or one already handed
    /// over by the connection.
    fn ready_row(&mut self) -> Option<Result<Option<tokio_postgres::Row>>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(Some(first)));
        }
        let Some(rows) = &mut self.rows else {
            return Some(Ok(None));
        };
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match rows.as_mut().poll_next(&mut cx) {
            Poll::Ready(next) => Some(next.transpose().map_err(map_err)),
            Poll::Pending => None,
        }
    }

    async fn wait_driver_row(&mut self) -> Result<Option<tokio_postgres::Row>> {
        let Some(rows) = &mut self.rows else {
            return Ok(None);
        };
        let (_, link) = self.client.parts();
        link.run(poll_fn(|cx| {
            rows.as_mut().poll_next(cx).map(Option::transpose)
        }))
        .await
    }

    /// The driver's row as nimue's.
    fn to_row(&self, row: tokio_postgres::Row) -> Result<Row> {
        let values = (0..row.len())
            .map(|i| row.try_get::<_, PgValue>(i).map(|v| v.0))
            .collect::<Result<Vec<Value>, _>>()
            .map_err(map_err)?;
        Ok(Row::new(self.columns.clone(), values))
    }

    /// After the next row was asked for: at the end or an error the query is finished.
    fn row_taken(&mut self, next: Result<Option<tokio_postgres::Row>>) -> Result<Option<Row>> {
        let next = next.and_then(|row| row.map(|row| self.to_row(row)).transpose());
        if !matches!(next, Ok(Some(_))) {
            self.rows = None;
            if let Err(e) = &next {
                self.session.forget_stale_rows(e, &self.columns);
            }
        }
        next
    }
}

impl HasClient for PgStream<'_> {
    fn client(&mut self) -> &mut Client {
        self.client
    }
}

/// Run `statement`, with `BEGIN` sent ahead of it in the same write when `begin`: the server
/// answers both in one round trip. (A `BEGIN` that fails, which only a lost connection makes
/// it do, fails the statement too.) Not an `async fn`: the statement's future is kept once.
fn after_begin<'a, T, F>(
    link: &'a mut Link,
    client: &'a tokio_postgres::Client,
    begin: bool,
    statement: F,
) -> impl Future<Output = Result<T>> + 'a
where
    F: Future<Output = std::result::Result<T, tokio_postgres::Error>> + 'a,
    T: 'a,
{
    use futures_util::future::{try_join, Either, TryFutureExt};
    if !begin {
        return link.run(Either::Left(statement));
    }
    // Polled first, `BEGIN` is sent first; the statement's request goes out with it.
    let both = try_join(client.batch_execute("BEGIN"), statement).map_ok(|((), out)| out);
    link.run(Either::Right(both))
}

/// A cached statement the server does not know (SQLSTATE 26000) is what a transaction pooler
/// in front of the server makes of nimue's statement cache: an `OperationalError` (the
/// deployment, not the statement, is wrong) that says what to do. The statement is prepared
/// again next time.
fn pooler_hint(e: nimue_core::Error, unnamed: bool) -> nimue_core::Error {
    if unnamed || e.sqlstate() != Some("26000") {
        return e;
    }
    let message = format!(
        "{e}: the server does not know this connection's prepared statement, as happens behind \
         a transaction pooler (PgBouncer's pool_mode=transaction): connect with \
         statements=unnamed (PgConnector::statements(Statements::Unnamed))"
    );
    DatabaseError::new(ErrorKind::Operational, message)
        .with_sqlstate("26000")
        .with_driver_error(e)
        .into()
}

/// Whether a statement that returned no rows still had a result set (a query, or a change
/// with `RETURNING`).
fn returns_rows(sql: &str, keyword: &str) -> bool {
    matches!(
        keyword,
        "SELECT" | "WITH" | "VALUES" | "TABLE" | "SHOW" | "FETCH" | "EXPLAIN"
    ) || sql.to_ascii_uppercase().contains("RETURNING")
}

/// A row of the driver's, read in place.
struct PgRow<'a>(&'a tokio_postgres::Row);

impl RawRow for PgRow<'_> {
    fn cell(&self, i: usize) -> Result<CellRef<'_>> {
        self.0
            .try_get::<_, PgCell>(i)
            .map(|cell| cell.0)
            .map_err(map_err)
    }

    fn text(&self, i: usize) -> Option<&str> {
        match self.0.try_get::<_, PgCell>(i) {
            Ok(PgCell(CellRef::Text(s))) => Some(s),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match self.0.try_get::<_, PgCell>(i) {
            Ok(PgCell(CellRef::Value(Value::Int(n)))) => Some(n),
            _ => None,
        }
    }
}

impl Drop for PgStream<'_> {
    /// A query whose rows were not all read is read to its end (its rows dropped as they
    /// come), so that it finishes now, as a buffered cursor's did at `execute`: its writes done
    /// (`INSERT ... RETURNING`, committed at once with autocommit on), its snapshot and locks
    /// no longer held past the transaction, the connection ready for the next statement. An
    /// error while reading them (the connection lost, the query failing at a later row) is not
    /// reported here: the next statement meets its consequence. On an async runtime's thread
    /// (an async cursor dropped), nothing may wait: the connection skips the rest as it comes,
    /// before the reply to whatever it is asked next.
    fn drop(&mut self) {
        if self.rows.is_none() && self.first.is_none() {
            return;
        }
        if in_async_context() {
            return;
        }
        while let Ok(Some(_)) = self.next_driver_row_blocking() {}
    }
}

impl RowStream for PgStream<'_> {
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        Client::blocking(self, async |s| s.start_async(sql, params).await)
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        let next = self.next_driver_row_blocking();
        self.row_taken(next)
    }

    /// The cells straight from the driver's row: text and bytes are not copied until read.
    fn next_raw(&mut self, f: &mut dyn FnMut(&dyn RawRow)) -> Result<bool> {
        match self.next_driver_row_blocking() {
            Ok(Some(row)) => {
                f(&PgRow(&row));
                Ok(true)
            }
            next => {
                // The end, or an error: the query is finished either way.
                self.rows = None;
                let e = next.err();
                if let Some(e) = &e {
                    self.session.forget_stale_rows(e, &self.columns);
                }
                e.map_or(Ok(false), Err)
            }
        }
    }
}

/// The same statements from async code, awaited on the task (the connection is driven by
/// whoever awaits it: no task or thread of its own). A future dropped midway leaves what it
/// sent to finish before the reply to the next request is read.
impl AsyncRowStream for PgStream<'_> {
    async fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        self.start_async(sql, params).await
    }

    async fn next_row(&mut self) -> Result<Option<Row>> {
        let next = self.next_driver_row().await;
        self.row_taken(next)
    }
}
