//! What reports are computed from: response times recorded as they
//! happen, and the facts of the cases, clocks and surveys in a period,
//! selected by account, tier, team and agent.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use rapport_domain::{AccountId, CaseId, StaffId, TeamId};

use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::raw::RawQuery;
use crate::schema::{case_responses, case_waits};

/// Notes that a client message waits for an answer, unless an earlier one
/// already does (the wait counts from the oldest unanswered message).
pub fn start_wait(
    conn: &mut DbConnection,
    case: CaseId,
    since: NaiveDateTime,
) -> Result<(), StoreError> {
    // An earlier unanswered message keeps its wait: the insert yields.
    let insert = || {
        diesel::insert_into(case_waits::table)
            .values((
                case_waits::case_id.eq(case.to_string()),
                case_waits::since.eq(since),
            ))
            .on_conflict_do_nothing()
    };
    on_backend!(conn, |c| insert().execute(c)?);
    Ok(())
}

/// Who answered a waiting client, and when.
#[derive(Debug, Clone)]
pub struct Answer {
    pub case: CaseId,
    pub account: AccountId,
    pub team: Option<TeamId>,
    pub agent: Option<StaffId>,
    /// Whether this is the case's first response.
    pub first: bool,
    pub at: NaiveDateTime,
}

/// Ends the case's wait, if any, recording how long it lasted.
pub fn end_wait(conn: &mut DbConnection, answer: &Answer) -> Result<(), StoreError> {
    let key = answer.case.to_string();
    let since: Option<NaiveDateTime> = case_waits::table
        .find(&key)
        .select(case_waits::since)
        .first(conn)
        .optional()?;
    let Some(since) = since else {
        return Ok(());
    };
    diesel::delete(case_waits::table.find(&key)).execute(conn)?;
    diesel::insert_into(case_responses::table)
        .values((
            case_responses::id.eq(uuid::Uuid::now_v7().to_string()),
            case_responses::case_id.eq(&key),
            case_responses::account_id.eq(answer.account.to_string()),
            case_responses::team_id.eq(answer.team.map(|t| t.to_string())),
            case_responses::agent_id.eq(answer.agent.map(|a| a.to_string())),
            case_responses::kind.eq(if answer.first { "first" } else { "next" }),
            case_responses::waited_seconds.eq((answer.at - since).num_seconds().max(0)),
            case_responses::responded_at.eq(answer.at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a merged case's wait to the surviving case (keeping the older).
pub fn move_wait(conn: &mut DbConnection, from: CaseId, to: CaseId) -> Result<(), StoreError> {
    let since: Option<NaiveDateTime> = case_waits::table
        .find(from.to_string())
        .select(case_waits::since)
        .first(conn)
        .optional()?;
    if let Some(since) = since {
        diesel::delete(case_waits::table.find(from.to_string())).execute(conn)?;
        let current: Option<NaiveDateTime> = case_waits::table
            .find(to.to_string())
            .select(case_waits::since)
            .first(conn)
            .optional()?;
        match current {
            Some(c) if c <= since => {}
            Some(_) => {
                diesel::update(case_waits::table.find(to.to_string()))
                    .set(case_waits::since.eq(since))
                    .execute(conn)?;
            }
            None => start_wait(conn, to, since)?,
        }
    }
    Ok(())
}

/// Which data a report covers. Times are UTC; the period is `[from, to)`.
#[derive(Debug, Clone)]
pub struct Selection {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    /// Only these accounts (an account and its subsidiaries: a group's
    /// figures roll up to its parent company).
    pub accounts: Option<Vec<AccountId>>,
    pub tier: Option<String>,
    /// Cases owned by this team; answers and ratings credited to it.
    pub team: Option<TeamId>,
    /// Cases assigned to this agent; answers and ratings credited to them.
    pub agent: Option<StaffId>,
    /// Only accounts served by these teams (an agent's own view).
    pub served_by: Option<Vec<TeamId>>,
    /// Only the accounts this staff member owns.
    pub owner: Option<StaffId>,
    /// Only cases with this label (figures not about cases, such as
    /// deflected suggestions, are not narrowed by it).
    pub tag: Option<String>,
}

/// Conditions selecting rows of `alias` (which has `account_id`, and
/// `team`/`agent` columns as named) for `s`, period aside.
fn scope(
    q: &mut RawQuery,
    s: &Selection,
    (alias, case_id): (&str, &str),
    team: &str,
    agent: &str,
) -> String {
    let mut parts = Vec::new();
    if let (Some(tag), false) = (&s.tag, case_id.is_empty()) {
        // Labels are a JSON array of plain lowercase words.
        let quoted = format!("%{}%", serde_json::Value::String(tag.clone()));
        parts.push(format!(
            "{alias}.{case_id} IN (SELECT id FROM cases WHERE tags LIKE {})",
            q.bind(quoted)
        ));
    }
    if let Some(accounts) = &s.accounts {
        let list = if accounts.is_empty() {
            "(NULL)".to_owned()
        } else {
            q.list(accounts.iter().map(ToString::to_string))
        };
        parts.push(format!("{alias}.account_id IN {list}"));
    }
    if let Some(t) = &s.tier {
        parts.push(format!(
            "{alias}.account_id IN (SELECT id FROM accounts WHERE tier = {})",
            q.bind(t.clone())
        ));
    }
    if let Some(t) = s.team {
        parts.push(format!("{alias}.{team} = {}", q.bind(t.to_string())));
    }
    if let Some(a) = s.agent {
        parts.push(format!("{alias}.{agent} = {}", q.bind(a.to_string())));
    }
    if let Some(o) = s.owner {
        parts.push(format!(
            "{alias}.account_id IN (SELECT id FROM accounts WHERE owner_id = {})",
            q.bind(o.to_string())
        ));
    }
    if let Some(teams) = &s.served_by {
        let list = if teams.is_empty() {
            "(NULL)".to_owned()
        } else {
            q.list(teams.iter().map(ToString::to_string))
        };
        parts.push(format!(
            "{alias}.account_id IN (SELECT id FROM accounts WHERE team_id IN {list})"
        ));
    }
    if parts.is_empty() {
        "1 = 1".to_owned()
    } else {
        parts.join(" AND ")
    }
}

/// A report reads at most this many rows per fact kind; the loaders return
/// one more when there are more, so that the caller can refuse rather than
/// report on part of the data.
pub const MAX_ROWS: usize = 5_000_000;
const LOAD_LIMIT: i64 = MAX_ROWS as i64 + 1;

/// One case as reports see it.
#[derive(Debug, Clone, QueryableByName)]
pub struct CaseFact {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub category: Option<String>,
    #[diesel(sql_type = Integer)]
    pub reopen_count: i32,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub resolved_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub closed_at: Option<NaiveDateTime>,
}

/// Cases of the selection that were created or resolved in the period, or
/// are still open (the backlog), merged ones left out.
pub fn cases(conn: &mut DbConnection, s: &Selection) -> Result<Vec<CaseFact>, StoreError> {
    let mut q = RawQuery::new(conn);
    let (from, to) = (q.bind_time(s.from), q.bind_time(s.to));
    let (from2, to2) = (q.bind_time(s.from), q.bind_time(s.to));
    let (from3, to3) = (q.bind_time(s.from), q.bind_time(s.to));
    let scope = scope(&mut q, s, ("c", "id"), "team_id", "assignee_id");
    q.sql = format!(
        "SELECT c.id, c.account_id, c.status, c.channel, c.category, c.reopen_count, \
         c.created_at, c.resolved_at, c.closed_at FROM cases c \
         WHERE c.merged_into_id IS NULL AND {scope} AND ( \
         (c.created_at >= {from} AND c.created_at < {to}) \
         OR (c.resolved_at >= {from2} AND c.resolved_at < {to2}) \
         OR (c.resolved_at IS NULL AND c.closed_at >= {from3} AND c.closed_at < {to3}) \
         OR c.status NOT IN ('resolved', 'closed'))"
    );
    q.load(conn, LOAD_LIMIT)
}

/// One answer to a waiting client.
#[derive(Debug, Clone, QueryableByName)]
pub struct ResponseFact {
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub waited_seconds: i64,
}

/// Answers given in the period.
pub fn responses(conn: &mut DbConnection, s: &Selection) -> Result<Vec<ResponseFact>, StoreError> {
    let mut q = RawQuery::new(conn);
    let (from, to) = (q.bind_time(s.from), q.bind_time(s.to));
    let scope = scope(&mut q, s, ("r", "case_id"), "team_id", "agent_id");
    q.sql = format!(
        "SELECT r.account_id, r.kind, r.waited_seconds FROM case_responses r \
         WHERE r.responded_at >= {from} AND r.responded_at < {to} AND {scope}"
    );
    q.load(conn, LOAD_LIMIT)
}

/// One SLA clock's outcome.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClockFact {
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Text)]
    pub clock: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub stopped_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub breached_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Timestamp)]
    pub due_at: NaiveDateTime,
}

