//! Canned responses: answers agents insert in the composer, for everyone
//! or for one team.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CannedResponseId, StaffId, TeamId};
use serde_json::Value;

use crate::column::{JsonText, OptText, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::canned_responses;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = canned_responses, treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct CannedResponse {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: CannedResponseId,
    /// `None`: for every agent.
    #[diesel(deserialize_as = OptText<TeamId>, serialize_as = OptText<TeamId>)]
    pub team_id: Option<TeamId>,
    pub title: String,
    /// Text with placeholders such as `{{contact.name}}`.
    pub body: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub created_by: StaffId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub updated_by: StaffId,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub updated_at: DateTime<Utc>,
    /// What inserting it also does to the case (a macro), as JSON:
    /// `{"status": …, "priority": …, "add_tags": […]}`; `{}` for none.
    #[diesel(deserialize_as = JsonText<Value>, serialize_as = JsonText<Value>)]
    pub actions: Value,
}

pub fn insert(conn: &mut DbConnection, c: &CannedResponse) -> Result<(), StoreError> {
    diesel::insert_into(canned_responses::table)
        .values(c.clone())
        .execute(conn)?;
    Ok(())
}

pub fn save(conn: &mut DbConnection, c: &CannedResponse) -> Result<(), StoreError> {
    diesel::update(canned_responses::table.find(c.id.to_string()))
        .set(c.clone())
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
    Ok(canned_responses::table
        .find(id.to_string())
        .select(CannedResponse::as_select())
        .first(conn)
        .optional()?)
}

/// The global responses and those of `teams` (`None`: every team's), by title.
pub fn list(
    conn: &mut DbConnection,
    teams: Option<&[TeamId]>,
) -> Result<Vec<CannedResponse>, StoreError> {
    let mut query = canned_responses::table
        .select(CannedResponse::as_select())
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
    Ok(query.load(conn)?)
}
