//! The macro's expansion and its errors, checked on parsed input (the compile errors users
//! see are these messages at these spans; `nimue`'s doc tests check that they fail to build).

use super::expand;

fn error_of(input: &str) -> String {
    let input = syn::parse_str(input).expect("valid Rust");
    match expand(&input) {
        Ok(tokens) => panic!("expected an error, got {tokens}"),
        Err(e) => e.to_string(),
    }
}

fn expansion_of(input: &str) -> String {
    let input = syn::parse_str(input).expect("valid Rust");
    expand(&input).expect("an expansion").to_string()
}

#[test]
fn named_fields_read_their_columns_and_rename_and_flatten_apply() {
    let out = expansion_of(
        r#"struct User { id: i64, #[nimue(rename = "user_name")] name: String, r#type: i32,
           #[nimue(flatten)] address: Address }"#,
    );
    assert!(out.contains(r#"get :: < i64 > ("id")"#), "{out}");
    assert!(out.contains(r#"get :: < String > ("user_name")"#), "{out}");
    assert!(out.contains(r#"get :: < i32 > ("type")"#), "{out}");
    assert!(
        out.contains("< Address as :: nimue :: FromRow > :: from_row (row)"),
        "{out}"
    );
}

#[test]
fn the_crate_path_can_be_named() {
    let out = expansion_of(r#"#[nimue(crate = "nimue_core")] struct P(i64, String);"#);
    assert!(out.contains("impl nimue_core :: FromRow for P"), "{out}");
    assert!(out.contains("from_row_arity (row , 2usize)"), "{out}");
}

#[test]
fn mistakes_are_errors_that_say_what_to_write() {
    let cases = [
        ("enum E { A }", "structs only, not for enums"),
        ("struct U;", "unit struct"),
        (
            r#"struct S { #[nimue(renamed = "x")] a: i64 }"#,
            "`rename = \"column\"` or `flatten`",
        ),
        (
            r#"struct S { #[nimue(rename = 5)] a: i64 }"#,
            "expected string literal",
        ),
        (
            r#"struct S { #[nimue(flatten, rename = "x")] a: A }"#,
            "cannot be renamed",
        ),
        (
            r#"struct S { #[nimue(rename = "a", rename = "b")] a: i64 }"#,
            "given twice",
        ),
        (
            r#"struct S(#[nimue(rename = "x")] i64);"#,
            "needs a named field",
        ),
        (r#"struct S(#[nimue(flatten)] A);"#, "needs a named field"),
        (
            r#"#[nimue(rename = "x")] struct S { a: i64 }"#,
            "go on a field",
        ),
        (
            r#"#[nimue(krate = "x")] struct S { a: i64 }"#,
            "`crate = \"path\"`",
        ),
    ];
    for (input, want) in cases {
        let got = error_of(input);
        assert!(got.contains(want), "{input}: {got}");
    }
}
