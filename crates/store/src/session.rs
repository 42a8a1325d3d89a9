//! Refresh tokens: stored hashed, spent on use, revoked by family.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::column::{OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::refresh_tokens;
use crate::time::now_micros;

/// Who a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    Staff,
    Contact,
}

impl From<SubjectKind> for String {
    fn from(kind: SubjectKind) -> String {
        match kind {
            SubjectKind::Staff => "staff",
            SubjectKind::Contact => "contact",
        }
        .to_owned()
    }
}

impl TryFrom<String> for SubjectKind {
    type Error = StoreError;

    fn try_from(text: String) -> Result<SubjectKind, StoreError> {
        match text.as_str() {
            "staff" => Ok(SubjectKind::Staff),
            "contact" => Ok(SubjectKind::Contact),
            other => Err(StoreError::Corrupt(format!(
                "refresh token subject kind {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = refresh_tokens)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct TokenRow {
    token_hash: String,
    family_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    subject_kind: SubjectKind,
    subject_id: String,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    issued_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    expires_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    spent_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    revoked_at: Option<DateTime<Utc>>,
    address: Option<String>,
}

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    pub expires_at: DateTime<Utc>,
    pub spent: bool,
    pub revoked: bool,
    /// The address the sign-in was proven with (contacts).
    pub address: Option<String>,
}

/// Stores a new token of `family`, valid until `expires_at`.
pub fn insert(
    conn: &mut DbConnection,
    token_hash: &str,
    family_id: &str,
    subject_kind: SubjectKind,
    subject_id: &str,
    expires_at: DateTime<Utc>,
    address: Option<&str>,
) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values(TokenRow {
            token_hash: token_hash.to_owned(),
            family_id: family_id.to_owned(),
            subject_kind,
            subject_id: subject_id.to_owned(),
            issued_at: now_micros().and_utc(),
            expires_at,
            spent_at: None,
            revoked_at: None,
            address: address.map(str::to_owned),
        })
        .execute(conn)?;
    Ok(())
}

/// The token with this hash, locked until the transaction ends so that two
/// concurrent uses of one token cannot both succeed.
pub fn lock(conn: &mut DbConnection, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
    let row = match conn {
        DbConnection::Postgres(pg) => refresh_tokens::table
            .find(token_hash)
            .select(TokenRow::as_select())
            .for_update()
            .first(pg)
            .optional()?,
        DbConnection::Sqlite(sqlite) => refresh_tokens::table
            .find(token_hash)
            .select(TokenRow::as_select())
            .first(sqlite)
            .optional()?,
    };
    Ok(row.map(|r: TokenRow| RefreshToken {
        subject_kind: r.subject_kind,
        token_hash: r.token_hash,
        family_id: r.family_id,
        subject_id: r.subject_id,
        expires_at: r.expires_at,
        spent: r.spent_at.is_some(),
        revoked: r.revoked_at.is_some(),
        address: r.address,
    }))
}

pub fn mark_spent(conn: &mut DbConnection, token_hash: &str) -> Result<(), StoreError> {
    diesel::update(refresh_tokens::table.find(token_hash))
        .set(refresh_tokens::spent_at.eq(Some(now_micros())))
        .execute(conn)?;
    Ok(())
}

/// Revokes every live token of the family; returns how many.
pub fn revoke_family(conn: &mut DbConnection, family_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now_micros())))
    .execute(conn)?)
}

/// Revokes every live token of a subject (deactivation, password change).
pub fn revoke_subject(
    conn: &mut DbConnection,
    kind: SubjectKind,
    subject_id: &str,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::subject_kind.eq(String::from(kind)))
            .filter(refresh_tokens::subject_id.eq(subject_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now_micros())))
    .execute(conn)?)
}
