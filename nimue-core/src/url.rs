//! Database URLs as users write them, for adapters: the user info (`user:password@`) may hold
//! characters that end it for a URL parser (`?`, `#`, `/`, `@`), and its text must never reach
//! a message. The user info ends at the last `@` before the path (as Python's and the WHATWG
//! URL parsers read it: a password may hold `@` unencoded); [`Target`] names a server in
//! messages without it.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::borrow::Cow;

/// What may not stand as itself in user info (RFC 3986: unreserved, sub-delims, `:` and `%`
/// may; `%` is left alone so an encoded password stays as it is).
const NOT_USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Where `url`'s host part starts: after the scheme's `://` and the user info, if any. The
/// user info ends at the last `@` before the first `/` (else `?`) that follows its first `@`:
/// `u:p@ss@host/db` has the password `p@ss`, `u@host/db?options=a@b` the user `u`.
fn host_start(url: &str) -> usize {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority = &url[after_scheme..];
    let Some(first_at) = authority.find('@') else {
        return after_scheme;
    };
    let rest = &authority[first_at..];
    let bound = rest
        .find('/')
        .or_else(|| rest.find('?'))
        .unwrap_or(rest.len());
    let last_at = first_at + rest[..bound].rfind('@').unwrap_or(0);
    after_scheme + last_at + 1
}

/// A server as messages name it: `scheme://user@host:port/database`, never a password.
///
/// ```
/// use nimue_core::url::Target;
/// let t = Target::new("postgres", "127.0.0.1").port(5432).user("app").database("appdb");
/// assert_eq!(t.to_string(), "postgres://app@127.0.0.1:5432/appdb");
/// assert_eq!(Target::new("sqlite", "/var/lib/app.db").to_string(), "sqlite:/var/lib/app.db");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    scheme: String,
    host: String,
    port: Option<u16>,
    user: Option<String>,
    database: Option<String>,
}

impl Target {
    /// The server (or file) `host` of `scheme`.
    pub fn new(scheme: impl Into<String>, host: impl Into<String>) -> Self {
        Target {
            scheme: scheme.into(),
            host: host.into(),
            port: None,
            user: None,
            database: None,
        }
    }

    /// With its port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// With the user who logs in.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into()).filter(|u| !u.is_empty());
        self
    }

    /// With the database.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into()).filter(|d| !d.is_empty());
        self
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let network = self.port.is_some() || self.user.is_some() || self.database.is_some();
        if !network {
            return write!(f, "{}:{}", self.scheme, self.host);
        }
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(database) = &self.database {
            write!(f, "/{database}")?;
        }
        Ok(())
    }
}

/// `url`'s part before its query, and the query: the first `?` after the user info, so that
/// a `?` in a password is not taken for the query's start. `None` without a query.
///
/// ```
/// use nimue_core::url::split_query;
/// assert_eq!(
///     split_query("mysql://u:p?w@host/db?ssl-mode=REQUIRED"),
///     Some(("mysql://u:p?w@host/db", "ssl-mode=REQUIRED"))
/// );
/// assert_eq!(split_query("mysql://u@host/db"), None);
/// ```
pub fn split_query(url: &str) -> Option<(&str, &str)> {
    let start = host_start(url);
    let query = url[start..].find('?')? + start;
    Some((&url[..query], &url[query + 1..]))
}

/// `url` with its user info percent-encoded where a URL parser would misread it (a `?`, `#`,
/// `/` or space in a password); the rest as given.
///
/// ```
/// use nimue_core::url::encode_user_info;
/// assert_eq!(encode_user_info("mysql://u:p?w#d@host/db"), "mysql://u:p%3Fw%23d@host/db");
/// assert_eq!(encode_user_info("mysql://u:p%3Fw@host/db"), "mysql://u:p%3Fw@host/db");
/// assert_eq!(encode_user_info("postgres://app:p@ss@host/db"), "postgres://app:p%40ss@host/db");
/// ```
pub fn encode_user_info(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let start = host_start(url);
    if start == scheme_end {
        return Cow::Borrowed(url);
    }
    let info = &url[scheme_end..start - 1];
    let encoded: String = info
        .split(':')
        .map(|part| utf8_percent_encode(part, NOT_USERINFO).to_string())
        .collect::<Vec<_>>()
        .join(":");
    if encoded == info {
        return Cow::Borrowed(url);
    }
    Cow::Owned(format!(
        "{}{encoded}{}",
        &url[..scheme_end],
        &url[start - 1..]
    ))
}
