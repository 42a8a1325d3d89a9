//! A second factor for staff sign-in: TOTP from an authenticator app, with
//! ten single-use recovery codes for a lost phone. Enrolment proves the
//! app holds the secret (a first code) before sign-in asks for it; an
//! administrator can remove it for someone locked out.

use chrono::Utc;
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{Principal, StaffId, StaffRole};
use rapport_store::DbConnection;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::UseCaseError;
use crate::auth::totp;
use crate::state::AppState;

/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs, shown once while enrolling.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Base32, for typing into the app.
    pub secret: String,
    /// For scanning or importing.
    pub otpauth_uri: String,
}

/// Whether a staff member's sign-in asks for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub enabled: bool,
    /// Enrolment begun, no code confirmed yet.
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// The staff member's role must have a second factor.
    pub required: bool,
}

/// The second factor presented with a password.
#[derive(Debug, Clone, Default)]
pub struct Presented {
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
}

fn staff_of(who: &Principal) -> Result<(StaffId, StaffRole), UseCaseError> {
    match who {
        Principal::Staff { id, role } => Ok((*id, *role)),
        _ => Err(UseCaseError::Forbidden),
    }
}

/// The purpose TOTP secrets are sealed for ([`crate::secrets::Secrets::seal`]).
const SEALED_AS: &str = "totp";

fn seal(state: &AppState, staff: StaffId, secret: &[u8]) -> Result<String, UseCaseError> {
    state
        .secrets
        .seal(SEALED_AS, &staff.to_string(), secret)
        .ok_or_else(|| UseCaseError::Internal("a TOTP secret is too long to seal".into()))
}

fn unseal(state: &AppState, staff: StaffId, sealed: &str) -> Result<Vec<u8>, UseCaseError> {
    state
        .secrets
        .unseal(SEALED_AS, &staff.to_string(), sealed)
        .ok_or_else(|| UseCaseError::Internal("a sealed TOTP secret is unreadable".into()))
}

fn code_hash(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

fn now_step() -> i64 {
    totp::step_at(Utc::now().timestamp())
}

fn audit(
    conn: &mut DbConnection,
    actor: StaffId,
    staff: StaffId,
    action: &str,
) -> Result<(), UseCaseError> {
    super::record(
        conn,
        StreamName::system(),
        Actor::new(ActorKind::Staff, actor)?,
        action,
        ("staff", Some(&staff.to_string())),
        json!({}),
    )?;
    Ok(())
}

/// Whether the caller's sign-in asks for a code.
pub fn status(state: &AppState, who: &Principal) -> Result<Status, UseCaseError> {
    let (staff, role) = staff_of(who)?;
    let mut conn = state.store.conn()?;
    let found = rapport_store::totp::find(&mut conn, staff)?;
    let enabled = found.as_ref().is_some_and(|t| t.confirmed_at.is_some());
    Ok(Status {
        enabled,
        pending: found.is_some() && !enabled,
        recovery_codes_left: if enabled {
            rapport_store::totp::recovery_codes_left(&mut conn, staff)?
        } else {
            0
        },
        required: required_for(&mut conn, state, role)?,
    })
}

/// Whether a second factor is mandatory for this role: by the
/// configuration (`auth.totp_required_roles`) or by an admin's policy.
pub fn required_for(
    conn: &mut DbConnection,
    state: &AppState,
    role: StaffRole,
) -> Result<bool, UseCaseError> {
    Ok(by_config(state, role)
        || rapport_store::role_policy::totp_required_roles(conn)?.contains(&role))
}

fn by_config(state: &AppState, role: StaffRole) -> bool {
    state
        .config
        .settings
        .auth
        .totp_required_roles
        .iter()
        .any(|r| r == role.as_str())
}

/// A role's second-factor requirement as admins see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy {
    pub role: StaffRole,
    pub required: bool,
    /// Required by the server's configuration: not changeable here.
    pub by_config: bool,
}

/// Every role's requirement (admins).
pub fn policies(state: &AppState, who: &Principal) -> Result<Vec<RolePolicy>, UseCaseError> {
    super::webhooks::admin_of(who)?;
    let set = rapport_store::role_policy::totp_required_roles(&mut *state.store.conn()?)?;
    Ok([StaffRole::Admin, StaffRole::Agent, StaffRole::Auditor]
        .into_iter()
        .map(|role| RolePolicy {
            role,
            required: by_config(state, role) || set.contains(&role),
            by_config: by_config(state, role),
        })
        .collect())
}

/// Requires a second factor of everyone of `role`, or stops (admins).
/// People of the role without one can then only set it up.
pub fn set_policy(
    state: &AppState,
    who: &Principal,
    role: StaffRole,
    required: bool,
) -> Result<Vec<RolePolicy>, UseCaseError> {
    let admin = super::webhooks::admin_of(who)?;
    if !required && by_config(state, role) {
        return Err(super::input::invalid(
            "required",
            format!(
                "the server's configuration requires it of {}s (auth.totp_required_roles)",
                role.as_str()
            ),
        ));
    }
    state.store.write(|conn| {
        rapport_store::role_policy::set_totp_required(conn, role, required, admin)?;
        super::record(
            conn,
            StreamName::system(),
            Actor::new(ActorKind::Staff, admin)?,
            "auth.totp_requirement_changed",
            ("role", Some(role.as_str())),
            json!({"role": role.as_str(), "required": required}),
        )?;
        Ok::<_, UseCaseError>(())
    })?;
    policies(state, who)
}

