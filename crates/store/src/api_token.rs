//! API tokens for integrations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{ApiScope, ApiTokenId, StaffId};

use crate::column::{OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::api_tokens;
use crate::time::now_micros;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = api_tokens)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct TokenRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: ApiTokenId,
    name: String,
    token_hash: String,
    /// Space-separated scope names.
    scopes: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    created_by: StaffId,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    revoked_at: Option<DateTime<Utc>>,
}

/// An API token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub created_by: StaffId,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl ApiToken {
    /// Usable now: not revoked, not expired.
    pub fn is_live(&self) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| e > Utc::now())
    }
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    /// Scopes are one column of words and revocation a time shown as a
    /// flag: the two fields assembled here.
    fn try_from(r: TokenRow) -> Result<ApiToken, StoreError> {
        Ok(ApiToken {
            scopes: r
                .scopes
                .split_whitespace()
                .map(|s| {
                    ApiScope::parse(s)
                        .ok_or_else(|| StoreError::Corrupt(format!("api_tokens {}: scope", r.id)))
                })
                .collect::<Result<_, _>>()?,
            id: r.id,
            created_by: r.created_by,
            name: r.name,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked: r.revoked_at.is_some(),
        })
    }
}

pub fn insert(
    conn: &mut DbConnection,
    name: &str,
    token_hash: &str,
    scopes: &[ApiScope],
    created_by: StaffId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<ApiToken, StoreError> {
    let row = TokenRow {
        id: ApiTokenId::new(),
        name: name.to_owned(),
        token_hash: token_hash.to_owned(),
        scopes: scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        created_by,
        created_at: now_micros().and_utc(),
        expires_at,
        revoked_at: None,
    };
    diesel::insert_into(api_tokens::table)
        .values(row.clone())
        .execute(conn)?;
    row.try_into()
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<ApiToken>, StoreError> {
    api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?
        .map(ApiToken::try_from)
        .transpose()
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<ApiToken>, StoreError> {
    api_tokens::table
        .order(api_tokens::id.asc())
        .select(TokenRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ApiToken::try_from)
        .collect()
}

/// Revokes the token; false when it does not exist or was already revoked.
pub fn revoke(conn: &mut DbConnection, id: ApiTokenId) -> Result<bool, StoreError> {
    Ok(diesel::update(
        api_tokens::table
            .find(id.to_string())
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now_micros())))
    .execute(conn)?
        > 0)
}
