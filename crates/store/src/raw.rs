//! Hand-written SQL with text parameters, for the few queries that differ
//! by backend (full-text search) or are built from optional filters.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::connection::DbConnection;
use crate::error::StoreError;

/// A query under construction and its parameters, numbered as the
/// connection's backend wants them (`?n` or `$n`).
#[derive(Debug)]
pub(crate) struct RawQuery {
    pub sql: String,
    binds: Vec<Bind>,
    postgres: bool,
}

/// A parameter's value.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Time(NaiveDateTime),
}

impl RawQuery {
    pub fn new(conn: &DbConnection) -> RawQuery {
        RawQuery {
            sql: String::new(),
            binds: Vec::new(),
            postgres: matches!(conn, DbConnection::Postgres(_)),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Adds a parameter; returns its placeholder.
    pub fn bind(&mut self, value: impl Into<String>) -> String {
        self.binds.push(Bind::Text(value.into()));
        self.mark(self.binds.len())
    }

    /// Adds a time parameter; returns its placeholder.
    pub fn bind_time(&mut self, value: NaiveDateTime) -> String {
        self.binds.push(Bind::Time(value));
        self.mark(self.binds.len())
    }

    /// Numbered on both backends (`$n`, `?n`), so that parameters may be
    /// bound in any order relative to where they appear in the text.
    fn mark(&self, n: usize) -> String {
        if self.postgres {
            format!("${n}")
        } else {
            format!("?{n}")
        }
    }

    /// `(?, ?, ...)` for a list of values.
    pub fn list<I: IntoIterator<Item = String>>(&mut self, values: I) -> String {
        let marks: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        format!("({})", marks.join(", "))
    }

    /// Runs the query with `LIMIT` bound last.
    pub fn load<R>(mut self, conn: &mut DbConnection, limit: i64) -> Result<Vec<R>, StoreError>
    where
        R: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        let mark = self.mark(self.binds.len() + 1);
        self.sql.push_str(&format!(" LIMIT {mark}"));
        Ok(match conn {
            DbConnection::Sqlite(c) => boxed(&self.sql, &self.binds)
                .bind::<BigInt, _>(limit)
                .load(c)?,
            DbConnection::Postgres(c) => boxed(&self.sql, &self.binds)
                .bind::<BigInt, _>(limit)
                .load(c)?,
        })
    }
}

fn boxed<'a, DB>(
    sql: &str,
    binds: &[Bind],
) -> diesel::query_builder::BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Timestamp>,
    diesel::query_builder::SqlQuery: QueryFragment<DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    NaiveDateTime: diesel::serialize::ToSql<Timestamp, DB>,
{
    let mut q = diesel::sql_query(sql.to_owned()).into_boxed::<DB>();
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind::<Text, _>(t.clone()),
            Bind::Time(t) => q.bind::<Timestamp, _>(*t),
        };
    }
    q
}
