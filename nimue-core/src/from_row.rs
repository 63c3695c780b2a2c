//! [`FromRow`]: a whole row read into a Rust value at once (a tuple, or a struct of yours),
//! as rusqlite's `TryFrom<&Row>` for tuples and sqlx's `FromRow`.

use crate::cell::RowView;
use crate::error::{Error, Result};
use crate::row::Row;
use crate::value::FromValue;

/// A value read from a whole row. Tuples of up to 12 [`FromValue`] types implement it (the
/// row must have exactly that many columns); implement it for a struct of yours to read rows
/// into it with [`Connection::query_as`](crate::Connection::query_as) and
/// [`RowView::parse`].
///
/// ```
/// use nimue_core::{params, Column, FromRow, Result, Row, RowView};
///
/// struct User {
///     id: i64,
///     name: String,
/// }
///
/// impl FromRow for User {
///     fn from_row(row: &RowView<'_>) -> Result<Self> {
///         Ok(User { id: row.get("id")?, name: row.get("name")? })
///     }
/// }
///
/// let row = Row::new(vec![Column::new("id", None), Column::new("name", None)].into(),
///                    params![7, "ada"].to_vec());
/// let user: User = row.parse()?;
/// assert_eq!((user.id, user.name.as_str()), (7, "ada"));
/// let (id, name): (i64, String) = row.try_into()?;
/// assert_eq!((id, name.as_str()), (7, "ada"));
/// # Ok::<(), nimue_core::Error>(())
/// ```
pub trait FromRow: Sized {
    /// Read `Self` from `row`.
    fn from_row(row: &RowView<'_>) -> Result<Self>;
}

impl FromRow for Row {
    /// The row as it is (its values copied out of the driver's row).
    fn from_row(row: &RowView<'_>) -> Result<Self> {
        row.to_row()
    }
}

impl Row {
    /// Read this row into a tuple or another [`FromRow`] type.
    pub fn parse<T: FromRow>(&self) -> Result<T> {
        T::from_row(&RowView::new(self, self.columns()))
    }
}

/// For `#[derive(FromRow)]` on a tuple struct: a `ProgrammingError` unless `row` has
/// exactly `arity` columns.
#[doc(hidden)]
pub fn from_row_arity(row: &RowView<'_>, arity: usize) -> Result<()> {
    check_arity(row.len(), arity)
}

/// A tuple of `arity` read from a row of `len` columns.
fn check_arity(len: usize, arity: usize) -> Result<()> {
    if len == arity {
        return Ok(());
    }
    Err(Error::programming(format!(
        "a row of {len} column(s) cannot be read into a tuple of {arity}"
    )))
}

macro_rules! tuple_from_row {
    ($arity:literal: $($t:ident $i:tt),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            fn from_row(row: &RowView<'_>) -> Result<Self> {
                check_arity(row.len(), $arity)?;
                Ok(($(row.get::<$t>($i)?,)+))
            }
        }

        impl<$($t: FromValue),+> TryFrom<&Row> for ($($t,)+) {
            type Error = Error;
            fn try_from(row: &Row) -> Result<Self> {
                row.parse()
            }
        }

        impl<$($t: FromValue),+> TryFrom<Row> for ($($t,)+) {
            type Error = Error;
            fn try_from(row: Row) -> Result<Self> {
                row.parse()
            }
        }
    };
}

tuple_from_row!(1: A 0);
tuple_from_row!(2: A 0, B 1);
tuple_from_row!(3: A 0, B 1, C 2);
tuple_from_row!(4: A 0, B 1, C 2, D 3);
tuple_from_row!(5: A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(6: A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(7: A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(8: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(9: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(10: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(11: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(12: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{params, Column, ErrorKind};

    fn row() -> Row {
        let columns = vec![Column::new("id", None), Column::new("name", None)];
        Row::new(columns.into(), params![7, "ada"].to_vec())
    }

    #[test]
    fn tuples_read_every_column_in_order() {
        let (id, name): (i64, Option<String>) = row().parse().unwrap();
        assert_eq!((id, name.as_deref()), (7, Some("ada")));
        let by_ref: (i32, String) = (&row()).try_into().unwrap();
        assert_eq!(by_ref, (7, "ada".to_string()));
    }

    #[test]
    fn a_tuple_of_another_size_is_a_programming_error() {
        let err = row().parse::<(i64,)>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Programming);
        assert!(err.to_string().contains("2 column(s)"), "{err}");
        assert!(row().parse::<(i64, String, i64)>().is_err());
    }

    #[test]
    fn a_cell_of_the_wrong_type_is_a_data_error() {
        let err = row().parse::<(i64, i64)>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    }
}
