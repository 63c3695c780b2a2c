//! Nothing of one checkout reaches the next: whatever a user did to the session (a transaction
//! left open by any statement, a setting, a temporary object), the next checkout of the same
//! connection sees what a fresh session would. One connection per pool, so the next checkout
//! is the same server session.

mod common;

use nimue::{Connect, Connection, Pool, Value};

/// A pool of one connection, with autocommit as PEP 249 has it (off) unless `autocommit`.
fn pool_of_one<K: Connect>(connector: K, autocommit: bool) -> Pool<K> {
    Pool::builder(connector)
        .max_size(1)
        .min_idle(1)
        .autocommit(autocommit)
        .build()
        .unwrap()
}

/// What `sql` returns, as text, one entry per row.
fn rows(conn: &mut impl Connection, sql: &str) -> Vec<String> {
    conn.query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|row| {
            (0..row.len())
                .map(|i| match row.value(i).expect("a column") {
                    Value::Null => "NULL".to_owned(),
                    Value::Text(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// What `sql` gives: its rows, or the error's SQLSTATE (the probe of something absent).
fn probe(conn: &mut impl Connection, sql: &str) -> String {
    match conn.query(sql, &[]) {
        Ok(_) => rows(conn, sql).join(","),
        Err(e) => format!("error {}", e.sqlstate().unwrap_or("?")),
    }
}

/// A change a checkout makes to its session: its name, and what it runs.
type Change<C> = (&'static str, fn(&mut C));

/// For each change: check out the pool's one connection, make the change, give it back;
/// then the next checkout's `snapshot` must be that of a fresh pool's first checkout.
fn compare_with_fresh<K: Connect + Clone>(
    connector: K,
    autocommit: bool,
    changes: &[Change<K::Connection>],
    snapshot: fn(&mut K::Connection) -> Vec<String>,
) {
    let fresh = {
        let pool = pool_of_one(connector.clone(), autocommit);
        let first = snapshot(&mut *pool.get().unwrap());
        pool.close();
        first
    };
    let pool = pool_of_one(connector, autocommit);
    let mut leaks = Vec::new();
    for (name, change) in changes {
        change(&mut *pool.get().unwrap());
        let next = snapshot(&mut *pool.get().unwrap());
        if next != fresh {
            leaks.push(format!("after {name}: {next:?}"));
        }
    }
    pool.close();
    assert!(
        leaks.is_empty(),
        "the next checkout differs from a fresh session {fresh:?}:\n{}",
        leaks.join("\n")
    );
}

/// Run each of `sql`, failing on an error.
fn run(conn: &mut impl Connection, sql: &[&str]) {
    for sql in sql {
        conn.execute(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use nimue::sqlite::{SqliteConnection, SqliteConnector};

    fn snapshot(conn: &mut SqliteConnection) -> Vec<String> {
        let seen = [
            "PRAGMA foreign_keys",
            "PRAGMA busy_timeout",
            "PRAGMA query_only",
            "PRAGMA recursive_triggers",
            "SELECT name FROM pragma_database_list ORDER BY name",
            "SELECT name FROM temp.sqlite_master ORDER BY name",
        ]
        .iter()
        .map(|sql| probe(conn, sql))
        .collect();
        conn.rollback().unwrap();
        seen
    }

    fn changes() -> Vec<Change<SqliteConnection>> {
        vec![
            ("PRAGMA foreign_keys = OFF", |c| {
                run(c, &["PRAGMA foreign_keys = OFF"])
            }),
            ("PRAGMA busy_timeout = 0", |c| {
                run(c, &["PRAGMA busy_timeout = 0"])
            }),
            ("PRAGMA query_only = ON", |c| {
                run(c, &["PRAGMA query_only = ON"])
            }),
            ("PRAGMA recursive_triggers", |c| {
                run(c, &["PRAGMA recursive_triggers = 1"])
            }),
            ("ATTACH", |c| run(c, &["ATTACH ':memory:' AS other"])),
            ("a committed temporary table", |c| {
                run(c, &["CREATE TEMP TABLE nimue_tmp (n INTEGER)"]);
                c.commit().unwrap();
            }),
            ("a temporary table by schema name", |c| {
                run(c, &["CREATE TABLE temp.nimue_tmp2 (n INTEGER)"]);
                c.commit().unwrap();
            }),
            ("a temporary view", |c| {
                run(c, &["CREATE TEMP VIEW nimue_view AS SELECT 1"]);
                c.commit().unwrap();
            }),
            ("the same PRAGMA again (a cached statement)", |c| {
                run(c, &["PRAGMA foreign_keys = OFF"])
            }),
            ("the driver's connection", |c| {
                c.native_mut()
                    .execute_batch("PRAGMA foreign_keys = OFF")
                    .unwrap();
            }),
        ]
    }

    #[test]
    fn the_next_checkout_sees_a_fresh_session() {
        let dir = tempfile::tempdir().unwrap();
        let connector = SqliteConnector::new(dir.path().join("reset.db"));
        compare_with_fresh(connector.clone(), false, &changes(), snapshot);
        compare_with_fresh(connector, true, &changes(), snapshot);
    }

    #[test]
    fn the_connector_settings_and_on_connect_survive_a_replaced_connection() {
        let dir = tempfile::tempdir().unwrap();
        let connector = SqliteConnector::new(dir.path().join("setup.db")).foreign_keys(false);
        let pool = Pool::builder(connector)
            .max_size(1)
            .on_connect(|c| {
                c.execute("PRAGMA recursive_triggers = 1", &[])?;
                Ok(())
            })
            .build()
            .unwrap();
        for _ in 0..3 {
            let mut c = pool.get().unwrap();
            assert_eq!(probe(&mut *c, "PRAGMA foreign_keys"), "Int(0)");
            assert_eq!(probe(&mut *c, "PRAGMA recursive_triggers"), "Int(1)");
            run(
                &mut *c,
                &["PRAGMA recursive_triggers = 0", "PRAGMA foreign_keys = 1"],
            );
        }
    }
}

#[cfg(feature = "mysql")]
mod mariadb {
    use super::*;
    use nimue::mysql::mysql::{self, prelude::Queryable};
    use nimue::mysql::{MySqlConnection, MySqlConnector};

    fn connector() -> Option<MySqlConnector> {
        let url = common::server_env("NIMUE_TEST_MYSQL_URL")?;
        let connector = MySqlConnector::from_url(&url).unwrap();
        let mut conn = connector.connect().unwrap();
        conn.set_autocommit(true).unwrap();
        run(
            &mut conn,
            &[
                "CREATE TABLE IF NOT EXISTS nimue_reset_ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
                "CREATE TABLE IF NOT EXISTS nimue_reset_rw (v INT)",
                "CREATE SEQUENCE IF NOT EXISTS nimue_reset_seq",
            ],
        );
        Some(connector)
    }

    /// What a driver-level statement gives (for what the binary protocol refuses: SQL
    /// `PREPARE`/`EXECUTE`, `HANDLER`).
    fn native(conn: &mut MySqlConnection, sql: &str) -> String {
        match conn.conn().query::<Option<String>, _>(sql) {
            Ok(rows) => format!("{rows:?}"),
            Err(mysql::Error::MySqlError(e)) => format!("error {}", e.code),
            Err(e) => format!("error {e}"),
        }
    }

    fn snapshot(conn: &mut MySqlConnection) -> Vec<String> {
        let mut seen: Vec<String> = [
            "SELECT LAST_INSERT_ID()",
            "SELECT LASTVAL(nimue_reset_seq)",
            "SELECT @nimue_v",
            "SELECT @@session.sql_mode, @@session.time_zone, @@session.tx_isolation",
            "SELECT @@session.autocommit, @@session.tx_read_only",
            "SELECT IS_FREE_LOCK('nimue_reset_lock')",
            "SELECT DATABASE()",
            "SELECT COUNT(*) FROM nimue_reset_tmp",
        ]
        .iter()
        .map(|sql| probe(conn, sql))
        .collect();
        seen.push(native(conn, "EXECUTE nimue_reset_stmt"));
        seen.push(native(conn, "HANDLER nimue_reset_rw READ FIRST"));
        // A write is not refused (SET TRANSACTION READ ONLY of the previous user).
        seen.push(
            match conn.execute("INSERT INTO nimue_reset_rw VALUES (1)", &[]) {
                Ok(n) => format!("wrote {n}"),
                Err(e) => format!("error {}", e.sqlstate().unwrap_or("?")),
            },
        );
        conn.rollback().unwrap();
        seen
    }

    fn changes() -> Vec<Change<MySqlConnection>> {
        vec![
            ("LAST_INSERT_ID(42)", |c| {
                run(c, &["SELECT LAST_INSERT_ID(42)"])
            }),
            ("an auto-increment insert", |c| {
                run(c, &["INSERT INTO nimue_reset_ai (v) VALUES (1)"]);
                c.commit().unwrap();
            }),
            ("NEXTVAL", |c| run(c, &["SELECT NEXTVAL(nimue_reset_seq)"])),
            ("HANDLER OPEN", |c| {
                native(c, "HANDLER nimue_reset_rw OPEN");
            }),
            ("SET TRANSACTION READ ONLY", |c| {
                c.set_autocommit(true).unwrap();
                run(c, &["SET TRANSACTION READ ONLY"]);
            }),
            ("a user variable", |c| run(c, &["SET @nimue_v = 7"])),
            ("a user variable in a query", |c| {
                run(c, &["SELECT @nimue_v := 8"])
            }),
            ("SET SESSION sql_mode", |c| {
                run(c, &["SET SESSION sql_mode = 'ANSI_QUOTES'"])
            }),
            ("SET SESSION time_zone", |c| {
                run(c, &["SET SESSION time_zone = '+05:00'"])
            }),
            ("SET SESSION isolation", |c| {
                run(c, &["SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"])
            }),
            ("a temporary table", |c| {
                run(c, &["CREATE TEMPORARY TABLE nimue_reset_tmp (v INT)"])
            }),
            ("GET_LOCK", |c| {
                run(c, &["SELECT GET_LOCK('nimue_reset_lock', 1)"])
            }),
            ("SQL PREPARE", |c| {
                native(c, "PREPARE nimue_reset_stmt FROM 'SELECT 1'");
            }),
            ("USE another database", |c| {
                run(c, &["USE information_schema"])
            }),
        ]
    }

    #[test]
    fn the_next_checkout_sees_a_fresh_session() {
        let Some(connector) = connector() else { return };
        compare_with_fresh(connector.clone(), false, &changes(), snapshot);
        compare_with_fresh(connector, true, &changes(), snapshot);
    }
}

/// What a PostgreSQL session can hold, as a next user meets it: used on the direct connection
/// and through psqlODBC alike.
#[cfg(any(feature = "postgres", feature = "odbc"))]
mod pg_session {
    use super::*;

    /// Session state a user can leave behind, each probed as the next user would meet it.
    pub fn snapshot<C: Connection>(conn: &mut C) -> Vec<String> {
        let seen = [
            "SELECT current_setting('search_path'), current_setting('TimeZone'), \
             current_setting('DateStyle'), current_setting('statement_timeout'), \
             current_setting('application_name'), current_setting('standard_conforming_strings')",
            // A custom setting, once set, stays defined for the session's life (PostgreSQL's
            // own rule: not even DISCARD ALL removes it); its value is reset to ''.
            "SELECT NULLIF(current_setting('nimue.custom', true), '')",
            "SELECT current_setting('transaction_isolation'), current_setting('default_transaction_read_only')",
            "SELECT session_user = current_user, current_setting('role')",
            "SELECT count(*) FROM pg_prepared_statements WHERE from_sql",
            "SELECT count(*) FROM pg_cursors",
            "SELECT count(*) FROM pg_listening_channels()",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            "SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND pg_table_is_visible(oid)",
            "SELECT lastval()",
        ]
        .iter()
        .map(|sql| {
            let seen = probe(conn, sql);
            conn.rollback().unwrap();
            seen
        })
        .collect();
        seen
    }

    pub fn changes<C: Connection>() -> Vec<Change<C>> {
        vec![
            ("SET search_path", |c| {
                run(c, &["SET search_path = pg_catalog"])
            }),
            ("SET TimeZone", |c| run(c, &["SET TimeZone = 'Asia/Tokyo'"])),
            ("SET DateStyle", |c| run(c, &["SET DateStyle = 'German'"])),
            ("SET statement_timeout", |c| {
                run(c, &["SET statement_timeout = 1234"])
            }),
            ("SET application_name", |c| {
                run(c, &["SET application_name = 'other'"])
            }),
            ("set_config in a query", |c| {
                run(c, &["SELECT set_config('nimue.custom', 'x', false)"]);
                c.commit().unwrap();
            }),
            ("a session's default isolation", |c| {
                run(
                    c,
                    &["SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"],
                );
            }),
            ("default_transaction_read_only", |c| {
                run(c, &["SET default_transaction_read_only = on"])
            }),
            ("SET ROLE", |c| run(c, &["SET ROLE nimue"])),
            ("SQL PREPARE", |c| {
                run(c, &["PREPARE nimue_stmt AS SELECT 1"])
            }),
            ("a cursor WITH HOLD", |c| {
                run(c, &["DECLARE nimue_cur CURSOR WITH HOLD FOR SELECT 1"]);
                c.commit().unwrap();
            }),
            ("LISTEN", |c| {
                run(c, &["LISTEN nimue_channel"]);
                c.commit().unwrap();
            }),
            ("an advisory lock", |c| {
                run(c, &["SELECT pg_advisory_lock(4242)"])
            }),
            ("a temporary table", |c| {
                run(c, &["CREATE TEMP TABLE nimue_tmp (n int)"]);
                c.commit().unwrap();
            }),
            ("nextval", |c| {
                run(c, &["CREATE SEQUENCE IF NOT EXISTS nimue_reset_seq"]);
                c.commit().unwrap();
                run(c, &["SELECT nextval('nimue_reset_seq')"]);
            }),
            ("SET standard_conforming_strings", |c| {
                run(c, &["SET standard_conforming_strings = off"])
            }),
        ]
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use nimue::postgres::PgConnector;

    fn connector() -> Option<PgConnector> {
        let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
        Some(PgConnector::from_url(&url).unwrap())
    }

    /// After `change` (run with autocommit on), the next user's autocommit write is committed
    /// at once and its session holds no transaction: the server's word, not the SQL text's.
    fn next_user_writes_for_real(table: &str, change: &[&str]) {
        let Some(connector) = connector() else { return };
        let mut other = connector.connect().unwrap();
        other
            .execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
            .unwrap();
        other
            .execute(&format!("CREATE TABLE {table} (n int)"), &[])
            .unwrap();
        other.commit().unwrap();
        let pool = pool_of_one(connector, true);
        {
            let mut a = pool.get().unwrap();
            for sql in change {
                a.execute(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
        {
            let mut b = pool.get().unwrap();
            b.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
                .expect("the next user's write is not refused");
            assert_eq!(
                rows(
                    &mut *b,
                    "SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                ),
                ["active"]
            );
            // A savepoint is refused outside a transaction block (25P01).
            let savepoint = b.execute("SAVEPOINT nimue_probe", &[]);
            assert_eq!(
                savepoint
                    .err()
                    .and_then(|e| e.sqlstate().map(str::to_owned))
                    .as_deref(),
                Some("25P01"),
                "no transaction left open under B"
            );
        }
        other.set_autocommit(true).unwrap();
        assert_eq!(
            rows(&mut other, &format!("SELECT count(*) FROM {table}")),
            ["Int(1)"],
            "the next user's autocommit insert is committed"
        );
        other.execute(&format!("DROP TABLE {table}"), &[]).unwrap();
        pool.close();
    }

    #[test]
    fn the_next_checkout_sees_a_fresh_session() {
        let Some(connector) = connector() else { return };
        let (changes, snapshot) = (pg_session::changes(), pg_session::snapshot);
        compare_with_fresh(connector.clone(), false, &changes, snapshot);
        compare_with_fresh(connector, true, &changes, snapshot);
    }

    #[test]
    fn commit_and_chain_leaves_nothing_open() {
        next_user_writes_for_real("nimue_reset_chain1", &["BEGIN", "COMMIT AND CHAIN"]);
    }

    #[test]
    fn rollback_and_chain_leaves_nothing_open() {
        next_user_writes_for_real("nimue_reset_chain2", &["BEGIN", "ROLLBACK AND CHAIN"]);
    }

    #[test]
    fn a_chained_read_only_transaction_leaves_nothing_open() {
        next_user_writes_for_real(
            "nimue_reset_chain3",
            &["BEGIN READ ONLY", "SELECT 1", "COMMIT AND CHAIN"],
        );
    }

    #[test]
    fn commit_and_chain_with_autocommit_off_keeps_the_chained_transaction() {
        // The chained transaction is the one the user's next statements run in: nimue sends
        // no BEGIN of its own, and rollback() ends it.
        let Some(connector) = connector() else { return };
        let mut conn = connector.connect().unwrap();
        conn.execute("SELECT 1", &[]).unwrap();
        conn.execute("COMMIT AND CHAIN", &[]).unwrap();
        conn.execute("SAVEPOINT nimue_probe", &[])
            .expect("the chained transaction is open");
        conn.rollback().unwrap();
        conn.set_autocommit(true)
            .expect("nothing is open after rollback()");
    }
}

#[cfg(feature = "odbc")]
mod odbc {
    use super::*;
    use nimue::odbc::OdbcConnector;

    /// With autocommit on, an SQL `BEGIN` and a write, then the connection back: the next
    /// checkout sees what every other connection sees (nothing uncommitted of the previous
    /// user's), and its own write is committed at once. (psqlODBC commits each statement
    /// itself with autocommit on, `BEGIN` or not; the SQLite driver leaves the transaction
    /// open.)
    fn an_sql_transaction_ends_with_the_checkout(connection_string: &str) {
        let connector = OdbcConnector::new(connection_string);
        let mut other = connector.connect().unwrap();
        other.set_autocommit(true).unwrap();
        let _ = other.execute("DROP TABLE nimue_reset_odbc", &[]);
        run(&mut other, &["CREATE TABLE nimue_reset_odbc (n INTEGER)"]);
        let count = "SELECT COUNT(*) FROM nimue_reset_odbc";
        let pool = pool_of_one(connector.clone(), true);
        {
            let mut a = pool.get().unwrap();
            run(
                &mut *a,
                &["BEGIN", "INSERT INTO nimue_reset_odbc VALUES (1)"],
            );
        }
        let before = {
            let mut b = pool.get().unwrap();
            let seen = probe(&mut *b, count);
            assert_eq!(
                seen,
                probe(&mut other, count),
                "the next checkout sees nothing uncommitted of the previous user's"
            );
            run(&mut *b, &["INSERT INTO nimue_reset_odbc VALUES (2)"]);
            seen
        };
        let after = probe(&mut other, count);
        assert_ne!(after, before, "the next user's write is committed at once");
        pool.close();
        run(&mut other, &["DROP TABLE nimue_reset_odbc"]);
    }

    #[test]
    fn an_sql_transaction_ends_with_the_checkout_sqlite() {
        let Some(base) = common::server_env("NIMUE_TEST_ODBC_SQLITE") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let driver = base.split(';').next().expect("Driver=... first");
        let db = dir.path().join("reset.db");
        an_sql_transaction_ends_with_the_checkout(&format!(
            "{driver};Database={};Timeout=2000;",
            db.display()
        ));
    }

    /// Through psqlODBC, the same comparison with a fresh session as on the direct connection.
    #[test]
    fn the_next_checkout_sees_a_fresh_session_postgres() {
        let Some(connection_string) = common::server_env("NIMUE_TEST_ODBC_POSTGRES") else {
            return;
        };
        let connector = OdbcConnector::new(connection_string);
        let (changes, snapshot) = (pg_session::changes(), pg_session::snapshot);
        compare_with_fresh(connector.clone(), false, &changes, snapshot);
        compare_with_fresh(connector, true, &changes, snapshot);
    }

    #[test]
    fn an_sql_transaction_ends_with_the_checkout_postgres() {
        let Some(connection_string) = common::server_env("NIMUE_TEST_ODBC_POSTGRES") else {
            return;
        };
        an_sql_transaction_ends_with_the_checkout(&connection_string);
    }
}

/// `PgConnector::session_reset`: what each mode clears, and what `WhenChanged` misses (as
/// documented): a `SET` (its tag is the server's report) is cleared, a `set_config` inside a
/// query of a setting the server does not report is not.
#[cfg(feature = "postgres")]
mod postgres_session_reset {
    use super::*;
    use nimue::postgres::PgConnector;
    use nimue::SessionReset;

    /// `work_mem` as the next checkout sees it, after a checkout ran `change`.
    fn after(reset: SessionReset, change: &str) -> Option<String> {
        let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
        let pool = pool_of_one(
            PgConnector::from_url(&url).unwrap().session_reset(reset),
            true,
        );
        pool.get().unwrap().execute(change, &[]).unwrap();
        let seen = rows(&mut *pool.get().unwrap(), "SHOW work_mem").join("");
        pool.close();
        Some(seen)
    }

    #[test]
    fn each_mode_clears_what_it_says() {
        let set = "SET work_mem = '7MB'";
        let hidden = "SELECT set_config('work_mem', '9MB', false)";
        let Some(fresh) = after(SessionReset::Always, "SELECT 1") else {
            return;
        };
        assert_ne!(fresh, "7MB");
        assert_eq!(after(SessionReset::Always, set).unwrap(), fresh);
        assert_eq!(after(SessionReset::Always, hidden).unwrap(), fresh);
        assert_eq!(after(SessionReset::WhenChanged, set).unwrap(), fresh);
        assert_eq!(after(SessionReset::WhenChanged, hidden).unwrap(), "9MB");
        assert_eq!(after(SessionReset::Rollback, set).unwrap(), "7MB");
    }
}
