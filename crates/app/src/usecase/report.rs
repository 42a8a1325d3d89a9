//! Reports: how each account is served. Response and resolution times
//! (median and 90th percentile), SLA attainment, reopen rate, backlog by
//! status and age, satisfaction, volume by channel and category, and
//! knowledge base deflection, for a period and a selection of accounts,
//! tiers, teams and agents; and an account health view that combines them.
//!
//! Facts come from the store in a few scans; the figures are computed
//! here, identically on both backends.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rapport_domain::{AccountId, Permission, Principal, StaffId, StaffRole, TeamId, authorize};
use rapport_store::report::{self as facts, Selection};

use super::UseCaseError;
use super::sla::ClockStats;
use crate::state::AppState;

/// Longest period one report covers.
pub const MAX_DAYS: i64 = 731;

/// What a report is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub account: Option<AccountId>,
    pub tier: Option<String>,
    pub team: Option<TeamId>,
    pub agent: Option<StaffId>,
    /// Only the accounts this staff member owns.
    pub owner: Option<StaffId>,
    /// Only cases with this label.
    pub tag: Option<String>,
}

/// Median and 90th percentile of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Durations {
    pub count: u64,
    /// The middle value; for an even count the mean of the two middle ones.
    pub median_seconds: Option<f64>,
    /// Nearest rank: the smallest value with at least 90 % of values at or below it.
    pub p90_seconds: Option<f64>,
}

impl Durations {
    pub fn of(mut values: Vec<i64>) -> Durations {
        values.sort_unstable();
        let n = values.len();
        if n == 0 {
            return Durations::default();
        }
        let median = if n % 2 == 1 {
            values[n / 2] as f64
        } else {
            (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
        };
        let rank = (n * 9).div_ceil(10).max(1);
        Durations {
            count: n as u64,
            median_seconds: Some(median),
            p90_seconds: Some(values[rank - 1] as f64),
        }
    }
}

/// Cases reopened among those resolved at least once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reopens {
    pub resolved: u64,
    pub reopened: u64,
}

/// Satisfaction of one group (agent, team, account) or of everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ratings {
    pub count: u64,
    pub sum: u64,
    /// Answers of 1 to 5.
    pub distribution: [u64; 5],
}

impl Ratings {
    fn add(&mut self, rating: i32) {
        if let Ok(r) = usize::try_from(rating)
            && (1..=5).contains(&r)
        {
            self.count += 1;
            self.sum += r as u64;
            self.distribution[r - 1] += 1;
        }
    }

    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Share of 4 and 5 answers, in percent.
    pub fn satisfied_percent(&self) -> Option<f64> {
        (self.count > 0).then(|| {
            (self.distribution[3] + self.distribution[4]) as f64 * 100.0 / self.count as f64
        })
    }
}

/// Ratings of one agent, team or account.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub ratings: Ratings,
}

/// Satisfaction over the period.
#[derive(Debug, Clone, Default)]
pub struct Satisfaction {
    /// Surveys asked in the period.
    pub asked: u64,
    /// Answers given in the period.
    pub all: Ratings,
    pub by_agent: Vec<Group>,
    pub by_team: Vec<Group>,
    pub by_account: Vec<Group>,
}

