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

    /// `outer` (a subquery, as `o`) joined with the rows of `table` (as `t`) that match
    /// `cond`, each outer row looking up its own. On PostgreSQL that is a `LATERAL`
    /// subquery fenced with `OFFSET 0`, so each outer row is its own index scan: the
    /// planner guesses 100 rows for `json_to_recordset` and, joined plainly on a range,
    /// chose a sequential scan of the whole table (18 s on a year of 1,000 partners's
    /// rollups against 0.5 s; docs/PERFORMANCE.md, "Analytics"). SQLite has no `LATERAL`
    /// and loops over the outer rows by itself.
    pub(crate) fn per_row_join(
        self,
        outer: &str,
        o: &str,
        table: &str,
        t: &str,
        cond: &str,
    ) -> String {
        match self.0 {
            Backend::Postgres => format!(
                "({outer}) {o} CROSS JOIN LATERAL (SELECT * FROM {table} {t} WHERE {cond} OFFSET 0) {t}"
            ),
            Backend::Sqlite => format!("({outer}) {o} JOIN {table} {t} ON {cond}"),
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

    /// `SELECT <columns> FROM <the rows of a JSON array bound as $1>`: many rows as one
    /// text parameter, for bulk writes through the `Any` driver (which binds no arrays).
    /// Each element is an object keyed by the column names; `columns` gives each column's
    /// type. The statement's text does not depend on the number of rows, so it is prepared
    /// once per connection, and the server parses one document instead of planning a
    /// multi-row `VALUES` list of tens of thousands of placeholders (at 100,000 payout
    /// items, the `VALUES` chunks took a second on PostgreSQL). Decimals travel as JSON
    /// strings, so they arrive exact, scale included.
    pub(crate) fn json_rows(self, columns: &[(&str, JsonColumn)]) -> String {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        match self.0 {
            Backend::Postgres => {
                let types: Vec<String> = columns
                    .iter()
                    .map(|(name, t)| {
                        let t = match t {
                            JsonColumn::Text => "text",
                            JsonColumn::Integer => "bigint",
                            JsonColumn::Decimal => "numeric",
                        };
                        format!("{name} {t}")
                    })
                    .collect();
                format!(
                    "SELECT {} FROM json_to_recordset($1::json) AS x({}) WHERE true",
                    names.join(", "),
                    types.join(", ")
                )
            }
            Backend::Sqlite => {
                let picks: Vec<String> = names
                    .iter()
                    .map(|name| format!("json_extract(x.value, '$.{name}') AS {name}"))
                    .collect();
                // `WHERE true`: SQLite reads `INSERT ... SELECT ... ON CONFLICT` only when
                // the SELECT has a WHERE clause (its documented parsing ambiguity).
                format!(
                    "SELECT {} FROM json_each($1) AS x WHERE true",
                    picks.join(", ")
                )
            }
        }
    }
}

/// The type of a column read from JSON rows ([`Dialect::json_rows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonColumn {
    /// Text (a JSON string or null).
    Text,
    /// A 64-bit integer (a JSON number or null).
    Integer,
    /// An exact decimal (a JSON string holding it, or null).
    Decimal,
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
