//! Database URLs as users write them, for adapters: the user info (`user:password@`) may hold
//! characters that end it for a URL parser (`?`, `#`, `/`), and its text must never reach a
//! message. Read as libpq reads a URL: the user info ends at the first `@` before any `/`.

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

/// Where `url`'s host part starts: after the scheme's `://` and the user info, if any.
fn host_start(url: &str) -> usize {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority = &url[after_scheme..];
    match authority.find(['@', '/']) {
        Some(i) if authority.as_bytes()[i] == b'@' => after_scheme + i + 1,
        _ => after_scheme,
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
