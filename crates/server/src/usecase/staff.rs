//! Staff members: creation and their audit stream.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rapport_audit::{Actor, StreamName};
use rapport_domain::{EmailAddress, PersonName, StaffId, StaffRole};
use rapport_store::Store;
use rapport_store::staff::{self, NewStaff, Staff};
use serde_json::json;

use super::{UseCaseError, record};
use crate::auth::password;

/// The audit stream of one staff member: sign-ins, password and role changes.
pub fn stream(id: StaffId) -> StreamName {
    StreamName::parse(&format!("staff:{id}")).unwrap_or_else(|_| StreamName::system())
}

/// A new staff member, before validation.
#[derive(Debug, Clone)]
pub struct CreateStaff {
    pub email: String,
    pub name: String,
    pub display_name: Option<String>,
    pub role: StaffRole,
}

/// Creates a staff member with a one-time password, returned once: the
/// first sign-in must replace it.
pub fn create_with_one_time_password(
    store: &Store,
    actor: Actor,
    input: CreateStaff,
    via: &str,
) -> Result<(Staff, String), UseCaseError> {
    let email = EmailAddress::parse(&input.email).map_err(|e| UseCaseError::Validation {
        field: "email",
        message: e.to_string(),
    })?;
    let name = PersonName::parse(&input.name).map_err(|e| UseCaseError::Validation {
        field: "name",
        message: e.to_string(),
    })?;
    let display_name = match &input.display_name {
        Some(d) => PersonName::parse(d).map_err(|e| UseCaseError::Validation {
            field: "display_name",
            message: e.to_string(),
        })?,
        None => name.clone(),
    };
    let one_time = one_time_password()?;
    let hash = password::hash(&one_time).map_err(|e| UseCaseError::Internal(e.to_string()))?;
    let created = store.write(|conn| {
        let created = staff::insert(
            conn,
            NewStaff {
                email,
                name,
                display_name,
                role: input.role,
                password_hash: hash,
                password_change_required: true,
            },
        )?;
        record(
            conn,
            stream(created.id),
            actor,
            "staff.created",
            ("staff", Some(&created.id.to_string())),
            json!({
                "email": created.email.as_str(),
                "name": created.name.as_str(),
                "role": created.role.as_str(),
                "via": via,
            }),
        )?;
        Ok::<_, UseCaseError>(created)
    })?;
    Ok((created, one_time))
}

fn one_time_password() -> Result<String, UseCaseError> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes)
        .map_err(|e| UseCaseError::Internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Changes to a staff member; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct StaffChanges {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<Option<String>>,
    pub role: Option<StaffRole>,
    pub active: Option<bool>,
}

/// Admins change staff. Deactivation and role changes revoke the person's
/// sign-ins so they take effect at the next refresh.
pub fn update(
    store: &Store,
    who: &rapport_domain::Principal,
    id: StaffId,
    changes: StaffChanges,
) -> Result<Staff, UseCaseError> {
    use super::input::{field, url};
    rapport_domain::authorize(who, rapport_domain::Permission::ManageStaff)
        .map_err(|_| UseCaseError::Forbidden)?;
    let actor = match who {
        rapport_domain::Principal::Staff { id, .. } => {
            Actor::new(rapport_audit::ActorKind::Staff, id)?
        }
        _ => return Err(UseCaseError::Forbidden),
    };
    if matches!(who, rapport_domain::Principal::Staff { id: me, .. } if *me == id)
        && (changes.active == Some(false) || changes.role.is_some_and(|r| r != StaffRole::Admin))
    {
        return Err(UseCaseError::Validation {
            field: "active",
            message: "an admin cannot deactivate or demote themself; ask another admin".into(),
        });
    }
    store.write(|conn| {
        let current = staff::find(conn, id)?.ok_or(UseCaseError::NotFound("staff member"))?;
        let profile = staff::StaffProfile {
            name: match &changes.name {
                Some(n) => field("name", PersonName::parse(n))?,
                None => current.name.clone(),
            },
            display_name: match &changes.display_name {
                Some(n) => field("display_name", PersonName::parse(n))?,
                None => current.display_name.clone(),
            },
            avatar_url: match &changes.avatar_url {
                Some(u) => url("avatar_url", u.as_deref())?,
                None => current.avatar_url.clone(),
            },
            role: changes.role.unwrap_or(current.role),
            active: changes.active.unwrap_or(current.active),
        };
        let updated = staff::update_profile(conn, id, &profile)?;
        if updated.role != current.role || (current.active && !updated.active) {
            rapport_store::session::revoke_subject(
                conn,
                rapport_store::session::SubjectKind::Staff,
                &id.to_string(),
            )?;
        }
        let snapshot = |s: &Staff| {
            json!({
                "name": s.name.as_str(),
                "display_name": s.display_name.as_str(),
                "avatar_url": s.avatar_url,
                "role": s.role.as_str(),
                "active": s.active,
            })
        };
        if let Some(data) = super::changes(&snapshot(&current), &snapshot(&updated)) {
            record(
                conn,
                stream(id),
                actor,
                "staff.updated",
                ("staff", Some(&id.to_string())),
                data,
            )?;
        }
        Ok(updated)
    })
}

/// An admin creates a staff member over the API; like the CLI, the new
/// person gets a one-time password.
pub fn create(
    store: &Store,
    who: &rapport_domain::Principal,
    input: CreateStaff,
) -> Result<(Staff, String), UseCaseError> {
    rapport_domain::authorize(who, rapport_domain::Permission::ManageStaff)
        .map_err(|_| UseCaseError::Forbidden)?;
    let rapport_domain::Principal::Staff { id, .. } = who else {
        return Err(UseCaseError::Forbidden);
    };
    create_with_one_time_password(
        store,
        Actor::new(rapport_audit::ActorKind::Staff, id)?,
        input,
        "api",
    )
}

/// Any staff member sees the staff directory.
pub fn list(
    store: &Store,
    who: &rapport_domain::Principal,
    search: Option<&str>,
    after: Option<StaffId>,
    limit: i64,
) -> Result<Vec<Staff>, UseCaseError> {
    rapport_domain::authorize(who, rapport_domain::Permission::ListStaff)
        .map_err(|_| UseCaseError::Forbidden)?;
    Ok(staff::list(&mut *store.conn()?, search, after, limit)?)
}

pub fn get(
    store: &Store,
    who: &rapport_domain::Principal,
    id: StaffId,
) -> Result<Staff, UseCaseError> {
    rapport_domain::authorize(who, rapport_domain::Permission::ListStaff)
        .map_err(|_| UseCaseError::Forbidden)?;
    staff::find(&mut *store.conn()?, id)?.ok_or(UseCaseError::NotFound("staff member"))
}
