//! A complete nimue adapter for a toy in-process driver, in one file.
//!
//! The "driver" is a key-value store shared by all its connections, with a three-statement
//! language (`PUT ? ?`, `GET ?`, `SCAN`, `DELETE ?`). The adapter below translates it to
//! nimue's traits; nothing else is needed for the pool, the typed rows, the error hierarchy
//! and `nimue::BoxConnection` to work with it:
//!
//! 1. [`Connect`] on a connector: open one connection.
//! 2. [`Execute`] on the connection: run one statement, return its whole result; nimue's
//!    [`BufferedCursor`] turns that into a full PEP 249 cursor (fetchone/many/all,
//!    description, rowcount, executemany).
//! 3. [`Connection`]: cursor, commit, rollback, close, autocommit, and (optionally) a cheaper
//!    `ping`, `is_broken` and `reset` than the defaults.
//!
//! Run with `cargo run --example custom_driver`.

use kv::KvConnector;
use nimue::{params, Connection, ErrorKind, Pool, Result};
use std::time::Duration;

/// What would be an adapter crate of its own (`nimue-kv`): the driver and its translation.
mod kv {
    use nimue::{
        check_param_count, BufferedCursor, Column, Columns, Connect, Connection, Error, Execute,
        PoolHooks, Result, ResultSet, Row, TypeCode, Value,
    };
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};

    // ---------------------------------------------------------------------------------------
    // The toy driver: what a real driver crate would give you.
    // ---------------------------------------------------------------------------------------

    /// The store every connection of one "server" shares.
    #[derive(Default)]
    pub struct Store {
        /// Committed data. The lock keeps each commit atomic.
        data: Mutex<BTreeMap<String, String>>,
        /// Set to simulate the server going away: every connection then fails.
        down: AtomicBool,
    }

    impl Store {
        /// Take the "server" down or bring it back.
        pub fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }
    }

    // ---------------------------------------------------------------------------------------
    // The adapter: all a new driver needs.
    // ---------------------------------------------------------------------------------------

    /// Opens [`KvConnection`]s to one store.
    #[derive(Clone, Default)]
    pub struct KvConnector {
        pub store: Arc<Store>,
    }

    impl Connect for KvConnector {
        type Connection = KvConnection;

        fn connect(&self) -> Result<KvConnection> {
            if self.store.down.load(Ordering::SeqCst) {
                return Err(Error::operational("kv: server unreachable"));
            }
            Ok(KvConnection {
                store: Arc::clone(&self.store),
                pending: Vec::new(),
                autocommit: false,
                broken: false,
            })
        }
    }

    /// One session: writes are buffered until `commit` (autocommit off, as PEP 249 asks).
    pub struct KvConnection {
        store: Arc<Store>,
        /// Uncommitted writes in order: `Some(value)` to put, `None` to delete.
        pending: Vec<(String, Option<String>)>,
        autocommit: bool,
        /// Set once the server was seen gone: the pool then discards this connection.
        broken: bool,
    }

    impl KvConnection {
        /// The committed data with this session's own pending writes applied.
        fn view(&self) -> BTreeMap<String, String> {
            let mut data = self
                .store
                .data
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            for (key, value) in &self.pending {
                match value {
                    Some(v) => data.insert(key.clone(), v.clone()),
                    None => data.remove(key),
                };
            }
            data
        }

        fn check_up(&mut self) -> Result<()> {
            if self.store.down.load(Ordering::SeqCst) {
                self.broken = true;
                return Err(Error::operational("kv: connection lost"));
            }
            Ok(())
        }

        fn write(&mut self, key: String, value: Option<String>) -> Result<ResultSet> {
            let existed = self.view().contains_key(&key);
            self.pending.push((key, value.clone()));
            if self.autocommit {
                self.commit()?;
            }
            let changed = value.is_some() || existed;
            Ok(ResultSet::no_rows(i64::from(changed), None))
        }
    }

    /// `Value` → text key or value: the driver stores strings, so a wrong type is a DataError.
    fn text(v: &Value) -> Result<String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            other => Err(Error::data(format!(
                "kv stores text, not {}",
                other.type_name()
            ))),
        }
    }

    fn columns() -> Columns {
        Arc::from(vec![
            Column::new("key", Some(TypeCode::String)),
            Column::new("value", Some(TypeCode::String)),
        ])
    }

    impl Execute for KvConnection {
        fn run(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
            self.check_up()?;
            let words: Vec<&str> = sql.split_whitespace().collect();
            let placeholders = words.iter().filter(|w| **w == "?").count();
            check_param_count(placeholders, params.len())?;
            match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("PUT") if placeholders == 2 => {
                    self.write(text(&params[0])?, Some(text(&params[1])?))
                }
                Some("DELETE") if placeholders == 1 => self.write(text(&params[0])?, None),
                Some("GET") if placeholders == 1 => {
                    let key = text(&params[0])?;
                    let columns = columns();
                    let rows: VecDeque<Row> = self
                        .view()
                        .get(&key)
                        .map(|v| Row::new(columns.clone(), vec![key.into(), v.clone().into()]))
                        .into_iter()
                        .collect();
                    Ok(ResultSet::with_rows(columns, rows))
                }
                // `SELECT 1` too, so the default `ping` would work; we override it anyway.
                Some("SCAN") | Some("SELECT") => {
                    let columns = columns();
                    let rows = self
                        .view()
                        .into_iter()
                        .map(|(k, v)| Row::new(columns.clone(), vec![k.into(), v.into()]))
                        .collect();
                    Ok(ResultSet::with_rows(columns, rows))
                }
                _ => Err(Error::programming(format!("kv: syntax error in {sql:?}"))),
            }
        }
    }

    impl Connection for KvConnection {
        type Cursor<'c> = BufferedCursor<'c, KvConnection>;

        fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
            Ok(BufferedCursor::new(self))
        }

        fn commit(&mut self) -> Result<()> {
            self.check_up()?;
            let mut data = self
                .store
                .data
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (key, value) in self.pending.drain(..) {
                match value {
                    Some(v) => data.insert(key, v),
                    None => data.remove(&key),
                };
            }
            Ok(())
        }

        fn rollback(&mut self) -> Result<()> {
            self.pending.clear();
            Ok(())
        }

        fn close(mut self) -> Result<()> {
            self.rollback()
        }

        fn autocommit(&self) -> bool {
            self.autocommit
        }

        fn set_autocommit(&mut self, on: bool) -> Result<()> {
            if on && !self.pending.is_empty() {
                return Err(Error::programming(
                    "commit or roll back before turning autocommit on",
                ));
            }
            self.autocommit = on;
            Ok(())
        }
    }

    impl PoolHooks for KvConnection {
        /// The cheapest real check this driver has.
        fn ping(&mut self) -> Result<()> {
            self.check_up()
        }

        fn is_broken(&self) -> bool {
            self.broken
        }
    }
} // mod kv

