//! Staff members: creation and their audit stream.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rapport_audit::{Actor, StreamName};
use rapport_domain::{EmailAddress, PersonName, StaffId, StaffRole};
use rapport_store::Store;
use rapport_store::staff::{self, NewStaff, Staff};
use serde_json::json;

use super::{UseCaseError, record};
use crate::auth::password;
use crate::changes::Change;
use crate::state::AppState;

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

/// Hours an invitation link works.
pub const INVITATION_HOURS: i64 = 72;

/// Creates a staff member with a one-time password, returned once: the
/// first sign-in must replace it. For the very first admin (`rapport admin
/// create`), who has nobody to invite them.
pub fn create_with_one_time_password(
    store: &Store,
    actor: Actor,
    input: CreateStaff,
    via: &str,
) -> Result<(Staff, String), UseCaseError> {
    let one_time = one_time_password()?;
    let created = insert_staff(store, actor, input, via, &one_time, true)?;
    Ok((created, one_time))
}

pub(super) fn insert_staff(
    store: &Store,
    actor: Actor,
    input: CreateStaff,
    via: &str,
    password: &str,
    password_change_required: bool,
) -> Result<Staff, UseCaseError> {
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
    let hash = password::hash(password).map_err(|e| UseCaseError::Internal(e.to_string()))?;
    store.write(|conn| {
        let created = staff::insert(
            conn,
            NewStaff {
                email,
                name,
                display_name,
                role: input.role,
                password_hash: hash,
                password_change_required,
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
    })
}

pub(super) fn one_time_password() -> Result<String, UseCaseError> {
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
    state: &AppState,
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
    super::commit(state, |conn, committed| {
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
            committed.push(Change::StaffChanged(updated.clone()));
        }
        Ok(updated)
    })
}

fn admin_actor(who: &rapport_domain::Principal) -> Result<Actor, UseCaseError> {
    rapport_domain::authorize(who, rapport_domain::Permission::ManageStaff)
        .map_err(|_| UseCaseError::Forbidden)?;
    let rapport_domain::Principal::Staff { id, .. } = who else {
        return Err(UseCaseError::Forbidden);
    };
    Ok(Actor::new(rapport_audit::ActorKind::Staff, id)?)
}

/// An admin adds a staff member, who is emailed an invitation: a link,
/// good once and for [`INVITATION_HOURS`], to choose their own password.
/// Nobody else ever knows a password of theirs. Returns when the link
/// expires.
pub fn invite(
    state: &AppState,
    who: &rapport_domain::Principal,
    input: CreateStaff,
) -> Result<(Staff, DateTime<Utc>), UseCaseError> {
    let actor = admin_actor(who)?;
    // Until the invitation is used, the account has a password nobody knows.
    let unusable = one_time_password()?;
    let created = insert_staff(
        &state.store,
        actor.clone(),
        input,
        "invitation",
        &unusable,
        false,
    )?;
    let expires = send_invitation(state, actor, &created)?;
    Ok((created, expires))
}

/// Sends a staff member a new invitation (the earlier links stop working):
/// for someone whose link expired, or who forgot their password.
pub fn reinvite(
    state: &AppState,
    who: &rapport_domain::Principal,
    id: StaffId,
) -> Result<(Staff, DateTime<Utc>), UseCaseError> {
    let actor = admin_actor(who)?;
    let found = staff::find(&mut *state.store.conn()?, id)?
        .ok_or(UseCaseError::NotFound("staff member"))?;
    if !found.active {
        return Err(UseCaseError::Validation {
            field: "active",
            message: "is false: reactivate the staff member before inviting them".into(),
        });
    }
    let expires = send_invitation(state, actor, &found)?;
    Ok((found, expires))
}

fn send_invitation(
    state: &AppState,
    actor: Actor,
    to: &Staff,
) -> Result<DateTime<Utc>, UseCaseError> {
    let token = crate::auth::token::new_opaque_token()
        .map_err(|e| UseCaseError::Internal(format!("no randomness: {e}")))?;
    let expires = Utc::now() + chrono::Duration::hours(INVITATION_HOURS);
    let desk = &state.config.settings.instance.name;
    let link = format!("{}/welcome?token={token}", state.public_url());
    let body = format!(
        "Hello {},\n\nYou have been added to {desk} as an {}. Choose your password here:\n\n{link}\n\n\
         The link works once and for {INVITATION_HOURS} hours. If it has expired, ask an administrator for a new one.\n",
        to.display_name.as_str(),
        to.role.as_str(),
    );
    state.store.write(|conn| {
        rapport_store::staff_invitation::replace(
            conn,
            &crate::auth::token::opaque_token_hash(&token),
            to.id,
            expires,
        )?;
        super::mail::enqueue_magic_link(
            conn,
            state,
            rapport_mail::Mailbox {
                name: Some(to.display_name.as_str().to_owned()),
                address: to.email.as_str().to_owned(),
            },
            &format!("Your invitation to {desk}"),
            &body,
        )?;
        record(
            conn,
            stream(to.id),
            actor,
            "staff.invited",
            ("staff", Some(&to.id.to_string())),
            json!({"email": to.email.as_str(), "expires_at": expires}),
        )?;
        Ok::<_, UseCaseError>(())
    })?;
    state.mail.wake();
    Ok(expires)
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