/// SLA clocks started in the period on the selection's cases.
pub fn clocks(conn: &mut DbConnection, s: &Selection) -> Result<Vec<ClockFact>, StoreError> {
    let mut q = RawQuery::new(conn);
    let (from, to) = (q.bind_time(s.from), q.bind_time(s.to));
    let scope = scope(&mut q, s, ("c", "id"), "team_id", "assignee_id");
    q.sql = format!(
        "SELECT k.account_id, k.clock, k.stopped_at, k.breached_at, k.due_at FROM sla_clocks k \
         JOIN cases c ON c.id = k.case_id \
         WHERE k.started_at >= {from} AND k.started_at < {to} AND {scope}"
    );
    q.load(conn, LOAD_LIMIT)
}

/// One answered satisfaction survey.
#[derive(Debug, Clone, QueryableByName)]
pub struct RatingFact {
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub team_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub agent_id: Option<String>,
    #[diesel(sql_type = Integer)]
    pub rating: i32,
}

/// Survey answers given in the period.
pub fn ratings(conn: &mut DbConnection, s: &Selection) -> Result<Vec<RatingFact>, StoreError> {
    let mut q = RawQuery::new(conn);
    let (from, to) = (q.bind_time(s.from), q.bind_time(s.to));
    let scope = scope(&mut q, s, ("v", "case_id"), "team_id", "agent_id");
    q.sql = format!(
        "SELECT v.account_id, v.team_id, v.agent_id, v.rating FROM csat_surveys v \
         WHERE v.answered_at >= {from} AND v.answered_at < {to} AND v.rating IS NOT NULL AND {scope}"
    );
    q.load(conn, LOAD_LIMIT)
}