// ---------------------------------------------------------------------------------------
// Using it: the same code as for any other nimue driver.
// ---------------------------------------------------------------------------------------

fn main() -> Result<()> {
    let connector = KvConnector::default();
    let pool = Pool::builder(connector.clone())
        .name("kv")
        .min_idle(1)
        .max_size(4)
        .connection_timeout(Duration::from_secs(2))
        .test_on_checkout(true)
        .build()?;

    {
        let mut conn = pool.get()?;
        conn.execute("PUT ? ?", &params!["greeting", "hello"])?;
        conn.execute("PUT ? ?", &params!["answer", 42])?;
        conn.commit()?;
        conn.execute("PUT ? ?", &params!["draft", "never committed"])?;
    } // returned to the pool: the open transaction is rolled back

    let mut conn = pool.get()?;
    for row in conn.query("SCAN", &[])? {
        let key: String = row.get("key")?;
        let value: String = row.get("value")?;
        println!("{key} = {value}");
    }
    let (_, answer): (String, String) = conn.query_one("GET ?", ("answer",))?;
    assert_eq!(answer.parse::<i64>().ok(), Some(42));
    let draft: Option<(String, String)> = conn.query_opt("GET ?", ("draft",))?;
    assert!(draft.is_none());

    // Errors land in PEP 249's classes like any other driver's.
    let err = conn.execute("FROB ?", &params![1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming);
    let err = conn.execute("GET ?", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming);
    drop(conn);

    // The server goes away: the pool reports why, and heals once it is back.
    connector.store.set_down(true);
    let err = pool.get().map(drop).unwrap_err();
    println!("while down: {err}");
    connector.store.set_down(false);
    let mut conn = pool.get()?;
    assert_eq!(conn.query("SCAN", &[])?.len(), 2);
    drop(conn);
    println!("pool state: {:?}", pool.state());
    pool.close();
    Ok(())
}
