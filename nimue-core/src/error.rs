//! The error hierarchy of PEP 249, as Rust types.
//!
//! PEP 249 defines this tree of exceptions:
//!
//! ```text
//! Error
//! ├── InterfaceError            -> Error::Interface
//! └── DatabaseError             -> Error::Database(DatabaseError)
//!     ├── DataError                 kind() == ErrorKind::Data
//!     ├── OperationalError          kind() == ErrorKind::Operational
//!     ├── IntegrityError            kind() == ErrorKind::Integrity
//!     ├── InternalError             kind() == ErrorKind::Internal
//!     ├── ProgrammingError          kind() == ErrorKind::Programming
//!     └── NotSupportedError         kind() == ErrorKind::NotSupported
//! ```
//!
//! The [pool](crate::pool) adds errors of its own, outside PEP 249's tree
//! ([`ErrorKind::is_pool`], never [`is_database`](ErrorKind::is_database)):
//! [`Error::Timeout`] (no connection within `connection_timeout`, with the pool's numbers),
//! [`Error::Exhausted`] (`max_waiting` callers already wait) and [`Error::Closed`]. [`Error::Connect`] (the connector failed) takes its cause's kind.
//!
//! Adapters map their driver's errors onto it (by SQLSTATE where the driver has one), so code
//! written against nimue handles a unique-key violation the same way on every database:
//!
//! ```
//! use nimue_core::{Error, ErrorKind};
//!
//! fn insert_or_ignore(result: Result<u64, Error>) -> Result<u64, Error> {
//!     match result {
//!         Err(e) if e.kind() == ErrorKind::Integrity => Ok(0),
//!         other => other,
//!     }
//! }
//! let dup = Error::integrity("UNIQUE constraint failed: users.email");
//! assert_eq!(insert_or_ignore(Err(dup)).unwrap(), 0);
//! ```

use std::fmt;
use std::sync::Arc;

mod violation;

use std::time::Duration;
pub use violation::{sqlite_violation, Violation};

/// A boxed error from a driver or the OS, kept as the [`source`](std::error::Error::source) of
/// a nimue error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with nimue's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error nimue returns.
///
/// Match on [`Error::kind`] for the PEP 249 class; the variants keep the hierarchy's two
/// branches (interface vs. database) apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// PEP 249 `InterfaceError`: a problem with the database interface (the adapter, the
    /// driver, the way it was called) rather than with the database itself.
    #[error("interface error: {message}")]
    Interface {
        /// What went wrong (with the driver's or the OS's words for it, when there are some).
        message: String,
        /// The driver's or the OS's error this one was made from, when there is one (see
        /// [`Error::driver_error`]).
        driver: Option<BoxError>,
    },
    /// PEP 249 `DatabaseError` and its subclasses: the database (or the data) refused.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// A pool had no connection to give within its `connection_timeout`.
    #[error(transparent)]
    Timeout(Box<PoolTimeout>),
    /// A pool refused to queue another caller: `max_waiting` callers were already waiting.
    #[error("pool {:?}: too many callers waiting ({}); not queueing another", .0.pool, .0.numbers())]
    Exhausted(Box<PoolTimeout>),
    /// A query helper that needs a row ([`query_one`](crate::Connection::query_one),
    /// [`query_scalar`](crate::Connection::query_scalar)) got none: sqlx's `RowNotFound`,
    /// rusqlite's `QueryReturnedNoRows`.
    #[error("the query returned no rows")]
    NoRows,
    /// The pool is closed: it hands out no more connections.
    #[error("pool {pool:?} is closed")]
    Closed {
        /// The pool's name.
        pool: String,
    },
    /// A pool could not open a connection: the connector (or the `on_connect` hook) failed.
    ///
    /// Returned by `build()` and `try_get()` when their own attempt fails, and by `get()`
    /// when it gives up waiting while connecting fails: a wrong password reads as a wrong
    /// password, not as a timeout. [`kind`](Error::kind) is the cause's kind (usually
    /// `Operational` or `Interface`).
    #[error("pool {pool:?} could not open a connection: {cause}{}", gave_up(.timeout))]
    Connect {
        /// The pool's name.
        pool: String,
        /// The connector's (or hook's) error, shared by every caller it failed (printed as
        /// part of this one's message).
        cause: Arc<Error>,
        /// When `get()` gave up waiting: how long it waited, and the pool's numbers then.
        timeout: Option<Box<PoolTimeout>>,
    },
}

