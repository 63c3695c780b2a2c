//! `MySqlConnector`: opens MySQL/MariaDB connections for the pool.

use crate::connection::MySqlConnection;
use crate::error::{driver_text, map_err};
use crate::session::{SessionReset, TRACK_CHANGES};
use mysql::consts::CapabilityFlags;
use mysql::prelude::Queryable;
use mysql::{Opts, OptsBuilder};
use nimue_core::url::{encode_user_info, split_query, Target};
use nimue_core::{Connect, DatabaseError, ErrorKind, Result};
use std::time::Duration;

/// Opens connections to one MySQL or MariaDB server with the same settings each time.
///
/// On top of the given options: a 10 s TCP connect timeout unless one is set, TCP settings
/// that notice a dead server in about a minute unless set (keepalive probes after 30 s idle,
/// every 10 s, 3 at most; a 30 s TCP user timeout on Linux),
/// `CLIENT_FOUND_ROWS` (an `UPDATE` counts the rows it matched, as on other databases), an
/// init command setting `autocommit=0` (PEP 249's default, kept across session resets), and
/// the server's session tracking turned on (`CLIENT_SESSION_TRACK`; see [`SessionReset`]).
/// `Debug` never shows the password.
///
/// ```
/// use nimue_mysql::MySqlConnector;
/// let connector = MySqlConnector::from_url("mysql://app:s3cret@127.0.0.1:3306/appdb")?;
/// let shown = format!("{connector:?}");
/// assert!(shown.contains("appdb") && !shown.contains("s3cret"));
/// # Ok::<(), nimue_core::Error>(())
/// ```
#[derive(Clone)]
pub struct MySqlConnector {
    opts: Opts,
    reset: SessionReset,
    statement_timeout: Option<Duration>,
}

