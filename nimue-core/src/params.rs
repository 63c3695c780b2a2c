//! [`Params`]: what a statement's parameters can be passed as.

use crate::value::{ToValue, Value};
use std::borrow::Cow;

/// A statement's parameters, bound in order to its `?` placeholders: what
/// [`Cursor::execute`](crate::Cursor::execute), [`Connection::execute`](crate::Connection::execute)
/// and the query helpers take.
///
/// - [`params!`](crate::params)`[a, b]`, an array or `&`array of [`Value`]s (`&[]` for none),
///   or `()`;
/// - a tuple of up to 16 [`ToValue`]s, by value or by reference: `(id, name)`, `(&id, &name)`;
/// - a slice or `Vec` of one `ToValue` type: `&ids[..]`, `vec![Value::Null]`,
///   `&[&a as &dyn ToValue, &b][..]`.
///
/// Parameters that already are `Value`s (a `&[Value]`, a `&Vec<Value>`, `&params![..]`) are
/// passed without copying them.
///
/// ```
/// use nimue_core::{params, Params, ToValue, Value};
///
/// fn bound(p: impl Params) -> Vec<Value> {
///     p.into_values().into_owned()
/// }
/// let (id, name) = (7_i64, String::from("ada"));
/// assert_eq!(bound((&id, &name)), bound(params![7, "ada"]));
/// assert_eq!(bound(&[Value::Int(7)]), bound((7,)));
/// assert_eq!(bound(&[&id as &dyn ToValue, &name][..]), bound((id, name)));
/// assert!(bound(()).is_empty() && bound(&[]).is_empty());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a statement's parameters",
    label = "not parameters",
    note = "pass `params![a, b]`, a tuple `(a, b)` or `(&a, &b)`, a slice or Vec of one type, \
            `&[Value]`, or `()` / `&[]` for none"
)]
pub trait Params {
    /// The parameters as [`Value`]s, borrowed when they already are.
    fn into_values<'a>(self) -> Cow<'a, [Value]>
    where
        Self: 'a;
}

/// Parameter sets handed to an adapter one at a time (for
/// [`executemany`](crate::Cursor::executemany)): any iterator of [`Params`] turned into
/// [`Value`]s, so no set need sit in memory before its turn.
pub type ParamSets<'p> = dyn Iterator<Item = Cow<'p, [Value]>> + 'p;

impl Params for () {
    fn into_values<'a>(self) -> Cow<'a, [Value]> {
        Cow::Borrowed(&[])
    }
}

impl<const N: usize> Params for [Value; N] {
    fn into_values<'a>(self) -> Cow<'a, [Value]> {
        Cow::Owned(self.into())
    }
}

impl<const N: usize> Params for &[Value; N] {
    fn into_values<'a>(self) -> Cow<'a, [Value]>
    where
        Self: 'a,
    {
        Cow::Borrowed(self)
    }
}

impl<T: ToValue> Params for &[T] {
    fn into_values<'a>(self) -> Cow<'a, [Value]>
    where
        Self: 'a,
    {
        match T::as_values(self) {
            Some(values) => Cow::Borrowed(values),
            None => Cow::Owned(self.iter().map(ToValue::to_value).collect()),
        }
    }
}

impl<T: ToValue> Params for &Vec<T> {
    fn into_values<'a>(self) -> Cow<'a, [Value]>
    where
        Self: 'a,
    {
        self.as_slice().into_values()
    }
}

impl<T: ToValue> Params for Vec<T> {
    fn into_values<'a>(self) -> Cow<'a, [Value]>
    where
        Self: 'a,
    {
        Cow::Owned(self.into_iter().map(ToValue::into_value).collect())
    }
}

macro_rules! tuple_params {
    ($($t:ident $i:tt),+) => {
        impl<$($t: ToValue),+> Params for ($($t,)+) {
            fn into_values<'a>(self) -> Cow<'a, [Value]>
            where
                Self: 'a,
            {
                Cow::Owned(vec![$(self.$i.into_value()),+])
            }
        }
    };
}

tuple_params!(A 0);
tuple_params!(A 0, B 1);
tuple_params!(A 0, B 1, C 2);
tuple_params!(A 0, B 1, C 2, D 3);
tuple_params!(A 0, B 1, C 2, D 3, E 4);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14);
tuple_params!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params;

    fn borrowed(p: impl Params) -> bool {
        matches!(p.into_values(), Cow::Borrowed(_))
    }

    #[test]
    fn values_are_borrowed_and_other_types_converted() {
        let values = vec![Value::Int(1), Value::Null];
        assert!(borrowed(&values));
        assert!(borrowed(&values[..]));
        assert!(borrowed(&params![1]));
        assert!(borrowed(&[]));
        assert!(!borrowed(&[1_i64, 2][..]));
        assert_eq!(vec![1_i64, 2].into_values().len(), 2);
        let rows: Vec<(i64, f64)> = vec![(1, 0.5)];
        for (id, x) in &rows {
            assert_eq!(
                (id, x).into_values()[..],
                [Value::Int(1), Value::Float(0.5)]
            );
        }
    }
}
