//! The parameters of a connection URL that nimue reads itself, before the driver parses the
//! rest: `statements` (nimue's own), and `sslmode` and `sslrootcert` (libpq's, which the
//! driver reads only partly).

use nimue_core::Result;
use std::collections::HashMap;

/// `url` without the parameters `names`, and their values. Both libpq forms: a URL
/// (`postgres://...?a=1&b=2`) and `key=value` words.
pub(crate) fn take_params(
    url: &str,
    names: &[&'static str],
) -> Result<(String, HashMap<&'static str, String>)> {
    let mut found = HashMap::new();
    let mut take = |item: &str| -> bool {
        let Some((key, value)) = item.split_once('=') else {
            return false;
        };
        match names.iter().find(|n| **n == key) {
            Some(name) => {
                found.insert(*name, value.to_owned());
                true
            }
            None => false,
        }
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), found));
        };
        let kept: Vec<&str> = query.split('&').filter(|pair| !take(pair)).collect();
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let kept: Vec<&str> = url.split_whitespace().filter(|word| !take(word)).collect();
        kept.join(" ")
    };
    Ok((rest, found))
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
}
