//! Reports and the account health view over HTTP, as JSON or CSV.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use rapport_domain::{AccountId, StaffId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::appointments::AppointmentView;
use super::cases::ClockStatsView;
use super::page::path_id;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::report::{self, Durations, Group, Ratings, Report, ReportQuery};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Start of the period, inclusive: a date (`2026-10-01`, midnight UTC)
    /// or an RFC 3339 time. Default: 30 days before `to`.
    pub from: Option<String>,
    /// End of the period, exclusive. Default: now.
    pub to: Option<String>,
    #[param(format = Uuid)]
    pub account_id: Option<String>,
    pub tier: Option<String>,
    #[param(format = Uuid)]
    pub team_id: Option<String>,
    #[param(format = Uuid)]
    pub agent_id: Option<String>,
    /// Accounts owned by this staff member.
    #[param(format = Uuid)]
    pub owner_id: Option<String>,
    /// Only cases with this label.
    pub tag: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn time(name: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Some(d.and_utc()))
        .ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "{name} must be a date (2026-10-01) or an RFC 3339 time"
            ))
        })
}

fn id<T: std::str::FromStr>(name: &str, raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.map(|r| {
        r.parse()
            .map_err(|_| ApiError::InvalidQuery(format!("{name} is not an id")))
    })
    .transpose()
}

