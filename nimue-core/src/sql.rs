//! Small, dialect-neutral facts about SQL text that adapters need.

/// The first keyword of a statement, after whitespace and `--` / `/* */` comments; empty when
/// the statement starts with something else (a parenthesis, a literal).
///
/// Adapters use it to tell DML (whose `rowcount` is meaningful) from DDL and to spot
/// transaction control statements.
///
/// ```
/// use nimue_core::sql::first_keyword;
/// assert_eq!(first_keyword("  -- note\n/* block */ update t set x = 1"), "update");
/// assert_eq!(first_keyword("(SELECT 1)"), "");
/// ```
pub fn first_keyword(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(line_comment) = rest.strip_prefix("--") {
            rest = line_comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(block) = rest.strip_prefix("/*") {
            rest = block.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Whether the statement's first keyword is one of `keywords` (ASCII case-insensitive).
///
/// ```
/// use nimue_core::sql::starts_with_any;
/// assert!(starts_with_any("insert into t values (1)", &["INSERT", "REPLACE"]));
/// assert!(!starts_with_any("SELECT 1", &["INSERT"]));
/// ```
pub fn starts_with_any(sql: &str, keywords: &[&str]) -> bool {
    let first = first_keyword(sql);
    keywords.iter().any(|k| first.eq_ignore_ascii_case(k))
}

/// Statements whose `rowcount` is the number of rows they changed.
pub const DML_KEYWORDS: [&str; 5] = ["INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"];

#[cfg(test)]
mod tests {
    use super::first_keyword;

    #[test]
    fn first_keyword_skips_comments() {
        assert_eq!(first_keyword("  insert into t"), "insert");
        assert_eq!(first_keyword("-- note\n/* block */ UPDATE t"), "UPDATE");
        assert_eq!(first_keyword("-- only a comment"), "");
        assert_eq!(first_keyword("/* unterminated"), "");
        assert_eq!(first_keyword("SELECT(1)"), "SELECT");
    }
}
