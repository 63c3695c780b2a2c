//! One function, tested on every database: `nimue::matrix::each_database` runs the test body
//! on SQLite, then on each database listed in `NIMUE_DATABASES`.
//!
//! ```sh
//! cargo run --example cross_db                                     # SQLite only
//! scripts/with-databases postgres mariadb -- \
//!     cargo run --example cross_db --features "postgres mysql"     # and the servers
//! ```
//!
//! In a project of yours the same body goes in a `#[test]`.

use nimue::{matrix, Connection, Result};

/// The code under test: written once against the traits.
fn add_user<C: Connection>(conn: &mut C, email: &str) -> Result<i64> {
    conn.transaction(|tx| {
        tx.execute("INSERT INTO users (email) VALUES (?)", (email,))?;
        tx.query_scalar("SELECT COUNT(*) FROM users", ())
    })
}

fn main() {
    let mut ran = Vec::new();
    matrix::each_database(|db| {
        let mut conn = db.pool().get()?;
        conn.transaction(|tx| {
            tx.execute("DROP TABLE IF EXISTS users", &[])?;
            tx.execute("CREATE TABLE users (email VARCHAR(100) UNIQUE)", &[])
        })?;
        assert_eq!(add_user(&mut *conn, "ada@example.com")?, 1);
        // A duplicate is an IntegrityError on every database, and rolls back.
        let err = add_user(&mut *conn, "ada@example.com").unwrap_err();
        assert_eq!(
            err.kind(),
            nimue::ErrorKind::Integrity,
            "on {}: {err}",
            db.name()
        );
        assert_eq!(add_user(&mut *conn, "grace@example.com")?, 2);
        conn.transaction(|tx| tx.execute("DROP TABLE users", &[]))?;
        ran.push(db.name().to_owned());
        Ok(())
    });
    println!("add_user works on: {}", ran.join(", "));
}
