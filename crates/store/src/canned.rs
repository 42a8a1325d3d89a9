//! Canned responses: answers agents insert in the composer, for everyone
//! or for one team.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CannedResponseId, StaffId, TeamId};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::canned_responses;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = canned_responses)]
#[diesel(treat_none_as_null = true)]
struct Row {
    id: String,
    team_id: Option<String>,
    title: String,
    body: String,
    created_by: String,
    updated_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    actions: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedResponse {
    pub id: CannedResponseId,
    /// `None`: for every agent.
    pub team_id: Option<TeamId>,
    pub title: String,
    /// Text with placeholders such as `{{contact.name}}`.
    pub body: String,
    pub created_by: StaffId,
    pub updated_by: StaffId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What inserting it also does to the case (a macro), as JSON:
    /// `{"status": …, "priority": …, "add_tags": […]}`; `{}` for none.
    pub actions: serde_json::Value,
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("canned_responses: row".into())
}

fn from_row(r: Row) -> Result<CannedResponse, StoreError> {
    Ok(CannedResponse {
        id: r.id.parse().map_err(|_| corrupt())?,
        team_id: r
            .team_id
            .map(|t| t.parse().map_err(|_| corrupt()))
            .transpose()?,
        title: r.title,
        body: r.body,
        created_by: r.created_by.parse().map_err(|_| corrupt())?,
        updated_by: r.updated_by.parse().map_err(|_| corrupt())?,
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
        actions: serde_json::from_str(&r.actions).map_err(|_| corrupt())?,
    })
}

fn to_row(c: &CannedResponse) -> Row {
    Row {
        id: c.id.to_string(),
        team_id: c.team_id.map(|t| t.to_string()),
        title: c.title.clone(),
        body: c.body.clone(),
        created_by: c.created_by.to_string(),
        updated_by: c.updated_by.to_string(),
        created_at: c.created_at.naive_utc(),
        updated_at: c.updated_at.naive_utc(),
        actions: c.actions.to_string(),
    }
}

pub fn insert(conn: &mut DbConnection, c: &CannedResponse) -> Result<(), StoreError> {
    diesel::insert_into(canned_responses::table)
        .values(to_row(c))
        .execute(conn)?;
    Ok(())
}

pub fn save(conn: &mut DbConnection, c: &CannedResponse) -> Result<(), StoreError> {
    let row = to_row(c);
    diesel::update(canned_responses::table.find(&row.id))
        .set(&row)
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: CannedResponseId) -> Result<bool, StoreError> {
    Ok(diesel::delete(canned_responses::table.find(id.to_string())).execute(conn)? == 1)
}

pub fn find(
    conn: &mut DbConnection,
    id: CannedResponseId,
) -> Result<Option<CannedResponse>, StoreError> {
    canned_responses::table
        .find(id.to_string())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

/// The global responses and those of `teams` (`None`: every team's), by title.
pub fn list(
    conn: &mut DbConnection,
    teams: Option<&[TeamId]>,
) -> Result<Vec<CannedResponse>, StoreError> {
    let mut query = canned_responses::table
        .select(Row::as_select())
        .order((canned_responses::title, canned_responses::id))
        .into_boxed();
    if let Some(teams) = teams {
        let keys: Vec<String> = teams.iter().map(ToString::to_string).collect();
        query = query.filter(
            canned_responses::team_id
                .is_null()
                .or(canned_responses::team_id.eq_any(keys)),
        );
    }
    query.load(conn)?.into_iter().map(from_row).collect()
}
