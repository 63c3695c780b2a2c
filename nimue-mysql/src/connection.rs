//! `MySqlConnection`: a PEP 249 connection over one `mysql::Conn`.

use crate::convert::{describe, from_mysql, to_mysql};
use crate::error::{is_gone, map_err};
use mysql::prelude::Queryable;
use nimue_core::sql::{starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, BufferedCursor, Column, Columns, Connection, Error, Execute, Result,
    ResultSet, Row, Value,
};
use std::collections::VecDeque;

/// A connection to a MySQL or MariaDB server.
///
/// The session runs with `autocommit=0` (PEP 249's default): every statement is inside a
/// transaction until `commit()` or `rollback()`, with no extra round trip to open one.
/// Statements are prepared once and cached by the driver. `rowcount` counts matched rows
/// for `UPDATE` (the `CLIENT_FOUND_ROWS` behaviour, as PostgreSQL and SQLite count).
pub struct MySqlConnection {
    conn: mysql::Conn,
    autocommit: bool,
    /// A statement ran since the last commit/rollback (so the session holds a transaction).
    in_transaction: bool,
    /// A statement ran since the last reset (so the session may hold state to clear).
    used: bool,
    broken: bool,
    reset_session: bool,
    /// Whether the last `reset` cleared the session (`COM_RESET_CONNECTION`).
    session_cleared: bool,
}

impl std::fmt::Debug for MySqlConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlConnection")
            .field("connection_id", &self.conn.connection_id())
            .field("autocommit", &self.autocommit)
            .field("in_transaction", &self.in_transaction)
            .field("broken", &self.broken)
            .finish()
    }
}

impl MySqlConnection {
    /// Wrap a driver connection whose session already has `autocommit=0` (the connector's
    /// init command sets it). With `reset_session`, [`reset`](Connection::reset) clears all
    /// session state with `COM_RESET_CONNECTION`; without, it only rolls back.
    pub fn from_conn(conn: mysql::Conn, reset_session: bool) -> Self {
        MySqlConnection {
            conn,
            autocommit: false,
            in_transaction: false,
            used: false,
            broken: false,
            reset_session,
            session_cleared: false,
        }
    }

    /// The server's id for this session, for `KILL <id>` or the process list.
    pub fn connection_id(&self) -> u32 {
        self.conn.connection_id()
    }

    /// The underlying driver connection, for what nimue does not cover. Statements run
    /// through it bypass nimue's transaction tracking.
    pub fn conn(&mut self) -> &mut mysql::Conn {
        &mut self.conn
    }

    /// Remember that the connection is gone, so the pool discards it.
    fn watch<T>(&mut self, result: std::result::Result<T, mysql::Error>) -> Result<T> {
        result.map_err(|e| {
            self.broken |= is_gone(&e);
            map_err(e)
        })
    }

    fn run(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        self.used = true;
        let prepared = self.conn.prep(sql);
        let stmt = self.watch(prepared)?;
        check_param_count(usize::from(stmt.num_params()), params.len())?;
        let args = match params {
            [] => mysql::Params::Empty,
            _ => mysql::Params::Positional(params.iter().map(to_mysql).collect()),
        };
        if !self.autocommit {
            self.in_transaction = true;
        }
        let executed = self.conn.exec_iter(&stmt, args);
        let mut result = match executed {
            Ok(result) => result,
            Err(e) => {
                // `self.conn` stays borrowed by `executed`; `broken` is a separate field.
                self.broken |= is_gone(&e);
                return Err(map_err(e));
            }
        };
        let my_columns: Vec<mysql::Column> = result.columns().as_ref().to_vec();
        if my_columns.is_empty() {
            let rowcount = if starts_with_any(sql, &DML_KEYWORDS) {
                result.affected_rows() as i64
            } else {
                -1
            };
            let lastrowid = result
                .last_insert_id()
                .filter(|id| *id != 0)
                .and_then(|id| i64::try_from(id).ok());
            return Ok(ResultSet::no_rows(rowcount, lastrowid));
        }
        let columns: Columns = my_columns
            .iter()
            .map(|c| {
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
            })
            .collect();
        let mut gone = false;
        let rows = result
            .by_ref()
            .map(|raw| {
                let raw = raw.map_err(|e| {
                    gone |= is_gone(&e);
                    map_err(e)
                })?;
                let values = raw
                    .unwrap()
                    .into_iter()
                    .zip(&my_columns)
                    .map(|(v, c)| from_mysql(v, c))
                    .collect::<Result<Vec<Value>>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect::<Result<VecDeque<Row>>>();
        // Dropping the result reads whatever the server still sends: the protocol stays in
        // step even when a row failed to convert.
        drop(result);
        self.broken |= gone;
        Ok(ResultSet::with_rows(columns, rows?))
    }
}

impl Execute for MySqlConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        self.run(sql, params)
    }
}

impl Connection for MySqlConnection {
    type Cursor<'c> = BufferedCursor<'c, MySqlConnection>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(BufferedCursor::new(self))
    }

    fn commit(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.in_transaction) {
            return Ok(());
        }
        let done = self.conn.query_drop("COMMIT");
        self.watch(done)
    }

    fn rollback(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.in_transaction) {
            return Ok(());
        }
        let done = self.conn.query_drop("ROLLBACK");
        self.watch(done)
    }

    /// Sends `COM_QUIT` and closes the socket (the driver does it on drop).
    fn close(self) -> Result<()> {
        drop(self.conn);
        Ok(())
    }

    fn autocommit(&self) -> bool {
        self.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if on && self.in_transaction {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction: commit or roll back first",
            ));
        }
        let done = self.conn.query_drop(if on {
            "SET autocommit=1"
        } else {
            "SET autocommit=0"
        });
        self.watch(done)?;
        self.autocommit = on;
        self.used = true;
        Ok(())
    }

    /// The protocol's `COM_PING`.
    fn ping(&mut self) -> Result<()> {
        let done = self.conn.ping();
        self.watch(done)
    }

    fn is_broken(&self) -> bool {
        self.broken
    }

    /// Roll back and clear the session: with `COM_RESET_CONNECTION` (one round trip that
    /// also drops temporary tables, user variables and prepared statements) when the
    /// connection was used and the connector resets sessions, else a `ROLLBACK` when a
    /// transaction is open. Either way the session is back to `autocommit=0`.
    /// `COM_RESET_CONNECTION` (with `reset_session`, on a used connection) clears session
    /// variables: the pool runs its `on_connect` set-up again.
    fn reset_cleared_session(&self) -> bool {
        self.session_cleared
    }

    fn reset(&mut self) -> Result<()> {
        self.session_cleared = self.reset_session && std::mem::take(&mut self.used);
        if self.session_cleared {
            let done = self.conn.reset();
            self.watch(done)?;
        } else {
            self.rollback()?;
            if self.autocommit {
                let done = self.conn.query_drop("SET autocommit=0");
                self.watch(done)?;
            }
        }
        self.in_transaction = false;
        self.autocommit = false;
        Ok(())
    }
}
