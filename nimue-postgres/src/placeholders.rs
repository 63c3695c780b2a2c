//! qmark (`?`) placeholders rewritten to PostgreSQL's `$1, $2, ...`.
//!
//! Only a `?` in SQL code is a placeholder, as PostgreSQL's own scanner reads the text. Left
//! alone: string constants (`'...'`, with `''` escapes, and `E'...'` with backslash escapes
//! too, as are plain ones when the server's `standard_conforming_strings` is off), quoted
//! identifiers (`"..."`), line comments (`-- ...`, ending at a newline or a carriage
//! return), nested block comments (`/* ... */`) and dollar-quoted bodies
//! (`$$...$$`, `$tag$...$tag$`). `??` in code stands for a literal `?`, for PostgreSQL's
//! operators that contain one (`jsonb ?? 'key'` sends `jsonb ? 'key'`).
//!
//! Parameter values never enter the SQL text: they are bound through the protocol.

/// What a `?` that was meant as an operator needs, said when it is likely.
const HINT: &str = "a `?` nimue took for a placeholder may be one of PostgreSQL's operators: \
                    jsonb's `?`, `?|` and `?&` are written `??`, `??|` and `??&`";

/// `error` from running `rewritten`, with [`HINT`] when the server's syntax error points at
/// a `$n` nimue wrote for a `?`.
pub(crate) fn hint_syntax_error(error: nimue_core::Error, rewritten: &str) -> nimue_core::Error {
    use tokio_postgres::error::ErrorPosition;
    let position = error
        .driver_error()
        .and_then(|e| e.downcast_ref::<tokio_postgres::Error>())
        .and_then(|e| e.as_db_error())
        .filter(|db| db.code().code() == "42601")
        .and_then(|db| match db.position() {
            Some(ErrorPosition::Original(at)) => Some(*at as usize),
            _ => None,
        });
    // The server counts characters from 1.
    let at_placeholder = position.is_some_and(|at| {
        let mut rest = rewritten.chars().skip(at.saturating_sub(1));
        rest.next() == Some('$') && rest.next().is_some_and(|c| c.is_ascii_digit())
    });
    if at_placeholder {
        error.context(HINT)
    } else {
        error
    }
}

/// `check_param_count` for a statement with `placeholders` and `given` parameters, with
/// [`HINT`] when it found more placeholders than parameters.
pub(crate) fn check_count(placeholders: usize, given: usize) -> nimue_core::Result<()> {
    nimue_core::check_param_count(placeholders, given).map_err(|e| {
        if placeholders > given {
            e.context(format_args!("{HINT} (or a parameter is missing)"))
        } else {
            e
        }
    })
}

/// `sql` with each placeholder replaced by `$n`, and the number of placeholders.
///
/// ```
/// use nimue_postgres::rewrite_placeholders;
/// let (sql, n) = rewrite_placeholders("SELECT '?', \"a?\", ? /* ? */ FROM t WHERE x = ?");
/// assert_eq!(sql, "SELECT '?', \"a?\", $1 /* ? */ FROM t WHERE x = $2");
/// assert_eq!(n, 2);
/// assert_eq!(rewrite_placeholders("SELECT doc ?? 'k' FROM t").0, "SELECT doc ? 'k' FROM t");
/// ```
pub fn rewrite_placeholders(sql: &str) -> (String, usize) {
    rewrite_for(sql, true)
}

