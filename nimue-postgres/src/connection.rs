//! `PgConnection`: a PEP 249 connection over one synchronous `postgres::Client`.

use crate::convert::{type_code, Param, PgValue};
use crate::error::map_err;
use crate::placeholders::rewrite_placeholders;
use nimue_core::sql::{first_keyword, starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, BufferedCursor, Column, Columns, Connection, Error, Execute, Result,
    ResultSet, Row, Value,
};
use postgres::types::ToSql;
use postgres::{Client, Statement};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Prepared statements kept per connection before the cache is emptied and refilled.
const STATEMENT_CACHE_SIZE: usize = 256;

/// A connection to a PostgreSQL server.
///
/// Statements use `?` placeholders (rewritten to `$n`, see
/// [`rewrite_placeholders`](crate::rewrite_placeholders)) and are prepared once per
/// connection, so a repeated statement costs one round trip. With autocommit off (PEP 249's
/// default) the first statement sends `BEGIN`; `commit()`/`rollback()` end the transaction.
/// After an error inside a transaction PostgreSQL refuses further statements until
/// `rollback()`, as with every PEP 249 driver.
pub struct PgConnection {
    client: Client,
    autocommit: bool,
    /// Whether this side has opened a transaction that is not yet ended.
    in_transaction: bool,
    statements: HashMap<String, Statement>,
    ping_timeout: Duration,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("closed", &self.client.is_closed())
            .field("autocommit", &self.autocommit)
            .field("in_transaction", &self.in_transaction)
            .field("cached_statements", &self.statements.len())
            .finish()
    }
}

impl PgConnection {
    /// Wrap a connected client (autocommit off, as PEP 249 wants). `ping_timeout` bounds
    /// [`ping`](Connection::ping).
    pub fn from_client(client: Client, ping_timeout: Duration) -> Self {
        PgConnection {
            client,
            autocommit: false,
            in_transaction: false,
            statements: HashMap::new(),
            ping_timeout,
        }
    }

    /// The underlying client, for what nimue does not cover (COPY, notifications, ...).
    /// Statements run through it bypass nimue's transaction tracking.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The backend's process id, for `pg_terminate_backend` or `pg_cancel_backend`.
    pub fn backend_pid(&mut self) -> Result<i32> {
        let row = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    /// The prepared statement for `sql`, from the cache or prepared now.
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let (rewritten, _) = rewrite_placeholders(sql);
        let stmt = self.client.prepare(&rewritten).map_err(map_err)?;
        if self.statements.len() >= STATEMENT_CACHE_SIZE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    fn run(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        let stmt = self.statement(sql)?;
        check_param_count(stmt.params().len(), params.len())?;
        let keyword = first_keyword(sql).to_ascii_uppercase();
        let control = matches!(
            keyword.as_str(),
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
        );
        if !self.autocommit && !self.in_transaction && !control {
            self.client.batch_execute("BEGIN").map_err(map_err)?;
            self.in_transaction = true;
        }
        let args: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|p| p as _).collect();
        let result = if stmt.columns().is_empty() {
            let changed = self.client.execute(&stmt, &refs).map_err(map_err)?;
            let rowcount = if starts_with_any(sql, &DML_KEYWORDS) {
                changed as i64
            } else {
                -1
            };
            ResultSet::no_rows(rowcount, None)
        } else {
            let rows = self.client.query(&stmt, &refs).map_err(map_err)?;
            let columns: Columns = stmt
                .columns()
                .iter()
                .map(|c| {
                    Column::new(c.name(), type_code(c.type_())).with_type_name(c.type_().name())
                })
                .collect();
            let rows = rows
                .iter()
                .map(|row| {
                    let values = (0..row.len())
                        .map(|i| row.try_get::<_, PgValue>(i).map(|v| v.0))
                        .collect::<Result<Vec<Value>, _>>()
                        .map_err(map_err)?;
                    Ok(Row::new(columns.clone(), values))
                })
                .collect::<Result<VecDeque<Row>>>()?;
            ResultSet::with_rows(columns, rows)
        };
        match keyword.as_str() {
            "BEGIN" | "START" => self.in_transaction = true,
            "ROLLBACK" if is_rollback_to_savepoint(sql) => {}
            "COMMIT" | "END" | "ROLLBACK" | "ABORT" => self.in_transaction = false,
            // DDL may change what cached statements return: prepare them again.
            "CREATE" | "DROP" | "ALTER" => self.statements.clear(),
            _ => {}
        }
        Ok(result)
    }

    fn end_transaction(&mut self, command: &str) -> Result<()> {
        if !self.in_transaction {
            return Ok(());
        }
        // Whatever the outcome, the server has no transaction of ours afterwards (a failed
        // COMMIT rolls back; a failed send means the connection is gone).
        self.in_transaction = false;
        self.client.batch_execute(command).map_err(map_err)
    }
}

/// `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] name` keeps the transaction open.
fn is_rollback_to_savepoint(sql: &str) -> bool {
    sql.split_whitespace()
        .skip(1)
        .take(2)
        .any(|word| word.eq_ignore_ascii_case("TO"))
}

impl Execute for PgConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        let result = self.run(sql, params);
        if let Err(e) = &result {
            // A statement cached before another connection changed the schema.
            if matches!(e.sqlstate(), Some("0A000" | "26000")) {
                self.statements.remove(sql);
            }
        }
        result
    }
}

impl Connection for PgConnection {
    type Cursor<'c> = BufferedCursor<'c, PgConnection>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(BufferedCursor::new(self))
    }

    fn commit(&mut self) -> Result<()> {
        self.end_transaction("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.end_transaction("ROLLBACK")
    }

    fn close(self) -> Result<()> {
        self.client.close().map_err(map_err)
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
        self.autocommit = on;
        Ok(())
    }

    /// An empty query round trip, bounded by the connector's ping timeout.
    fn ping(&mut self) -> Result<()> {
        self.client.is_valid(self.ping_timeout).map_err(map_err)
    }

    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::is_rollback_to_savepoint;

    #[test]
    fn rollback_to_savepoint_is_recognised() {
        assert!(is_rollback_to_savepoint("ROLLBACK TO SAVEPOINT a"));
        assert!(is_rollback_to_savepoint("rollback work to a"));
        assert!(!is_rollback_to_savepoint("ROLLBACK"));
        assert!(!is_rollback_to_savepoint("ROLLBACK TRANSACTION"));
    }
}
