//! API tokens for integrations.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{ApiScope, ApiTokenId, StaffId};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::api_tokens;
use crate::time::now_micros;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
struct TokenRow {
    id: String,
    name: String,
    token_hash: String,
    scopes: String,
    created_by: String,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
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

    fn try_from(r: TokenRow) -> Result<ApiToken, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("api_tokens {}: {what}", r.id));
        Ok(ApiToken {
            id: r.id.parse().map_err(|_| bad("id"))?,
            scopes: r
                .scopes
                .split_whitespace()
                .map(|s| ApiScope::parse(s).ok_or_else(|| bad("scope")))
                .collect::<Result<_, _>>()?,
            created_by: r.created_by.parse().map_err(|_| bad("created_by"))?,
            name: r.name,
            created_at: r.created_at.and_utc(),
            expires_at: r.expires_at.map(|e| e.and_utc()),
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
        id: ApiTokenId::new().to_string(),
        name: name.to_owned(),
        token_hash: token_hash.to_owned(),
        scopes: scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        created_by: created_by.to_string(),
        created_at: now_micros(),
        expires_at: expires_at.map(|e| e.naive_utc()),
        revoked_at: None,
    };
    diesel::insert_into(api_tokens::table)
        .values(&row)
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
