//! `PgConnector`: opens PostgreSQL connections for the pool.

use crate::client::Client;
use crate::connection::PgConnection;
use crate::error::map_err;
use crate::runtime::{runtime_gone, OnRuntime};
use crate::url::take_params;
use nimue_core::aio::AsyncConnect;
use nimue_core::url::Target;
use nimue_core::{Connect, Error, Result, SessionReset};
use std::str::FromStr;
use std::time::Duration;

/// How a connection sends statements to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Statements {
    /// Prepare each statement once per connection and keep it (named, cached): a repeated
    /// statement costs one round trip and no parsing. The default; it needs a server session
    /// of the connection's own: a direct connection, or PgBouncer's `pool_mode=session`.
    /// Behind a transaction pooler the server may not know a statement prepared in an earlier
    /// transaction: that error (SQLSTATE 26000) is an `OperationalError` that says to use
    /// `Unnamed`.
    #[default]
    Cached,
    /// Send each statement unnamed, parsed with every execution and kept nowhere: what
    /// transaction and statement poolers (PgBouncer's `pool_mode=transaction`) accept. Still
    /// one round trip per statement. Text and `NULL` parameters are typed by the server from
    /// their context, as literals are; other values go as their own type (an integer as
    /// `int8`: cast where that is not what the server should see; bytes for a column of
    /// another type are a `ProgrammingError`, the server's type mismatch). A query is
    /// described by its first row; one that returns no rows costs a round trip more to
    /// describe.
    Unnamed,
}

impl Statements {
    fn from_param(value: &str) -> Result<Self> {
        match value {
            "cached" => Ok(Statements::Cached),
            "unnamed" => Ok(Statements::Unnamed),
            other => Err(nimue_core::Error::interface(format!(
                "statements={other}: use statements=cached or statements=unnamed"
            ))),
        }
    }
}

/// How much longer than its statement timeout the client waits for the server's answer.
const STATEMENT_GRACE: Duration = Duration::from_secs(1);

/// The `postgres` crate's default `keepalives_idle`.
const DRIVER_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// Opens connections to one PostgreSQL server with the same settings each time.
///
/// Defaults added to the given configuration when it leaves them unset: a 10 s connect
/// timeout, `application_name` `nimue`, and TCP settings that notice a dead server in about a
/// minute rather than hours: keepalive probes after 30 s idle, every 10 s, 3 at most, and a
/// 30 s TCP user timeout (unacknowledged data). `Debug` never shows the password.
///
/// ```
/// use nimue_postgres::PgConnector;
/// let connector = PgConnector::from_url("postgres://app:s3cret@127.0.0.1:5432/appdb")?;
/// let shown = format!("{connector:?}");
/// assert!(shown.contains("appdb") && !shown.contains("s3cret"));
/// # Ok::<(), nimue_core::Error>(())
/// ```
#[derive(Clone)]
pub struct PgConnector {
    config: tokio_postgres::Config,
    ping_timeout: Duration,
    statement_timeout: Option<Duration>,
    statements: Statements,
    session_reset: SessionReset,
    /// The runtime connections are opened on (their sockets served by it), for async code.
    runtime: Option<OnRuntime>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl std::fmt::Debug for PgConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("PgConnector");
        // tokio_postgres::Config's Debug redacts the password.
        s.field("config", &self.config)
            .field("ping_timeout", &self.ping_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("statements", &self.statements)
            .field("session_reset", &self.session_reset)
            .field("runtime", &self.runtime.is_some());
        #[cfg(feature = "tls")]
        s.field("tls", &self.tls.is_some());
        s.finish()
    }
}

