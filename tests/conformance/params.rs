//! Conformance cases for the ways parameters are passed and single rows are read
//! (`Params`, `executemany` over an iterator, `query_one` / `query_opt` / `query_scalar`).

use super::{connect, create, Target};
use nimue::{params, Connect, Connection, Cursor, ErrorKind, ToValue, Value};

/// Every form of parameters binds the same values: tuples by value and by reference, slices,
/// `Vec`s, `&dyn ToValue`, `params!` of references; `executemany` takes any iterator.
pub fn parameter_forms<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_param_forms";
    create(
        &mut conn,
        table,
        &format!("id {} PRIMARY KEY, x {}, note {}", d.int, d.float, d.text),
    );
    let insert = format!("INSERT INTO {table} (id, x, note) VALUES (?, ?, ?)");
    let note = String::from("by ref");
    conn.execute(&insert, (1, 0.5, "tuple")).unwrap();
    conn.execute(&insert, (&2_i64, &1.5_f64, &note)).unwrap();
    let three: [&dyn ToValue; 3] = [&3_i64, &2.5_f64, &"dyn"];
    conn.execute(&insert, &three[..]).unwrap();
    conn.execute(&insert, vec![Value::Int(4), Value::Float(3.5), Value::Null])
        .unwrap();
    let (id, x) = (&5_i64, &4.5_f64);
    conn.execute(&insert, &params![id, x, None::<&str>])
        .unwrap();

    // A thousand rows from an iterator: no Vec of parameter sets is built.
    let points: Vec<(i64, f64)> = (100..1100).map(|i| (i, i as f64 / 2.0)).collect();
    let mut cur = conn.cursor().unwrap();
    cur.executemany(&insert, points.iter().map(|(id, x)| (id, x, "many")))
        .unwrap();
    assert_eq!(cur.rowcount(), 1000);
    let no_sets: Vec<(i64, f64, &str)> = Vec::new();
    cur.executemany(&insert, no_sets).unwrap();
    drop(cur);
    conn.commit().unwrap();

    let first: Vec<(i64, f64, Option<String>)> = conn
        .query_as(
            &format!("SELECT id, x, note FROM {table} WHERE id < ? ORDER BY id"),
            (10,),
        )
        .unwrap();
    let want = [
        (1, 0.5, Some("tuple")),
        (2, 1.5, Some("by ref")),
        (3, 2.5, Some("dyn")),
        (4, 3.5, None),
        (5, 4.5, None),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(i, x, n)| (*i, *x, n.map(str::to_owned)))
        .collect();
    assert_eq!(first, want);
    let many: i64 = conn
        .query_scalar(
            &format!("SELECT COUNT(*) FROM {table} WHERE note = ?"),
            ("many",),
        )
        .unwrap();
    assert_eq!(many, 1000);
    let sum: f64 = conn
        .query_scalar(&format!("SELECT SUM(x) FROM {table} WHERE id >= ?"), (100,))
        .unwrap();
    assert_eq!(sum, points.iter().map(|p| p.1).sum::<f64>());
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    conn.commit().unwrap();
}

/// `query_one` reads the first row or fails with `NoRows`; `query_opt` says `None`;
/// `query_scalar` reads the first cell (`NULL` as `None` into an `Option`).
pub fn single_rows<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_single";
    create(
        &mut conn,
        table,
        &format!("id {} PRIMARY KEY, name {}", d.int, d.text),
    );
    let insert = format!("INSERT INTO {table} (id, name) VALUES (?, ?)");
    conn.execute(&insert, (1, "ada")).unwrap();
    conn.execute(&insert, (2, None::<String>)).unwrap();
    let by_id = format!("SELECT id, name FROM {table} WHERE id = ?");

    let (id, name): (i64, Option<String>) = conn.query_one(&by_id, (1,)).unwrap();
    assert_eq!((id, name.as_deref()), (1, Some("ada")));
    let missing = conn.query_one::<(i64, Option<String>)>(&by_id, (9,));
    let err = missing.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoRows, "{err}");
    assert!(!err.kind().is_database());

    let found: Option<(i64, Option<String>)> = conn.query_opt(&by_id, (2,)).unwrap();
    assert_eq!(found, Some((2, None)));
    assert_eq!(
        conn.query_opt::<(i64, Option<String>)>(&by_id, (9,))
            .unwrap(),
        None
    );

    let name_of = format!("SELECT name FROM {table} WHERE id = ?");
    let null: Option<String> = conn.query_scalar(&name_of, (2,)).unwrap();
    assert_eq!(null, None);
    let err = conn.query_scalar::<String>(&name_of, (9,)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoRows, "{err}");
    // A wrong type is a DataError, not "no rows".
    let err = conn.query_scalar::<i64>(&name_of, (1,)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    // A statement without a result set is still a ProgrammingError.
    let err = conn
        .query_one::<(i64,)>(&format!("DELETE FROM {table} WHERE id = ?"), (2,))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    conn.rollback().unwrap();
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    conn.commit().unwrap();
}