impl Error {
    /// A PEP 249 `InterfaceError` with a message.
    pub fn interface(message: impl Into<String>) -> Self {
        Error::Interface {
            message: message.into(),
            driver: None,
        }
    }

    /// A PEP 249 `InterfaceError` made from a driver's or the OS's error. `message` is the
    /// whole story: include the error's words in it (it is kept for
    /// [`driver_error`](Self::driver_error), not printed).
    ///
    /// ```
    /// use nimue_core::Error;
    /// let io = std::io::Error::other("no threads left");
    /// let e = Error::interface_from(format!("could not start a thread: {io}"), io);
    /// assert_eq!(e.to_string(), "interface error: could not start a thread: no threads left");
    /// assert!(e.driver_error().is_some_and(|d| d.is::<std::io::Error>()));
    /// ```
    pub fn interface_from(message: impl Into<String>, driver: impl Into<BoxError>) -> Self {
        Error::Interface {
            message: message.into(),
            driver: Some(driver.into()),
        }
    }

    /// The driver's (or the OS's) own error this one was made from, to downcast to the
    /// driver's type (`rusqlite::Error`, `postgres::Error`, ...) when its details matter.
    /// nimue's errors print their whole story and return no [`source`](std::error::Error::source)
    /// of what they printed (the Rust API guidelines' rule: print it or return it, not
    /// both), so this is where the driver's error is.
    pub fn driver_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Interface { driver, .. } => driver.as_deref(),
            Error::Database(e) => e.driver_error(),
            Error::Connect { cause, .. } => cause.driver_error(),
            Error::Timeout(_) | Error::Exhausted(_) | Error::Closed { .. } | Error::NoRows => None,
        }
    }

    /// A `DataError`: bad data (out of range, wrong type, cannot convert).
    pub fn data(message: impl Into<String>) -> Self {
        DatabaseError::new(ErrorKind::Data, message).into()
    }

    /// An `OperationalError`: the database's operation failed (connection lost, busy, ...).
    pub fn operational(message: impl Into<String>) -> Self {
        DatabaseError::new(ErrorKind::Operational, message).into()
    }

    /// An `IntegrityError`: a constraint was violated.
    pub fn integrity(message: impl Into<String>) -> Self {
        DatabaseError::new(ErrorKind::Integrity, message).into()
    }

    /// An `InternalError`: the database is in an inconsistent internal state.
    pub fn internal(message: impl Into<String>) -> Self {
        DatabaseError::new(ErrorKind::Internal, message).into()
    }

    /// A `ProgrammingError`: bad SQL, wrong parameter count, a missing table or column.
    pub fn programming(message: impl Into<String>) -> Self {
        DatabaseError::new(ErrorKind::Programming, message).into()
    }

    /// A `NotSupportedError`: the driver or database cannot do what was asked.
    pub fn not_supported(message: impl Into<String>) -> Self {
        DatabaseError::new(ErrorKind::NotSupported, message).into()
    }

    /// The same error, its message preceded by `context` (`connecting to
    /// postgres://app@db:5432/app: connection refused`): for adapters, to say where an error
    /// happened. Kind, SQLSTATE, code and driver error stay; pool errors are left as they are.
    ///
    /// ```
    /// use nimue_core::{Error, ErrorKind};
    /// let e = Error::operational("connection refused").context("connecting to mysql://app@db:3306/app");
    /// assert_eq!(e.kind(), ErrorKind::Operational);
    /// assert_eq!(e.to_string(), "operational error: connecting to mysql://app@db:3306/app: connection refused");
    /// ```
    pub fn context(self, context: impl fmt::Display) -> Self {
        match self {
            Error::Interface { message, driver } => Error::Interface {
                message: format!("{context}: {message}"),
                driver,
            },
            Error::Database(mut e) => {
                e.message = format!("{context}: {}", e.message);
                Error::Database(e)
            }
            other => other,
        }
    }

    /// The PEP 249 class of this error.
    ///
    /// ```
    /// use nimue_core::{Error, ErrorKind};
    /// assert_eq!(Error::programming("syntax error").kind(), ErrorKind::Programming);
    /// assert!(Error::programming("syntax error").kind().is_database());
    /// assert!(!Error::interface("no driver").kind().is_database());
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Interface { .. } => ErrorKind::Interface,
            Error::Database(e) => e.kind(),
            Error::Timeout(_) => ErrorKind::PoolTimeout,
            Error::Exhausted(_) => ErrorKind::PoolExhausted,
            Error::Closed { .. } => ErrorKind::PoolClosed,
            Error::NoRows => ErrorKind::NoRows,
            Error::Connect { cause, .. } => cause.kind(),
        }
    }

    /// The database error, when this is one.
    pub fn as_database(&self) -> Option<&DatabaseError> {
        match self {
            Error::Database(e) => Some(e),
            _ => None,
        }
    }

    /// The SQLSTATE the database reported, when it reported one.
    pub fn sqlstate(&self) -> Option<&str> {
        self.as_database().and_then(DatabaseError::sqlstate)
    }

    /// Which integrity rule was broken (unique, foreign key, not null, check), for an
    /// [`Integrity`](ErrorKind::Integrity) error: see [`Violation`].
    ///
    /// ```
    /// # use nimue_core::{Connection, Error, Result, Violation};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// match conn.execute("INSERT INTO users (email) VALUES (?)", ("ada@example.org",)) {
    ///     Err(e) if e.violation() == Some(Violation::Unique) => println!("taken: {:?}", e.constraint()),
    ///     other => { other?; }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn violation(&self) -> Option<Violation> {
        self.as_database().and_then(DatabaseError::violation)
    }

    /// The constraint (or, for `NOT NULL`, the column) an integrity error broke, when the
    /// database named it.
    pub fn constraint(&self) -> Option<&str> {
        self.as_database().and_then(DatabaseError::constraint)
    }
}