/// [`rewrite_placeholders`] for a session whose `standard_conforming_strings` is as given
/// (off: a backslash escapes the next character in every string constant).
pub(crate) fn rewrite_for(sql: &str, standard_strings: bool) -> (String, usize) {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut count = 0;
    // `copied` is the end of the input already copied to `out`; all indices are at ASCII
    // bytes, hence at char boundaries.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let next = match bytes[i] {
            b'\'' => {
                let backslashes = !standard_strings || is_escape_string_prefix(bytes, i);
                skip_quoted(bytes, i, b'\'', backslashes)
            }
            b'"' => skip_quoted(bytes, i, b'"', false),
            // PostgreSQL's scanner ends a line comment at either newline character.
            b'-' if bytes.get(i + 1) == Some(&b'-') => bytes[i..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map_or(bytes.len(), |end| i + end + 1),
            b'/' if bytes.get(i + 1) == Some(&b'*') => skip_block_comment(bytes, i),
            b'$' if !follows_identifier(bytes, i) => skip_dollar_quoted(bytes, i),
            b'?' if bytes.get(i + 1) == Some(&b'?') => {
                out.push_str(&sql[copied..=i]);
                copied = i + 2;
                i + 2
            }
            b'?' => {
                count += 1;
                out.push_str(&sql[copied..i]);
                out.push('$');
                out.push_str(&count.to_string());
                copied = i + 1;
                i + 1
            }
            // Identifiers: skip whole, so a `$` inside one (`a$b`) is not a dollar quote.
            c if is_ident_start(c) => {
                let mut j = i + 1;
                while j < bytes.len() && is_ident_char(bytes[j]) {
                    j += 1;
                }
                j
            }
            _ => i + 1,
        };
        i = next;
    }
    out.push_str(&sql[copied..]);
    (out, count)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_char(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

fn follows_identifier(bytes: &[u8], i: usize) -> bool {
    i > 0 && is_ident_char(bytes[i - 1])
}

/// Whether the quote at `i` opens an `E'...'` string (backslash escapes apply).
fn is_escape_string_prefix(bytes: &[u8], i: usize) -> bool {
    i > 0 && matches!(bytes[i - 1], b'E' | b'e') && (i < 2 || !is_ident_char(bytes[i - 2]))
}

/// The index just past the quoted run opening at `start` (doubled quotes are escapes; with
/// `backslashes`, so is `\x`). An unterminated run extends to the end.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslashes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslashes => i += 2,
            c if c == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past the (possibly nested) block comment opening at `start`.
fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// At a `$` not inside an identifier: the index past a dollar-quoted body if one opens here,
/// else just past the `$` (a `$1` parameter or a stray dollar).
fn skip_dollar_quoted(bytes: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    if j < bytes.len() && !bytes[j].is_ascii_digit() {
        while j < bytes.len() && is_ident_char(bytes[j]) && bytes[j] != b'$' {
            j += 1;
        }
    }
    if bytes.get(j) != Some(&b'$') {
        return start + 1;
    }
    let tag = &bytes[start..=j];
    let body = j + 1;
    bytes[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(bytes.len(), |p| body + p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::rewrite_placeholders as rw;
    use proptest::prelude::*;

    #[test]
    fn plain_placeholders_are_numbered() {
        assert_eq!(rw("SELECT ?, ?, ?"), ("SELECT $1, $2, $3".into(), 3));
        assert_eq!(rw("?"), ("$1".into(), 1));
        assert_eq!(rw("SELECT 1"), ("SELECT 1".into(), 0));
        assert_eq!(rw("x=?AND y=?"), ("x=$1AND y=$2".into(), 2));
    }

    #[test]
    fn literals_identifiers_and_comments_are_left_alone() {
        let cases = [
            "SELECT 'it''s ?' , ?",
            "SELECT E'\\'?' , ?",
            "SELECT e'a\\\\' , ?",
            "SELECT \"we\"\"ird?\" , ?",
            "SELECT 1 -- what?\n, ?",
            "SELECT /* a /* nested ? */ still ? */ ?",
            "SELECT $$ ? $$, ?",
            "SELECT $fn$ body ? $x$ ? $fn$, ?",
            "SELECT U&'d\\0061t?' , ?",
        ];
        for sql in cases {
            let (out, n) = rw(sql);
            assert_eq!(n, 1, "{sql}");
            assert!(out.ends_with("$1"), "{sql} -> {out}");
            assert_eq!(
                out.replace("$1", "?"),
                sql,
                "only the last ? changes in {sql}"
            );
        }
    }

    #[test]
    fn a_carriage_return_ends_a_line_comment() {
        // As the server reads it: `, '\n?' AS b` is code holding a string.
        assert_eq!(
            rw("SELECT ? AS a -- c\r, '\n?' AS b"),
            ("SELECT $1 AS a -- c\r, '\n?' AS b".into(), 1)
        );
        assert_eq!(rw("SELECT 1 -- c\r\n, ?").1, 1);
    }

    #[test]
    fn without_standard_strings_a_backslash_escapes_in_every_string() {
        use super::rewrite_for;
        let sql = r"SELECT 'a\'b', ?";
        // On: 'a\' is a whole string, then `b`, then a string that runs to the end.
        assert_eq!(rewrite_for(sql, true), (sql.to_owned(), 0));
        // Off: \' is an escaped quote: 'a\'b' is one string, then a placeholder.
        assert_eq!(rewrite_for(sql, false).1, 1);
    }

    #[test]
    fn backslash_only_escapes_in_e_strings() {
        // standard_conforming_strings: '\' is a complete string, so the ? after it counts.
        assert_eq!(rw("SELECT '\\', ?").1, 1);
        // In an identifier ending in e, the quote is not an E'' prefix.
        assert_eq!(rw("SELECT name'\\', ?").1, 1);
    }

    #[test]
    fn dollars_in_identifiers_and_parameters_are_not_quotes() {
        assert_eq!(
            rw("SELECT a$b, ? FROM t$"),
            ("SELECT a$b, $1 FROM t$".into(), 1)
        );
        assert_eq!(rw("SELECT $1, ?"), ("SELECT $1, $1".into(), 1));
        assert_eq!(rw("SELECT $ ?"), ("SELECT $ $1".into(), 1));
    }

    #[test]
    fn double_question_mark_is_a_literal_operator() {
        assert_eq!(
            rw("a ?? 'k' AND b ?| ?"),
            ("a ? 'k' AND b $1| $2".into(), 2)
        );
        assert_eq!(rw("'??' ??"), ("'??' ?".into(), 0));
    }

    #[test]
    fn unterminated_runs_swallow_the_rest() {
        for sql in [
            "SELECT '?",
            "SELECT \"?",
            "SELECT /* ?",
            "SELECT $$ ?",
            "-- ?",
        ] {
            assert_eq!(rw(sql), (sql.to_string(), 0), "{sql}");
        }
    }

    #[test]
    fn multibyte_text_survives() {
        assert_eq!(rw("SELECT 'é?', ü, ?"), ("SELECT 'é?', ü, $1".into(), 1));
    }

    /// The committed seed corpus: each case has its expected placeholder count, keeps the
    /// rewriter's invariants, and rewrites to `$1..$n` in order.
    #[test]
    fn seed_corpus_holds() {
        let corpus = include_str!("placeholders.seeds");
        let mut cases = 0;
        for line in corpus
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (n, sql) = line.split_once('\t').expect("count<TAB>sql");
            let sql = sql.replace("\\n", "\n");
            let (out, got) = rw(&sql);
            assert_eq!(got, n.parse::<usize>().unwrap(), "{sql:?} -> {out:?}");
            assert!(got <= sql.matches('?').count(), "{sql:?}");
            assert_eq!(
                out.matches('$').count(),
                sql.matches('$').count() + got,
                "{sql:?}"
            );
            for k in 1..=got {
                assert!(out.contains(&format!("${k}")), "{sql:?} -> {out:?}");
            }
            cases += 1;
        }
        assert!(cases >= 20);
    }

    /// A piece of SQL and how many placeholders it holds.
    fn token() -> impl Strategy<Value = (String, usize)> {
        let text = "[a-zA-Z0-9 ?$'\"*/\\\\\n-é]{0,8}";
        prop_oneof![
            Just(("?".to_string(), 1)),
            Just(("??".to_string(), 0)),
            Just((" ".to_string(), 0)),
            Just(("$1".to_string(), 0)),
            "[a-z_][a-z0-9_$]{0,6}".prop_map(|s| (s, 0)),
            "[0-9]{1,4}".prop_map(|s| (s, 0)),
            "[=<>(),.;+]".prop_map(|s| (s, 0)),
            text.prop_map(|s| (format!("'{}'", s.replace('\'', "''")), 0)),
            text.prop_map(|s| (format!("\"{}\"", s.replace('"', "\"\"")), 0)),
            // (The server ends a line comment at \r too.)
            text.prop_map(|s| (format!("-- {}\n", s.replace(['\n', '\r'], " ")), 0)),
            text.prop_map(|s| (format!("/* {} */", s.replace('*', "")), 0)),
            (text, "[a-z]{0,3}").prop_map(|(s, tag)| {
                let quote = format!("${tag}$");
                (format!(" {quote}{}{quote}", s.replace('$', "")), 0)
            }),
        ]
    }

    proptest! {
        /// Exactly the placeholders in code become `$1..$n`, in order, and every other byte
        /// of the statement is kept.
        #[test]
        fn only_code_placeholders_are_rewritten(tokens in prop::collection::vec(token(), 0..24)) {
            // Separate tokens by a space so neighbours cannot fuse into new lexemes.
            let sql: String = tokens.iter().map(|(t, _)| format!("{t} ")).collect();
            let expected: usize = tokens.iter().map(|(_, n)| n).sum();
            let (out, n) = rw(&sql);
            prop_assert_eq!(n, expected);
            let mut k = 0;
            let rebuilt: String = tokens
                .iter()
                .map(|(t, holes)| {
                    let t = match (t.as_str(), holes) {
                        ("?", _) => { k += 1; format!("${k}") }
                        ("??", _) => "?".to_string(),
                        _ => t.clone(),
                    };
                    format!("{t} ")
                })
                .collect();
            prop_assert_eq!(out, rebuilt);
        }

        /// Never panics, whatever the input, and never invents placeholders.
        #[test]
        fn arbitrary_input_is_safe(sql in "\\PC{0,64}") {
            let (out, n) = rw(&sql);
            prop_assert!(n <= sql.matches('?').count());
            prop_assert_eq!(out.matches('$').count(), sql.matches('$').count() + n);
        }
    }
}