fn query(p: &ReportParams) -> Result<ReportQuery, ApiError> {
    Ok(ReportQuery {
        from: time("from", p.from.as_deref())?,
        to: time("to", p.to.as_deref())?,
        account: id::<AccountId>("account_id", p.account_id.as_deref())?,
        tier: p.tier.clone().filter(|t| !t.is_empty()),
        team: id::<TeamId>("team_id", p.team_id.as_deref())?,
        agent: id::<StaffId>("agent_id", p.agent_id.as_deref())?,
        owner: id::<StaffId>("owner_id", p.owner_id.as_deref())?,
        tag: p.tag.clone(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DurationsView {
    pub count: u64,
    pub median_seconds: Option<f64>,
    /// 90th percentile (nearest rank).
    pub p90_seconds: Option<f64>,
}

impl From<&Durations> for DurationsView {
    fn from(d: &Durations) -> Self {
        DurationsView {
            count: d.count,
            median_seconds: d.median_seconds,
            p90_seconds: d.p90_seconds,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    pub first_response: ClockStatsView,
    pub next_response: ClockStatsView,
    pub resolution: ClockStatsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReopenView {
    /// Cases opened in the period and resolved at least once.
    pub resolved: u64,
    /// Of those, reopened at least once.
    pub reopened: u64,
    pub rate_percent: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacklogView {
    /// Cases open now (not resolved or closed).
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    /// By age since opening: under_1d, 1_3d, 3_7d, 7_30d, over_30d.
    pub by_age: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RatingsView {
    pub count: u64,
    pub average: Option<f64>,
    /// Share of 4 and 5 answers.
    pub satisfied_percent: Option<f64>,
    /// Answers of 1, 2, 3, 4 and 5.
    pub distribution: [u64; 5],
}

fn round(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 100.0).round() / 100.0)
}

impl From<&Ratings> for RatingsView {
    fn from(r: &Ratings) -> Self {
        RatingsView {
            count: r.count,
            average: round(r.average()),
            satisfied_percent: round(r.satisfied_percent()),
            distribution: r.distribution,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub ratings: RatingsView,
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        GroupView {
            id: g.id.clone(),
            name: g.name.clone(),
            ratings: RatingsView::from(&g.ratings),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SatisfactionReportView {
    /// Surveys asked in the period.
    pub asked: u64,
    /// Ratings given in the period.
    #[serde(flatten)]
    pub all: RatingsView,
    pub by_agent: Vec<GroupView>,
    pub by_team: Vec<GroupView>,
    pub by_account: Vec<GroupView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeView {
    /// Cases opened in the period.
    pub created: u64,
    pub by_channel: BTreeMap<String, u64>,
    /// `none` for cases without a category.
    pub by_category: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Waits for a first answer, answered in the period.
    pub first_response: DurationsView,
    /// Waits for later answers, answered in the period.
    pub next_response: DurationsView,
    /// Opening to resolution, for cases resolved in the period.
    pub resolution: DurationsView,
    /// Clocks started in the period.
    pub sla: SlaView,
    pub reopen: ReopenView,
    pub backlog: BacklogView,
    pub satisfaction: SatisfactionReportView,
    pub volume: VolumeView,
    /// Knowledge base suggestions in the period by outcome (`shown`,
    /// `deflected`, `continued`); null under a team or agent filter.
    pub deflection: Option<BTreeMap<String, u64>>,
}

impl From<&Report> for ReportView {
    fn from(r: &Report) -> Self {
        let clock = |kind: &str| {
            r.sla
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, s)| ClockStatsView::from(s))
                .unwrap_or_else(|| ClockStatsView::from(&Default::default()))
        };
        ReportView {
            from: r.from,
            to: r.to,
            first_response: (&r.first_response).into(),
            next_response: (&r.next_response).into(),
            resolution: (&r.resolution).into(),
            sla: SlaView {
                first_response: clock("first_response"),
                next_response: clock("next_response"),
                resolution: clock("resolution"),
            },
            reopen: ReopenView {
                resolved: r.reopens.resolved,
                reopened: r.reopens.reopened,
                rate_percent: round(
                    (r.reopens.resolved > 0)
                        .then(|| r.reopens.reopened as f64 * 100.0 / r.reopens.resolved as f64),
                ),
            },
            backlog: BacklogView {
                total: r.backlog.total,
                by_status: r.backlog.by_status.clone(),
                by_age: r
                    .backlog
                    .by_age
                    .iter()
                    .map(|(k, n)| ((*k).to_owned(), *n))
                    .collect(),
            },
            satisfaction: SatisfactionReportView {
                asked: r.satisfaction.asked,
                all: (&r.satisfaction.all).into(),
                by_agent: r
                    .satisfaction
                    .by_agent
                    .iter()
                    .map(GroupView::from)
                    .collect(),
                by_team: r.satisfaction.by_team.iter().map(GroupView::from).collect(),
                by_account: r
                    .satisfaction
                    .by_account
                    .iter()
                    .map(GroupView::from)
                    .collect(),
            },
            volume: VolumeView {
                created: r.created,
                by_channel: r.by_channel.clone(),
                by_category: r.by_category.clone(),
            },
            deflection: r.deflection.clone(),
        }
    }
}

/// The report as CSV rows `section,metric,group,value`, one figure a row.
fn csv(v: &ReportView) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, metric: &str, group: &str, value: String| {
        w.write_record([section, metric, group, &value])
    };
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let fail = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    row("section", "metric", "group", "value".into()).map_err(fail)?;
    row("period", "from", "", v.from.to_rfc3339()).map_err(fail)?;
    row("period", "to", "", v.to.to_rfc3339()).map_err(fail)?;
    for (name, d) in [
        ("first_response", &v.first_response),
        ("next_response", &v.next_response),
        ("resolution", &v.resolution),
    ] {
        row(name, "count", "", d.count.to_string()).map_err(fail)?;
        row(name, "median_seconds", "", opt(d.median_seconds)).map_err(fail)?;
        row(name, "p90_seconds", "", opt(d.p90_seconds)).map_err(fail)?;
    }
    for (name, s) in [
        ("sla_first_response", &v.sla.first_response),
        ("sla_next_response", &v.sla.next_response),
        ("sla_resolution", &v.sla.resolution),
    ] {
        row(name, "met", "", s.met.to_string()).map_err(fail)?;
        row(name, "missed", "", s.missed.to_string()).map_err(fail)?;
        row(name, "running", "", s.running.to_string()).map_err(fail)?;
        row(name, "running_breached", "", s.running_breached.to_string()).map_err(fail)?;
        row(name, "attainment_percent", "", opt(s.attainment_percent)).map_err(fail)?;
    }
    row("reopen", "resolved", "", v.reopen.resolved.to_string()).map_err(fail)?;
    row("reopen", "reopened", "", v.reopen.reopened.to_string()).map_err(fail)?;
    row("reopen", "rate_percent", "", opt(v.reopen.rate_percent)).map_err(fail)?;
    row("backlog", "total", "", v.backlog.total.to_string()).map_err(fail)?;
    for (k, n) in &v.backlog.by_status {
        row("backlog_status", k, "", n.to_string()).map_err(fail)?;
    }
    for (k, n) in &v.backlog.by_age {
        row("backlog_age", k, "", n.to_string()).map_err(fail)?;
    }
    let s = &v.satisfaction;
    row("satisfaction", "asked", "", s.asked.to_string()).map_err(fail)?;
    let mut ratings = |section: &str, group: &str, r: &RatingsView| -> Result<(), csv::Error> {
        row(section, "count", group, r.count.to_string())?;
        row(section, "average", group, opt(r.average))?;
        row(
            section,
            "satisfied_percent",
            group,
            opt(r.satisfied_percent),
        )?;
        for (i, n) in r.distribution.iter().enumerate() {
            row(section, &format!("rated_{}", i + 1), group, n.to_string())?;
        }
        Ok(())
    };
    ratings("satisfaction", "", &s.all).map_err(fail)?;
    for (section, groups) in [
        ("satisfaction_agent", &s.by_agent),
        ("satisfaction_team", &s.by_team),
        ("satisfaction_account", &s.by_account),
    ] {
        for g in groups {
            ratings(section, &g.name, &g.ratings).map_err(fail)?;
        }
    }
    row("volume", "created", "", v.volume.created.to_string()).map_err(fail)?;
    for (k, n) in &v.volume.by_channel {
        row("volume_channel", k, "", n.to_string()).map_err(fail)?;
    }
    for (k, n) in &v.volume.by_category {
        row("volume_category", k, "", n.to_string()).map_err(fail)?;
    }
    if let Some(d) = &v.deflection {
        for (k, n) in d {
            row("deflection", k, "", n.to_string()).map_err(fail)?;
        }
    }
    w.into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
}

/// Response and resolution times, SLA attainment, reopen rate, backlog,
/// satisfaction, volume and deflection for a period (staff; agents see
/// the accounts their teams serve). `format=csv` downloads it.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ReportParams), security(("bearer" = [])),
    responses((status = 200, description = "The report (JSON, or CSV rows section,metric,group,value)", body = ReportView)))]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<ReportParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let csv_wanted = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::InvalidQuery("format must be json or csv".into())),
    };
    let q = query(&p)?;
    let app = state.into_inner();
    let r = blocking::run(move || report::report(&app, &who.principal, &q)).await?;
    let view = ReportView::from(&r);
    if csv_wanted {
        let name = format!(
            "rapport-report-{}-{}.csv",
            r.from.format("%Y%m%d"),
            r.to.format("%Y%m%d")
        );
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ))
            .body(csv(&view)?));
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    #[schema(format = Uuid)]
    pub account_id: String,
    pub name: String,
    pub tier: String,
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    /// `good`, `watch` or `at_risk` (rules in docs/reports.md).
    pub status: String,
    /// Why, worst first.
    pub reasons: Vec<String>,
    pub last_client_message_at: Option<DateTime<Utc>>,
    pub last_team_reply_at: Option<DateTime<Utc>>,
    /// Booked appointments still to come.
    pub upcoming_appointments: Vec<AppointmentView>,
    /// The last 90 days.
    pub report: ReportView,
}

/// How an account is served, for its owner: the last 90 days' report, the
/// last exchanges, upcoming meetings and a verdict with its reasons.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/health", tag = "reports", security(("bearer" = [])),
    responses((status = 200, description = "Account health", body = HealthView)))]
