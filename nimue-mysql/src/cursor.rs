//! The statement side of MySQL's streaming cursor: a prepared (cached) statement executed with
//! the binary protocol, its rows read from the socket one at a time as they are fetched.

use crate::convert::{cell_of, describe, from_mysql, to_mysql};
use crate::error::is_gone;
use crate::session::Session;
use mysql::prelude::Queryable;
use mysql::{Binary, QueryResult};
use nimue_core::sql::{starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, CellRef, Column, Columns, Error, RawRow, Result, Row, RowStream, Started,
    Value,
};

/// A running statement: the driver connection and the result reading from it (which borrows
/// it mutably until the result is dropped).
#[ouroboros::self_referencing]
struct Running<'c> {
    conn: &'c mut mysql::Conn,
    #[borrows(mut conn)]
    #[not_covariant]
    result: QueryResult<'this, 'this, 'this, Binary>,
}

/// The rows of the statement a [`MySqlCursor`](crate::MySqlCursor) runs.
///
/// The MySQL protocol has one result in flight per connection: until a query's last row has
/// been read, the rest of its rows wait in the socket. Executing the next statement, or
/// dropping the cursor, first reads (and discards) what is left, so the connection is always in
/// step for the next command.
pub struct MySqlStream<'c> {
    /// PEP 249's bookkeeping of the connection (transaction, use, broken).
    session: &'c mut Session,
    /// The driver connection while no result is being read.
    idle: Option<&'c mut mysql::Conn>,
    /// The query whose rows are being read, until its last row.
    running: Option<Running<'c>>,
    /// Its columns: the description, and the driver's for the conversions.
    columns: Columns,
    my_columns: Vec<mysql::Column>,
}

impl std::fmt::Debug for MySqlStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStream")
            .field("running", &self.running.is_some())
            .field("columns", &self.columns)
            .finish()
    }
}

impl<'c> MySqlStream<'c> {
    pub(crate) fn new(conn: &'c mut mysql::Conn, session: &'c mut Session) -> Self {
        MySqlStream {
            session,
            idle: Some(conn),
            running: None,
            columns: Columns::from(Vec::new()),
            my_columns: Vec::new(),
        }
    }

    /// End the running statement, if any: read what is left of its results (the protocol
    /// needs it before the next command) and take the connection back.
    fn finish(&mut self) {
        if let Some(mut running) = self.running.take() {
            let gone = running.with_result_mut(drain);
            self.session.broken |= gone;
            let conn = running.into_heads().conn;
            self.session.ended(conn);
            self.idle = Some(conn);
        }
    }

    /// Start `sql`: prepare (cached), check the parameters, open PEP 249's implicit
    /// transaction, execute, and keep the result when it has rows.
    fn begin(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        let Some(conn) = self.idle.as_deref_mut() else {
            // Only after a panic while a statement was starting.
            return Err(Error::interface(
                "the cursor lost its connection: create a new cursor",
            ));
        };
        let prepared = conn.prep(sql);
        let stmt = self.session.watch(prepared)?;
        check_param_count(usize::from(stmt.num_params()), params.len())?;
        let args = match params {
            [] => mysql::Params::Empty,
            _ => mysql::Params::Positional(params.iter().map(to_mysql).collect()),
        };
        self.session.starting(sql);
        let conn = self.idle.take().expect("checked above");
        let running = match Running::try_new_or_recover(conn, |conn| conn.exec_iter(&stmt, args)) {
            Ok(running) => running,
            Err((e, heads)) => {
                self.idle = Some(heads.conn);
                return self.session.watch(Err(e));
            }
        };
        // Its columns, or (no result set) what it did.
        let outcome = self.running.insert(running).with_result(|result| {
            let my_columns = result.columns();
            if my_columns.as_ref().is_empty() {
                let rowcount = if starts_with_any(sql, &DML_KEYWORDS) {
                    result.affected_rows() as i64
                } else {
                    -1
                };
                let lastrowid = result
                    .last_insert_id()
                    .filter(|id| *id != 0)
                    .and_then(|id| i64::try_from(id).ok());
                Err(Started::Done {
                    rowcount,
                    lastrowid,
                })
            } else {
                Ok(my_columns.as_ref().to_vec())
            }
        });
        match outcome {
            Ok(my_columns) => {
                self.columns = my_columns.iter().map(column).collect();
                self.my_columns = my_columns;
                Ok(Started::Rows(self.columns.clone()))
            }
            Err(done) => {
                // No result set: read the rest (a procedure's final status) now.
                self.finish();
                Ok(done)
            }
        }
    }
}

