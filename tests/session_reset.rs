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
