//! Signing in and out, refreshing, and changing one's password.

use std::time::Instant;

use chrono::Utc;
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{EmailAddress, SessionFamilyId, StaffId};
use rapport_store::session::{self, SubjectKind};
use rapport_store::staff::{self, Staff};
use rapport_store::{DbConnection, StoreError};
use serde_json::json;

use super::staff::stream as staff_stream;
use super::{UseCaseError, record};
use crate::auth::RequestContext;
use crate::auth::password;
use crate::auth::token::{new_refresh_token, refresh_token_hash};
use crate::state::AppState;

/// What a successful sign-in or refresh hands to the client.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub password_change_required: bool,
}

fn context_data(ctx: &RequestContext) -> serde_json::Value {
    json!({"ip": ctx.ip, "user_agent": ctx.user_agent, "request_id": ctx.request_id})
}

fn staff_actor(id: StaffId) -> Result<Actor, StoreError> {
    Ok(Actor::new(ActorKind::Staff, id)?)
}

/// Issues an access token and a new refresh token of `family`.
fn issue(
    conn: &mut DbConnection,
    state: &AppState,
    staff: &Staff,
    family: &str,
    password_change_required: bool,
) -> Result<SessionTokens, UseCaseError> {
    let refresh =
        new_refresh_token().map_err(|e| UseCaseError::Internal(format!("no randomness: {e}")))?;
    let days = i64::from(state.config.settings.auth.refresh_token_days);
    session::insert(
        conn,
        &refresh_token_hash(&refresh),
        family,
        SubjectKind::Staff,
        &staff.id.to_string(),
        Utc::now() + chrono::Duration::days(days),
    )?;
    let access = state
        .tokens
        .issue(staff.id, staff.role, password_change_required)
        .map_err(|e| UseCaseError::Internal(e.to_string()))?;
    Ok(SessionTokens {
        access_token: access,
        expires_in: state.tokens.lifetime_secs(),
        refresh_token: refresh,
        password_change_required,
    })
}

/// Signs a staff member in. Unknown addresses, wrong passwords and
/// deactivated accounts answer alike and take the same time; every attempt
/// is audited; repeated failures per address and per IP are slowed down.
pub fn login(
    state: &AppState,
    email: &str,
    password: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let typed = email.trim().to_lowercase();
    let email_key = format!("email:{}", typed.chars().take(254).collect::<String>());
    let mut keys = vec![email_key.clone()];
    if let Some(ip) = &ctx.ip {
        keys.push(format!("ip:{ip}"));
    }
    state
        .throttle
        .check(&keys, Instant::now())
        .map_err(UseCaseError::RateLimited)?;

    let found = match EmailAddress::parse(email) {
        Ok(address) => staff::find_by_email(&mut *state.store.conn()?, &address)?,
        Err(_) => None,
    };
    let failure = match &found {
        None => {
            password::verify_against_nothing(password);
            Some("unknown_email")
        }
        Some(s) => {
            let matches = password::verify(password, &s.password_hash);
            if !s.active {
                Some("inactive")
            } else if !matches {
                Some("wrong_password")
            } else {
                None
            }
        }
    };
    if let Some(reason) = failure {
        state.throttle.record_failure(&keys, Instant::now());
        let mut data = context_data(ctx);
        data["email"] = json!(typed.chars().take(254).collect::<String>());
        data["reason"] = json!(reason);
        let (stream, subject) = match &found {
            Some(s) => (staff_stream(s.id), Some(s.id.to_string())),
            None => (StreamName::system(), None),
        };
        state.store.write(|conn| {
            record(
                conn,
                stream,
                Actor::system(),
                "auth.login_failed",
                ("staff", subject.as_deref()),
                data,
            )
        })?;
        return Err(UseCaseError::InvalidCredentials);
    }
    let Some(staff) = found else {
        return Err(UseCaseError::InvalidCredentials);
    };
    state.throttle.record_success(&email_key);
    let rehash = if password::needs_rehash(&staff.password_hash) {
        Some(password::hash(password).map_err(|e| UseCaseError::Internal(e.to_string()))?)
    } else {
        None
    };
    state.store.write(|conn| {
        if let Some(hash) = &rehash {
            staff::set_password_hash(conn, staff.id, hash, staff.password_change_required)?;
        }
        let family = SessionFamilyId::new().to_string();
        let tokens = issue(conn, state, &staff, &family, staff.password_change_required)?;
        let mut data = context_data(ctx);
        data["session"] = json!(family);
        data["password_rehashed"] = json!(rehash.is_some());
        record(
            conn,
            staff_stream(staff.id),
            staff_actor(staff.id)?,
            "auth.login_succeeded",
            ("staff", Some(&staff.id.to_string())),
            data,
        )?;
        Ok(tokens)
    })
}

enum RefreshOutcome {
    Issued(SessionTokens),
    Invalid,
    Reused,
}

