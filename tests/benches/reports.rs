//! `make bench`: report generation over 100,000 cases
//! (RAPPORT_BENCH_CASES) on SQLite and PostgreSQL, against a baseline from
//! the same run: reading the id and opening time of every case, the least
//! any report over all cases must do.
//!
//! The data set is written in bulk (each case with its answers, SLA clock
//! and, for one in three, a rating), spread over 200 accounts, 10 teams
//! and 10 agents and the last 180 days.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::{Text, Timestamp};
use rapport_domain::{AccountId, LifecycleStage, Principal, StaffId, TeamId};
use rapport_server::config::{self, Settings};
use rapport_server::usecase::report::{self, ReportQuery};
use rapport_tests::{Backend, TestDatabase, seed};

fn cases_wanted() -> usize {
    std::env::var("RAPPORT_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

const ROWS_PER_STATEMENT: usize = 400;

fn ts(t: NaiveDateTime) -> String {
    t.format("'%Y-%m-%d %H:%M:%S%.6f'").to_string()
}

/// Runs `INSERT INTO table (columns) VALUES` over `rows` in statements of
/// a few hundred rows, all in one transaction.
fn bulk(conn: &mut rapport_store::DbConnection, table: &str, columns: &str, rows: &[String]) {
    rapport_store::write_transaction(conn, |conn| -> Result<(), rapport_store::QueryError> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            diesel::sql_query(format!(
                "INSERT INTO {table} ({columns}) VALUES {}",
                chunk.join(", ")
            ))
            .execute(conn)?;
        }
        Ok(())
    })
    .unwrap();
}

#[derive(diesel::QueryableByName)]
#[allow(dead_code)]
struct Opened {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn run(backend: Backend) {
    let Some(db) = TestDatabase::create(backend) else {
        println!(
            "reports ({backend:?}): skipped, no PostgreSQL configured (RAPPORT_TEST_POSTGRES)"
        );
        return;
    };
    let store = seed::store(&db);
    let admin = seed::staff_member(&db, "admin");
    let who = Principal::Staff {
        id: admin.id,
        role: admin.role,
    };
    let agents: Vec<StaffId> = (0..10)
        .map(|_| seed::staff_member(&db, "agent").id)
        .collect();
    let mut conn = store.conn().unwrap();
    let teams: Vec<TeamId> = (0..10)
        .map(|i| {
            rapport_store::team::insert(&mut conn, &format!("Team {i}"))
                .unwrap()
                .id
        })
        .collect();
    let accounts: Vec<AccountId> = (0..200)
        .map(|i| {
            rapport_store::account::insert(
                &mut conn,
                &rapport_store::account::AccountFields {
                    name: format!("Account {i}"),
                    domains: Vec::new(),
                    tier: ["strategic", "standard", "basic"][i % 3].into(),
                    lifecycle: LifecycleStage::Customer,
                    team_id: Some(teams[i % teams.len()]),
                    owner_id: None,
                    notes: String::new(),
                    custom_fields: Default::default(),
                    external_id: None,
                    parent_id: None,
                    team_inherited: false,
                },
            )
            .unwrap()
            .id
        })
        .collect();

