//! Conformance case for integrity errors: which rule was broken and which constraint, from the
//! database's own report (issue 28, item 3).

use super::{connect, create, Target};
use nimue::{params, Connect, Connection, ErrorKind, Violation};

/// Unique, foreign key, NOT NULL and CHECK violations are `Integrity` errors that say which
/// rule (`violation()`) and, where the database names it, which constraint (`constraint()`;
/// for NOT NULL the column); the connection stays usable after each.
pub fn integrity_violations<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let (parent, child) = ("nimue_conf_parent", "nimue_conf_child");
    conn.execute(&format!("DROP TABLE IF EXISTS {child}"), ())
        .unwrap();
    conn.commit().unwrap();
    create(
        &mut conn,
        parent,
        &format!(
            "id {int} PRIMARY KEY, code VARCHAR(20), label VARCHAR(20) NOT NULL, n {int}, \
             CONSTRAINT nimue_conf_code_key UNIQUE (code), \
             CONSTRAINT nimue_conf_n_check CHECK (n > 0)",
            int = d.int
        ),
    );
    create(
        &mut conn,
        child,
        &format!(
            "id {int} PRIMARY KEY, parent_id {int}, \
             CONSTRAINT nimue_conf_child_fk FOREIGN KEY (parent_id) REFERENCES {parent} (id)",
            int = d.int
        ),
    );
    let insert = format!("INSERT INTO {parent} (id, code, label, n) VALUES (?, ?, ?, ?)");
    conn.execute(&insert, (1, "a", "one", 1)).unwrap();
    conn.commit().unwrap();

    let to_child = format!("INSERT INTO {child} (id, parent_id) VALUES (?, ?)");
    let cases = [
        (
            "unique",
            Violation::Unique,
            "code",
            &insert,
            params![2, "a", "two", 2].to_vec(),
        ),
        (
            "foreign key",
            Violation::ForeignKey,
            "child_fk",
            &to_child,
            params![1, 99].to_vec(),
        ),
        (
            "not null",
            Violation::NotNull,
            "label",
            &insert,
            params![3, "c", None::<&str>, 3].to_vec(),
        ),
        (
            "check",
            Violation::Check,
            "n_check",
            &insert,
            params![4, "d", "four", -4].to_vec(),
        ),
    ];
    let mut seen = Vec::new();
    for (what, violation, name, sql, params) in cases {
        let err = conn.execute(sql, &params).expect_err(what);
        // PostgreSQL ends the transaction at an error: each case starts a new one.
        conn.rollback().unwrap();
        assert_eq!(err.kind(), ErrorKind::Integrity, "{what}: {err}");
        assert_eq!(err.violation(), Some(violation), "{what}: {err}");
        if d.constraint_names.contains(&violation) {
            let constraint = err
                .constraint()
                .unwrap_or_else(|| panic!("{what}: no name in {err}"));
            assert!(constraint.contains(name), "{what}: {constraint:?} in {err}");
        }
        seen.push(what);
    }
    assert_eq!(seen.len(), 4);
    // Each error was a statement's: the connection goes on.
    conn.rollback().unwrap();
    let n: i64 = conn
        .query_scalar(&format!("SELECT COUNT(*) FROM {parent}"), ())
        .unwrap();
    assert_eq!(n, 1);
    conn.execute(&format!("DROP TABLE {child}"), ()).unwrap();
    conn.execute(&format!("DROP TABLE {parent}"), ()).unwrap();
    conn.commit().unwrap();
}