#[derive(Debug, QueryableByName)]
struct AccountCount {
    #[diesel(sql_type = Text)]
    account_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many surveys were asked in the period (answered or not), per account.
pub fn surveys_asked(
    conn: &mut DbConnection,
    s: &Selection,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut q = RawQuery::new(conn);
    let (from, to) = (q.bind_time(s.from), q.bind_time(s.to));
    let scope = scope(&mut q, s, ("v", "case_id"), "team_id", "agent_id");
    q.sql = format!(
        "SELECT v.account_id AS account_id, COUNT(*) AS n FROM csat_surveys v \
         WHERE v.requested_at >= {from} AND v.requested_at < {to} AND {scope} GROUP BY v.account_id"
    );
    let rows: Vec<AccountCount> = q.load(conn, LOAD_LIMIT)?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.n)).collect())
}

#[derive(Debug, QueryableByName)]
struct OutcomeCount {
    #[diesel(sql_type = Text)]
    account_id: String,
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Knowledge base suggestions made in the period, counted by account and
/// outcome (`shown`: left without a decision, `deflected`, `continued`).
/// Team and agent filters do not apply: suggestions come before any case.
pub fn deflections(
    conn: &mut DbConnection,
    s: &Selection,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let accounts_only = Selection {
        team: None,
        agent: None,
        ..s.clone()
    };
    let mut q = RawQuery::new(conn);
    let (from, to) = (q.bind_time(s.from), q.bind_time(s.to));
    let scope = scope(&mut q, &accounts_only, ("k", ""), "", "");
    q.sql = format!(
        "SELECT k.account_id AS account_id, k.outcome AS outcome, COUNT(*) AS n FROM kb_suggestions k \
         WHERE k.created_at >= {from} AND k.created_at < {to} AND {scope} \
         GROUP BY k.account_id, k.outcome"
    );
    let rows: Vec<OutcomeCount> = q.load(conn, LOAD_LIMIT)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.account_id, r.outcome, r.n))
        .collect())
}

/// When the account's contacts last wrote, and when its team last answered
/// them (internal notes and system events aside).
pub fn last_exchange(
    conn: &mut DbConnection,
    accounts: &[AccountId],
) -> Result<(Option<NaiveDateTime>, Option<NaiveDateTime>), StoreError> {
    use crate::schema::case_entries;
    let ids: Vec<String> = accounts.iter().map(ToString::to_string).collect();
    let last = |conn: &mut DbConnection, author: &str| {
        case_entries::table
            .filter(case_entries::account_id.eq_any(ids.clone()))
            .filter(case_entries::author_kind.eq(author.to_owned()))
            .filter(case_entries::kind.ne("note"))
            .select(diesel::dsl::max(case_entries::created_at))
            .first::<Option<NaiveDateTime>>(conn)
    };
    Ok((last(conn, "contact")?, last(conn, "staff")?))
}
