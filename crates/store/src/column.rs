//! Typed values at the diesel boundary. Rows carry domain types (typed
//! ids, text enums, UTC times, JSON lists); diesel converts them where it
//! reads and binds a row, so no repository maps fields by hand and a
//! corrupt value fails the read loudly.
//!
//! Non-null ids and enums need nothing here: the domain converts them to
//! and from `String`, so a field says
//! `#[diesel(deserialize_as = String, serialize_as = String)]`. Nullable
//! ones and times need a type of the store's own (the orphan rule keeps
//! `Option<CaseId>` and `DateTime<Utc>` from converting to diesel's types
//! directly): [`OptText`], [`UtcStamp`] and [`OptUtcStamp`].

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::backend::Backend;
use diesel::deserialize::FromSqlRow;
use diesel::deserialize::{self, FromSql};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text, Timestamp};

/// A nullable text column holding a typed value:
/// `#[diesel(deserialize_as = OptText<CaseId>, serialize_as = OptText<CaseId>)]`
/// on an `Option<CaseId>` field.
#[derive(Debug, AsExpression, FromSqlRow)]
#[diesel(sql_type = Nullable<Text>)]
pub struct OptText<T> {
    text: Option<String>,
    value: Option<T>,
}

impl<T: Clone + Into<String>> From<Option<T>> for OptText<T> {
    fn from(value: Option<T>) -> OptText<T> {
        OptText {
            text: value.clone().map(Into::into),
            value,
        }
    }
}

impl<T> From<OptText<T>> for Option<T> {
    fn from(column: OptText<T>) -> Option<T> {
        column.value
    }
}

impl<T, DB> FromSql<Nullable<Text>, DB> for OptText<T>
where
    DB: Backend,
    String: FromSql<Text, DB>,
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = String::from_sql(bytes)?;
        let value = T::try_from(text.clone())?;
        Ok(OptText {
            text: Some(text),
            value: Some(value),
        })
    }

    fn from_nullable_sql(bytes: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match bytes {
            Some(bytes) => Self::from_sql(bytes),
            None => Ok(OptText {
                text: None,
                value: None,
            }),
        }
    }
}

impl<T, DB> ToSql<Nullable<Text>, DB> for OptText<T>
where
    DB: Backend,
    T: std::fmt::Debug,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.text.to_sql(out)
    }
}

/// A text column holding JSON: `#[diesel(deserialize_as =
/// JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]` on a
/// `Vec<String>` field.
#[derive(Debug, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct JsonText<T> {
    text: String,
    value: T,
}

/// The JSON shapes stored in text columns. Each conversion is spelled out
/// because the orphan rule forbids `impl<T> From<JsonText<T>> for T`.
macro_rules! json_column {
    ($($ty:ty),+) => {$(
        impl From<$ty> for JsonText<$ty> {
            fn from(value: $ty) -> Self {
                // Strings, lists and maps of JSON values always serialise.
                let text = serde_json::to_string(&value).unwrap_or_default();
                JsonText { text, value }
            }
        }

        impl From<JsonText<$ty>> for $ty {
            fn from(column: JsonText<$ty>) -> $ty {
                column.value
            }
        }
    )+};
}

json_column!(
    Vec<String>,
    serde_json::Map<String, serde_json::Value>,
    serde_json::Value,
    Vec<crate::appointment::Slot>,
    Vec<rapport_domain::ArticleId>
);

impl<T, DB> FromSql<Text, DB> for JsonText<T>
where
    DB: Backend,
    String: FromSql<Text, DB>,
    T: serde::de::DeserializeOwned,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = String::from_sql(bytes)?;
        let value = serde_json::from_str(&text)?;
        Ok(JsonText { text, value })
    }
}

impl<T, DB> ToSql<Text, DB> for JsonText<T>
where
    DB: Backend,
    T: std::fmt::Debug,
    String: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.text.to_sql(out)
    }
}

/// A timestamp column read and written as UTC: both backends store a
/// `TIMESTAMP` without zone, always in UTC.
#[derive(Debug, AsExpression, FromSqlRow)]
#[diesel(sql_type = Timestamp)]
pub struct UtcStamp(NaiveDateTime);

impl From<DateTime<Utc>> for UtcStamp {
    fn from(at: DateTime<Utc>) -> UtcStamp {
        UtcStamp(at.naive_utc())
    }
}

impl From<UtcStamp> for DateTime<Utc> {
    fn from(at: UtcStamp) -> DateTime<Utc> {
        at.0.and_utc()
    }
}

impl<DB> FromSql<Timestamp, DB> for UtcStamp
where
    DB: Backend,
    NaiveDateTime: FromSql<Timestamp, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        NaiveDateTime::from_sql(bytes).map(UtcStamp)
    }
}

impl<DB> ToSql<Timestamp, DB> for UtcStamp
where
    DB: Backend,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

/// A nullable timestamp column read and written as UTC.
#[derive(Debug, AsExpression, FromSqlRow)]
#[diesel(sql_type = Nullable<Timestamp>)]
pub struct OptUtcStamp(Option<NaiveDateTime>);

impl From<Option<DateTime<Utc>>> for OptUtcStamp {
    fn from(at: Option<DateTime<Utc>>) -> OptUtcStamp {
        OptUtcStamp(at.map(|t| t.naive_utc()))
    }
}

impl From<OptUtcStamp> for Option<DateTime<Utc>> {
    fn from(at: OptUtcStamp) -> Option<DateTime<Utc>> {
        at.0.map(|t| t.and_utc())
    }
}

impl<DB> FromSql<Nullable<Timestamp>, DB> for OptUtcStamp
where
    DB: Backend,
    NaiveDateTime: FromSql<Timestamp, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        NaiveDateTime::from_sql(bytes).map(|t| OptUtcStamp(Some(t)))
    }

    fn from_nullable_sql(bytes: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        bytes.map_or(Ok(OptUtcStamp(None)), Self::from_sql)
    }
}

impl<DB> ToSql<Nullable<Timestamp>, DB> for OptUtcStamp
where
    DB: Backend,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}
