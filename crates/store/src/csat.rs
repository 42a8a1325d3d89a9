//! Satisfaction surveys: one per case, asked at its first resolution,
//! answered once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, CaseId, StaffId, TeamId};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::csat_surveys;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = csat_surveys)]
struct Row {
    id: String,
    case_id: String,
    account_id: String,
    team_id: Option<String>,
    agent_id: Option<String>,
    requested_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    rating: Option<i32>,
    comment: Option<String>,
    answered_at: Option<NaiveDateTime>,
    answered_by: Option<String>,
    answered_via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    pub id: String,
    pub case_id: CaseId,
    pub account_id: AccountId,
    pub team_id: Option<TeamId>,
    pub agent_id: Option<StaffId>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub rating: Option<i32>,
    pub comment: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    /// The contact who answered.
    pub answered_by: Option<String>,
    pub answered_via: Option<String>,
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("csat_surveys: row".into())
}

fn from_row(r: Row) -> Result<Survey, StoreError> {
    Ok(Survey {
        id: r.id,
        case_id: r.case_id.parse().map_err(|_| corrupt())?,
        account_id: r.account_id.parse().map_err(|_| corrupt())?,
        team_id: r
            .team_id
            .map(|t| t.parse().map_err(|_| corrupt()))
            .transpose()?,
        agent_id: r
            .agent_id
            .map(|t| t.parse().map_err(|_| corrupt()))
            .transpose()?,
        requested_at: r.requested_at.and_utc(),
        expires_at: r.expires_at.and_utc(),
        rating: r.rating,
        comment: r.comment,
        answered_at: r.answered_at.map(|t| t.and_utc()),
        answered_by: r.answered_by,
        answered_via: r.answered_via,
    })
}

pub fn insert(conn: &mut DbConnection, s: &Survey) -> Result<(), StoreError> {
    diesel::insert_into(csat_surveys::table)
        .values(Row {
            id: s.id.clone(),
            case_id: s.case_id.to_string(),
            account_id: s.account_id.to_string(),
            team_id: s.team_id.map(|t| t.to_string()),
            agent_id: s.agent_id.map(|t| t.to_string()),
            requested_at: s.requested_at.naive_utc(),
            expires_at: s.expires_at.naive_utc(),
            rating: None,
            comment: None,
            answered_at: None,
            answered_by: None,
            answered_via: None,
        })
        .execute(conn)?;
    Ok(())
}

pub fn for_case(conn: &mut DbConnection, case: CaseId) -> Result<Option<Survey>, StoreError> {
    csat_surveys::table
        .filter(csat_surveys::case_id.eq(case.to_string()))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

pub fn for_cases(conn: &mut DbConnection, cases: &[CaseId]) -> Result<Vec<Survey>, StoreError> {
    let keys: Vec<String> = cases.iter().map(ToString::to_string).collect();
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let rows: Vec<Row> = csat_surveys::table
            .filter(csat_surveys::case_id.eq_any(chunk))
            .select(Row::as_select())
            .load(conn)?;
        for r in rows {
            out.push(from_row(r)?);
        }
    }
    Ok(out)
}

/// Stores the answer unless the survey was answered already; returns
/// whether this call answered it.
pub fn answer(
    conn: &mut DbConnection,
    id: &str,
    rating: i32,
    comment: Option<&str>,
    by: &str,
    via: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        csat_surveys::table
            .find(id)
            .filter(csat_surveys::answered_at.is_null()),
    )
    .set((
        csat_surveys::rating.eq(Some(rating)),
        csat_surveys::comment.eq(comment),
        csat_surveys::answered_at.eq(Some(crate::time::now_micros())),
        csat_surveys::answered_by.eq(Some(by)),
        csat_surveys::answered_via.eq(Some(via)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
