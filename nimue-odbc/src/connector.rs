//! `OdbcConnector`: opens ODBC connections for the pool.

use crate::connection::OdbcConnection;
use crate::error::{diagnostic, is_missing_driver, map_err, DRIVER_PACKAGES};
use nimue_core::{Connect, Error, Result};
use odbc_api::{escape_attribute_value, ConnectionOptions, Environment};
use std::sync::Arc;
use std::time::Duration;

/// Opens connections with one ODBC connection string, through the process's single ODBC
/// environment (`odbc_api::environment()`, created on first use and shared by every thread).
///
/// The connection string is either DSN-less (`Driver={PostgreSQL Unicode};Server=…;`) or names
/// a data source (`DSN=name;`, see [`OdbcConnector::dsn`]). `Debug` never shows the values of
/// password-like keys (`PWD`, `Password`, ...).
///
/// ```
/// use nimue_odbc::OdbcConnector;
/// let connector = OdbcConnector::new(
///     "Driver={PostgreSQL Unicode};Server=127.0.0.1;Database=app;Uid=app;Pwd=s3cret;",
/// );
/// let shown = format!("{connector:?}");
/// assert!(shown.contains("Database=app") && !shown.contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct OdbcConnector {
    connection_string: String,
    login_timeout: Option<Duration>,
    ping_query: Arc<str>,
    query_timeout: Option<Duration>,
}

impl std::fmt::Debug for OdbcConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdbcConnector")
            .field(
                "connection_string",
                &redact_connection_string(&self.connection_string),
            )
            .field("login_timeout", &self.login_timeout)
            .field("ping_query", &self.ping_query)
            .field("query_timeout", &self.query_timeout)
            .finish()
    }
}

impl OdbcConnector {
    /// Connections with an ODBC connection string (`Key=Value;` pairs, values with special
    /// characters in `{braces}`). A 10 s login timeout is asked for (drivers may ignore it).
    pub fn new(connection_string: impl Into<String>) -> Self {
        OdbcConnector {
            connection_string: connection_string.into(),
            login_timeout: Some(Duration::from_secs(10)),
            ping_query: Arc::from("SELECT 1"),
            query_timeout: None,
        }
    }

    /// Connections to a data source (DSN) configured in `odbc.ini`.
    ///
    /// ```
    /// use nimue_odbc::OdbcConnector;
    /// let connector = OdbcConnector::dsn("warehouse").credentials("etl", "p;w{d}");
    /// assert!(!format!("{connector:?}").contains("p;w"));
    /// ```
    pub fn dsn(name: &str) -> Self {
        Self::new(format!("DSN={};", escape_attribute_value(name)))
    }

    /// Add a user name and password (`UID`/`PWD`) to the connection string, escaped.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.connection_string.push_str(&format!(
            "UID={};PWD={};",
            escape_attribute_value(user),
            escape_attribute_value(password)
        ));
        self
    }

    /// Connections from an `odbc:` URL: `odbc:` followed by a connection string
    /// (`odbc:Driver={SQLite3};Database=/tmp/app.db;`) or by a data source name
    /// (`odbc:warehouse`). Anything else is an `InterfaceError`.
    ///
    /// ```
    /// use nimue_odbc::OdbcConnector;
    /// assert!(OdbcConnector::from_url("odbc:Driver={SQLite3};Database=:memory:;").is_ok());
    /// assert!(OdbcConnector::from_url("postgres://host/db").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url
            .get(..5)
            .filter(|scheme| scheme.eq_ignore_ascii_case("odbc:"))
            .map(|_| url[5..].trim())
            .ok_or_else(|| {
                Error::interface(
                    "an ODBC URL is `odbc:` followed by a connection string or a data source name",
                )
            })?;
        if rest.is_empty() {
            return Err(Error::interface(
                "the ODBC URL has no connection string or data source name after `odbc:`",
            ));
        }
        Ok(if rest.contains('=') {
            Self::new(rest)
        } else {
            Self::dsn(rest)
        })
    }

    /// How long the driver may take to log in (`SQL_ATTR_LOGIN_TIMEOUT`, whole seconds;
    /// `None`: the driver's default). Default 10 s.
    pub fn login_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.login_timeout = timeout;
        self
    }

    /// Bound how long a statement may run (default: no bound), with the statement attribute
    /// `SQL_ATTR_QUERY_TIMEOUT` (whole seconds, rounded up): the driver cancels a longer one
    /// with an `OperationalError` (e.g. `HYT00`, or the server's own cancel, as PostgreSQL's
    /// driver reports it). Drivers that do not support it ignore it.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = Some(timeout);
        self
    }

    /// The statement [`ping`](nimue_core::PoolHooks::ping) runs after checking the driver's
    /// connection-dead attribute (default `SELECT 1`; e.g. `SELECT 1 FROM DUAL` on Oracle,
    /// `VALUES 1` on DB2).
    pub fn ping_query(mut self, sql: impl Into<String>) -> Self {
        self.ping_query = Arc::from(sql.into());
        self
    }

    fn options(&self) -> ConnectionOptions {
        ConnectionOptions {
            login_timeout_sec: self
                .login_timeout
                .map(|t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX)),
            ..ConnectionOptions::default()
        }
    }
}

impl Connect for OdbcConnector {
    type Connection = OdbcConnection;

    fn connect(&self) -> Result<OdbcConnection> {
        let env = odbc_api::environment().map_err(map_err)?;
        let conn = env
            .connect_with_connection_string(&self.connection_string, self.options())
            .map_err(|e| {
                let target = redact_connection_string(&self.connection_string);
                connect_error(env, e).context(format_args!("connecting to odbc:{target}"))
            })?;
        let mut conn = OdbcConnection::open(conn, Arc::clone(&self.ping_query))?;
        if let Some(timeout) = self.query_timeout {
            // Whole seconds, at least one (0 means no timeout).
            let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
            conn.set_query_timeout_sec(usize::try_from(secs.max(1)).unwrap_or(usize::MAX));
        }
        Ok(conn)
    }
}