impl PgConnector {
    /// Connections configured by a [`tokio_postgres::Config`] (the same settings as a
    /// `postgres::Config`: nimue drives `tokio_postgres` on the calling thread, as the
    /// `postgres` crate does, to send a statement's `BEGIN` with it).
    pub fn new(mut config: tokio_postgres::Config) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("nimue");
        }
        // The driver's default idle time is 2 hours: a server that vanished would hold a
        // pooled connection (and a caller blocked on it) that long.
        if config.get_keepalives_idle() == DRIVER_KEEPALIVES_IDLE {
            config.keepalives_idle(Duration::from_secs(30));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(10));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        PgConnector {
            config,
            ping_timeout: Duration::from_secs(5),
            statement_timeout: None,
            statements: Statements::default(),
            session_reset: SessionReset::default(),
            runtime: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Connections from a URL (`postgres://user:pass@host:port/db?param=value`) or a
    /// `key=value` connection string, as libpq reads them, plus nimue's own parameter
    /// `statements=cached|unnamed` ([`Statements`]). A malformed one is an `InterfaceError`.
    ///
    /// ```
    /// use nimue_postgres::{PgConnector, Statements};
    /// let behind_pgbouncer =
    ///     PgConnector::from_url("postgres://app@127.0.0.1:6432/appdb?statements=unnamed")?;
    /// assert_eq!(behind_pgbouncer.get_statements(), Statements::Unnamed);
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let (rest, mut ours) = take_params(url, &["statements", "sslmode", "sslrootcert"])?;
        let config = tokio_postgres::Config::from_str(&rest).map_err(map_err)?;
        let mut connector = Self::new(config);
        if let Some(value) = ours.remove("statements") {
            connector = connector.statements(Statements::from_param(&value)?);
        }
        connector.ssl_from_url(ours.remove("sslmode"), ours.remove("sslrootcert"))
    }

    /// libpq's `sslmode` and `sslrootcert` (see the [`tls`](crate) feature's table): without
    /// `sslmode` nothing changes (no TLS unless [`tls`](Self::tls) is called).
    fn ssl_from_url(mut self, mode: Option<String>, rootcert: Option<String>) -> Result<Self> {
        use tokio_postgres::config::SslMode;
        let Some(mode) = mode else {
            return Ok(self);
        };
        let ssl_mode = match mode.as_str() {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" | "verify-ca" | "verify-full" => SslMode::Require,
            other => {
                return Err(nimue_core::Error::interface(format!(
                    "sslmode={other}: use disable, prefer, require, verify-ca or verify-full"
                )))
            }
        };
        self.config.ssl_mode(ssl_mode);
        if ssl_mode == SslMode::Disable {
            return Ok(self);
        }
        #[cfg(feature = "tls")]
        {
            use crate::tls::{config, roots, Check};
            let roots = match &rootcert {
                Some(path) => Some(roots(&std::fs::read(path).map_err(|e| {
                    nimue_core::Error::interface_from(format!("reading sslrootcert {path}: {e}"), e)
                })?)?),
                None => None,
            };
            let check = match (mode.as_str(), roots.is_some()) {
                ("verify-full", _) => Check::Full,
                ("verify-ca", _) | (_, true) => Check::Chain,
                _ => Check::Nothing,
            };
            Ok(self.tls(config(check, roots)?))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = rootcert;
            if ssl_mode == SslMode::Require {
                return Err(nimue_core::Error::interface(format!(
                    "sslmode={mode} needs TLS: build nimue with the `postgres-tls` feature"
                )));
            }
            Ok(self)
        }
    }

    /// How statements are sent (default [`Statements::Cached`]; `Unnamed` behind a
    /// transaction pooler such as PgBouncer in `pool_mode=transaction`).
    pub fn statements(mut self, statements: Statements) -> Self {
        self.statements = statements;
        self
    }

    /// How statements are sent.
    pub fn get_statements(&self) -> Statements {
        self.statements
    }

    /// The configuration, to adjust (e.g. `connect_timeout`, `keepalives_idle`).
    pub fn config_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.config
    }

    /// The configuration.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// How long [`ping`](nimue_core::PoolHooks::ping) waits for the server (default 5 s).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Bound how long a statement may run (default: no bound). The server cancels a statement
    /// that runs longer (`statement_timeout`, sent at connect in the `options` startup
    /// parameter): an `OperationalError` (SQLSTATE 57014), the connection stays usable after
    /// a rollback. And the client waits at most a second more for any answer: a server that
    /// hangs (stopped, or a network that drops packets silently) fails the call with an
    /// `OperationalError` too, and the connection is given up (the pool replaces it).
    ///
    /// ```
    /// use nimue_postgres::PgConnector;
    /// use std::time::Duration;
    /// let connector = PgConnector::from_url("postgres://app@127.0.0.1/appdb")?
    ///     .statement_timeout(Duration::from_secs(30));
    /// assert!(connector.config().get_options().unwrap().contains("statement_timeout=30000"));
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        let ms = timeout.as_millis().max(1);
        let options = match self.config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} -c statement_timeout={ms}"),
            _ => format!("-c statement_timeout={ms}"),
        };
        self.config.options(&options);
        self.statement_timeout = Some(timeout);
        self
    }

    /// Use TLS (rustls) with this client configuration; `sslmode` in the URL decides whether
    /// it is required (`require`) or only preferred (the default). Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(tokio_postgres_rustls::MakeRustlsConnect::new(config));
        self
    }

    /// Use TLS trusting the CA certificates in `pem` (e.g. a private CA's `root.crt`).
    /// Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls_with_ca_pem(self, pem: &[u8]) -> Result<Self> {
        use crate::tls::{config, roots, Check};
        Ok(self.tls(config(Check::Full, Some(roots(pem)?))?))
    }

    /// How [`reset`](nimue_core::PoolHooks::reset) cleans a session a checkout used (default
    /// [`SessionReset::Always`]). On PostgreSQL:
    ///
    /// - `Always`: after the rollback, in the same message (sent without waiting), the
    ///   session is cleared of cursors, `LISTEN`s, advisory locks, settings, the role,
    ///   temporary tables, sequences' `currval` and SQL `PREPARE`d statements (what
    ///   `DISCARD ALL` does, but for nimue's own cached statements): deadpool-postgres'
    ///   `RecyclingMethod::Clean`. The server runs it before the next checkout's first
    ///   statement: about one simple query's work per checkout.
    /// - `WhenChanged`: the same clear, only when the server reported a change: a setting's
    ///   new value (`ParameterStatus`, sent for the settings PostgreSQL reports, such as
    ///   `application_name`, `TimeZone`, `DateStyle`,
    ///   `standard_conforming_strings`, `is_superuser`), or a command other than a query, a
    ///   change of rows, or transaction control (its `CommandComplete` tag: `SET`, `CREATE
    ///   TABLE`, `LISTEN`, `DECLARE CURSOR`, `PREPARE`, ...). What a function called by a
    ///   query does (`set_config` of an unreported setting, `pg_advisory_lock`, a temporary
    ///   table made inside it) is not reported, and reaches the next checkout.
    /// - `Rollback`: only the rollback (deadpool-postgres' default, `RecyclingMethod::Fast`).
    ///
    /// ```
    /// use nimue_postgres::PgConnector;
    /// use nimue_core::SessionReset;
    /// let connector = PgConnector::from_url("postgres://app@127.0.0.1/appdb")?
    ///     .session_reset(SessionReset::Rollback);
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn session_reset(mut self, reset: SessionReset) -> Self {
        self.session_reset = reset;
        self
    }

    /// Open connections on `runtime`: their sockets are served by its reactor, so async code
    /// uses them as [`AsyncConnection`](nimue_core::aio::AsyncConnection)s without a thread
    /// hop, wherever they were opened (a pool opens them on threads of its own). The
    /// synchronous API still works on them, off that runtime's threads. Without it, a
    /// connection opened by [`Connect::connect`] has a runtime of its own (the fastest for
    /// blocking code) and [`AsyncConnect::connect`] opens on the runtime it is awaited on.
    ///
    /// ```no_run
    /// use nimue_core::aio::AsyncConnection;
    /// use nimue_postgres::PgConnector;
    /// # async fn handler() -> nimue_core::Result<()> {
    /// let connector = PgConnector::from_url("postgres://app@127.0.0.1/appdb")?
    ///     .runtime(tokio::runtime::Handle::current());
    /// let pool = nimue_core::Pool::builder(connector).max_size(8).build()?;
    /// let mut conn = pool.get_async().await?;
    /// let n: i64 = conn.query_scalar("SELECT ? + 1", (41,)).await?;
    /// # Ok(()) }
    /// ```
    pub fn runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(OnRuntime::new(runtime));
        self
    }

    fn client(&self) -> Result<Client> {
        let on = self.runtime.as_ref();
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Client::connect(&self.config, Some(tls.clone()), on);
        }
        Client::connect(&self.config, None::<tokio_postgres::NoTls>, on)
    }

    /// A client opened on the runtime this runs on.
    async fn client_here(
        config: tokio_postgres::Config,
        tls: Option<Tls>,
        known: Option<OnRuntime>,
    ) -> Result<Client> {
        Client::connect_here(&config, tls, known).await
    }

    /// The connection over a client just opened.
    fn finish(&self, mut client: Client) -> PgConnection {
        client.set_patience(self.statement_timeout.map(|t| t + STATEMENT_GRACE));
        let unnamed = self.statements == Statements::Unnamed;
        PgConnection::from_client(client, self.ping_timeout, unnamed, self.session_reset)
    }

    /// The server(s) this connector logs in to, for messages: `postgres://user@host:port/db`
    /// (each host of a multi-host list, with its port), never the password.
    pub fn target(&self) -> String {
        use tokio_postgres::config::Host;
        let config = &self.config;
        let ports = config.get_ports();
        let port_of = |i: usize| ports.get(i).or(ports.last()).copied().unwrap_or(5432);
        let hosts: Vec<String> = match config.get_hosts() {
            [] => vec![format!("localhost:{}", port_of(0))],
            hosts => hosts
                .iter()
                .enumerate()
                .map(|(i, host)| match host {
                    Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port_of(i)),
                    Host::Tcp(name) => format!("{name}:{}", port_of(i)),
                    Host::Unix(dir) => format!("{}:{}", dir.display(), port_of(i)),
                })
                .collect(),
        };
        let user = config.get_user().unwrap_or_default();
        let database = config.get_dbname().unwrap_or(user);
        Target::new("postgres", hosts.join(","))
            .user(user)
            .database(database)
            .to_string()
    }
}

