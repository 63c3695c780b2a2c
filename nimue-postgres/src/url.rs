//! The parameters of a connection URL that nimue reads itself, before the driver parses the
//! rest: `statements` (nimue's own), and `sslmode` and `sslrootcert` (libpq's, which the
//! driver reads only partly).

use nimue_core::url::{encode_user_info, split_query};
use nimue_core::{Error, Result};
use std::collections::HashMap;

/// `url` without the parameters `names`, and their values. Both libpq forms: a URL
/// (`postgres://...?a=1&b=2`) and `key=value` words.
pub(crate) fn take_params(
    url: &str,
    names: &[&'static str],
) -> Result<(String, HashMap<&'static str, String>)> {
    let mut found = HashMap::new();
    let mut take = |key: &str, value: &str| -> bool {
        match names.iter().find(|n| **n == key) {
            Some(name) => {
                found.insert(*name, value.to_owned());
                true
            }
            None => false,
        }
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let url = encode_user_info(url);
        let Some((base, query)) = split_query(&url) else {
            return Ok((url.into_owned(), found));
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.split_once('=').is_some_and(|(k, v)| take(k, v)))
            .collect();
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = Vec::new();
        for (key, value) in key_values(url)? {
            if !take(&key, &value) {
                kept.push(format!("{key}={}", quoted(&value)));
            }
        }
        kept.join(" ")
    };
    Ok((rest, found))
}

/// `value` as a libpq connection string writes it: bare when it can be, else single-quoted
/// with `\` and `'` escaped.
fn quoted(value: &str) -> String {
    let bare = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    if bare {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The `key = value` pairs of a libpq connection string, exactly as libpq reads them: values
/// bare (a backslash escapes the next character) or single-quoted (with `\'` and `\\`),
/// whitespace between pairs and around `=`. A malformed one is an `InterfaceError` that does
/// not repeat it (it may hold a password).
fn key_values(conninfo: &str) -> Result<Vec<(String, String)>> {
    let malformed = |why: &str| {
        Err(Error::interface(format!(
            "malformed PostgreSQL connection string: {why}"
        )))
    };
    let mut pairs = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return malformed(&format!("a `=` must follow the keyword {key:?}"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return malformed("an unterminated quoted value"),
                    },
                    Some(c) => value.push(c),
                    None => return malformed("an unterminated quoted value"),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::take_params;

    #[test]
    fn our_parameters_are_taken_out_of_both_forms() {
        let (rest, ours) = take_params(
            "postgres://u@h/db?sslmode=verify-full&connect_timeout=3&statements=unnamed",
            &["statements", "sslmode"],
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?connect_timeout=3");
        assert_eq!(ours["sslmode"], "verify-full");
        assert_eq!(ours["statements"], "unnamed");
        let (rest, ours) =
            take_params("host=h sslrootcert=/ca.pem user=u", &["sslrootcert"]).unwrap();
        assert_eq!(rest, "host=h user=u");
        assert_eq!(ours["sslrootcert"], "/ca.pem");
        let (rest, ours) =
            take_params("postgres://u@h/db?statements=cached", &["statements"]).unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(ours.len(), 1);
    }

    /// Quoting is libpq's: a quoted value keeps its whitespace and escapes, and a parameter
    /// inside it is part of it, not taken out.
    #[test]
    fn quoted_values_are_kept_whole() {
        let (rest, ours) =
            take_params("host=h password='a  b\tc' sslmode=require", &["sslmode"]).unwrap();
        assert_eq!(ours["sslmode"], "require");
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"a  b\tc"[..]));
        for hidden in ["sslmode", "sslrootcert", "statements"] {
            let url = format!("host=h password='correct horse {hidden}=disable staple' user=u");
            let (rest, ours) =
                take_params(&url, &["sslmode", "sslrootcert", "statements"]).unwrap();
            assert!(ours.is_empty(), "{hidden}: {ours:?}");
            let config: tokio_postgres::Config = rest.parse().unwrap();
            let password = format!("correct horse {hidden}=disable staple");
            assert_eq!(config.get_password(), Some(password.as_bytes()));
            assert_eq!(config.get_user(), Some("u"));
        }
        let (rest, _) = take_params(r"password=it\'s\ ok user = u", &["sslmode"]).unwrap();
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"it's ok"[..]));
        assert_eq!(config.get_user(), Some("u"));
        assert!(take_params("password='open", &[]).is_err());
        let err = take_params("password='s3cret", &[]).unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
    }

    /// A `?` in a password (unencoded) does not start the query.
    #[test]
    fn a_question_mark_in_the_password_is_not_the_query() {
        let (rest, ours) = take_params(
            "postgres://u:1?statements=SECRET@h/db?sslmode=require",
            &["statements", "sslmode"],
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:1%3Fstatements=SECRET@h/db");
        assert_eq!(ours.len(), 1);
        assert_eq!(ours["sslmode"], "require");
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"1?statements=SECRET"[..]));
    }
}