/// The PEP 249 class of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `InterfaceError`.
    Interface,
    /// `DatabaseError` itself, when no subclass fits.
    Database,
    /// `DataError`.
    Data,
    /// `OperationalError`.
    Operational,
    /// `IntegrityError`.
    Integrity,
    /// `InternalError`.
    Internal,
    /// `ProgrammingError`.
    Programming,
    /// `NotSupportedError`.
    NotSupported,
    /// Not PEP 249: a pool timed out waiting for a connection ([`Error::Timeout`]).
    PoolTimeout,
    /// Not PEP 249: the pool is closed ([`Error::Closed`]).
    PoolClosed,
    /// Not PEP 249: the pool refused to queue the caller ([`Error::Exhausted`], `max_waiting`).
    PoolExhausted,
    /// Not PEP 249: a query that had to return a row returned none ([`Error::NoRows`]).
    NoRows,
}

impl ErrorKind {
    /// Whether this kind is `DatabaseError` or one of its subclasses.
    pub fn is_database(self) -> bool {
        !matches!(self, ErrorKind::Interface | ErrorKind::NoRows) && !self.is_pool()
    }

    /// Whether this is one of the pool's own errors, which PEP 249 does not define.
    ///
    /// ```
    /// use nimue_core::ErrorKind;
    /// assert!(ErrorKind::PoolTimeout.is_pool());
    /// assert!(!ErrorKind::PoolTimeout.is_database());
    /// assert!(!ErrorKind::Operational.is_pool());
    /// ```
    pub fn is_pool(self) -> bool {
        matches!(
            self,
            ErrorKind::PoolTimeout | ErrorKind::PoolClosed | ErrorKind::PoolExhausted
        )
    }

