//! [`ToValue`]: a Rust value read as a parameter, by reference or by value.

use super::Value;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use std::borrow::Cow;

/// A Rust value that can be a statement's parameter: every type that converts into a
/// [`Value`], and references to them (`&i64`, `&str`, `&String`, `&dyn ToValue`), so values
/// can be passed from where they are without cloning them first. `Option<T>` is `NULL` when
/// `None`.
///
/// ```
/// use nimue_core::{ToValue, Value};
/// let name = String::from("ada");
/// let year = 1815_i64;
/// let parts: [&dyn ToValue; 3] = [&name, &year, &None::<f64>];
/// assert_eq!(parts[0].to_value(), Value::Text("ada".into()));
/// assert_eq!(parts[1].to_value(), Value::Int(1815));
/// assert_eq!(parts[2].to_value(), Value::Null);
/// ```
pub trait ToValue {
    /// The value, copied from `self`.
    fn to_value(&self) -> Value;

    /// The value, moved out of `self` where it owns one (a `String`'s text is not copied).
    fn into_value(self) -> Value
    where
        Self: Sized,
    {
        self.to_value()
    }

    /// A slice of `Self` as a slice of [`Value`]s when `Self` is `Value` (parameters that
    /// already are `Value`s are then passed without copying them). Not for other types.
    #[doc(hidden)]
    fn as_values(slice: &[Self]) -> Option<&[Value]>
    where
        Self: Sized,
    {
        let _ = slice;
        None
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
    fn into_value(self) -> Value {
        self
    }
    fn as_values(slice: &[Value]) -> Option<&[Value]> {
        Some(slice)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
    fn into_value(self) -> Value {
        self.map_or(Value::Null, ToValue::into_value)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

impl ToValue for Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::Text(self.as_ref().to_owned())
    }
    fn into_value(self) -> Value {
        Value::Text(self.into_owned())
    }
}

/// `ToValue` for types that are `Clone` and convert into a `Value` with `From`.
macro_rules! to_value_by_from {
    ($($t:ty),* $(,)?) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::from(self.clone())
            }
            fn into_value(self) -> Value {
                Value::from(self)
            }
        }
    )*};
}

to_value_by_from! {
    bool, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64, Decimal, String,
    Vec<u8>, NaiveDate, NaiveTime, NaiveDateTime, DateTime<Utc>, DateTime<FixedOffset>,
}

#[cfg(feature = "uuid")]
to_value_by_from!(uuid::Uuid);
#[cfg(feature = "json")]
to_value_by_from!(serde_json::Value);
#[cfg(feature = "time")]
to_value_by_from!(
    time::Date,
    time::Time,
    time::PrimitiveDateTime,
    time::OffsetDateTime
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_owned_values_give_the_same_value() {
        let text = String::from("x");
        let by_ref: &dyn ToValue = &&text;
        assert_eq!(by_ref.to_value(), text.clone().into_value());
        assert_eq!("x".to_value(), Value::Text("x".into()));
        assert_eq!((&&5_i32).to_value(), Value::Int(5));
        assert_eq!(Some(&2.5).to_value(), Value::Float(2.5));
        assert_eq!(b"ab".to_value(), Value::Bytes(b"ab".to_vec()));
        let dynamic: &dyn ToValue = &u64::MAX;
        assert!(matches!(dynamic.to_value(), Value::Decimal(_)));
    }

    #[test]
    fn only_values_pass_as_values() {
        let values = [Value::Int(1)];
        assert!(Value::as_values(&values).is_some());
        assert!(i64::as_values(&[1]).is_none());
    }
}