impl RowStream for MySqlStream<'_> {
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        // The previous statement's unread rows are read and dropped first.
        self.finish();
        self.begin(sql, params)
    }

    /// The cells straight from the driver's row: text and bytes are not copied until read.
    fn next_raw(&mut self, f: &mut dyn FnMut(&dyn RawRow)) -> Result<bool> {
        let Some(running) = &mut self.running else {
            return Ok(false);
        };
        let next = running.with_result_mut(|result| result.next());
        let got = match next {
            Some(Ok(row)) => {
                f(&MyRow {
                    row: &row,
                    columns: &self.my_columns,
                });
                return Ok(true);
            }
            Some(Err(e)) => self.session.watch(Err(e)),
            None => Ok(false),
        };
        // The end, or an error: the statement is finished either way.
        self.finish();
        got
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        let Some(running) = &mut self.running else {
            return Ok(None);
        };
        let next = running.with_result_mut(|result| result.next());
        let row = match next {
            Some(Ok(raw)) => read(raw, &self.columns, &self.my_columns).map(Some),
            Some(Err(e)) => self.session.watch(Err(e)),
            None => Ok(None),
        };
        if !matches!(row, Ok(Some(_))) {
            // The end, or an error: the statement is finished either way (what is left is read
            // so that the protocol stays in step, even when a row failed to convert).
            self.finish();
        }
        row
    }
}

/// A row of the driver's, read in place.
struct MyRow<'a> {
    row: &'a mysql::Row,
    columns: &'a [mysql::Column],
}

impl RawRow for MyRow<'_> {
    fn cell(&self, i: usize) -> Result<CellRef<'_>> {
        match self.row.as_ref(i) {
            Some(value) => cell_of(value, &self.columns[i]),
            None => Err(Error::interface(format!("column {i} was already taken"))),
        }
    }

    fn text(&self, i: usize) -> Option<&str> {
        match cell_of(self.row.as_ref(i)?, &self.columns[i]) {
            Ok(CellRef::Text(s)) => Some(s),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match cell_of(self.row.as_ref(i)?, &self.columns[i]) {
            Ok(CellRef::Value(Value::Int(n))) => Some(n),
            _ => None,
        }
    }
}

impl Drop for MySqlStream<'_> {
    /// A cursor dropped in the middle of a result reads the rest of it: the connection's next
    /// command (commit, rollback, reset, ping) must not find rows in its way.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Read and discard what is left of a result (all its result sets); whether the connection
/// was lost on the way.
fn drain(result: &mut QueryResult<'_, '_, '_, Binary>) -> bool {
    let mut gone = false;
    while let Some(set) = result.iter() {
        for row in set {
            if let Err(e) = row {
                gone |= is_gone(&e);
            }
        }
    }
    gone
}

/// The values of one row read from the server.
fn read(raw: mysql::Row, columns: &Columns, my_columns: &[mysql::Column]) -> Result<Row> {
    let values = raw
        .unwrap()
        .into_iter()
        .zip(my_columns)
        .map(|(v, c)| from_mysql(v, c))
        .collect::<Result<Vec<Value>>>()?;
    Ok(Row::new(columns.clone(), values))
}

/// The PEP 249 description of a result column.
fn column(c: &mysql::Column) -> Column {
    let (code, name) = describe(c);
    let not_null = c
        .flags()
        .contains(mysql::consts::ColumnFlags::NOT_NULL_FLAG);
    Column::new(c.name_str(), code)
        .with_type_name(name)
        .with_sizes(
            Some(c.column_length() as usize),
            None,
            Some(u32::from(c.decimals())),
            Some(!not_null),
        )
}
