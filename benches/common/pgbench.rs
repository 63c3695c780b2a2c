//! pgbench's tables (scale 1, as `pgbench -i -s 1` makes them) and its two built-in
//! transactions, TPC-B-like and select-only, for the contenders of `async_pools`: nimue (its
//! async DB-API) and deadpool-postgres (tokio-postgres).

use std::sync::atomic::{AtomicU64, Ordering};

/// Accounts at scale 1 (pgbench: 100 000 per branch, 10 tellers, 1 branch).
const ACCOUNTS: i64 = 100_000;
const TELLERS: i64 = 10;

const UPDATE_ACCOUNT: &str = "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?";
const SELECT_ACCOUNT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = ?";
const UPDATE_TELLER: &str = "UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?";
const UPDATE_BRANCH: &str = "UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?";
const INSERT_HISTORY: &str = "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) \
     VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)";

/// The same statements with PostgreSQL's own placeholders, for tokio-postgres.
fn dollar(sql: &str) -> String {
    let mut n = 0;
    sql.chars()
        .map(|c| match c {
            '?' => {
                n += 1;
                format!("${n}")
            }
            c => c.to_string(),
        })
        .collect()
}

/// Make pgbench's tables on `url`'s database unless they are there (scale 1).
pub fn setup(url: &str) {
    // (The blocking API here: only its traits in scope.)
    use nimue::{Connect, Connection};
    let mut conn = nimue::postgres::PgConnector::from_url(url)
        .expect("a PostgreSQL URL")
        .connect()
        .expect("connecting to set up pgbench's tables");
    let there: i64 = conn
        .query_scalar(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'pgbench_accounts'",
            (),
        )
        .expect("asking for pgbench's tables");
    if there == 1 {
        let n: i64 = conn
            .query_scalar("SELECT count(*) FROM pgbench_accounts", ())
            .expect("counting accounts");
        if n == ACCOUNTS {
            conn.rollback().expect("rollback");
            return;
        }
    }
    for sql in [
        "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history",
        "CREATE TABLE pgbench_branches (bid int NOT NULL PRIMARY KEY, bbalance int, filler char(88))",
        "CREATE TABLE pgbench_tellers (tid int NOT NULL PRIMARY KEY, bid int, tbalance int, filler char(84))",
        "CREATE TABLE pgbench_accounts (aid int NOT NULL PRIMARY KEY, bid int, abalance int, filler char(84))",
        "CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))",
        "INSERT INTO pgbench_branches (bid, bbalance) VALUES (1, 0)",
        "INSERT INTO pgbench_tellers (tid, bid, tbalance) SELECT t, 1, 0 FROM generate_series(1, 10) t",
        "INSERT INTO pgbench_accounts (aid, bid, abalance, filler) \
         SELECT a, 1, 0, '' FROM generate_series(1, 100000) a",
    ] {
        conn.execute(sql, ()).expect(sql);
    }
    conn.commit().expect("commit pgbench's tables");
    conn.set_autocommit(true).expect("autocommit");
    conn.execute("VACUUM ANALYZE", ()).expect("vacuum");
}

/// pgbench's random choices for one transaction: an account, a teller, the branch, a delta.
pub struct Choice {
    aid: i32,
    tid: i32,
    bid: i32,
    delta: i32,
}

impl Choice {
    pub fn next() -> Choice {
        static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        // splitmix64: cheap, and different for every call from any task.
        let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Choice {
            aid: (z % ACCOUNTS as u64) as i32 + 1,
            tid: ((z >> 20) % TELLERS as u64) as i32 + 1,
            bid: 1,
            delta: ((z >> 40) % 10_001) as i32 - 5000,
        }
    }
}

/// The TPC-B-like transaction through nimue's async DB-API.
pub async fn tpcb_nimue<C: nimue::aio::AsyncConnection>(conn: &mut C) -> nimue::Result<()> {
    let Choice {
        aid,
        tid,
        bid,
        delta,
    } = Choice::next();
    conn.transaction(|tx| {
        Box::pin(async move {
            tx.execute(UPDATE_ACCOUNT, (delta, aid)).await?;
            let _: i64 = tx.query_scalar(SELECT_ACCOUNT, (aid,)).await?;
            tx.execute(UPDATE_TELLER, (delta, tid)).await?;
            tx.execute(UPDATE_BRANCH, (delta, bid)).await?;
            tx.execute(INSERT_HISTORY, (tid, bid, aid, delta)).await?;
            Ok(())
        })
    })
    .await
}

/// The select-only transaction through nimue's async DB-API.
pub async fn select_nimue<C: nimue::aio::AsyncConnection>(conn: &mut C) -> nimue::Result<i64> {
    let aid = Choice::next().aid;
    conn.query_scalar(SELECT_ACCOUNT, (aid,)).await
}

/// The TPC-B-like transaction on a tokio-postgres client (deadpool-postgres'), its
/// statements prepared once per connection.
pub async fn tpcb_deadpool(
    client: &mut deadpool_postgres::Client,
) -> Result<(), deadpool_postgres::tokio_postgres::Error> {
    let Choice {
        aid,
        tid,
        bid,
        delta,
    } = Choice::next();
    let tx = client.transaction().await?;
    let update_account = tx.prepare_cached(&dollar(UPDATE_ACCOUNT)).await?;
    let select_account = tx.prepare_cached(&dollar(SELECT_ACCOUNT)).await?;
    let update_teller = tx.prepare_cached(&dollar(UPDATE_TELLER)).await?;
    let update_branch = tx.prepare_cached(&dollar(UPDATE_BRANCH)).await?;
    let insert_history = tx.prepare_cached(&dollar(INSERT_HISTORY)).await?;
    tx.execute(&update_account, &[&delta, &aid]).await?;
    let _: i32 = tx.query_one(&select_account, &[&aid]).await?.get(0);
    tx.execute(&update_teller, &[&delta, &tid]).await?;
    tx.execute(&update_branch, &[&delta, &bid]).await?;
    tx.execute(&insert_history, &[&tid, &bid, &aid, &delta])
        .await?;
    tx.commit().await
}

/// The select-only transaction on a tokio-postgres client.
pub async fn select_deadpool(
    client: &deadpool_postgres::Client,
) -> Result<i32, deadpool_postgres::tokio_postgres::Error> {
    let aid = Choice::next().aid;
    let select = client.prepare_cached(&dollar(SELECT_ACCOUNT)).await?;
    Ok(client.query_one(&select, &[&aid]).await?.get(0))
}
