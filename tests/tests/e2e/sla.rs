use actix_web::http::Method;
use chrono::Duration;
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test, seed};
use serde_json::{Value, json};

use super::directory::{ok, world};

fn clocks(db: &rapport_tests::TestDatabase, case: &str) -> Vec<rapport_store::sla::Clock> {
    let store = seed::store(db);
    rapport_store::sla::for_case(&mut store.conn().unwrap(), case.parse().unwrap()).unwrap()
}

fn clock<'a>(all: &'a [rapport_store::sla::Clock], kind: &str) -> &'a rapport_store::sla::Clock {
    all.iter()
        .find(|c| c.clock == kind)
        .unwrap_or_else(|| panic!("no {kind} clock"))
}

e2e_test!(sla_clocks_count_business_time_and_breaches_are_recorded_once);
async fn sla_clocks_count_business_time_and_breaches_are_recorded_once(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // Acme is a strategic account: first response within 120 business minutes.
    let opened = clocks(db, &w.acme_case);
    let first = clock(&opened, "first_response");
    assert_eq!(first.target_minutes, 120);
    let calendar = &app.state.config.sla_calendar;
    assert_eq!(
        first.due_at,
        calendar.add_business_minutes(first.started_at, 120)
    );
    assert_eq!(clock(&opened, "resolution").target_minutes, 1440);

    // Nothing is due yet.
    assert_eq!(
        rapport_server::usecase::sla::tick(&app.state, chrono::Utc::now()).unwrap(),
        0
    );
    // Between the warning time and the due time: a warning.
    assert_eq!(
        rapport_server::usecase::sla::tick(&app.state, first.warn_at + Duration::seconds(1))
            .unwrap(),
        1
    );
    // Past the due time: the breach, recorded once however often checked.
    let late = first.due_at + Duration::minutes(1);
    assert_eq!(
        rapport_server::usecase::sla::tick(&app.state, late).unwrap(),
        1
    );
    assert_eq!(
        rapport_server::usecase::sla::tick(&app.state, late).unwrap(),
        0
    );
    let thread = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json();
    let events: Vec<&Value> = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "event")
        .collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["body"]
                .as_str()
                .unwrap()
                .starts_with("SLA breached: first response"))
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["body"]
                .as_str()
                .unwrap()
                .starts_with("SLA warning: first response"))
            .count(),
        1
    );
    let report = app
        .get_as(&w.agent_in, &format!("/api/v1/accounts/{}/sla", w.acme))
        .await
        .json();
    assert_eq!(report["tier"], "strategic");
    assert_eq!(report["first_response"]["running_breached"], 1);
    let export = app
        .get_as(
            &w.auditor,
            &format!("/api/v1/audit/export?case={}", w.acme_case),
        )
        .await;
    assert!(String::from_utf8_lossy(&export.body).contains("\"action\":\"case.sla_breached\""));

    // The answer stops the clock; it counts as missed (the tick's "late"
    // is in the future of the real clock, so the reply itself is in time).
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "On it."}),
        )
        .await,
        201,
    )
    .await;
    let report = app
        .get_as(&w.agent_in, &format!("/api/v1/accounts/{}/sla", w.acme))
        .await
        .json();
    assert_eq!(report["first_response"]["running"], 0);
    assert_eq!(report["first_response"]["met"], 1);
    assert_eq!(report["first_response"]["attainment_percent"], 100.0);
    // A client's next message starts the next-response clock.
    ok(
        app.post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "Thanks, any news?"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        clock(&clocks(db, &w.acme_case), "next_response").target_minutes,
        240
    );
    // Contacts do not see SLA figures.
    app.get_as(&w.contact_in, &format!("/api/v1/accounts/{}/sla", w.acme))
        .await
        .assert_problem(403, "forbidden");
}

e2e_test!(clocks_pause_while_the_case_waits_for_the_client);
async fn clocks_pause_while_the_case_waits_for_the_client(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}", w.acme_case);
    let before = clock(&clocks(db, &w.acme_case), "resolution").clone();
    let res = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"status": "pending_client"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.status, 200);
    let paused = clock(&clocks(db, &w.acme_case), "resolution").clone();
    assert!(paused.paused_at.is_some());
    // Paused clocks are never marked, however late it gets.
    assert_eq!(
        rapport_server::usecase::sla::tick(&app.state, before.due_at + Duration::days(30)).unwrap(),
        0
    );
    // The client's answer resumes them, later by the business time waited.
    ok(
        app.post_as(
            &w.contact_in,
            &format!("{path}/entries"),
            &json!({"kind": "portal", "body": "Here is the PO."}),
        )
        .await,
        201,
    )
    .await;
    let resumed = clock(&clocks(db, &w.acme_case), "resolution").clone();
    assert!(resumed.paused_at.is_none());
    assert!(resumed.due_at >= before.due_at);
    assert_eq!(
        app.get_as(&w.agent_in, &path).await.json()["status"],
        "open"
    );
    // Resolving stops every clock.
    let res = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(
        clocks(db, &w.acme_case)
            .iter()
            .all(|c| c.stopped_at.is_some())
    );
}

/// The next event of an open event stream, or None within `wait`.
async fn next_event(
    res: &mut awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
    wait: std::time::Duration,
) -> Option<String> {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, res.next()).await {
            Ok(Some(Ok(chunk))) => {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                if text.starts_with(':') {
                    continue; // keep-alive
                }
                return Some(text);
            }
            _ => return None,
        }
    }
}

e2e_test!(the_team_hears_of_a_breach_live);
async fn the_team_hears_of_a_breach_live(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let open = |token: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/notifications/stream", app.base_url);
        async move {
            client
                .get(url)
                .insert_header(("authorization", format!("Bearer {token}")))
                .send()
                .await
                .expect("stream opens")
        }
    };
    let mut mine = open(w.agent_in.clone()).await;
    assert_eq!(mine.status().as_u16(), 200);
    assert_eq!(
        mine.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut theirs = open(w.agent_out.clone()).await;
    for refused in [w.auditor.clone(), w.contact_in.clone()] {
        assert_eq!(open(refused).await.status().as_u16(), 403);
    }

    let first = clock(&clocks(db, &w.acme_case), "first_response").clone();
    rapport_server::usecase::sla::tick(&app.state, first.due_at + Duration::minutes(1)).unwrap();
    let event = next_event(&mut mine, std::time::Duration::from_secs(5))
        .await
        .expect("an event arrives");
    assert!(event.starts_with("event: sla_breached\n"), "{event}");
    let data: Value =
        serde_json::from_str(event.lines().nth(1).unwrap().trim_start_matches("data: ")).unwrap();
    assert_eq!(data["case_id"], w.acme_case.as_str());
    assert_eq!(data["team_id"], w.team_in.as_str());
    assert!(
        next_event(&mut theirs, std::time::Duration::from_millis(500))
            .await
            .is_none(),
        "another team hears nothing"
    );
}
