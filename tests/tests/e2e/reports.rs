//! Report figures on a seeded data set, checked against values computed
//! by hand (in the comments).

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, CasePriority, CaseStatus, Channel, ContactId, StaffId, TeamId};
use rapport_store::case::Case;
use rapport_store::report::Answer;
use rapport_tests::{TestApp, TestDatabase, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};

fn oct(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, day, hour, 0, 0).unwrap()
}

struct Seeded {
    globex: String,
}

/// One seeded case: its facts and what happened on it.
struct Seed {
    account: AccountId,
    team: TeamId,
    agent: StaffId,
    status: CaseStatus,
    channel: Channel,
    category: Option<&'static str>,
    created: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    closed: Option<DateTime<Utc>>,
    reopens: i32,
    /// Answers: (seconds waited, first?).
    answers: Vec<(i64, bool)>,
    /// First-response clock: (due after hours, stopped after hours).
    first_clock: Option<(i64, Option<i64>)>,
    resolution_clock_due_days: Option<i64>,
    /// (rating, survey asked) — rating `None`: asked, unanswered.
    survey: Option<Option<i32>>,
}

fn seed(db: &TestDatabase, contact: ContactId, cases: Vec<Seed>) {
    use rapport_store::schema::csat_surveys;
    let store = rapport_tests::seed::store(db);
    let mut conn = store.conn().unwrap();
    for s in cases {
        let number = rapport_store::case::next_number(&mut conn).unwrap();
        let c = Case {
            id: rapport_domain::CaseId::new(),
            number,
            account_id: s.account,
            opened_by_contact_id: None,
            opened_by_staff_id: None,
            subject: format!("Seeded case {number}"),
            team_id: Some(s.team),
            assignee_id: Some(s.agent),
            status: s.status,
            priority: CasePriority::Normal,
            category: s.category.map(str::to_owned),
            tags: Vec::new(),
            channel: s.channel,
            merged_into_id: None,
            follows_case_id: None,
            reopen_count: s.reopens,
            first_response_at: None,
            resolved_at: s.resolved,
            closed_at: s.closed,
            last_activity_at: s.created,
            created_at: s.created,
            updated_at: s.created,
            routing_note: None,
        };
        rapport_store::case::insert(&mut conn, &c).unwrap();
        let mut at = s.created;
        for (waited, first) in s.answers {
            rapport_store::report::start_wait(&mut conn, c.id, at.naive_utc()).unwrap();
            at += Duration::seconds(waited);
            rapport_store::report::end_wait(
                &mut conn,
                &Answer {
                    case: c.id,
                    account: s.account,
                    team: Some(s.team),
                    agent: Some(s.agent),
                    first,
                    at: at.naive_utc(),
                },
            )
            .unwrap();
            at += Duration::hours(1);
        }
        let clock = |kind: &str, due: DateTime<Utc>, stopped: Option<DateTime<Utc>>| {
            rapport_store::sla::Clock {
                case_id: c.id,
                clock: kind.into(),
                account_id: s.account,
                target_minutes: 60,
                started_at: s.created,
                warn_at: due,
                due_at: due,
                paused_at: None,
                stopped_at: stopped,
                warned_at: None,
                breached_at: None,
            }
        };
        if let Some((due, stopped)) = s.first_clock {
            rapport_store::sla::start(
                &mut conn,
                &clock(
                    "first_response",
                    s.created + Duration::hours(due),
                    stopped.map(|h| s.created + Duration::hours(h)),
                ),
            )
            .unwrap();
        }
        if let Some(days) = s.resolution_clock_due_days {
            rapport_store::sla::start(
                &mut conn,
                &clock("resolution", s.created + Duration::days(days), None),
            )
            .unwrap();
        }
        if let Some(rating) = s.survey {
            let asked = s.resolved.or(s.closed).unwrap();
            let survey = rapport_store::csat::Survey {
                id: uuid::Uuid::now_v7().to_string(),
                case_id: c.id,
                account_id: s.account,
                team_id: Some(s.team),
                agent_id: Some(s.agent),
                requested_at: asked,
                expires_at: asked + Duration::days(30),
                rating: None,
                comment: None,
                answered_at: None,
                answered_by: None,
                answered_via: None,
            };
            rapport_store::csat::insert(&mut conn, &survey).unwrap();
            if let Some(r) = rating {
                assert!(
                    rapport_store::csat::answer(
                        &mut conn,
                        &survey.id,
                        r,
                        None,
                        &contact.to_string(),
                        "portal"
                    )
                    .unwrap()
                );
                diesel::update(csat_surveys::table.find(&survey.id))
                    .set(csat_surveys::answered_at.eq((asked + Duration::hours(2)).naive_utc()))
                    .execute(&mut *conn)
                    .unwrap();
            }
        }
    }
}

