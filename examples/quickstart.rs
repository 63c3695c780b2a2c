//! Quick start: open a pool on an SQLite database, create a table, insert with parameters,
//! read typed rows back.
//!
//! Run with `cargo run --example quickstart`.

use nimue::sqlite::SqliteConnector;
use nimue::{params, Connection, Cursor, ErrorKind, Pool, Result};

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join("nimue-quickstart");
    std::fs::create_dir_all(&dir).map_err(|e| nimue::Error::interface_from("temp dir", e))?;
    // One pool for the program's lifetime: 1 connection kept open, at most 4.
    let pool = Pool::builder(SqliteConnector::new(dir.join("quickstart.db")))
        .min_idle(1)
        .max_size(4)
        .build()?;
    // A pooled connection derefs to the adapter's connection; dropping it returns it to the
    // pool (rolling back whatever was not committed).
    let mut conn = pool.get()?;

    conn.execute("DROP TABLE IF EXISTS books", &[])?;
    conn.execute(
        "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, \
         published DATE, rating REAL)",
        &[],
    )?;
    let mut cur = conn.cursor()?;
    let books: Vec<Vec<nimue::Value>> = vec![
        params!["The Left Hand of Darkness", "1969-03-01", 4.6].to_vec(),
        params!["A Wizard of Earthsea", "1968-11-01", None::<f64>].to_vec(),
    ];
    cur.executemany(
        "INSERT INTO books (title, published, rating) VALUES (?, ?, ?)",
        &books,
    )?;
    println!("inserted {} books", cur.rowcount());

    // A duplicate title is an IntegrityError, as on every database nimue supports.
    let dup = cur.execute(
        "INSERT INTO books (title) VALUES (?)",
        &params!["A Wizard of Earthsea"],
    );
    assert_eq!(dup.unwrap_err().kind(), ErrorKind::Integrity);

    cur.execute(
        "SELECT id, title, published, rating FROM books ORDER BY id",
        &[],
    )?;
    let columns: Vec<&str> = cur
        .description()
        .unwrap_or_default()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    println!("columns: {columns:?}");
    for row in cur.fetchall()? {
        let id: i64 = row.get("id")?;
        let title: String = row.get("title")?;
        let published: chrono::NaiveDate = row.get("published")?;
        let rating: Option<f64> = row.get("rating")?;
        println!("{id}: {title} ({published}), rating {rating:?}");
    }
    drop(cur);
    conn.commit()?;
    drop(conn);
    println!("pool: {:?}", pool.state());
    pool.close();
    // A demo: leave nothing behind in the temp directory.
    std::fs::remove_dir_all(&dir)
        .map_err(|e| nimue::Error::interface_from(format!("removing {}: {e}", dir.display()), e))?;
    Ok(())
}