pub async fn health(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path_id(&id, "account")?;
    let app = state.into_inner();
    let health = blocking::run(move || report::health(&app, &who.principal, account)).await?;
    let h = &health.assessment;
    Ok(HttpResponse::Ok().json(HealthView {
        account_id: h.account.id.to_string(),
        name: h.account.name.clone(),
        tier: h.account.tier.clone(),
        owner_id: h.account.owner_id.map(|o| o.to_string()),
        status: h.status.to_owned(),
        reasons: h.reasons.clone(),
        last_client_message_at: h.last_client_message_at,
        last_team_reply_at: h.last_team_reply_at,
        upcoming_appointments: health.upcoming.iter().map(AppointmentView::from).collect(),
        report: ReportView::from(&h.report),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortfolioParams {
    /// Whose accounts; default: the caller's.
    #[param(format = Uuid)]
    pub owner_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortfolioEntry {
    #[schema(format = Uuid)]
    pub account_id: String,
    pub name: String,
    pub tier: String,
    /// `good`, `watch` or `at_risk`.
    pub status: String,
    pub reasons: Vec<String>,
    /// Cases open now.
    pub open_cases: u64,
    pub first_response_median_seconds: Option<f64>,
    pub resolution_median_seconds: Option<f64>,
    pub satisfaction_average: Option<f64>,
    pub last_client_message_at: Option<DateTime<Utc>>,
    pub last_team_reply_at: Option<DateTime<Utc>>,
}

/// The health of every account an owner owns (default: the caller), at
/// risk first, over the last 90 days.
#[utoipa::path(get, path = "/api/v1/reports/health", tag = "reports", params(PortfolioParams), security(("bearer" = [])),
    responses((status = 200, description = "Accounts, at risk first", body = [PortfolioEntry])))]
pub async fn portfolio(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<PortfolioParams>,
) -> Result<HttpResponse, ApiError> {
    let owner = id::<StaffId>("owner_id", params.owner_id.as_deref())?;
    let app = state.into_inner();
    let list = blocking::run(move || report::portfolio(&app, &who.principal, owner)).await?;
    Ok(HttpResponse::Ok().json(
        list.iter()
            .map(|h| PortfolioEntry {
                account_id: h.account.id.to_string(),
                name: h.account.name.clone(),
                tier: h.account.tier.clone(),
                status: h.status.to_owned(),
                reasons: h.reasons.clone(),
                open_cases: h.report.backlog.total,
                first_response_median_seconds: h.report.first_response.median_seconds,
                resolution_median_seconds: h.report.resolution.median_seconds,
                satisfaction_average: round(h.report.satisfaction.all.average()),
                last_client_message_at: h.last_client_message_at,
                last_team_reply_at: h.last_team_reply_at,
            })
            .collect::<Vec<_>>(),
    ))
}