async fn seeded(app: &TestApp, db: &TestDatabase, w: &super::directory::World) -> Seeded {
    let globex = app
        .get_as(&w.admin, "/api/v1/accounts?q=globex")
        .await
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (acme, globex_id): (AccountId, AccountId) =
        (w.acme.parse().unwrap(), globex.parse().unwrap());
    let (t_in, t_out): (TeamId, TeamId) = (w.team_in.parse().unwrap(), w.team_out.parse().unwrap());
    let (x, y): (StaffId, StaffId) = (
        w.agent_in_id.parse().unwrap(),
        w.agent_out_id.parse().unwrap(),
    );
    let base = |account, team, agent, created| Seed {
        account,
        team,
        agent,
        created,
        status: CaseStatus::Resolved,
        channel: Channel::Portal,
        category: None,
        resolved: None,
        closed: None,
        reopens: 0,
        answers: Vec::new(),
        first_clock: None,
        resolution_clock_due_days: None,
        survey: None,
    };
    let now = Utc::now();
    seed(
        db,
        w.anna.parse().unwrap(),
        vec![
            // c1: Acme, portal, billing; first answer after 1 h; resolved after 1 day; rated 5; first response on time.
            Seed {
                channel: Channel::Portal,
                category: Some("billing"),
                resolved: Some(oct(3, 9)),
                answers: vec![(3600, true)],
                first_clock: Some((4, Some(1))),
                survey: Some(Some(5)),
                ..base(acme, t_in, x, oct(2, 9))
            },
            // c2: Acme, email, billing; 2 h, then 30 min; resolved after 2 days; reopened once; rated 2; first response late.
            Seed {
                channel: Channel::Email,
                category: Some("billing"),
                resolved: Some(oct(7, 10)),
                reopens: 1,
                answers: vec![(7200, true), (1800, false)],
                first_clock: Some((1, Some(2))),
                survey: Some(Some(2)),
                ..base(acme, t_in, x, oct(5, 10))
            },
            // c3: Acme, chat, technical; 10 min; still open; its resolution clock is past due.
            Seed {
                status: CaseStatus::Open,
                channel: Channel::Chat,
                category: Some("technical"),
                answers: vec![(600, true)],
                resolution_clock_due_days: Some(10),
                ..base(acme, t_in, x, oct(10, 8))
            },
            // c4: Globex, portal, no category; 4 h; resolved after 6 h then closed; rated 4; first response late.
            Seed {
                status: CaseStatus::Closed,
                resolved: Some(oct(12, 18)),
                closed: Some(oct(13, 9)),
                answers: vec![(14400, true)],
                first_clock: Some((2, Some(4))),
                survey: Some(Some(4)),
                ..base(globex_id, t_out, y, oct(12, 12))
            },
            // c5: Globex, opened in September, resolved 1 October 12:00 (6 d 12 h); asked, never answered.
            Seed {
                channel: Channel::Email,
                category: Some("billing"),
                resolved: Some(oct(1, 12)),
                survey: Some(None),
                ..base(
                    globex_id,
                    t_out,
                    y,
                    Utc.with_ymd_and_hms(2026, 9, 25, 0, 0, 0).unwrap(),
                )
            },
            // c6: Globex, waiting on the client for two days.
            Seed {
                status: CaseStatus::PendingClient,
                ..base(globex_id, t_out, y, now - Duration::days(2))
            },
        ],
    );
    Seeded { globex }
}