impl Connect for PgConnector {
    type Connection = PgConnection;

    fn connect(&self) -> Result<PgConnection> {
        let client = self
            .client()
            .map_err(|e| e.context(format_args!("connecting to {}", self.target())))?;
        Ok(self.finish(client))
    }
}

/// What connects with TLS (or none).
#[cfg(feature = "tls")]
type Tls = tokio_postgres_rustls::MakeRustlsConnect;
#[cfg(not(feature = "tls"))]
type Tls = tokio_postgres::NoTls;

/// Connections for async code: opened on the connector's [`runtime`](PgConnector::runtime)
/// if it has one, else on the runtime the future is awaited on (a tokio runtime is needed).
impl AsyncConnect for PgConnector {
    type Connection = PgConnection;

    async fn connect(&self) -> Result<PgConnection> {
        let config = self.config.clone();
        #[cfg(feature = "tls")]
        let tls = self.tls.clone();
        #[cfg(not(feature = "tls"))]
        let tls = None;
        let opened = match &self.runtime {
            Some(runtime) if runtime.gone() => Err(runtime_gone()),
            Some(runtime) => runtime
                .handle()
                .spawn(Self::client_here(config, tls, Some(runtime.clone())))
                .await
                .unwrap_or_else(|e| Err(Error::interface_from(format!("connecting: {e}"), e))),
            None => Self::client_here(config, tls, None).await,
        };
        let client =
            opened.map_err(|e| e.context(format_args!("connecting to {}", self.target())))?;
        Ok(self.finish(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_peer_is_noticed_in_about_a_minute_by_default() {
        let c = PgConnector::from_url("postgres://u@127.0.0.1/db").unwrap();
        let config = c.config();
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(
            config.get_keepalives_interval(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(config.get_keepalives_retries(), Some(3));
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(30))
        );
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(10)));
    }

    #[test]
    fn the_statements_parameter_is_nimues() {
        let url = "postgres://u@127.0.0.1/db?connect_timeout=3&statements=unnamed";
        let c = PgConnector::from_url(url).unwrap();
        assert_eq!(c.get_statements(), Statements::Unnamed);
        assert_eq!(
            c.config().get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        let c = PgConnector::from_url("host=127.0.0.1 statements=cached user=u").unwrap();
        assert_eq!(c.get_statements(), Statements::Cached);
        assert_eq!(c.config().get_user(), Some("u"));
        let c = PgConnector::from_url("postgres://u@127.0.0.1/db").unwrap();
        assert_eq!(c.get_statements(), Statements::Cached);
        assert!(PgConnector::from_url("postgres://u@h/db?statements=maybe").is_err());
    }

    #[test]
    fn tcp_settings_from_the_url_are_kept() {
        let url =
            "postgres://u@127.0.0.1/db?keepalives_idle=5&tcp_user_timeout=7&connect_timeout=3";
        let config = PgConnector::from_url(url).unwrap().config().clone();
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(5));
        assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }
}
