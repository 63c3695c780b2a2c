//! The ODBC adapter of nimue, on [`odbc_api`]: any database with an ODBC driver, through the
//! system's driver manager (unixODBC on Linux and macOS, the built-in one on Windows).
//!
//! [`OdbcConnector`] opens [`OdbcConnection`]s, which implement nimue's PEP 249
//! [`Connection`](nimue_core::Connection) and [`Cursor`](nimue_core::Cursor) traits:
//!
//! - connecting: a DSN-less connection string (`Driver={PostgreSQL Unicode};Server=…;`), a
//!   data source name ([`OdbcConnector::dsn`]) or an `odbc:` URL
//!   ([`OdbcConnector::from_url`]); all connections share the process's one ODBC environment.
//!   A driver or DSN the driver manager does not know is an `InterfaceError` listing the
//!   installed drivers and what to install;
//! - parameters: qmark (`?`), ODBC's own style, bound with `SQLBindParameter` (never spliced
//!   into SQL). `Null` as a NULL `WVARCHAR`, `Bool` as `BIT`, `Int` as `BIGINT`, `Float` as
//!   `DOUBLE`, `Decimal` as its exact text typed `DECIMAL(p, s)`, `Text` as UTF-16
//!   `WVARCHAR`, `Bytes` as `VARBINARY`, `Date` as the date struct, `Time` and `Timestamp` as
//!   ISO text typed `TIME(p)`/`TIMESTAMP(p)`; the driver converts to the column's type;
//! - values, by the SQL type the driver reports: `BIT` → `Bool`; `TINYINT`…`BIGINT` → `Int`;
//!   `REAL`/`FLOAT`/`DOUBLE` → `Float`; `DECIMAL`/`NUMERIC` (and character columns whose
//!   database type is `DECIMAL`, as the SQLite driver reports them) → `Decimal`; character
//!   types → `Text` (read as UTF-16); binary types → `Bytes`; `DATE` → `Date`; `TIME` →
//!   `Time` (with fractional seconds); `TIMESTAMP` → `Timestamp`; anything else (GUIDs,
//!   intervals, ...) as its text;
//! - fetching: when every column has a bounded size, rows are fetched in batches into a bound
//!   columnar buffer; a result with a long or unbounded column (`TEXT`, `BLOB`, `bytea`, ...)
//!   is fetched row by row with `SQLGetData` (see [`OdbcConnection::binds_variable_size_columns`]);
//! - `description`: names, PEP 249 type codes, the database's type names
//!   (`SQL_DESC_TYPE_NAME`), sizes, precision, scale and nullability from the driver;
//! - errors: by SQLSTATE: 23 → Integrity, 42 → Programming, 08 → Operational, 22 → Data,
//!   0A/HYC00/IM001 → NotSupported, HYT00/HYT01 → Operational, other IM (driver manager) →
//!   InterfaceError; the SQLite driver's `HY000` errors by SQLite's result code;
//! - pool hooks: `is_broken` is the driver's connection-dead attribute (no I/O) or an earlier
//!   connection-level error, `ping` that attribute plus a `SELECT 1` round trip, `reset` a
//!   rollback with autocommit back off.
//!
//! `lastrowid` is always `None`: ODBC has no portable way to ask for it.
//!
//! Building needs the driver manager's headers and library (`unixodbc-dev` on Debian/Ubuntu);
//! running needs `libodbc` (`unixodbc`) and the database's driver (e.g. `odbc-postgresql`,
//! `libsqliteodbc`, `odbc-mariadb`). Without `libodbc` a program using this crate does not
//! start at all (the dynamic linker refuses it), so there is no run-time error for that case.
//!
//! Driver notes: PostgreSQL's driver reports `boolean` columns as text unless the connection
//! string sets `BoolsAsChar=0`; it writes a log file per connection to /tmp while its
//! odbcinst.ini entry has `CommLog=1` (Debian's default).
//!
//! ```no_run
//! use nimue_core::{params, Connect, Connection};
//! use nimue_odbc::OdbcConnector;
//!
//! let connector = OdbcConnector::new(
//!     "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=app;\
//!      Uid=app;Pwd=secret;BoolsAsChar=0;",
//! );
//! let mut conn = connector.connect()?;
//! conn.execute("UPDATE jobs SET state = ? WHERE id = ?", &params!["done", 7])?;
//! conn.commit()?;
//! # Ok::<(), nimue_core::Error>(())
//! ```

#![warn(missing_docs)]

mod connection;
mod connector;
mod convert;
mod error;
mod fetch;

pub use connection::OdbcConnection;
pub use connector::OdbcConnector;
pub use odbc_api;
