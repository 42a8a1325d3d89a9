//! API tokens for integrations: admins create them (the secret is shown
//! once), list them and revoke them.

use chrono::Utc;
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{ApiScope, ApiTokenId, Permission, Principal, authorize};
use rapport_store::Store;
use rapport_store::api_token::{self, ApiToken};
use serde_json::json;

use super::input::{invalid, text};
use super::{UseCaseError, record};
use crate::auth::token::API_TOKEN_PREFIX;
use crate::auth::token::{new_opaque_token, opaque_token_hash};

fn admin(who: &Principal) -> Result<(rapport_domain::StaffId, Actor), UseCaseError> {
    authorize(who, Permission::ManageStaff).map_err(|_| UseCaseError::Forbidden)?;
    match who {
        Principal::Staff { id, .. } => Ok((*id, Actor::new(ActorKind::Staff, id)?)),
        _ => Err(UseCaseError::Forbidden),
    }
}

/// Creates a token; returns it with its secret, which is stored only hashed.
pub fn create(
    store: &Store,
    who: &Principal,
    name: &str,
    scopes: &[ApiScope],
    expires_in_days: Option<u32>,
) -> Result<(ApiToken, String), UseCaseError> {
    let (staff, actor) = admin(who)?;
    let name = text("name", name, 100)?;
    if scopes.is_empty() {
        return Err(invalid(
            "scopes",
            format!("name at least one of: {}", ApiScope::choices()),
        ));
    }
    let expires_at = match expires_in_days {
        Some(days) if (1..=3_650).contains(&days) => {
            Some(Utc::now() + chrono::Duration::days(i64::from(days)))
        }
        Some(_) => return Err(invalid("expires_in_days", "must be 1 to 3650")),
        None => None,
    };
    let secret = format!(
        "{API_TOKEN_PREFIX}{}",
        new_opaque_token().map_err(|e| UseCaseError::Internal(format!("no randomness: {e}")))?
    );
    let token = store.write(|conn| {
        let token = api_token::insert(conn, &name, &opaque_token_hash(&secret), scopes, staff, expires_at)?;
        record(
            conn,
            StreamName::system(),
            actor,
            "api_token.created",
            ("api_token", Some(&token.id.to_string())),
            json!({"name": name, "scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "expires_at": expires_at.map(|e| rapport_audit::format_at(&e))}),
        )?;
        Ok::<_, UseCaseError>(token)
    })?;
    Ok((token, secret))
}

pub fn list(store: &Store, who: &Principal) -> Result<Vec<ApiToken>, UseCaseError> {
    admin(who)?;
    Ok(api_token::list(&mut *store.conn()?)?)
}

pub fn revoke(store: &Store, who: &Principal, id: ApiTokenId) -> Result<(), UseCaseError> {
    let (_, actor) = admin(who)?;
    store.write(|conn| {
        if !api_token::revoke(conn, id)? {
            return Err(UseCaseError::NotFound("live API token"));
        }
        record(
            conn,
            StreamName::system(),
            actor,
            "api_token.revoked",
            ("api_token", Some(&id.to_string())),
            json!({}),
        )?;
        Ok(())
    })
}