/// A connect failure, with what is installed when the driver manager could not find or load
/// the driver or data source.
fn connect_error(env: &Environment, e: odbc_api::Error) -> Error {
    let Some(d) = diagnostic(&e) else {
        return map_err(e);
    };
    let missing_driver = is_missing_driver(&d.message);
    if !missing_driver && !matches!(d.sqlstate.as_str(), "IM002" | "IM003") {
        return map_err(e);
    }
    let drivers = env
        .drivers()
        .map(|list| {
            let names: Vec<String> = list.into_iter().map(|d| d.description).collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        })
        .unwrap_or_else(|_| "unknown".to_owned());
    let what = if missing_driver || d.sqlstate == "IM003" {
        "the ODBC driver named in the connection string could not be loaded"
    } else {
        "the ODBC driver manager knows no data source or driver by the name in the connection string"
    };
    let message = format!(
        "{what}: {} (SQLSTATE {}). Drivers registered with the driver manager: {drivers}. \
         Install the database's ODBC driver ({DRIVER_PACKAGES}) and check its name in \
         odbcinst.ini (`odbcinst -q -d` lists them), or define the DSN in odbc.ini",
        d.message, d.sqlstate
    );
    Error::interface_from(message, e)
}

/// Whether a connection-string key holds a secret: a password (`PWD`, `PW`, `Password`), a
/// key or token (`AccountKey`, `Auth`, `AuthToken`, `ApiKey`, `SharedAccessSignature`), or a
/// credential of another name.
fn is_secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    matches!(key.as_str(), "pw" | "key" | "sas")
        || [
            "pwd",
            "passw",
            "secret",
            "token",
            "accountkey",
            "auth",
            "apikey",
            "api_key",
            "credential",
            "privatekey",
            "private_key",
            "signature",
        ]
        .iter()
        .any(|secret| key.contains(secret))
}

/// The connection string with the values of password-like keys replaced by `***`.
fn redact_connection_string(connection_string: &str) -> String {
    let mut out = String::with_capacity(connection_string.len());
    let mut rest = connection_string;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            out.push_str(rest);
            break;
        };
        let key = &rest[..eq];
        out.push_str(key);
        out.push('=');
        let after = &rest[eq + 1..];
        let Some(value_len) = value_length(after) else {
            // An unterminated `{`: where this value ends (and a password starts) is unknown.
            out.push_str("***");
            break;
        };
        if is_secret_key(key) {
            out.push_str("***");
        } else {
            out.push_str(&after[..value_len]);
        }
        rest = &after[value_len..];
        if let Some(stripped) = rest.strip_prefix(';') {
            out.push(';');
            rest = stripped;
        }
    }
    out
}

/// The length of the attribute value at the start of `s`: a `{braced}` value (where `}}` is
/// an escaped brace) or everything up to the next `;`. `None` for a `{` never closed.
fn value_length(s: &str) -> Option<usize> {
    let trimmed = s.trim_start();
    let lead = s.len() - trimmed.len();
    if trimmed.starts_with('{') {
        let bytes = trimmed.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            if bytes[i] == b'}' {
                if bytes.get(i + 1) == Some(&b'}') {
                    i += 2;
                    continue;
                }
                // The closing brace, then anything up to the next `;`.
                let tail = &trimmed[i + 1..];
                return Some(lead + i + 1 + tail.find(';').unwrap_or(tail.len()));
            }
            i += 1;
        }
        None
    } else {
        Some(s.find(';').unwrap_or(s.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let shown = redact_connection_string(
            "Driver={PostgreSQL Unicode};Server=h;UID=u;PWD=p1;Password={a;b}}c};pwd = x ;Port=5",
        );
        assert_eq!(
            shown,
            "Driver={PostgreSQL Unicode};Server=h;UID=u;PWD=***;Password=***;pwd =***;Port=5"
        );
        assert_eq!(redact_connection_string("DSN=x"), "DSN=x");
        assert_eq!(redact_connection_string("Pwd={unterminated"), "Pwd=***");
        // An unterminated value hides what follows it: a password may be in it.
        assert_eq!(
            redact_connection_string("Driver={PostgreSQL;Server=h;PWD=s3cret;"),
            "Driver=***"
        );
        for key in [
            "PW",
            "AccountKey",
            "Auth",
            "AuthToken",
            "ApiKey",
            "SharedAccessSignature",
        ] {
            let shown = redact_connection_string(&format!("Server=h;{key}=s3cret;Port=1"));
            assert_eq!(shown, format!("Server=h;{key}=***;Port=1"));
        }
    }

    #[test]
    fn urls_take_a_connection_string_or_a_dsn() {
        let c = OdbcConnector::from_url("odbc:Driver={SQLite3};Database=a.db;").unwrap();
        assert_eq!(c.connection_string, "Driver={SQLite3};Database=a.db;");
        let c = OdbcConnector::from_url("ODBC:warehouse").unwrap();
        assert_eq!(c.connection_string, "DSN=warehouse;");
        assert!(OdbcConnector::from_url("odbc:").is_err());
        assert!(OdbcConnector::from_url("sqlite::memory:").is_err());
    }

    #[test]
    fn credentials_are_escaped() {
        let c = OdbcConnector::dsn("a;b").credentials("u", "p;w");
        assert_eq!(c.connection_string, "DSN={a;b};UID=u;PWD={p;w};");
    }
}
