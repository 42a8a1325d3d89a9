//! Single sign-on: sign-in attempts at identity providers, and the
//! providers client companies name for their contacts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, StaffId};

use crate::column::{OptText, OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{account_identity_providers, sso_attempts};
use crate::time::now_micros;

/// Who an attempt signs in: the organisation's staff, or an account's contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Staff,
    Contact,
}

impl From<Audience> for String {
    fn from(a: Audience) -> String {
        match a {
            Audience::Staff => "staff",
            Audience::Contact => "contact",
        }
        .to_owned()
    }
}

impl TryFrom<String> for Audience {
    type Error = StoreError;

    fn try_from(text: String) -> Result<Audience, StoreError> {
        match text.as_str() {
            "staff" => Ok(Audience::Staff),
            "contact" => Ok(Audience::Contact),
            other => Err(StoreError::Corrupt(format!("sso audience {other:?}"))),
        }
    }
}

/// A sign-in sent to an identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = sso_attempts)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Attempt {
    pub state: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub audience: Audience,
    #[diesel(deserialize_as = OptText<AccountId>, serialize_as = OptText<AccountId>)]
    pub account_id: Option<AccountId>,
    pub nonce: String,
    pub verifier: String,
    /// The page to return to, a path of this server.
    pub return_to: String,
    /// The hash of the secret the starting browser holds in a cookie.
    pub browser_hash: String,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    /// The staff member or contact the provider vouched for.
    pub subject_id: Option<String>,
    pub handoff_hash: Option<String>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub completed_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub redeemed_at: Option<DateTime<Utc>>,
}

pub fn begin(conn: &mut DbConnection, attempt: &Attempt) -> Result<(), StoreError> {
    diesel::insert_into(sso_attempts::table)
        .values(attempt.clone())
        .execute(conn)?;
    Ok(())
}

/// Takes the attempt the provider's answer names, once: an answer replayed
/// or for an attempt older than `max_age` finds nothing.
pub fn take(
    conn: &mut DbConnection,
    state: &str,
    max_age: Duration,
) -> Result<Option<Attempt>, StoreError> {
    let now = now_micros().and_utc();
    let Some(found) = sso_attempts::table
        .find(state)
        .select(Attempt::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if found.completed_at.is_some() || found.created_at < now - max_age {
        return Ok(None);
    }
    // Marked at once, so a second answer for the same state is refused
    // even before this one finishes.
    let taken = diesel::update(
        sso_attempts::table
            .find(state)
            .filter(sso_attempts::completed_at.is_null()),
    )
    .set(sso_attempts::completed_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    Ok((taken == 1).then_some(found))
}

/// Records who signed in and the hash of the code the browser redeems.
pub fn complete(
    conn: &mut DbConnection,
    state: &str,
    subject_id: &str,
    handoff_hash: &str,
) -> Result<(), StoreError> {
    diesel::update(sso_attempts::table.find(state))
        .set((
            sso_attempts::subject_id.eq(Some(subject_id)),
            sso_attempts::handoff_hash.eq(Some(handoff_hash)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Spends a handoff code completed within `max_age`, once; returns its attempt.
pub fn redeem(
    conn: &mut DbConnection,
    handoff_hash: &str,
    max_age: Duration,
) -> Result<Option<Attempt>, StoreError> {
    let now = now_micros().and_utc();
    let spent = diesel::update(
        sso_attempts::table
            .filter(sso_attempts::handoff_hash.eq(handoff_hash))
            .filter(sso_attempts::redeemed_at.is_null())
            .filter(sso_attempts::completed_at.gt((now - max_age).naive_utc())),
    )
    .set(sso_attempts::redeemed_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    if spent == 0 {
        return Ok(None);
    }
    Ok(sso_attempts::table
        .filter(sso_attempts::handoff_hash.eq(handoff_hash))
        .select(Attempt::as_select())
        .first(conn)
        .optional()?)
}

/// Forgets attempts started before `cutoff`; returns how many.
pub fn forget_before(conn: &mut DbConnection, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(sso_attempts::table.filter(sso_attempts::created_at.lt(cutoff.naive_utc())))
            .execute(conn)?,
    )
}

/// An account's own identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = account_identity_providers)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct AccountProvider {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub account_id: AccountId,
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed by the caller.
    pub sealed_secret: String,
    /// How the sign-in button names it ("Acme sign-in").
    pub label: String,
    /// Contacts of the account sign in only through it.
    pub required: bool,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub updated_by: StaffId,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub updated_at: DateTime<Utc>,
}

pub fn provider_of(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Option<AccountProvider>, StoreError> {
    Ok(account_identity_providers::table
        .find(account.to_string())
        .select(AccountProvider::as_select())
        .first(conn)
        .optional()?)
}

/// Sets or replaces the account's provider.
pub fn set_provider(conn: &mut DbConnection, p: &AccountProvider) -> Result<(), StoreError> {
    let updated = diesel::update(account_identity_providers::table.find(p.account_id.to_string()))
        .set(p.clone())
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(account_identity_providers::table)
            .values(p.clone())
            .execute(conn)?;
    }
    Ok(())
}

/// Removes the account's provider; false when it had none.
pub fn remove_provider(conn: &mut DbConnection, account: AccountId) -> Result<bool, StoreError> {
    Ok(
        diesel::delete(account_identity_providers::table.find(account.to_string()))
            .execute(conn)?
            == 1,
    )
}
