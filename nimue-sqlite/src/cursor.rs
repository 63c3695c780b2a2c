//! The statement side of SQLite's streaming cursor: a prepared (cached) statement stepped one
//! row at a time, so a scan never holds more than the rows read ahead.

use crate::connection::SqliteConnection;
use crate::convert::{cell_of, from_sql, type_code, Hint, Param};
use crate::error::map_err;
use nimue_core::sql::{starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, CellRef, Column, Columns, RawRow, Result, Row, RowStream, Started, Value,
};
use rusqlite::types::ValueRef;

/// How to read each column of a result, shared like its [`Columns`].
pub(crate) type Hints = std::sync::Arc<[Hint]>;

/// A running query: the statement and the rows stepping through it (which borrow it).
#[ouroboros::self_referencing]
struct Running<'c> {
    stmt: rusqlite::CachedStatement<'c>,
    #[borrows(mut stmt)]
    #[not_covariant]
    rows: rusqlite::Rows<'this>,
}

/// The rows of the statement a [`SqliteCursor`](crate::SqliteCursor) runs.
pub struct SqliteStream<'c> {
    conn: &'c SqliteConnection,
    /// The query whose rows are being read, until its last row.
    running: Option<Running<'c>>,
    /// Its columns and how to read each.
    columns: Columns,
    hints: Hints,
    /// Its first row, read when it started (SQLite describes a statement reliably only once
    /// it has been stepped).
    first: Option<Row>,
    /// An `INSERT`/`REPLACE ... RETURNING`: `lastrowid` is read at its end.
    inserts: bool,
}

impl<'c> SqliteStream<'c> {
    pub(crate) fn new(conn: &'c SqliteConnection) -> Self {
        SqliteStream {
            conn,
            running: None,
            columns: Columns::from(Vec::new()),
            hints: Hints::from(Vec::new()),
            first: None,
            inserts: false,
        }
    }

    /// Start `sql`: prepare it, then run it (no result set) or step to its first row.
    fn begin(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        let conn = self.conn;
        let mut stmt = prepare(conn, sql, params)?;
        // Only a statement that writes can be an INSERT (a SELECT is read-only).
        self.inserts = !stmt.readonly() && starts_with_any(sql, &["INSERT", "REPLACE"]);
        if stmt.column_count() == 0 {
            stmt.raw_execute().map_err(map_err)?;
            let writes = starts_with_any(sql, &DML_KEYWORDS);
            let rowcount = if writes {
                conn.raw().changes() as i64
            } else {
                -1
            };
            return Ok(Started::Done {
                rowcount,
                lastrowid: self.lastrowid(),
            });
        }
        let mut running = Running::new(stmt, |stmt| stmt.raw_query());
        // Describe the columns only once the statement has been stepped: SQLite recompiles a
        // cached statement after a schema change at its first step, and the declared types of
        // the old compilation would be stale.
        let first = running.with_rows_mut(|rows| -> Result<Option<_>> {
            match rows.next().map_err(map_err)? {
                Some(row) => {
                    let (columns, hints) = conn.describe(row.as_ref());
                    let values = read(row, &hints)?;
                    Ok(Some((columns, hints, values)))
                }
                None => Ok(None),
            }
        })?;
        match first {
            Some((columns, hints, values)) => {
                self.first = Some(Row::new(columns.clone(), values));
                self.columns = columns;
                self.hints = hints;
                self.running = Some(running);
            }
            None => {
                // No rows: the statement is done (and was stepped, so its description holds).
                let stmt = running.into_heads().stmt;
                (self.columns, self.hints) = conn.describe(&stmt);
            }
        }
        Ok(Started::Rows(self.columns.clone()))
    }
}

