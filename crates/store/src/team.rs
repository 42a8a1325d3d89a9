//! Teams and their members.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rapport_domain::{StaffId, TeamId, TeamRole};

use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{team_members, teams};
use crate::time::now_micros;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = teams)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct TeamRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: TeamId,
    name: String,
    name_key: String,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = team_members)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct MemberRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    team_id: TeamId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    staff_id: StaffId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    role: TeamRole,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub staff_id: StaffId,
    pub role: TeamRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub members: Vec<TeamMember>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const NAME_TAKEN: &str = "a team with this name already exists";

fn assemble(row: TeamRow, members: Vec<MemberRow>) -> Team {
    Team {
        id: row.id,
        name: row.name,
        members: members
            .into_iter()
            .map(|m| TeamMember {
                staff_id: m.staff_id,
                role: m.role,
            })
            .collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn name_conflict(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Conflict(NAME_TAKEN)
        }
        other => other.into(),
    }
}

pub fn insert(conn: &mut DbConnection, name: &str) -> Result<Team, StoreError> {
    let now = now_micros().and_utc();
    let row = TeamRow {
        id: TeamId::new(),
        name: name.to_owned(),
        name_key: name.to_lowercase(),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(teams::table)
        .values(row.clone())
        .execute(conn)
        .map_err(name_conflict)?;
    Ok(assemble(row, Vec::new()))
}

pub fn rename(conn: &mut DbConnection, id: TeamId, name: &str) -> Result<(), StoreError> {
    let updated = diesel::update(teams::table.find(id.to_string()))
        .set((
            teams::name.eq(name),
            teams::name_key.eq(name.to_lowercase()),
            teams::updated_at.eq(now_micros()),
        ))
        .execute(conn)
        .map_err(name_conflict)?;
    if updated == 0 {
        return Err(StoreError::NotFound("team"));
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: TeamId) -> Result<Option<Team>, StoreError> {
    let Some(row) = teams::table
        .find(id.to_string())
        .select(TeamRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let members = team_members::table
        .filter(team_members::team_id.eq(row.id.to_string()))
        .order(team_members::added_at.asc())
        .select(MemberRow::as_select())
        .load(conn)?;
    Ok(Some(assemble(row, members)))
}

/// The team of a case or account that may have none.
pub fn find_if_any(
    conn: &mut DbConnection,
    id: Option<TeamId>,
) -> Result<Option<Team>, StoreError> {
    id.map_or(Ok(None), |id| find(conn, id))
}

/// Every team with its members, by name. Teams are few (tens).
pub fn list(conn: &mut DbConnection) -> Result<Vec<Team>, StoreError> {
    let rows = teams::table
        .order(teams::name_key.asc())
        .select(TeamRow::as_select())
        .load(conn)?;
    let mut members = team_members::table
        .order(team_members::added_at.asc())
        .select(MemberRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                members.drain(..).partition(|m| m.team_id == row.id);
            members = rest;
            assemble(row, mine)
        })
        .collect())
}

/// Adds `staff` to the team, or changes their role there. Returns the
/// previous role, if any.
pub fn set_member(
    conn: &mut DbConnection,
    team: TeamId,
    staff: StaffId,
    role: TeamRole,
) -> Result<Option<TeamRole>, StoreError> {
    let key = (team.to_string(), staff.to_string());
    let previous: Option<String> = team_members::table
        .find((&key.0, &key.1))
        .select(team_members::role)
        .first(conn)
        .optional()?;
    match &previous {
        Some(_) => {
            diesel::update(team_members::table.find((&key.0, &key.1)))
                .set(team_members::role.eq(role.as_str()))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(team_members::table)
                .values(MemberRow {
                    team_id: team,
                    staff_id: staff,
                    role,
                    added_at: now_micros().and_utc(),
                })
                .execute(conn)?;
        }
    }
    Ok(previous.and_then(|r| TeamRole::parse(&r)))
}

/// Removes `staff` from the team; false when they were not a member.
pub fn remove_member(
    conn: &mut DbConnection,
    team: TeamId,
    staff: StaffId,
) -> Result<bool, StoreError> {
    let removed = diesel::delete(team_members::table.find((team.to_string(), staff.to_string())))
        .execute(conn)?;
    Ok(removed > 0)
}

/// The teams a staff member belongs to.
pub fn teams_of(conn: &mut DbConnection, staff: StaffId) -> Result<Vec<TeamId>, StoreError> {
    team_members::table
        .filter(team_members::staff_id.eq(staff.to_string()))
        .select(team_members::team_id)
        .order(team_members::team_id.asc())
        .load::<String>(conn)?
        .into_iter()
        .map(|id| Ok(TeamId::try_from(id)?))
        .collect()
}

/// The team with this name, compared case-insensitively.
pub fn find_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Team>, StoreError> {
    let id: Option<String> = teams::table
        .filter(teams::name_key.eq(name.to_lowercase()))
        .select(teams::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => find(conn, TeamId::try_from(id)?),
        None => Ok(None),
    }
}