    /// The PEP 249 exception name, e.g. `"IntegrityError"`. Pool errors, which PEP 249 does
    /// not define, are named as psycopg_pool names them (`"PoolTimeout"`, `"PoolClosed"`,
    /// `"TooManyRequests"`).
    pub fn pep249_name(self) -> &'static str {
        match self {
            ErrorKind::Interface => "InterfaceError",
            ErrorKind::Database => "DatabaseError",
            ErrorKind::Data => "DataError",
            ErrorKind::Operational => "OperationalError",
            ErrorKind::Integrity => "IntegrityError",
            ErrorKind::Internal => "InternalError",
            ErrorKind::Programming => "ProgrammingError",
            ErrorKind::NotSupported => "NotSupportedError",
            ErrorKind::PoolTimeout => "PoolTimeout",
            ErrorKind::PoolClosed => "PoolClosed",
            ErrorKind::PoolExhausted => "TooManyRequests",
            ErrorKind::NoRows => "NoRows",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorKind::Interface => "interface error",
            ErrorKind::Database => "database error",
            ErrorKind::Data => "data error",
            ErrorKind::Operational => "operational error",
            ErrorKind::Integrity => "integrity error",
            ErrorKind::Internal => "internal error",
            ErrorKind::Programming => "programming error",
            ErrorKind::NotSupported => "not supported",
            ErrorKind::PoolTimeout => "pool timeout",
            ErrorKind::PoolClosed => "pool closed",
            ErrorKind::PoolExhausted => "pool exhausted",
            ErrorKind::NoRows => "no rows",
        };
        f.write_str(text)
    }
}

/// PEP 249 `DatabaseError`: an error the database (or the data sent to it) caused.
///
/// ```
/// use nimue_core::{DatabaseError, Error, ErrorKind};
/// let e: Error = DatabaseError::new(ErrorKind::Integrity, "duplicate key")
///     .with_sqlstate("23505")
///     .into();
/// assert_eq!(e.kind(), ErrorKind::Integrity);
/// assert_eq!(e.sqlstate(), Some("23505"));
/// assert_eq!(e.to_string(), "integrity error: duplicate key (SQLSTATE 23505)");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}{}", code_suffix(.sqlstate.as_deref(), *.code))]
pub struct DatabaseError {
    kind: ErrorKind,
    message: String,
    sqlstate: Option<String>,
    code: Option<i64>,
    /// Which integrity rule was broken, and the constraint's (or column's) name.
    violation: Option<Violation>,
    constraint: Option<String>,
    /// The driver's error whose words are the message: kept, not printed again nor returned
    /// by `source()`.
    driver: Option<BoxError>,
}

/// `" (SQLSTATE 23505)"`, `" (code 1062)"` or nothing.
fn code_suffix(sqlstate: Option<&str>, code: Option<i64>) -> String {
    match (sqlstate, code) {
        (Some(state), _) => format!(" (SQLSTATE {state})"),
        (None, Some(code)) => format!(" (code {code})"),
        (None, None) => String::new(),
    }
}