/// Starts enrolment: a new secret, not asked for at sign-in until a code
/// from it is confirmed. Refused while one is enabled.
pub fn begin(state: &AppState, who: &Principal) -> Result<Enrolment, UseCaseError> {
    let (staff, _) = staff_of(who)?;
    let secret =
        totp::new_secret().map_err(|e| UseCaseError::Internal(format!("randomness: {e}")))?;
    let sealed = seal(state, staff, &secret)?;
    let email = state.store.write(|conn| {
        if rapport_store::totp::find(conn, staff)?.is_some_and(|t| t.confirmed_at.is_some()) {
            return Err(UseCaseError::Conflict(
                "a second factor is already enabled; an administrator removes it before a new one",
            ));
        }
        let member = rapport_store::staff::find(conn, staff)?
            .ok_or(UseCaseError::NotFound("staff member"))?;
        rapport_store::totp::begin(conn, staff, &sealed)?;
        audit(conn, staff, staff, "auth.totp_enrolment_started")?;
        Ok(member.email.to_string())
    })?;
    Ok(Enrolment {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&state.config.settings.instance.name, &email, &secret),
    })
}

/// Confirms enrolment with a code from the app; returns the recovery codes
/// (shown once, stored only as hashes).
pub fn confirm(state: &AppState, who: &Principal, code: &str) -> Result<Vec<String>, UseCaseError> {
    let (staff, _) = staff_of(who)?;
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 5];
            getrandom::fill(&mut bytes)
                .map_err(|e| UseCaseError::Internal(format!("randomness: {e}")))?;
            let hex = hex::encode(bytes);
            Ok(format!("{}-{}", &hex[..5], &hex[5..]))
        })
        .collect::<Result<_, UseCaseError>>()?;
    let hashes: Vec<String> = codes.iter().map(|c| code_hash(c)).collect();
    state.store.write(|conn| {
        let Some(pending) = rapport_store::totp::find(conn, staff)? else {
            return Err(UseCaseError::Conflict("start enrolment first"));
        };
        if pending.confirmed_at.is_some() {
            return Err(UseCaseError::Conflict("the second factor is already enabled"));
        }
        let secret = unseal(state, staff, &pending.sealed_secret)?;
        let Some(step) = totp::verify(&secret, code, now_step(), 0) else {
            return Err(super::input::invalid(
                "code",
                "is not the code your app shows now; check the app's clock and type the current six digits",
            ));
        };
        rapport_store::totp::confirm(conn, staff, step, &hashes)?;
        audit(conn, staff, staff, "auth.totp_enabled")?;
        Ok(())
    })?;
    Ok(codes)
}

/// Removes a staff member's second factor: an administrator's help for
/// someone who lost both phone and recovery codes.
pub fn remove(state: &AppState, who: &Principal, staff: StaffId) -> Result<(), UseCaseError> {
    let Principal::Staff {
        id: admin,
        role: StaffRole::Admin,
    } = who
    else {
        return Err(UseCaseError::Forbidden);
    };
    state.store.write(|conn| {
        rapport_store::staff::find(conn, staff)?.ok_or(UseCaseError::NotFound("staff member"))?;
        rapport_store::totp::remove(conn, staff)?;
        audit(conn, *admin, staff, "auth.totp_removed")
    })
}

/// At sign-in, after the password matched: what the staff member's second
/// factor asks. `Ok(method)` names what was used (`None`: none enabled).
pub(super) fn check_at_sign_in(
    conn: &mut DbConnection,
    state: &AppState,
    staff: StaffId,
    presented: &Presented,
) -> Result<Option<&'static str>, UseCaseError> {
    let Some(totp) = rapport_store::totp::find(conn, staff)?.filter(|t| t.confirmed_at.is_some())
    else {
        return Ok(None);
    };
    if let Some(code) = presented.totp_code.as_deref() {
        let secret = unseal(state, staff, &totp.sealed_secret)?;
        let step = totp::verify(&secret, code, now_step(), totp.last_step)
            .ok_or(UseCaseError::InvalidTotp)?;
        if !rapport_store::totp::use_step(conn, staff, step)? {
            return Err(UseCaseError::InvalidTotp);
        }
        return Ok(Some("totp"));
    }
    if let Some(code) = presented.recovery_code.as_deref() {
        if !rapport_store::totp::use_recovery_code(conn, staff, &code_hash(code))? {
            return Err(UseCaseError::InvalidTotp);
        }
        return Ok(Some("recovery_code"));
    }
    Err(UseCaseError::TotpRequired)
}
