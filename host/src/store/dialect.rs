//! The two SQL dialects, side by side. Queries name what differs between PostgreSQL and
//! SQLite through [`Dialect`] (a cast, a lock clause, the placeholder style) instead of
//! being written for one and edited into the other.
//!
//! Statements built with sqlx's `QueryBuilder` over the `Any` driver get `?` placeholders
//! (the `Any` arguments' style), which SQLite reads and PostgreSQL does not:
//! [`Dialect::statement`] numbers them `$1, $2, ...` for PostgreSQL.

use super::{Backend, Result, StoreError};
use sqlx::any::AnyArguments;
use sqlx::{Any, Execute, QueryBuilder};
use std::borrow::Cow;

/// What one backend's SQL looks like where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect(pub(crate) Backend);

impl Dialect {
    /// After a decimal bound as text: PostgreSQL casts it to NUMERIC; SQLite stores the
    /// text itself (its columns hold exact decimals as TEXT).
    pub(crate) fn numeric(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "::numeric",
            Backend::Sqlite => "",
        }
    }

    /// After a NUMERIC column read: PostgreSQL sends it as text, so that it arrives exact
    /// through the `Any` driver; SQLite's column is TEXT already.
    pub(crate) fn text(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "::text",
            Backend::Sqlite => "",
        }
    }

    /// After a `SELECT` that claims rows of a work list: PostgreSQL locks them and skips
    /// rows another session holds, so concurrent replicas take disjoint rows; SQLite has
    /// one writer at a time, and its transaction holds the whole database.
    pub(crate) fn claim(self) -> &'static str {
        match self.0 {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// `sql`, written with `?` placeholders, in this backend's placeholder style: `$1`,
    /// `$2`, ... in order for PostgreSQL. A `?` inside a quoted literal or identifier is
    /// text, not a placeholder.
    pub(crate) fn placeholders(self, sql: &str) -> Cow<'_, str> {
        if self.0 == Backend::Sqlite || !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + sql.len() / 8);
        let mut quote = None;
        let mut n = 0;
        for c in sql.chars() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), _) if c == q => quote = None,
                (None, '?') => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                    continue;
                }
                _ => {}
            }
            out.push(c);
        }
        Cow::Owned(out)
    }

    /// The statement `builder` holds, in this backend's placeholders, with its arguments:
    /// run it with `sqlx::query_with(&sql, arguments)`.
    pub(crate) fn statement<'q>(
        self,
        builder: &'q mut QueryBuilder<'_, Any>,
    ) -> Result<(String, AnyArguments<'q>)> {
        let mut query = builder.build();
        let arguments = query
            .take_arguments()
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?
            .unwrap_or_default();
        Ok((self.placeholders(query.sql()).into_owned(), arguments))
    }
}

#[cfg(test)]
mod tests {
    use super::{Backend, Dialect};

    #[test]
    fn numbers_placeholders_for_postgres_only() {
        let sql = "INSERT INTO t (a, b) VALUES (?, ?::numeric), (?, '?') RETURNING \"?\"";
        assert_eq!(
            Dialect(Backend::Postgres).placeholders(sql),
            "INSERT INTO t (a, b) VALUES ($1, $2::numeric), ($3, '?') RETURNING \"?\""
        );
        assert_eq!(Dialect(Backend::Sqlite).placeholders(sql), sql);
    }
}