/// Open cases now.
#[derive(Debug, Clone, Default)]
pub struct Backlog {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Age since opening: `under_1d`, `1_3d`, `3_7d`, `7_30d`, `over_30d`.
    pub by_age: Vec<(&'static str, u64)>,
}

/// Age buckets of the backlog, upper bounds in days.
const AGE_BUCKETS: [(&str, i64); 5] = [
    ("under_1d", 1),
    ("1_3d", 3),
    ("3_7d", 7),
    ("7_30d", 30),
    ("over_30d", i64::MAX),
];

/// A whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub first_response: Durations,
    pub next_response: Durations,
    pub resolution: Durations,
    pub sla: Vec<(&'static str, ClockStats)>,
    pub reopens: Reopens,
    pub backlog: Backlog,
    pub satisfaction: Satisfaction,
    /// Cases opened in the period.
    pub created: u64,
    pub by_channel: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    /// Knowledge base suggestions in the period by outcome (`shown`: left
    /// undecided, `deflected`, `continued`); `None` under a team or agent
    /// filter, which suggestions do not have.
    pub deflection: Option<BTreeMap<String, u64>>,
}

/// Checks the caller and turns the query into a selection they may see.
fn selection(
    conn: &mut rapport_store::DbConnection,
    state: &AppState,
    who: &Principal,
    q: &ReportQuery,
    now: DateTime<Utc>,
) -> Result<Selection, UseCaseError> {
    authorize(who, Permission::ReadReports).map_err(|_| UseCaseError::Forbidden)?;
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(super::input::invalid("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(super::input::invalid(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    if let Some(t) = &q.tier
        && !state.config.settings.accounts.tiers.contains(t)
    {
        return Err(super::input::invalid(
            "tier",
            format!(
                "must be one of: {}",
                state.config.settings.accounts.tiers.join(", ")
            ),
        ));
    }
    // An account's figures include its subsidiaries': a group rolls up.
    let accounts = match q.account {
        Some(a) => {
            super::account::readable(conn, state, who, a)?;
            let mut group = vec![a];
            group.extend(rapport_store::account::descendants(conn, a)?);
            Some(group)
        }
        None => None,
    };
    let served_by = match who {
        Principal::Staff {
            id,
            role: StaffRole::Agent,
        } if !state.config.settings.accounts.agents_see_all => {
            Some(rapport_store::team::teams_of(conn, *id)?)
        }
        _ => None,
    };
    Ok(Selection {
        from: from.naive_utc(),
        to: to.naive_utc(),
        accounts,
        tier: q.tier.clone(),
        team: q.team,
        agent: q.agent,
        served_by,
        owner: q.owner,
        tag: q
            .tag
            .as_ref()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty()),
    })
}

/// The facts, unless there are more than a report reads: then the caller
/// narrows the selection instead of getting figures of part of the data.
fn within_limit<T>(rows: Vec<T>) -> Result<Vec<T>, UseCaseError> {
    if rows.len() > facts::MAX_ROWS {
        return Err(super::input::invalid(
            "from",
            format!(
                "this selection holds more than {} records of one kind; choose a shorter period or a narrower filter",
                facts::MAX_ROWS
            ),
        ));
    }
    Ok(rows)
}

fn seconds(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    (b - a).num_seconds().max(0)
}

pub fn report(state: &AppState, who: &Principal, q: &ReportQuery) -> Result<Report, UseCaseError> {
    let now = Utc::now();
    let conn = &mut *state.store.conn()?;
    let s = selection(conn, state, who, q, now)?;
    compute(conn, &s, now)
}

/// Everything a report is computed from, read in one scan per kind.
#[derive(Debug, Clone, Default)]
struct Facts {
    cases: Vec<facts::CaseFact>,
    responses: Vec<facts::ResponseFact>,
    clocks: Vec<facts::ClockFact>,
    ratings: Vec<facts::RatingFact>,
    /// Surveys asked, per account.
    asked: Vec<(String, i64)>,
    /// Suggestions per account and outcome; `None` under a team or agent
    /// filter, which suggestions do not have.
    deflections: Option<Vec<(String, String, i64)>>,
}

impl Facts {
    fn load(conn: &mut rapport_store::DbConnection, s: &Selection) -> Result<Facts, UseCaseError> {
        Ok(Facts {
            cases: within_limit(facts::cases(conn, s)?)?,
            responses: within_limit(facts::responses(conn, s)?)?,
            clocks: within_limit(facts::clocks(conn, s)?)?,
            ratings: within_limit(facts::ratings(conn, s)?)?,
            asked: facts::surveys_asked(conn, s)?,
            deflections: if s.team.is_none() && s.agent.is_none() {
                Some(facts::deflections(conn, s)?)
            } else {
                None
            },
        })
    }

    /// The facts of each of `accounts`, split in one pass (an account
    /// without any has empty facts).
    fn by_account(self, accounts: &[String]) -> BTreeMap<String, Facts> {
        let empty = Facts {
            deflections: self.deflections.as_ref().map(|_| Vec::new()),
            ..Facts::default()
        };
        let mut out: BTreeMap<String, Facts> = accounts
            .iter()
            .map(|a| (a.clone(), empty.clone()))
            .collect();
        for c in self.cases {
            if let Some(f) = out.get_mut(&c.account_id) {
                f.cases.push(c);
            }
        }
        for r in self.responses {
            if let Some(f) = out.get_mut(&r.account_id) {
                f.responses.push(r);
            }
        }
        for c in self.clocks {
            if let Some(f) = out.get_mut(&c.account_id) {
                f.clocks.push(c);
            }
        }
        for r in self.ratings {
            if let Some(f) = out.get_mut(&r.account_id) {
                f.ratings.push(r);
            }
        }
        for a in self.asked {
            if let Some(f) = out.get_mut(&a.0) {
                f.asked.push(a);
            }
        }
        for d in self.deflections.into_iter().flatten() {
            if let Some(list) = out.get_mut(&d.0).and_then(|f| f.deflections.as_mut()) {
                list.push(d);
            }
        }
        out
    }
}

/// The figures of a selection, as of `now` (the backlog's ages).
pub fn compute(
    conn: &mut rapport_store::DbConnection,
    s: &Selection,
    now: DateTime<Utc>,
) -> Result<Report, UseCaseError> {
    let facts = Facts::load(conn, s)?;
    figures(conn, &facts, s, now)
}

/// The figures of loaded facts; `conn` only names agents, teams and accounts.
fn figures(
    conn: &mut rapport_store::DbConnection,
    f: &Facts,
    s: &Selection,
    now: DateTime<Utc>,
) -> Result<Report, UseCaseError> {
    let in_period = |t: NaiveDateTime| t >= s.from && t < s.to;
    let cases = &f.cases;
    let mut resolution = Vec::new();
    let mut reopens = Reopens::default();
    let mut backlog = Backlog::default();
    let mut ages = [0u64; AGE_BUCKETS.len()];
    let (mut created, mut by_channel, mut by_category) = (0, BTreeMap::new(), BTreeMap::new());
    for c in cases {
        let finished = c.resolved_at.or(c.closed_at);
        if let Some(done) = finished
            && in_period(done)
            && matches!(c.status.as_str(), "resolved" | "closed")
        {
            resolution.push(seconds(c.created_at, done));
        }
        if in_period(c.created_at) {
            created += 1;
            *by_channel.entry(c.channel.clone()).or_insert(0) += 1;
            *by_category
                .entry(c.category.clone().unwrap_or_else(|| "none".into()))
                .or_insert(0) += 1;
            if finished.is_some() || c.reopen_count > 0 {
                reopens.resolved += 1;
                if c.reopen_count > 0 {
                    reopens.reopened += 1;
                }
            }
        }
        if !matches!(c.status.as_str(), "resolved" | "closed") {
            backlog.total += 1;
            *backlog.by_status.entry(c.status.clone()).or_insert(0) += 1;
            let days = (now.naive_utc() - c.created_at).num_seconds() as f64 / 86_400.0;
            let bucket = AGE_BUCKETS
                .iter()
                .position(|(_, limit)| days < *limit as f64)
                .unwrap_or(AGE_BUCKETS.len() - 1);
            ages[bucket] += 1;
        }
    }
    backlog.by_age = AGE_BUCKETS
        .iter()
        .zip(ages)
        .map(|((name, _), n)| (*name, n))
        .collect();

    let pick = |kind: &str| {
        f.responses
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.waited_seconds)
            .collect::<Vec<_>>()
    };
    let first_response = Durations::of(pick("first"));
    let next_response = Durations::of(pick("next"));

    let sla = [
        super::sla::FIRST_RESPONSE,
        super::sla::NEXT_RESPONSE,
        super::sla::RESOLUTION,
    ]
    .map(|kind| {
        let mut st = ClockStats::default();
        for c in f.clocks.iter().filter(|c| c.clock == kind) {
            st.add(
                c.stopped_at.map(|t| t.and_utc()),
                c.due_at.and_utc(),
                c.breached_at.is_some(),
                now,
            );
        }
        (kind, st)
    })
    .to_vec();

    let satisfaction = satisfaction(conn, f)?;
    let deflection = f.deflections.as_ref().map(|list| {
        let mut by = BTreeMap::new();
        for (_, outcome, n) in list {
            *by.entry(outcome.clone()).or_insert(0u64) += (*n).max(0) as u64;
        }
        by
    });
    Ok(Report {
        from: s.from.and_utc(),
        to: s.to.and_utc(),
        first_response,
        next_response,
        resolution: Durations::of(resolution),
        sla,
        reopens,
        backlog,
        satisfaction,
        created,
        by_channel,
        by_category,
        deflection,
    })
}

fn satisfaction(
    conn: &mut rapport_store::DbConnection,
    f: &Facts,
) -> Result<Satisfaction, UseCaseError> {
    let mut out = Satisfaction {
        asked: f.asked.iter().map(|(_, n)| (*n).max(0) as u64).sum(),
        ..Satisfaction::default()
    };
    let (mut agents, mut teams, mut accounts): (
        BTreeMap<String, Ratings>,
        BTreeMap<String, Ratings>,
        BTreeMap<String, Ratings>,
    ) = Default::default();
    for r in &f.ratings {
        out.all.add(r.rating);
        if let Some(a) = &r.agent_id {
            agents.entry(a.clone()).or_default().add(r.rating);
        }
        if let Some(t) = &r.team_id {
            teams.entry(t.clone()).or_default().add(r.rating);
        }
        accounts
            .entry(r.account_id.clone())
            .or_default()
            .add(r.rating);
    }
    let mut named =
        |map: BTreeMap<String, Ratings>, kind: &str| -> Result<Vec<Group>, UseCaseError> {
            let mut groups = Vec::new();
            for (id, ratings) in map {
                let name = match kind {
                    "agent" => match id.parse() {
                        Ok(sid) => rapport_store::staff::find(conn, sid)?
                            .map(|x| x.display_name.as_str().to_owned()),
                        Err(_) => None,
                    },
                    "team" => match id.parse() {
                        Ok(tid) => rapport_store::team::find(conn, tid)?.map(|x| x.name),
                        Err(_) => None,
                    },
                    _ => match id.parse() {
                        Ok(aid) => rapport_store::account::find(conn, aid)?.map(|x| x.name),
                        Err(_) => None,
                    },
                };
                groups.push(Group {
                    name: name.unwrap_or_else(|| id.clone()),
                    id,
                    ratings,
                });
            }
            groups.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(groups)
        };
    out.by_agent = named(agents, "agent")?;
    out.by_team = named(teams, "team")?;
    out.by_account = named(accounts, "account")?;
    Ok(out)
}

/// How an account is doing, for its owner, with its meetings to come.
#[derive(Debug, Clone)]
pub struct Health {
    pub assessment: AccountHealth,
    pub upcoming: Vec<rapport_store::appointment::Appointment>,
}

/// Days an account health view looks back.
pub const HEALTH_DAYS: i64 = 90;

/// The verdict on a report: `at_risk` when a client is let down now
/// (an SLA breached and still running, an average rating under 3, first
/// responses on time under 80 %); `watch` when it may come to that (a case
/// open over 7 days, over 20 % reopened, an average under 4, first
/// responses on time under 95 %); `good` otherwise.
pub fn verdict(r: &Report) -> (&'static str, Vec<String>) {
    let mut risk = Vec::new();
    let mut watch = Vec::new();
    let breached: u64 = r.sla.iter().map(|(_, s)| s.running_breached).sum();
    if breached > 0 {
        risk.push(format!("{breached} SLA target(s) breached on open cases"));
    }
    if let Some(avg) = r.satisfaction.all.average() {
        if avg < 3.0 {
            risk.push(format!("average rating {avg:.1} of 5"));
        } else if avg < 4.0 {
            watch.push(format!("average rating {avg:.1} of 5"));
        }
    }
    if let Some((_, first)) = r.sla.iter().find(|(k, _)| *k == super::sla::FIRST_RESPONSE) {
        let finished = first.met + first.missed;
        if finished > 0 {
            let pct = first.met as f64 * 100.0 / finished as f64;
            if pct < 80.0 {
                risk.push(format!("first responses on time: {pct:.0} %"));
            } else if pct < 95.0 {
                watch.push(format!("first responses on time: {pct:.0} %"));
            }
        }
    }
    let old: u64 = r
        .backlog
        .by_age
        .iter()
        .filter(|(b, _)| matches!(*b, "7_30d" | "over_30d"))
        .map(|(_, n)| n)
        .sum();
    if old > 0 {
        watch.push(format!("{old} case(s) open for more than 7 days"));
    }
    if r.reopens.resolved > 0 {
        let pct = r.reopens.reopened as f64 * 100.0 / r.reopens.resolved as f64;
        if pct > 20.0 {
            watch.push(format!("{pct:.0} % of resolved cases reopened"));
        }
    }
    let status = if !risk.is_empty() {
        "at_risk"
    } else if !watch.is_empty() {
        "watch"
    } else {
        "good"
    };
    risk.extend(watch);
    (status, risk)
}

pub fn health(
    state: &AppState,
    who: &Principal,
    account: AccountId,
) -> Result<Health, UseCaseError> {
    let now = Utc::now();
    let conn = &mut *state.store.conn()?;
    let q = ReportQuery {
        from: Some(now - Duration::days(HEALTH_DAYS)),
        to: Some(now),
        ..ReportQuery::default()
    };
    // The account is checked (and read) once, here, after the caller's role.
    let mut s = selection(conn, state, who, &q, now)?;
    let found = super::account::readable(conn, state, who, account)?;
    let mut group = vec![account];
    group.extend(rapport_store::account::descendants(conn, account)?);
    s.accounts = Some(group);
    let facts = Facts::load(conn, &s)?;
    let assessment = assess(conn, found, &facts, &s, now)?;
    let upcoming = rapport_store::appointment::booked_for_account(conn, account)?
        .into_iter()
        .filter(|a| a.booked.is_some_and(|b| b.end >= now))
        .collect();
    Ok(Health {
        assessment,
        upcoming,
    })
}

/// One account's report over its facts, its last exchanges and the verdict.
fn assess(
    conn: &mut rapport_store::DbConnection,
    account: rapport_store::account::Account,
    facts: &Facts,
    s: &Selection,
    now: DateTime<Utc>,
) -> Result<AccountHealth, UseCaseError> {
    // The account with its subsidiaries when the selection holds them (a
    // group rolls up), else the account alone.
    let accounts = match &s.accounts {
        Some(group) if group.first() == Some(&account.id) => group.clone(),
        _ => vec![account.id],
    };
    let one = Selection {
        accounts: Some(accounts.clone()),
        ..s.clone()
    };
    let report = figures(conn, facts, &one, now)?;
    let (client, team) = facts::last_exchange(conn, &accounts)?;
    let (status, reasons) = verdict(&report);
    Ok(AccountHealth {
        account,
        report,
        last_client_message_at: client.map(|t| t.and_utc()),
        last_team_reply_at: team.map(|t| t.and_utc()),
        status,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_follow_their_definitions() {
        let d = Durations::of(vec![50, 10, 40, 20, 30]);
        assert_eq!(d.median_seconds, Some(30.0));
        assert_eq!(d.p90_seconds, Some(50.0));
        let d = Durations::of(vec![10, 20, 30, 40]);
        assert_eq!(d.median_seconds, Some(25.0));
        assert_eq!(d.p90_seconds, Some(40.0));
        let d = Durations::of((1..=10).collect());
        assert_eq!(d.p90_seconds, Some(9.0));
        assert_eq!(Durations::of(Vec::new()).median_seconds, None);
    }

    #[test]
    fn ratings_average_and_share_satisfied() {
        let mut r = Ratings::default();
        for x in [5, 4, 2, 5] {
            r.add(x);
        }
        r.add(9);
        assert_eq!(r.count, 4);
        assert_eq!(r.average(), Some(4.0));
        assert_eq!(r.satisfied_percent(), Some(75.0));
        assert_eq!(r.distribution, [0, 1, 0, 1, 2]);
    }
}

/// One account's health: its report and the verdict on it.
#[derive(Debug, Clone)]
pub struct AccountHealth {
    pub account: rapport_store::account::Account,
    /// The last 90 days.
    pub report: Report,
    pub last_client_message_at: Option<DateTime<Utc>>,
    pub last_team_reply_at: Option<DateTime<Utc>>,
    pub status: &'static str,
    pub reasons: Vec<String>,
}

/// Most accounts one portfolio lists.
const PORTFOLIO_MAX: i64 = 500;

/// The health of every account `owner` owns (default: the caller), at
/// risk first: the facts are read once for all of them and split by
/// account. Agents see the accounts their teams serve.
pub fn portfolio(
    state: &AppState,
    who: &Principal,
    owner: Option<StaffId>,
) -> Result<Vec<AccountHealth>, UseCaseError> {
    let owner = match (owner, who) {
        (Some(o), _) => o,
        (None, Principal::Staff { id, .. }) => *id,
        (None, _) => return Err(UseCaseError::Forbidden),
    };
    let now = Utc::now();
    let conn = &mut *state.store.conn()?;
    let q = ReportQuery {
        from: Some(now - Duration::days(HEALTH_DAYS)),
        to: Some(now),
        owner: Some(owner),
        ..ReportQuery::default()
    };
    let s = selection(conn, state, who, &q, now)?;
    let accounts = rapport_store::account::list(
        conn,
        &rapport_store::account::AccountFilter {
            owner_id: Some(owner),
            only_teams: s.served_by.clone(),
            ..Default::default()
        },
        None,
        PORTFOLIO_MAX,
    )?;
    let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
    let mut split = Facts::load(conn, &s)?.by_account(&ids);
    let mut out = Vec::new();
    for account in accounts {
        let facts = split.remove(&account.id.to_string()).unwrap_or_default();
        out.push(assess(conn, account, &facts, &s, now)?);
    }
    let rank = |s: &str| match s {
        "at_risk" => 0,
        "watch" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| {
        rank(a.status)
            .cmp(&rank(b.status))
            .then_with(|| a.account.name.cmp(&b.account.name))
    });
    Ok(out)
}