impl std::fmt::Debug for MySqlConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Field by field: mysql::Opts' own Debug prints the password.
        f.debug_struct("MySqlConnector")
            .field("user", &self.opts.get_user())
            .field("host", &self.opts.get_ip_or_hostname())
            .field("port", &self.opts.get_tcp_port())
            .field("db_name", &self.opts.get_db_name())
            .field("tls", &self.opts.get_ssl_opts().is_some())
            .field("reset", &self.reset)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl MySqlConnector {
    /// Connections configured by the driver's options.
    pub fn new(opts: impl Into<Opts>) -> Self {
        let opts: Opts = opts.into();
        // One statement (a multi-statement: the driver asks for CLIENT_MULTI_STATEMENTS), so
        // that a connect and every COM_RESET_CONNECTION (after which the driver runs the init
        // commands again) pay one round trip for them, not one each.
        let given = opts.get_init();
        let mut init: Vec<&str> = given
            .iter()
            .map(|sql| sql.trim().trim_end_matches(';'))
            .filter(|sql| !sql.is_empty())
            .collect();
        init.push("SET autocommit=0");
        let init = vec![init.join("; ")];
        let timeout = opts
            .get_tcp_connect_timeout()
            .or(Some(Duration::from_secs(10)));
        let capabilities = opts.get_additional_capabilities()
            | CapabilityFlags::CLIENT_FOUND_ROWS
            | CapabilityFlags::CLIENT_SESSION_TRACK;
        let keepalive_ms = opts.get_tcp_keepalive_time_ms().or(Some(30_000));
        let probe_secs = opts.get_tcp_keepalive_probe_interval_secs().or(Some(10));
        let probes = opts.get_tcp_keepalive_probe_count().or(Some(3));
        let user_timeout_ms = opts.get_tcp_user_timeout_ms().or(Some(30_000));
        let opts = OptsBuilder::from_opts(opts)
            .init(init)
            .tcp_keepalive_time_ms(keepalive_ms)
            .tcp_keepalive_probe_interval_secs(probe_secs)
            .tcp_keepalive_probe_count(probes)
            .tcp_user_timeout_ms(user_timeout_ms)
            .tcp_connect_timeout(timeout)
            .additional_capabilities(capabilities);
        MySqlConnector {
            opts: opts.into(),
            reset: SessionReset::default(),
            statement_timeout: None,
        }
    }

    /// Connections from a URL: `mysql://user:pass@host:port/db?param=value` (the driver's
    /// parameters, e.g. `require_ssl=true`). TCP is used even to `localhost` unless the URL
    /// sets `prefer_socket`. A malformed URL is an `InterfaceError`.
    pub fn from_url(url: &str) -> Result<Self> {
        let (url, mode, ca) = take_ssl_params(url);
        let opts = Opts::from_url(&url).map_err(|e| map_err(e.into()))?;
        let opts = if url.contains("prefer_socket=") {
            opts
        } else {
            OptsBuilder::from_opts(opts).prefer_socket(false).into()
        };
        Self::new(opts).ssl_from_url(mode, ca)
    }

    /// MySQL's `ssl-mode` and `ssl-ca` (the client's option names; `ssl_mode`, `ssl_ca` too):
    /// `DISABLED` and `PREFERRED` (the driver cannot fall back to plain text, so no TLS), or,
    /// with the `mysql-tls` feature, `REQUIRED` (encryption; the chain is checked when `ssl-ca`
    /// is given), `VERIFY_CA` (the chain, to `ssl-ca`) and `VERIFY_IDENTITY` (the chain and
    /// the host name). Without `ssl-mode` nothing changes.
    fn ssl_from_url(self, mode: Option<String>, ca: Option<String>) -> Result<Self> {
        let Some(mode) = mode else {
            return Ok(self);
        };
        let mode = mode.to_ascii_uppercase();
        let verify = match mode.as_str() {
            "DISABLED" | "PREFERRED" => return Ok(self),
            "REQUIRED" => false,
            "VERIFY_CA" | "VERIFY_IDENTITY" => true,
            other => {
                let modes = "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY";
                let message = format!("ssl-mode={other}: use {modes}");
                return Err(nimue_core::Error::interface(message));
            }
        };
        if verify && ca.is_none() {
            return Err(nimue_core::Error::interface(format!(
                "ssl-mode={mode} needs ssl-ca=PATH (the CA certificates, PEM)"
            )));
        }
        #[cfg(feature = "tls")]
        {
            let ssl = mysql::SslOpts::default()
                .with_root_cert_path(ca.as_ref().map(std::path::PathBuf::from))
                .with_danger_accept_invalid_certs(ca.is_none())
                .with_danger_skip_domain_validation(mode != "VERIFY_IDENTITY");
            Ok(self.tls(ssl))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (ca, verify);
            Err(nimue_core::Error::interface(format!(
                "ssl-mode={mode} needs TLS: build nimue with the `mysql-tls` feature"
            )))
        }
    }

    /// Whether [`reset`](nimue_core::PoolHooks::reset) clears what a checkout changed in the
    /// session with `COM_RESET_CONNECTION` ([`SessionReset::Always`], the default) or
    /// only rolls back ([`SessionReset::Rollback`]: keeps user variables, temporary tables
    /// and locks too).
    pub fn reset_session(self, on: bool) -> Self {
        self.session_reset(if on {
            SessionReset::Always
        } else {
            SessionReset::Rollback
        })
    }

    /// How [`reset`](nimue_core::PoolHooks::reset) cleans a used session (default
    /// [`SessionReset::Always`]).
    ///
    /// ```
    /// use nimue_mysql::{MySqlConnector, SessionReset};
    /// let connector = MySqlConnector::from_url("mysql://app@127.0.0.1/appdb")?
    ///     .session_reset(SessionReset::Always);
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn session_reset(mut self, reset: SessionReset) -> Self {
        self.reset = reset;
        self
    }

    /// Bound how long a statement may run (default: no bound). The server interrupts a
    /// longer one (MariaDB's `max_statement_time`, else MySQL's `max_execution_time`, which
    /// covers `SELECT` only): an `OperationalError`, the connection stays usable. And the
    /// client waits at most a second more for any answer (the socket's read and write
    /// timeouts): a server that hangs fails the call with an `OperationalError` too, and the
    /// connection is given up (the pool replaces it).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        let patience = Some(timeout + STATEMENT_GRACE);
        self.opts = OptsBuilder::from_opts(self.opts)
            .read_timeout(patience)
            .write_timeout(patience)
            .into();
        self.statement_timeout = Some(timeout);
        self
    }

    /// The driver's options.
    pub fn opts(&self) -> &Opts {
        &self.opts
    }

    /// Use TLS (rustls), trusting the CA certificates in the PEM file at `ca_path`.
    /// Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls_with_ca_file(self, ca_path: impl Into<std::path::PathBuf>) -> Self {
        let ssl = mysql::SslOpts::default().with_root_cert_path(Some(ca_path.into()));
        self.tls(ssl)
    }

    /// Use TLS with these driver options. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, ssl: mysql::SslOpts) -> Self {
        self.opts = OptsBuilder::from_opts(self.opts).ssl_opts(ssl).into();
        self
    }
}

/// `url` without `ssl-mode` and `ssl-ca` (which the driver does not know), and their values.
/// The user info is percent-encoded where the driver's URL parser would misread it (a `?` in
/// a password).
fn take_ssl_params(url: &str) -> (String, Option<String>, Option<String>) {
    let url = encode_user_info(url);
    let Some((base, query)) = split_query(&url) else {
        return (url.into_owned(), None, None);
    };
    let (mut mode, mut ca) = (None, None);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("ssl-mode" | "ssl_mode", value)) => {
                mode = Some(value.to_owned());
                false
            }
            Some(("ssl-ca" | "ssl_ca", value)) => {
                ca = Some(value.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, mode, ca)
}

