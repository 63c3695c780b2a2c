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
//! assert!(nimue::any::connector("SQLite::memory:").is_ok()); // schemes ignore case
//! let err = nimue::any::connector("host=db user=app password=s3cret").unwrap_err();
//! assert_eq!(err.kind(), nimue::ErrorKind::Interface);
//! assert!(!err.to_string().contains("s3cret")); // never repeated
//! # }
//! # Ok::<(), nimue::Error>(())
//! ```

use nimue_core::{BoxConnector, Error, Result};

/// A connector for the database `url` names, opening [`BoxConnection`](crate::BoxConnection)s.
///
/// Spaces and newlines around the URL are ignored; the scheme is matched without regard to
/// case. An unknown scheme is an `InterfaceError`
/// that lists the known ones and repeats nothing of the text given (a connection string may
/// hold a password anywhere); a scheme whose adapter was not compiled in is one that names
/// the feature; a malformed URL is the adapter's `InterfaceError`. The URL's password never
/// appears in errors or in the connector's `Debug`.
pub fn connector(url: &str) -> Result<BoxConnector> {
    // A URL read from a file or the environment often keeps a space or a newline.
    let url = url.trim();
    // The scheme, matched without regard to case; then the URL with it in lower case, as the
    // adapters expect it.
    let scheme = scheme_of(url).unwrap_or_default();
    let url = match url.get(scheme.len()..) {
        Some(rest) if !scheme.is_empty() => format!("{scheme}{rest}"),
        _ => String::new(),
    };
    match scheme.as_str() {
        "sqlite" => sqlite(&url),
        "postgres" | "postgresql" => postgres(&url),
        "mysql" | "mariadb" => mysql(&url),
        "odbc" => odbc(&url),
        // Nothing of the text is repeated: a connection string may hold a password anywhere.
        _ => Err(Error::interface(
            "not a database URL nimue knows: it takes sqlite:, postgres://, postgresql://, \
             mysql://, mariadb:// and odbc: (the text given is not shown: it may hold a password)",
        )),
    }
}

/// The URL's scheme in lower case, when the text before its first `:` is one (a letter, then
/// letters, digits, `+`, `-` or `.`).
fn scheme_of(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let legal = chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    legal.then(|| scheme.to_ascii_lowercase())
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
