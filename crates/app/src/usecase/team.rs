//! Teams: admins shape them; every staff member can see them.

use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{Permission, Principal, StaffId, TeamId, TeamRole, authorize};
use rapport_store::Store;
use rapport_store::team::{self, Team};
use serde_json::json;

use super::input::text;
use super::{UseCaseError, record};
use crate::changes::Change;
use crate::state::AppState;

pub(super) fn stream(id: TeamId) -> StreamName {
    StreamName::parse(&format!("team:{id}")).unwrap_or_else(|_| StreamName::system())
}

fn admin(who: &Principal) -> Result<Actor, UseCaseError> {
    authorize(who, Permission::ManageStaff).map_err(|_| UseCaseError::Forbidden)?;
    match who {
        Principal::Staff { id, .. } => Ok(Actor::new(ActorKind::Staff, id)?),
        Principal::Contact { .. } | Principal::ApiToken { .. } => Err(UseCaseError::Forbidden),
    }
}

pub fn list(store: &Store, who: &Principal) -> Result<Vec<Team>, UseCaseError> {
    authorize(who, Permission::ListStaff).map_err(|_| UseCaseError::Forbidden)?;
    Ok(team::list(&mut *store.conn()?)?)
}

pub fn get(store: &Store, who: &Principal, id: TeamId) -> Result<Team, UseCaseError> {
    authorize(who, Permission::ListStaff).map_err(|_| UseCaseError::Forbidden)?;
    team::find(&mut *store.conn()?, id)?.ok_or(UseCaseError::NotFound("team"))
}

pub fn create(store: &Store, who: &Principal, name: &str) -> Result<Team, UseCaseError> {
    let actor = admin(who)?;
    let name = text("name", name, 100)?;
    store.write(|conn| {
        let created = team::insert(conn, &name)?;
        record(
            conn,
            stream(created.id),
            actor,
            "team.created",
            ("team", Some(&created.id.to_string())),
            json!({"name": name}),
        )?;
        Ok(created)
    })
}

pub fn rename(
    store: &Store,
    who: &Principal,
    id: TeamId,
    name: &str,
) -> Result<Team, UseCaseError> {
    let actor = admin(who)?;
    let name = text("name", name, 100)?;
    store.write(|conn| {
        let before = team::find(conn, id)?.ok_or(UseCaseError::NotFound("team"))?;
        team::rename(conn, id, &name)?;
        record(
            conn,
            stream(id),
            actor,
            "team.renamed",
            ("team", Some(&id.to_string())),
            json!({"before": {"name": before.name}, "after": {"name": name}}),
        )?;
        team::find(conn, id)?.ok_or(UseCaseError::NotFound("team"))
    })
}

/// Adds a staff member to a team or changes their role in it.
pub fn set_member(
    state: &AppState,
    who: &Principal,
    id: TeamId,
    staff: StaffId,
    role: TeamRole,
) -> Result<Team, UseCaseError> {
    let actor = admin(who)?;
    super::commit(state, |conn, committed| {
        team::find(conn, id)?.ok_or(UseCaseError::NotFound("team"))?;
        let member = rapport_store::staff::find(conn, staff)?
            .ok_or(UseCaseError::NotFound("staff member"))?;
        if member.role == rapport_domain::StaffRole::Auditor {
            return Err(UseCaseError::Validation {
                field: "staff_id",
                message: "auditors do not join teams; they read everything already".into(),
            });
        }
        let previous = team::set_member(conn, id, staff, role)?;
        record(
            conn,
            stream(id),
            actor,
            "team.member_set",
            ("staff", Some(&staff.to_string())),
            json!({"before": {"role": previous.map(TeamRole::as_str)}, "after": {"role": role.as_str()}}),
        )?;
        // What the member may read follows their teams.
        committed.push(Change::StaffChanged(member));
        team::find(conn, id)?.ok_or(UseCaseError::NotFound("team"))
    })
}

pub fn remove_member(
    state: &AppState,
    who: &Principal,
    id: TeamId,
    staff: StaffId,
) -> Result<(), UseCaseError> {
    let actor = admin(who)?;
    super::commit(state, |conn, committed| {
        team::find(conn, id)?.ok_or(UseCaseError::NotFound("team"))?;
        if !team::remove_member(conn, id, staff)? {
            return Err(UseCaseError::NotFound("team member"));
        }
        record(
            conn,
            stream(id),
            actor,
            "team.member_removed",
            ("staff", Some(&staff.to_string())),
            json!({}),
        )?;
        if let Some(member) = rapport_store::staff::find(conn, staff)? {
            committed.push(Change::StaffChanged(member));
        }
        Ok(())
    })
}