/// How much longer than its statement timeout the client waits for the server's answer.
const STATEMENT_GRACE: Duration = Duration::from_secs(1);

impl MySqlConnector {
    /// The server this connector logs in to, for messages: `mysql://user@host:port/db` (or
    /// the Unix socket), never the password.
    pub fn target(&self) -> String {
        let opts = &self.opts;
        let target = match opts.get_socket() {
            Some(socket) if opts.get_prefer_socket() => Target::new("mysql", socket),
            _ => Target::new("mysql", opts.get_ip_or_hostname()).port(opts.get_tcp_port()),
        };
        target
            .user(opts.get_user().unwrap_or_default())
            .database(opts.get_db_name().unwrap_or_default())
            .to_string()
    }
}

impl Connect for MySqlConnector {
    type Connection = MySqlConnection;

    fn connect(&self) -> Result<MySqlConnection> {
        // The init commands are run here, not by the driver: after COM_RESET_CONNECTION the
        // driver would run them alone, and they ride with the connector's settings instead.
        let init = self.opts.get_init().to_vec();
        let driven = OptsBuilder::from_opts(self.opts.clone()).init(Vec::<String>::new());
        let mut conn = mysql::Conn::new(driven).map_err(|e| {
            let e = match e {
                mysql::Error::MySqlError(_) => map_err(e),
                other => DatabaseError::new(ErrorKind::Operational, driver_text(&other))
                    .with_driver_error(other)
                    .into(),
            };
            e.context(format_args!("connecting to {}", self.target()))
        })?;
        // The session settings beyond the init commands, also needed after every
        // COM_RESET_CONNECTION: the first that the server takes, of each list.
        let mut wanted: Vec<Vec<String>> = Vec::new();
        // The server's reports of the transaction (what a SQL `START TRANSACTION` opens, what
        // was written) and, for `WhenChanged`, of session changes.
        if self.reset != SessionReset::Rollback {
            wanted.push(vec![TRACK_CHANGES.to_owned()]);
        }
        if let Some(timeout) = self.statement_timeout {
            wanted.push(vec![
                format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64()),
                format!("SET SESSION max_execution_time = {}", timeout.as_millis()),
            ]);
        }
        for sql in &init {
            conn.query_drop(sql).map_err(map_err)?;
        }
        let mut set_up = init;
        let mut tracked = false;
        for choices in wanted {
            for sql in choices {
                match conn.query_drop(&sql) {
                    Ok(()) => {
                        tracked |= sql == TRACK_CHANGES;
                        set_up.push(sql);
                        break;
                    }
                    // Not this server's: the next choice.
                    Err(mysql::Error::MySqlError(_)) => {}
                    Err(e) => return Err(map_err(e)),
                }
            }
        }
        // A server without session tracking reports nothing: reset every used session.
        let reset = match self.reset {
            SessionReset::WhenChanged if !tracked => SessionReset::Always,
            reset => reset,
        };
        let database = self.opts.get_db_name().map(str::to_owned);
        Ok(MySqlConnection::with_reset(conn, reset, database, set_up))
    }
}

#[cfg(test)]
mod tcp_tests {
    use super::*;

    #[test]
    fn a_question_mark_in_the_password_is_not_the_query() {
        let c = MySqlConnector::from_url("mysql://u:1?ssl-mode=x@127.0.0.1:1/db?ssl-mode=DISABLED")
            .unwrap();
        assert_eq!(c.opts().get_pass(), Some("1?ssl-mode=x"));
        assert_eq!(c.opts().get_db_name(), Some("db"));
        assert_eq!(c.opts().get_tcp_port(), 1);
    }

    #[test]
    fn a_dead_peer_is_noticed_in_about_a_minute_by_default() {
        let opts = MySqlConnector::from_url("mysql://u@127.0.0.1/db")
            .unwrap()
            .opts()
            .clone();
        assert_eq!(opts.get_tcp_keepalive_time_ms(), Some(30_000));
        assert_eq!(opts.get_tcp_keepalive_probe_interval_secs(), Some(10));
        assert_eq!(opts.get_tcp_keepalive_probe_count(), Some(3));
        assert_eq!(opts.get_tcp_user_timeout_ms(), Some(30_000));
        assert_eq!(
            opts.get_tcp_connect_timeout(),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn tcp_settings_from_the_url_are_kept() {
        let url = "mysql://u@127.0.0.1/db?tcp_keepalive_time_ms=5000&tcp_user_timeout_ms=7000";
        let opts = MySqlConnector::from_url(url).unwrap().opts().clone();
        assert_eq!(opts.get_tcp_keepalive_time_ms(), Some(5000));
        assert_eq!(opts.get_tcp_user_timeout_ms(), Some(7000));
    }
}
