//! Conformance case for `#[derive(FromRow)]`: rows read into structs by column name.

use super::{connect, create, Target};
use nimue::{Connect, Connection, ErrorKind, FromRow};

#[derive(Debug, PartialEq, FromRow)]
struct Person {
    id: i64,
    #[nimue(rename = "full_name")]
    name: String,
    #[nimue(flatten)]
    place: Place,
    note: Option<String>,
}

#[derive(Debug, PartialEq, FromRow)]
struct Place {
    city: String,
}

#[derive(Debug, PartialEq, FromRow)]
struct IdAndName(i64, String);

/// Fields read their columns wherever they are in the row; `rename`, `flatten`, `Option`
/// and tuple structs work; a missing column is a `ProgrammingError` naming it.
pub fn derived_rows<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_derive";
    create(
        &mut conn,
        table,
        &format!(
            "id {} PRIMARY KEY, full_name {}, city {}, note {}",
            d.int, d.text, d.text, d.text
        ),
    );
    let insert = format!("INSERT INTO {table} (id, full_name, city, note) VALUES (?, ?, ?, ?)");
    conn.execute(&insert, (1, "Ada", "London", None::<&str>))
        .unwrap();
    conn.execute(&insert, (2, "Grace", "New York", "navy"))
        .unwrap();

    // Columns in another order than the fields.
    let people: Vec<Person> = conn
        .query_as(
            &format!("SELECT note, city, full_name, id FROM {table} ORDER BY id"),
            (),
        )
        .unwrap();
    let ada = Person {
        id: 1,
        name: "Ada".into(),
        place: Place {
            city: "London".into(),
        },
        note: None,
    };
    assert_eq!(people[0], ada);
    assert_eq!(people[1].note.as_deref(), Some("navy"));
    let one: Person = conn
        .query_one(&format!("SELECT * FROM {table} WHERE id = ?"), (1,))
        .unwrap();
    assert_eq!(one, ada);
    let pair: IdAndName = conn
        .query_one(
            &format!("SELECT id, full_name FROM {table} WHERE id = ?"),
            (2,),
        )
        .unwrap();
    assert_eq!(pair, IdAndName(2, "Grace".into()));

    let err = conn
        .query_one::<Person>(&format!("SELECT id, full_name FROM {table}"), ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    assert!(err.to_string().contains("city"), "{err}");
    conn.rollback().unwrap();
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    conn.commit().unwrap();
}
