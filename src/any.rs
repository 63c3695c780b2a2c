//! Pick the driver at run time from a URL.
//!
//! | URL | adapter (feature) |
//! |-----|-------------------|
//! | `sqlite:path/to.db`, `sqlite::memory:` | SQLite (`sqlite`) |
//! | `postgres://…`, `postgresql://…` | PostgreSQL (`postgres`) |
//! | `mysql://…`, `mariadb://…` | MySQL / MariaDB (`mysql`) |
//! | `odbc:Driver={…};…`, `odbc:DSN_NAME` | any ODBC driver (`odbc`) |
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use nimue::{Connect, Connection};
//! let connector = nimue::any::connector("sqlite::memory:")?;
//! let mut conn = connector.connect()?;
//! assert_eq!(conn.query("SELECT 1", &[])?.len(), 1);
//! let err = nimue::any::connector("redis://127.0.0.1").unwrap_err();
//! assert_eq!(err.kind(), nimue::ErrorKind::Interface);
//! # }
//! # Ok::<(), nimue::Error>(())
//! ```

use nimue_core::{BoxConnector, Error, Result};

/// A connector for the database `url` names, opening [`BoxConnection`](crate::BoxConnection)s.
///
/// An unknown scheme, or one whose adapter was not compiled in, is an `InterfaceError` that
/// says which; a malformed URL is the adapter's `InterfaceError`. The URL's password never
/// appears in errors or in the connector's `Debug`.
pub fn connector(url: &str) -> Result<BoxConnector> {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "sqlite" => sqlite(url),
        "postgres" | "postgresql" => postgres(url),
        "mysql" | "mariadb" => mysql(url),
        s if s.eq_ignore_ascii_case("odbc") => odbc(url),
        _ => Err(Error::interface(format!(
            "unknown database URL scheme {scheme:?}: expected sqlite:, postgres://, mysql:// or odbc:"
        ))),
    }
}

/// Used by whichever adapters are compiled out.
#[allow(dead_code)]
fn missing(feature: &str) -> Error {
    Error::interface(format!(
        "nimue was built without the `{feature}` feature: enable it to use this URL"
    ))
}

#[cfg(feature = "sqlite")]
fn sqlite(url: &str) -> Result<BoxConnector> {
    Ok(BoxConnector::new(crate::sqlite::SqliteConnector::from_url(
        url,
    )?))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_: &str) -> Result<BoxConnector> {
    Err(missing("sqlite"))
}

#[cfg(feature = "postgres")]
fn postgres(url: &str) -> Result<BoxConnector> {
    Ok(BoxConnector::new(crate::postgres::PgConnector::from_url(
        url,
    )?))
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &str) -> Result<BoxConnector> {
    Err(missing("postgres"))
}

#[cfg(feature = "mysql")]
fn mysql(url: &str) -> Result<BoxConnector> {
    let url = url
        .strip_prefix("mariadb")
        .map_or_else(|| url.to_owned(), |rest| format!("mysql{rest}"));
    Ok(BoxConnector::new(crate::mysql::MySqlConnector::from_url(
        &url,
    )?))
}

#[cfg(not(feature = "mysql"))]
fn mysql(_: &str) -> Result<BoxConnector> {
    Err(missing("mysql"))
}

#[cfg(feature = "odbc")]
fn odbc(url: &str) -> Result<BoxConnector> {
    Ok(BoxConnector::new(crate::odbc::OdbcConnector::from_url(
        url,
    )?))
}

#[cfg(not(feature = "odbc"))]
fn odbc(_: &str) -> Result<BoxConnector> {
    Err(missing("odbc"))
}