impl RowStream for SqliteStream<'_> {
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        // The previous statement ends (and releases its read snapshot) first.
        self.running = None;
        self.first = None;
        let started = self.begin(sql, params);
        self.conn.watch(started)
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        let Some(running) = &mut self.running else {
            return Ok(None);
        };
        let (columns, hints) = (&self.columns, &self.hints);
        let next = running.with_rows_mut(|rows| -> Result<Option<Row>> {
            match rows.next().map_err(map_err)? {
                Some(row) => Ok(Some(Row::new(columns.clone(), read(row, hints)?))),
                None => Ok(None),
            }
        });
        if !matches!(next, Ok(Some(_))) {
            // The end, or an error: the statement is finished either way.
            self.running = None;
        }
        self.conn.watch(next)
    }

    /// The cells straight from SQLite's row: text and blobs are not copied until read.
    fn next_raw(&mut self, f: &mut dyn FnMut(&dyn RawRow)) -> Result<bool> {
        if let Some(first) = self.first.take() {
            f(&first);
            return Ok(true);
        }
        let Some(running) = &mut self.running else {
            return Ok(false);
        };
        let hints = &self.hints;
        let next = running.with_rows_mut(|rows| -> Result<bool> {
            match rows.next().map_err(map_err)? {
                Some(row) => {
                    f(&SqliteRow { row, hints });
                    Ok(true)
                }
                None => Ok(false),
            }
        });
        if !matches!(next, Ok(true)) {
            // The end, or an error: the statement is finished either way.
            self.running = None;
        }
        self.conn.watch(next)
    }

    fn lastrowid(&self) -> Option<i64> {
        self.inserts.then(|| self.conn.raw().last_insert_rowid())
    }
}

/// A row of SQLite's, read in place.
struct SqliteRow<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    hints: &'a [Hint],
}

impl RawRow for SqliteRow<'_, '_> {
    fn cell(&self, i: usize) -> Result<CellRef<'_>> {
        cell_of(self.row.get_ref(i).map_err(map_err)?, self.hints[i])
    }

    fn text(&self, i: usize) -> Option<&str> {
        match (self.row.get_ref(i), self.hints.get(i)) {
            (Ok(ValueRef::Text(bytes)), Some(Hint::None)) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match (self.row.get_ref(i), self.hints.get(i)) {
            (Ok(ValueRef::Integer(n)), Some(Hint::None)) => Some(n),
            _ => None,
        }
    }
}

/// A statement ready to run: prepared (cached), its parameters checked and bound, and PEP
/// 249's implicit transaction opened when it writes.
pub(crate) fn prepare<'c>(
    conn: &'c SqliteConnection,
    sql: &str,
    params: &[Value],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.raw().prepare_cached(sql).map_err(map_err)?;
    check_param_count(stmt.parameter_count(), params.len())?;
    conn.starting(&stmt, sql)?;
    for (i, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(value))
            .map_err(map_err)?;
    }
    Ok(stmt)
}

/// The values of one stepped row.
pub(crate) fn read(row: &rusqlite::Row<'_>, hints: &[Hint]) -> Result<Vec<Value>> {
    hints
        .iter()
        .enumerate()
        .map(|(i, hint)| from_sql(row.get_ref(i).map_err(map_err)?, *hint))
        .collect()
}

/// The descriptions of recent statements, reused while a statement's columns (names and
/// declared types, compared on every execution) are the same: describing allocates every
/// name, which costs more than a point query itself.
#[derive(Default)]
pub(crate) struct Descriptions {
    recent: Vec<(Columns, Hints)>,
    /// The entry the next new description replaces.
    next: usize,
}

/// How many descriptions are kept.
const KEPT: usize = 8;

impl Descriptions {
    /// The description of a (stepped) statement, from the kept ones when it matches.
    pub(crate) fn get(&mut self, stmt: &rusqlite::Statement<'_>) -> (Columns, Hints) {
        // A `Vec` from rusqlite 0.40, an iterator from 0.43 on: collected either way.
        let now: Vec<rusqlite::Column<'_>> = stmt.columns().into_iter().collect();
        let same = |columns: &Columns| {
            columns.len() == now.len()
                && columns.iter().zip(&now).all(|(kept, c)| {
                    kept.name == c.name() && kept.type_name.as_deref() == c.decl_type()
                })
        };
        if let Some((columns, hints)) = self.recent.iter().find(|(columns, _)| same(columns)) {
            return (columns.clone(), hints.clone());
        }
        let described = describe(&now);
        if self.recent.len() < KEPT {
            self.recent.push(described.clone());
        } else {
            self.recent[self.next] = described.clone();
            self.next = (self.next + 1) % KEPT;
        }
        described
    }
}

/// Describe result columns, with how to read each.
fn describe(columns: &[rusqlite::Column<'_>]) -> (Columns, Hints) {
    let (columns, hints): (Vec<Column>, Vec<Hint>) = columns
        .iter()
        .map(|c| {
            let column = Column::new(c.name(), type_code(c.decl_type()));
            let column = match c.decl_type() {
                Some(t) => column.with_type_name(t),
                None => column,
            };
            (column, Hint::from_decltype(c.decl_type()))
        })
        .unzip();
    (columns.into(), hints.into())
}