/// Exchanges a refresh token for new tokens. The presented token is spent;
/// presenting a spent token again revokes its whole family, because one of
/// the two presenters is not the user.
pub fn refresh(
    state: &AppState,
    presented: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let hash = refresh_token_hash(presented);
    // Revocations must commit even though the caller gets an error, so the
    // transaction returns an outcome rather than failing.
    let outcome = state.store.write(|conn| {
        let Some(token) = session::lock(conn, &hash)? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if token.revoked || token.subject_kind != SubjectKind::Staff {
            return Ok(RefreshOutcome::Invalid);
        }
        let staff_id: StaffId = token
            .subject_id
            .parse()
            .map_err(|_| StoreError::Corrupt("refresh token subject".into()))?;
        if token.spent {
            let revoked = session::revoke_family(conn, &token.family_id)?;
            let mut data = context_data(ctx);
            data["session"] = json!(token.family_id);
            data["revoked_tokens"] = json!(revoked);
            record(
                conn,
                staff_stream(staff_id),
                Actor::system(),
                "auth.refresh_token_reused",
                ("staff", Some(&staff_id.to_string())),
                data,
            )?;
            return Ok(RefreshOutcome::Reused);
        }
        if token.expires_at <= Utc::now() {
            return Ok(RefreshOutcome::Invalid);
        }
        let staff = match staff::find(conn, staff_id)? {
            Some(s) if s.active => s,
            _ => {
                session::revoke_family(conn, &token.family_id)?;
                return Ok(RefreshOutcome::Invalid);
            }
        };
        session::mark_spent(conn, &hash)?;
        let tokens = issue(
            conn,
            state,
            &staff,
            &token.family_id,
            staff.password_change_required,
        )?;
        Ok::<_, UseCaseError>(RefreshOutcome::Issued(tokens))
    })?;
    match outcome {
        RefreshOutcome::Issued(tokens) => Ok(tokens),
        RefreshOutcome::Invalid => Err(UseCaseError::InvalidRefreshToken),
        RefreshOutcome::Reused => Err(UseCaseError::RefreshTokenReused),
    }
}

/// Ends the sign-in the refresh token belongs to. Unknown tokens are
/// ignored: signing out twice is not an error.
pub fn logout(state: &AppState, presented: &str, ctx: &RequestContext) -> Result<(), UseCaseError> {
    let hash = refresh_token_hash(presented);
    state.store.write(|conn| {
        let Some(token) = session::lock(conn, &hash)? else {
            return Ok(());
        };
        if token.revoked {
            return Ok(());
        }
        session::revoke_family(conn, &token.family_id)?;
        if let Ok(staff_id) = token.subject_id.parse::<StaffId>() {
            let mut data = context_data(ctx);
            data["session"] = json!(token.family_id);
            record(
                conn,
                staff_stream(staff_id),
                staff_actor(staff_id)?,
                "auth.logout",
                ("staff", Some(&staff_id.to_string())),
                data,
            )?;
        }
        Ok::<_, UseCaseError>(())
    })
}

/// Replaces the password after checking the current one; every other
/// sign-in of this person is revoked and a fresh session is returned.
pub fn change_password(
    state: &AppState,
    staff_id: StaffId,
    current: &str,
    new: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let staff = staff::find(&mut *state.store.conn()?, staff_id)?
        .filter(|s| s.active)
        .ok_or(UseCaseError::NotFound("staff member"))?;
    let key = vec![format!("email:{}", staff.email)];
    state
        .throttle
        .check(&key, Instant::now())
        .map_err(UseCaseError::RateLimited)?;
    if !password::verify(current, &staff.password_hash) {
        state.throttle.record_failure(&key, Instant::now());
        return Err(UseCaseError::Validation {
            field: "current_password",
            message: "is wrong".into(),
        });
    }
    password::check_new(new).map_err(|message| UseCaseError::Validation {
        field: "new_password",
        message,
    })?;
    if new == current {
        return Err(UseCaseError::Validation {
            field: "new_password",
            message: "must differ from the current password".into(),
        });
    }
    let hash = password::hash(new).map_err(|e| UseCaseError::Internal(e.to_string()))?;
    state.store.write(|conn| {
        staff::set_password_hash(conn, staff.id, &hash, false)?;
        let revoked = session::revoke_subject(conn, SubjectKind::Staff, &staff.id.to_string())?;
        let family = SessionFamilyId::new().to_string();
        let tokens = issue(conn, state, &staff, &family, false)?;
        let mut data = context_data(ctx);
        data["revoked_tokens"] = json!(revoked);
        record(
            conn,
            staff_stream(staff.id),
            staff_actor(staff.id)?,
            "staff.password_changed",
            ("staff", Some(&staff.id.to_string())),
            data,
        )?;
        Ok(tokens)
    })
}
