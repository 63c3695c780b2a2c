//! [`Violation`]: which integrity rule a statement broke, as every database reports it.

/// Which integrity rule an [`Integrity`](crate::ErrorKind::Integrity) error broke (sqlx's
/// `ErrorKind`), from the database's own report: PostgreSQL's SQLSTATE (23505, 23503, 23502,
/// 23514), MySQL's error number (1062, 1451/1452, 1048, 3819/4025), SQLite's extended result
/// code, an ODBC driver's SQLSTATE. [`DatabaseError::constraint`](crate::DatabaseError::constraint)
/// names the constraint (or, for `NOT NULL`, the column) when the database does.
///
/// ```
/// use nimue_core::{DatabaseError, Error, ErrorKind, Violation};
/// let e: Error = DatabaseError::new(ErrorKind::Integrity, "duplicate key")
///     .with_violation(Violation::Unique)
///     .with_constraint("users_email_key")
///     .into();
/// assert_eq!(e.violation(), Some(Violation::Unique));
/// assert_eq!(e.constraint(), Some("users_email_key"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// A unique or primary key constraint: the value exists already.
    Unique,
    /// A foreign key: the row referred to does not exist, or is still referred to.
    ForeignKey,
    /// A `NOT NULL` column was given `NULL`.
    NotNull,
    /// A `CHECK` constraint.
    Check,
    /// Another integrity rule (an exclusion constraint, a driver that does not say which).
    Other,
}

impl Violation {
    /// The violation a five-character SQLSTATE of class 23 stands for (`None` for other
    /// classes): for adapters whose database reports SQLSTATEs.
    ///
    /// ```
    /// use nimue_core::Violation;
    /// assert_eq!(Violation::of_sqlstate("23505"), Some(Violation::Unique));
    /// assert_eq!(Violation::of_sqlstate("23000"), Some(Violation::Other));
    /// assert_eq!(Violation::of_sqlstate("42601"), None);
    /// ```
    pub fn of_sqlstate(sqlstate: &str) -> Option<Self> {
        if !sqlstate.starts_with("23") {
            return None;
        }
        Some(match sqlstate {
            "23505" => Violation::Unique,
            "23503" => Violation::ForeignKey,
            "23502" => Violation::NotNull,
            "23514" => Violation::Check,
            _ => Violation::Other,
        })
    }
}

/// The violation and the constraint's name in SQLite's own message for a constraint failure
/// (`UNIQUE constraint failed: users.email`, `CHECK constraint failed: positive`, `NOT NULL
/// constraint failed: users.name`, `FOREIGN KEY constraint failed`): for adapters that reach
/// SQLite through a driver that passes only its message on (an ODBC driver). `None` for other
/// messages.
///
/// ```
/// use nimue_core::error::sqlite_violation;
/// use nimue_core::Violation;
/// assert_eq!(
///     sqlite_violation("UNIQUE constraint failed: users.email"),
///     Some((Violation::Unique, Some("users.email")))
/// );
/// assert_eq!(sqlite_violation("FOREIGN KEY constraint failed"), Some((Violation::ForeignKey, None)));
/// assert_eq!(sqlite_violation("no such table: t"), None);
/// ```
pub fn sqlite_violation(message: &str) -> Option<(Violation, Option<&str>)> {
    const RULES: [(&str, Violation); 5] = [
        ("UNIQUE constraint failed", Violation::Unique),
        ("PRIMARY KEY constraint failed", Violation::Unique),
        ("FOREIGN KEY constraint failed", Violation::ForeignKey),
        ("NOT NULL constraint failed", Violation::NotNull),
        ("CHECK constraint failed", Violation::Check),
    ];
    let (prefix, violation) = RULES.iter().find(|(p, _)| message.starts_with(p))?;
    let name = message[prefix.len()..]
        .strip_prefix(':')
        .map(str::trim)
        .filter(|n| !n.is_empty());
    Some((*violation, name))
}