impl DatabaseError {
    /// A database error of `kind`. An [`ErrorKind::Interface`] here is recorded as
    /// [`ErrorKind::Database`]: interface errors are not database errors.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let kind = if kind == ErrorKind::Interface {
            ErrorKind::Database
        } else {
            kind
        };
        DatabaseError {
            kind,
            message: message.into(),
            sqlstate: None,
            code: None,
            violation: None,
            constraint: None,
            driver: None,
        }
    }

    /// Attach which integrity rule was broken.
    pub fn with_violation(mut self, violation: Violation) -> Self {
        self.violation = Some(violation);
        self
    }

    /// Attach the name of the constraint (or, for `NOT NULL`, the column) that was broken.
    pub fn with_constraint(mut self, constraint: impl Into<String>) -> Self {
        self.constraint = Some(constraint.into());
        self
    }

    /// Which integrity rule was broken, for an [`Integrity`](ErrorKind::Integrity) error.
    pub fn violation(&self) -> Option<Violation> {
        self.violation
    }

    /// The constraint that was broken (for `NOT NULL`, the column), when the database named
    /// it.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    /// Attach the five-character SQLSTATE the database reported.
    pub fn with_sqlstate(mut self, sqlstate: impl Into<String>) -> Self {
        self.sqlstate = Some(sqlstate.into());
        self
    }

    /// Attach the driver's native error code (e.g. MySQL's 1062, SQLite's extended code).
    pub fn with_code(mut self, code: i64) -> Self {
        self.code = Some(code);
        self
    }

    /// Attach the driver error this one was mapped from (the message should carry its
    /// words: it is kept for [`driver_error`](Self::driver_error), not printed).
    pub fn with_driver_error(mut self, driver: impl Into<BoxError>) -> Self {
        self.driver = Some(driver.into());
        self
    }

    /// The driver's error this one was mapped from, when it has one.
    pub fn driver_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.driver.as_deref()
    }

    /// The PEP 249 subclass.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The database's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The SQLSTATE, when the database reported one.
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }

    /// The driver's native error code, when it has one.
    pub fn code(&self) -> Option<i64> {
        self.code
    }
}

/// The pool's numbers when a `get()` gave up waiting: what [`Error::Timeout`] carries (and
/// [`Error::Connect`], when connecting was failing meanwhile).
///
/// ```
/// use nimue_core::error::PoolTimeout;
/// use std::time::Duration;
///
/// let t = PoolTimeout {
///     pool: "main".into(),
///     waited: Duration::from_millis(1500),
///     size: 4,
///     max_size: 4,
///     in_use: 4,
///     idle: 0,
///     waiting: 2,
///     cause: None,
/// };
/// assert_eq!(
///     t.to_string(),
///     "pool \"main\": no connection within 1.5s (size 4 of max 4, in use 4, idle 0, waiting 2)"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct PoolTimeout {
    /// The pool's name.
    pub pool: String,
    /// How long the caller waited.
    pub waited: Duration,
    /// Connections counted against `max_size` (open, being opened or being checked).
    pub size: usize,
    /// The pool's `max_size`.
    pub max_size: usize,
    /// Connections handed out.
    pub in_use: usize,
    /// Idle connections.
    pub idle: usize,
    /// Other callers still waiting (this one not counted).
    pub waiting: usize,
    /// Why the connections this caller was given were turned away at checkout (the
    /// `on_checkout` hook's or `test_on_checkout`'s last error), when that is why it got
    /// none; its [`source`](std::error::Error::source).
    pub cause: Option<Arc<Error>>,
}

impl fmt::Display for PoolTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool {:?}: no connection within {:?} ({})",
            self.pool,
            self.waited,
            self.numbers()
        )
    }
}

impl std::error::Error for PoolTimeout {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl PoolTimeout {
    fn numbers(&self) -> String {
        format!(
            "size {} of max {}, in use {}, idle {}, waiting {}",
            self.size, self.max_size, self.in_use, self.idle, self.waiting
        )
    }
}

/// The tail of [`Error::Connect`]'s message when `get()` gave up waiting.
fn gave_up(timeout: &Option<Box<PoolTimeout>>) -> String {
    match timeout {
        Some(t) => format!(" (gave up after {:?}: {})", t.waited, t.numbers()),
        None => String::new(),
    }
}
