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
        )
        .map_err(|e| match e {
            rapport_store::StoreError::Conflict(what) => UseCaseError::Conflict(what),
            other => UseCaseError::Store(other),
        })?;
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
