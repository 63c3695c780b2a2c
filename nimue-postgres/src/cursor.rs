//! The statement side of PostgreSQL's streaming cursor: a prepared (cached) statement whose
//! rows are read from the server as they are fetched (`query_raw`'s row iterator), so a scan
//! never holds more than the rows read ahead and the driver's bounded read buffer.

use crate::connection::{Prepared, Session};
use crate::convert::{Param, PgValue};
use crate::error::map_err;
use nimue_core::sql::{first_keyword, starts_with_any, DML_KEYWORDS};
use nimue_core::{check_param_count, Columns, Error, Result, Row, RowStream, Started, Value};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, RowIter, Statement};

/// A running query: the client and the rows being read from it (which borrow it).
#[ouroboros::self_referencing]
struct Running<'c> {
    client: &'c mut Client,
    #[borrows(mut client)]
    #[covariant]
    rows: RowIter<'this>,
}

/// The cursor's hold on the client: free, or busy with a query's rows.
enum Link<'c> {
    Idle(&'c mut Client),
    Running(Running<'c>),
}

impl<'c> Link<'c> {
    /// The client, free: the rows of a running query that were not read are dropped (the
    /// driver skips what the server still sends of them the next time the client is used).
    fn stop(self) -> &'c mut Client {
        match self {
            Link::Idle(client) => client,
            Link::Running(running) => running.into_heads().client,
        }
    }
}

/// The rows of the statement a [`PgCursor`](crate::PgCursor) runs.
pub struct PgStream<'c> {
    /// Always `Some` between calls (taken while a statement starts).
    link: Option<Link<'c>>,
    session: &'c mut Session,
    /// The running query's columns (those of its cached statement).
    columns: Columns,
}

impl<'c> PgStream<'c> {
    pub(crate) fn new(client: &'c mut Client, session: &'c mut Session) -> Self {
        PgStream {
            link: Some(Link::Idle(client)),
            session,
            columns: Columns::from(Vec::new()),
        }
    }

    /// Start `sql` on `client`, returning the client's new state with the outcome.
    fn begin(
        &mut self,
        client: &'c mut Client,
        sql: &str,
        params: &[Value],
    ) -> (Link<'c>, Result<Started>) {
        let keyword = first_keyword(sql).to_ascii_uppercase();
        let prepared = match self.prepare(client, sql, params, &keyword) {
            Ok(prepared) => prepared,
            Err(e) => return (Link::Idle(client), Err(e)),
        };
        if prepared.columns.is_empty() {
            let done = execute(client, &prepared.stmt, sql, params);
            if done.is_ok() {
                self.session.ran(&keyword, sql);
            }
            return (Link::Idle(client), done);
        }
        let stmt = &prepared.stmt;
        let running = Running::try_new_or_recover(client, |client| {
            client.query_raw(stmt, params.iter().map(Param))
        });
        match running {
            Ok(running) => {
                self.session.ran(&keyword, sql);
                self.columns = prepared.columns;
                (
                    Link::Running(running),
                    Ok(Started::Rows(self.columns.clone())),
                )
            }
            Err((e, heads)) => (Link::Idle(heads.client), Err(map_err(e))),
        }
    }

    /// The prepared statement for `sql`, its parameters counted, and PEP 249's implicit
    /// transaction opened when autocommit is off and none is.
    fn prepare(
        &mut self,
        client: &mut Client,
        sql: &str,
        params: &[Value],
        keyword: &str,
    ) -> Result<Prepared> {
        let prepared = self.session.statement(client, sql)?;
        check_param_count(prepared.stmt.params().len(), params.len())?;
        let control = matches!(
            keyword,
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
        );
        if !self.session.autocommit && !self.session.in_transaction && !control {
            client.batch_execute("BEGIN").map_err(map_err)?;
            self.session.in_transaction = true;
        }
        Ok(prepared)
    }

    /// The running query ends (its rows not read are dropped).
    fn stop(&mut self) {
        self.link = self.link.take().map(|link| Link::Idle(link.stop()));
    }
}

impl Drop for PgStream<'_> {
    /// A query whose rows were not all read is read to its end (its rows dropped as they
    /// come), so that it finishes now, as a buffered cursor's did at `execute`: its writes done
    /// (`INSERT ... RETURNING`, committed at once with autocommit on), its snapshot and locks
    /// no longer held past the transaction, the connection ready for the next statement. An
    /// error while reading them (the connection lost, the query failing at a later row) is not
    /// reported here: the next statement meets its consequence.
    fn drop(&mut self) {
        if let Some(Link::Running(running)) = &mut self.link {
            running.with_rows_mut(|rows| while let Ok(Some(_)) = rows.next() {});
        }
    }
}

/// Run a statement without a result set: its `rowcount` for DML, `-1` otherwise.
fn execute(client: &mut Client, stmt: &Statement, sql: &str, params: &[Value]) -> Result<Started> {
    let args: Vec<Param<'_>> = params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|p| p as _).collect();
    let changed = client.execute(stmt, &refs).map_err(map_err)?;
    let rowcount = if starts_with_any(sql, &DML_KEYWORDS) {
        changed as i64
    } else {
        -1
    };
    Ok(Started::Done {
        rowcount,
        lastrowid: None,
    })
}

impl RowStream for PgStream<'_> {
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        // The previous query ends first: the client serves one statement at a time.
        let Some(link) = self.link.take() else {
            return Err(Error::interface(
                "the cursor lost its connection to a panic while starting a statement",
            ));
        };
        let (link, started) = self.begin(link.stop(), sql, params);
        self.link = Some(link);
        if let Err(e) = &started {
            self.session.forget_stale(e, sql);
        }
        started
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        let Some(Link::Running(running)) = &mut self.link else {
            return Ok(None);
        };
        let columns = &self.columns;
        let next = running.with_rows_mut(|rows| match rows.next() {
            Ok(Some(row)) => {
                let values = (0..row.len())
                    .map(|i| row.try_get::<_, PgValue>(i).map(|v| v.0))
                    .collect::<Result<Vec<Value>, _>>()
                    .map_err(map_err)?;
                Ok(Some(Row::new(columns.clone(), values)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(map_err(e)),
        });
        if !matches!(next, Ok(Some(_))) {
            // The end, or an error: the query is finished either way.
            self.stop();
            if let Err(e) = &next {
                self.session.forget_stale_rows(e, &self.columns);
            }
        }
        next
    }

    /// Once per parameter set, as [`RowStream::start_many`]; a set that returns rows (e.g.
    /// `INSERT ... RETURNING`) adds their number to `rowcount`, as a set that changes rows does.
    fn start_many(&mut self, sql: &str, param_sets: &[Vec<Value>]) -> Result<Started> {
        let mut total = 0;
        for params in param_sets {
            match self.start(sql, params)? {
                Started::Done { rowcount, .. } => total += rowcount.max(0),
                Started::Rows(_) => {
                    while self.next_row()?.is_some() {
                        total += 1;
                    }
                }
            }
        }
        Ok(Started::Done {
            rowcount: total,
            lastrowid: None,
        })
    }
}