e2e_test!(report_figures_on_a_seeded_data_set_match_hand_computed_values);
async fn report_figures_on_a_seeded_data_set_match_hand_computed_values(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await; // also opens one new Acme case now (backlog, under a day)
    let s = seeded(&app, db, &w).await;
    let october = "from=2026-10-01&to=2026-11-01";
    let r = ok(
        app.get_as(&w.admin, &format!("/api/v1/reports?{october}"))
            .await,
        200,
    )
    .await;
    // First answers 600, 3600, 7200, 14400: median (3600+7200)/2, p90 the 4th of 4.
    assert_eq!(
        r["first_response"],
        json!({"count": 4, "median_seconds": 5400.0, "p90_seconds": 14400.0})
    );
    assert_eq!(
        r["next_response"],
        json!({"count": 1, "median_seconds": 1800.0, "p90_seconds": 1800.0})
    );
    // Resolved in October: 6 h, 1 d, 2 d, 6 d 12 h.
    assert_eq!(
        r["resolution"],
        json!({"count": 4, "median_seconds": 129600.0, "p90_seconds": 561600.0})
    );
    // Opened in October: c1..c4.
    assert_eq!(
        r["volume"],
        json!({"created": 4, "by_channel": {"chat": 1, "email": 1, "portal": 2}, "by_category": {"billing": 2, "none": 1, "technical": 1}})
    );
    // Of c1, c2, c4 (resolved at least once), c2 reopened.
    assert_eq!(
        r["reopen"],
        json!({"resolved": 3, "reopened": 1, "rate_percent": 33.33})
    );
    // Open now: c3 (since October), the world's new case (today), c6 (two days).
    assert_eq!(r["backlog"]["total"], 3);
    assert_eq!(
        r["backlog"]["by_status"],
        json!({"new": 1, "open": 1, "pending_client": 1})
    );
    assert_eq!(
        r["backlog"]["by_age"],
        json!({"under_1d": 1, "1_3d": 1, "3_7d": 0, "7_30d": 0, "over_30d": 1})
    );
    // First-response clocks: c1 on time, c2 and c4 late; c3's resolution clock overdue.
    assert_eq!(
        r["sla"]["first_response"],
        json!({"met": 1, "missed": 2, "running": 0, "running_breached": 0, "attainment_percent": 33.3})
    );
    assert_eq!(r["sla"]["resolution"]["running_breached"], 1);
    // Ratings 5, 2, 4 of four surveys asked.
    let sat = &r["satisfaction"];
    assert_eq!(sat["asked"], 4);
    assert_eq!(sat["count"], 3);
    assert_eq!(sat["average"], 3.67);
    assert_eq!(sat["satisfied_percent"], 66.67);
    assert_eq!(sat["distribution"], json!([0, 1, 0, 1, 1]));
    let by = |list: &Value, id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by(&sat["by_agent"], &w.agent_in_id)["average"], 3.5);
    assert_eq!(by(&sat["by_agent"], &w.agent_out_id)["average"], 4.0);
    assert_eq!(by(&sat["by_team"], &w.team_in)["count"], 2);
    assert_eq!(
        by(&sat["by_account"], &s.globex)["name"],
        "Globex Logistics"
    );

    // Filters: one account, a tier, an agent.
    let acme = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/reports?{october}&account_id={}", w.acme),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        acme["first_response"],
        json!({"count": 3, "median_seconds": 3600.0, "p90_seconds": 7200.0})
    );
    assert_eq!(
        acme["resolution"],
        json!({"count": 2, "median_seconds": 129600.0, "p90_seconds": 172800.0})
    );
    assert_eq!(acme["backlog"]["total"], 2);
    assert_eq!(acme["satisfaction"]["average"], 3.5);
    let standard = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/reports?{october}&tier=standard"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        standard["resolution"],
        json!({"count": 2, "median_seconds": 291600.0, "p90_seconds": 561600.0})
    );
    assert_eq!(standard["volume"]["created"], 1);
    let agent = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/reports?{october}&agent_id={}", w.agent_out_id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(agent["first_response"]["count"], 1);
    assert!(agent["deflection"].is_null());
    let team = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/reports?{october}&team_id={}", w.team_in),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(team["volume"]["created"], 3);

    // An agent sees the accounts their team serves, whatever they ask.
    let mine = ok(
        app.get_as(&w.agent_out, &format!("/api/v1/reports?{october}"))
            .await,
        200,
    )
    .await;
    assert_eq!(mine["first_response"]["count"], 1);
    assert_eq!(mine["volume"]["created"], 1);
    app.get_as(
        &w.agent_out,
        &format!("/api/v1/reports?{october}&account_id={}", w.acme),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(
        app.get_as(&w.auditor, &format!("/api/v1/reports?{october}"))
            .await
            .status,
        200
    );
    for token in [&w.contact_in, &w.contact_out] {
        app.get_as(token, "/api/v1/reports")
            .await
            .assert_problem(403, "forbidden");
    }
    // Bad filters are named.
    app.get_as(&w.admin, "/api/v1/reports?from=yesterday")
        .await
        .assert_problem(400, "invalid_query");
    let bad = app
        .get_as(&w.admin, "/api/v1/reports?from=2026-11-01&to=2026-10-01")
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "from");
    let bad = app
        .get_as(&w.admin, "/api/v1/reports?tier=platinum")
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "tier");

    // The CSV holds the same figures.
    let csv = app
        .get_as(&w.admin, &format!("/api/v1/reports?{october}&format=csv"))
        .await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    assert!(text.starts_with("section,metric,group,value\n"), "{text}");
    for line in [
        "first_response,median_seconds,,5400",
        "resolution,p90_seconds,,561600",
        "reopen,rate_percent,,33.33",
        "volume_channel,portal,,2",
        "satisfaction,rated_2,,1",
        "backlog_age,over_30d,,1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }

    // Acme's owner is the agent of its team: the owner filter picks it.
    let owned = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/reports?{october}&owner_id={}", w.agent_in_id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(owned["first_response"], acme["first_response"]);
    assert_eq!(owned["satisfaction"]["count"], 2);

    // The owner's portfolio: every account they own, at risk first.
    let mine = ok(app.get_as(&w.agent_in, "/api/v1/reports/health").await, 200).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["name"], "Acme Manufacturing");
    assert_eq!(mine[0]["status"], "at_risk");
    assert_eq!(mine[0]["open_cases"], 2);
    // Another team's agent sees none of Acme, whoever they ask about.
    let theirs = ok(
        app.get_as(
            &w.agent_out,
            &format!("/api/v1/reports/health?owner_id={}", w.agent_in_id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(theirs, json!([]));
    app.get_as(&w.contact_in, "/api/v1/reports/health")
        .await
        .assert_problem(403, "forbidden");

    // The account health view combines them for the owner.
    let health = ok(
        app.get_as(&w.agent_in, &format!("/api/v1/accounts/{}/health", w.acme))
            .await,
        200,
    )
    .await;
    assert_eq!(health["name"], "Acme Manufacturing");
    assert_eq!(health["status"], "at_risk", "{health}");
    let reasons = health["reasons"].as_array().unwrap();
    assert!(reasons[0].as_str().unwrap().contains("SLA"), "{reasons:?}");
    assert!(health["report"]["backlog"]["total"].as_u64().unwrap() >= 1);
    app.get_as(&w.agent_out, &format!("/api/v1/accounts/{}/health", w.acme))
        .await
        .assert_problem(404, "not_found");
    app.get_as(
        &w.contact_in,
        &format!("/api/v1/accounts/{}/health", w.acme),
    )
    .await
    .assert_problem(403, "forbidden");
}

e2e_test!(answers_given_through_the_api_are_timed_for_reports);
async fn answers_given_through_the_api_are_timed_for_reports(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let post = |token: &str, kind: &str, body: &str| {
        let (token, kind, body, entries) = (
            token.to_owned(),
            kind.to_owned(),
            body.to_owned(),
            entries.clone(),
        );
        let app = &app;
        async move {
            ok(
                app.post_as(&token, &entries, &json!({"kind": kind, "body": body}))
                    .await,
                201,
            )
            .await
        }
    };
    // A note answers nobody; the portal reply is the first response.
    post(&w.agent_in, "note", "Checking with billing").await;
    post(&w.agent_in, "portal", "We are on it.").await;
    // Two client messages, then one answer: one wait, from the first message.
    post(&w.contact_in, "portal", "Any news?").await;
    post(&w.contact_in, "portal", "It is urgent.").await;
    post(&w.agent_in, "portal", "Fixed in the new invoice.").await;
    post(&w.agent_in, "portal", "And sent again.").await;
    let r = ok(app.get_as(&w.admin, "/api/v1/reports").await, 200).await;
    assert_eq!(r["first_response"]["count"], 1, "{r}");
    assert_eq!(r["next_response"]["count"], 1, "{r}");
    assert!(r["first_response"]["median_seconds"].as_f64().unwrap() < 60.0);
}