    let n = cases_wanted();
    let now = Utc::now().naive_utc();
    let started = Instant::now();
    let (mut cases, mut responses, mut clocks, mut surveys) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let statuses = [
        "new",
        "open",
        "pending_client",
        "resolved",
        "resolved",
        "closed",
    ];
    let channels = ["chat", "email", "portal", "phone"];
    let categories = ["'billing'", "'technical'", "'delivery'", "NULL"];
    for i in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        let a = i % accounts.len();
        let (account, team, agent) = (
            accounts[a],
            teams[a % teams.len()],
            agents[i % agents.len()],
        );
        let created = now - chrono::Duration::minutes(((i * 2_591) % (180 * 24 * 60)) as i64);
        let status = statuses[i % statuses.len()];
        let resolved = matches!(status, "resolved" | "closed")
            .then(|| created + chrono::Duration::minutes(30 + (i % 4_000) as i64));
        let first = created + chrono::Duration::seconds(60 + (i * 97 % 20_000) as i64);
        cases.push(format!(
            "('{id}', {}, '{account}', NULL, NULL, 'Case {i}', '{team}', '{agent}', '{status}', 'normal', {}, '[]', '{}', NULL, NULL, {}, {}, {}, {}, {}, {}, {})",
            1_000_000 + i,
            categories[i % categories.len()],
            channels[i % channels.len()],
            (i % 11 == 0) as i32,
            ts(first),
            resolved.map_or("NULL".into(), ts),
            if status == "closed" { resolved.map_or("NULL".into(), ts) } else { "NULL".into() },
            ts(created),
            ts(created),
            ts(created)
        ));
        responses.push(format!(
            "('{}', '{id}', '{account}', '{team}', '{agent}', 'first', {}, {})",
            uuid::Uuid::now_v7(),
            (first - created).num_seconds(),
            ts(first)
        ));
        if i % 2 == 0 {
            let next = first + chrono::Duration::seconds((i * 31 % 40_000) as i64);
            responses.push(format!(
                "('{}', '{id}', '{account}', '{team}', '{agent}', 'next', {}, {})",
                uuid::Uuid::now_v7(),
                (i * 13 % 9_000) + 30,
                ts(next)
            ));
        }
        let due = created + chrono::Duration::hours(4);
        clocks.push(format!(
            "('{id}', 'first_response', '{account}', 240, {}, {}, {}, NULL, {}, NULL, NULL)",
            ts(created),
            ts(due),
            ts(due),
            ts(first)
        ));
        if let Some(r) = resolved
            && i % 3 == 0
        {
            surveys.push(format!(
                "('{}', '{id}', '{account}', '{team}', '{agent}', {}, {}, {}, NULL, {}, NULL, 'portal')",
                uuid::Uuid::now_v7(),
                ts(r),
                ts(r + chrono::Duration::days(30)),
                1 + i % 5,
                ts(r + chrono::Duration::hours(3))
            ));
        }
    }
    bulk(
        &mut conn,
        "cases",
        "id, number, account_id, opened_by_contact_id, opened_by_staff_id, subject, team_id, assignee_id, status, priority, category, tags, channel, merged_into_id, follows_case_id, reopen_count, first_response_at, resolved_at, closed_at, last_activity_at, created_at, updated_at",
        &cases,
    );
    bulk(
        &mut conn,
        "case_responses",
        "id, case_id, account_id, team_id, agent_id, kind, waited_seconds, responded_at",
        &responses,
    );
    bulk(
        &mut conn,
        "sla_clocks",
        "case_id, clock, account_id, target_minutes, started_at, warn_at, due_at, paused_at, stopped_at, warned_at, breached_at",
        &clocks,
    );
    bulk(
        &mut conn,
        "csat_surveys",
        "id, case_id, account_id, team_id, agent_id, requested_at, expires_at, rating, comment, answered_at, answered_by, answered_via",
        &surveys,
    );
    if backend == Backend::Postgres {
        diesel::sql_query("ANALYZE").execute(&mut *conn).unwrap();
    }
    drop(conn);
    println!(
        "  setup: {n} cases, {} answers, {} clocks, {} ratings in {:.0} s",
        responses.len(),
        clocks.len(),
        surveys.len(),
        started.elapsed().as_secs_f64()
    );

    let mut settings = Settings {
        data_dir: db.data_dir().to_path_buf(),
        ..Settings::default()
    };
    settings.database.url = Some(db.url.clone());
    let config = config::validate(settings).unwrap();
    let state = rapport_server::server::state_for(Arc::new(config), store.clone()).unwrap();
    let all = ReportQuery {
        from: Some(Utc::now() - chrono::Duration::days(181)),
        to: Some(Utc::now()),
        ..ReportQuery::default()
    };
    let one_team = ReportQuery {
        team: Some(teams[3]),
        ..all.clone()
    };
    let one_account = ReportQuery {
        account: Some(accounts[17]),
        ..all.clone()
    };
    let time = |q: &ReportQuery| {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t = Instant::now();
            last = Some(report::report(&state, &who, q).unwrap());
            times.push(t.elapsed());
        }
        (median(times), last.unwrap())
    };
    let (whole, r) = time(&all);
    assert_eq!(r.created as usize, n);
    let (team, _) = time(&one_team);
    let (account, _) = time(&one_account);
    let mut scans = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut conn = store.conn().unwrap();
        let rows: Vec<Opened> = diesel::sql_query("SELECT id, created_at FROM cases")
            .load(&mut *conn)
            .unwrap();
        assert!(rows.len() >= n);
        scans.push(t.elapsed());
    }
    let scan = median(scans);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "reports ({backend:?}): all {n} cases {:.0} ms, one team {:.0} ms, one account {:.0} ms; \
         bare scan of the cases' ids and times {:.0} ms: ratio all/scan {:.1}",
        ms(whole),
        ms(team),
        ms(account),
        ms(scan),
        ms(whole) / ms(scan)
    );
}

fn main() {
    println!(
        "Rapport reports benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    run(Backend::Sqlite);
    run(Backend::Postgres);
}
