//! Statements of the write path that diesel would prepare anew on every
//! run, written so that each connection prepares them once.
//!
//! diesel caches the prepared form of what its query builder writes, except
//! for every `UPDATE`, every upsert, every `sql_query`, and inserts that may
//! write `DEFAULT` (which is why every insertable row of the store is
//! derived with `treat_none_as_default_value = false`). Uncached, a
//! statement is parsed and planned by PostgreSQL on every run, and compiled
//! by SQLite while the writer holds its lock. A [`Fixed`] statement's text
//! depends on nothing but its caller's code, so diesel may cache it by that
//! text: each text is prepared once per connection.

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

/// A parameter of a [`Fixed`] statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i32),
    Stamp(NaiveDateTime),
    OptStamp(Option<NaiveDateTime>),
}

/// A statement whose text is one of a few its caller writes (never built
/// from input, or the cache would grow with it); each `?` takes the next
/// parameter, written as `?` on SQLite and `$n` on PostgreSQL. `ST` is the
/// SQL type of the rows it returns (`()`: none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed<'a, ST = ()> {
    sql: &'a str,
    binds: &'a [Bind<'a>],
    returns: PhantomData<ST>,
}

impl<'a> Fixed<'a> {
    pub(crate) fn new(sql: &'a str, binds: &'a [Bind<'a>]) -> Fixed<'a> {
        Fixed {
            sql,
            binds,
            returns: PhantomData,
        }
    }

    /// The same statement, loading rows of the SQL type `ST`.
    pub(crate) fn returning<ST>(self) -> Fixed<'a, ST> {
        Fixed {
            sql: self.sql,
            binds: self.binds,
            returns: PhantomData,
        }
    }
}

impl<ST> QueryId for Fixed<'_, ST> {
    type QueryId = ();
    // Not a type but the text identifies the statement in the cache.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Fixed<'_, ST> {
    type SqlType = ST;
}

impl<ST, Conn> RunQueryDsl<Conn> for Fixed<'_, ST> {}

impl<ST, DB> QueryFragment<DB> for Fixed<'_, ST>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Integer> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        if parts.clone().count() != self.binds.len() + 1 {
            return Err(diesel::result::Error::QueryBuilderError(
                format!(
                    "{} parameters for {} places in `{}`",
                    self.binds.len(),
                    self.sql.matches('?').count(),
                    self.sql
                )
                .into(),
            ));
        }
        out.push_sql(parts.next().unwrap_or_default());
        for (bind, part) in self.binds.iter().zip(parts) {
            match bind {
                Bind::Text(v) => out.push_bind_param::<Text, str>(v)?,
                Bind::OptText(v) => out.push_bind_param::<Nullable<Text>, Option<&str>>(v)?,
                Bind::Int(v) => out.push_bind_param::<Integer, i32>(v)?,
                Bind::Stamp(v) => out.push_bind_param::<Timestamp, NaiveDateTime>(v)?,
                Bind::OptStamp(v) => {
                    out.push_bind_param::<Nullable<Timestamp>, Option<NaiveDateTime>>(v)?;
                }
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{Nullable, Text};
    use diesel::{Connection, SqliteConnection};

    use super::*;

    fn table() -> SqliteConnection {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute("CREATE TABLE t (a TEXT NOT NULL, b TEXT, n INTEGER NOT NULL)")
            .unwrap();
        conn
    }

    #[test]
    fn parameters_take_their_places_in_order_nulls_included() {
        let mut conn = table();
        for (a, b) in [("x", Some("y")), ("z", None)] {
            let binds = [Bind::Text(a), Bind::OptText(b), Bind::Int(7)];
            Fixed::new("INSERT INTO t (a, b, n) VALUES (?, ?, ?)", &binds)
                .execute(&mut conn)
                .unwrap();
        }
        let rows: Vec<(String, Option<String>)> =
            Fixed::new("SELECT a, b FROM t WHERE n = ? ORDER BY a", &[Bind::Int(7)])
                .returning::<(Text, Nullable<Text>)>()
                .load(&mut conn)
                .unwrap();
        assert_eq!(
            rows,
            vec![("x".into(), Some("y".into())), ("z".into(), None)]
        );
    }

    #[test]
    fn a_statement_with_the_wrong_number_of_parameters_is_refused_not_run() {
        let mut conn = table();
        let err = Fixed::new(
            "INSERT INTO t (a, b, n) VALUES (?, ?, ?)",
            &[Bind::Text("x")],
        )
        .execute(&mut conn)
        .unwrap_err();
        assert!(
            err.to_string().contains("1 parameters for 3 places"),
            "{err}"
        );
        let left: Vec<String> = Fixed::new("SELECT a FROM t", &[])
            .returning::<Text>()
            .load(&mut conn)
            .unwrap();
        assert!(left.is_empty());
    }
}
