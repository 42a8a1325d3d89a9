//! Satisfaction surveys: one per case, asked at its first resolution,
//! answered once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, CaseId, StaffId, TeamId};

use crate::column::{OptText, OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::csat_surveys;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = csat_surveys)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Survey {
    pub id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub case_id: CaseId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub account_id: AccountId,
    #[diesel(deserialize_as = OptText<TeamId>, serialize_as = OptText<TeamId>)]
    pub team_id: Option<TeamId>,
    #[diesel(deserialize_as = OptText<StaffId>, serialize_as = OptText<StaffId>)]
    pub agent_id: Option<StaffId>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub requested_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub expires_at: DateTime<Utc>,
    pub rating: Option<i32>,
    pub comment: Option<String>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub answered_at: Option<DateTime<Utc>>,
    /// The contact who answered.
    pub answered_by: Option<String>,
    pub answered_via: Option<String>,
}

pub fn insert(conn: &mut DbConnection, s: &Survey) -> Result<(), StoreError> {
    diesel::insert_into(csat_surveys::table)
        .values(Survey {
            id: s.id.clone(),
            rating: None,
            comment: None,
            answered_at: None,
            answered_by: None,
            answered_via: None,
            ..s.clone()
        })
        .execute(conn)?;
    Ok(())
}

pub fn for_case(conn: &mut DbConnection, case: CaseId) -> Result<Option<Survey>, StoreError> {
    Ok(csat_surveys::table
        .filter(csat_surveys::case_id.eq(case.to_string()))
        .select(Survey::as_select())
        .first(conn)
        .optional()?)
}

pub fn for_cases(conn: &mut DbConnection, cases: &[CaseId]) -> Result<Vec<Survey>, StoreError> {
    let keys: Vec<String> = cases.iter().map(ToString::to_string).collect();
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        out.extend(
            csat_surveys::table
                .filter(csat_surveys::case_id.eq_any(chunk))
                .select(Survey::as_select())
                .load(conn)?,
        );
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
