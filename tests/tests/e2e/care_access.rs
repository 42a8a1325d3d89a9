//! Every endpoint of the knowledge base, canned responses, satisfaction,
//! appointments and reports, called by each kind of caller.

use actix_web::http::Method;
use chrono::{Duration, Utc};
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::json;

use super::access::{MatrixRow, check_matrix, tokens};
use super::directory::{World, ok, world};

/// Ids the care matrix needs besides the world's.
#[derive(Default)]
pub(crate) struct CareIds {
    article: String,
    canned: String,
    doomed: String,
    suggestion: String,
    meeting: String,
}

#[rustfmt::skip]
pub(crate) fn care_rows(w: &World, ids: &CareIds) -> Vec<MatrixRow> {
    let (acme, case) = (&w.acme, &w.acme_case);
    let CareIds {
        article,
        canned,
        doomed,
        suggestion,
        meeting,
    } = ids;
    let start = Utc::now() + Duration::days(2);
    let slots = json!([{"start": start, "end": start + Duration::minutes(30)}]);
    let article_body =
        json!({"title": "Escalation {n}", "body": "Text {n}", "status": "published"});
    vec![
        (Method::GET, "/api/v1/kb/articles".into(), None, [200, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/kb/articles".into(), Some(article_body.clone()), [401, 201, 201, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/kb/articles/{article}"), None, [404, 200, 200, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::PUT, format!("/api/v1/kb/articles/{article}"), Some(json!({"title": "Strategic escalation desk", "body": "Call the desk {n}.", "visibility": "restricted", "audience_tiers": ["strategic"], "status": "published"})), [401, 200, 200, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/kb/articles/{article}/revisions"), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/kb/search?q=escalation".into(), None, [200, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/kb/suggest?q=escalation".into(), None, [401, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/kb/suggestions/{suggestion}/deflect"), Some(json!({})), [401, 403, 403, 403, 204, 404, 403, 403, 403, 403, 403]),
        (Method::GET, "/api/v1/canned-responses".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/canned-responses".into(), Some(json!({"team_id": w.team_in, "title": "T {n}", "body": "B"})), [401, 201, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::PUT, format!("/api/v1/canned-responses/{canned}"), Some(json!({"team_id": w.team_in, "title": "Acme greeting", "body": "Hello {{contact.name}} {n}"})), [401, 200, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/canned-responses/{canned}/render"), Some(json!({"case_id": case})), [401, 200, 404, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::DELETE, format!("/api/v1/canned-responses/{doomed}"), None, [401, 204, 404, 404, 403, 403, 403, 403, 403, 403, 404]),
        (Method::GET, format!("/api/v1/cases/{case}/satisfaction"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{case}/satisfaction"), Some(json!({"rating": 4})), [401, 403, 404, 403, 200, 404, 403, 403, 403, 403, 403]),
        (Method::GET, format!("/api/v1/cases/{case}/appointments"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{case}/appointments"), Some(json!({"title": "Call {n}", "slots": slots})), [401, 201, 404, 403, 201, 404, 403, 403, 403, 403, 201]),
        (Method::POST, format!("/api/v1/cases/{case}/appointments/{meeting}/book"), Some(json!({"slot": 0})), [401, 422, 404, 403, 200, 404, 403, 403, 403, 403, 409]),
        (Method::GET, format!("/api/v1/cases/{case}/appointments/{meeting}/ics"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{case}/appointments/{meeting}/cancel"), Some(json!({})), [401, 200, 404, 403, 409, 404, 403, 403, 403, 403, 409]),
        (Method::GET, format!("/api/v1/accounts/{acme}/appointments"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/reports".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/reports?account_id={acme}"), None, [401, 200, 404, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/reports?account_id={acme}&format=csv"), None, [401, 200, 404, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/accounts/{acme}/health"), None, [401, 200, 404, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/reports/health?owner_id={}", w.agent_in_id), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/help".into(), None, [200; 11]),
        (Method::GET, "/rate".into(), None, [200; 11]),
    ]
}

e2e_test!(every_care_endpoint_answers_each_kind_of_caller_exactly_as_intended);
async fn every_care_endpoint_answers_each_kind_of_caller_exactly_as_intended(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let t = tokens(&app, &w).await;
    let case = &w.acme_case;
    let article = ok(app.post_as(&w.agent_in, "/api/v1/kb/articles", &json!({"title": "Strategic escalation desk", "body": "Call the desk.", "visibility": "restricted", "audience_tiers": ["strategic"], "status": "published"})).await, 201).await["id"].as_str().unwrap().to_owned();
    let canned = ok(app.post_as(&w.agent_in, "/api/v1/canned-responses", &json!({"team_id": w.team_in, "title": "Acme greeting", "body": "Hello {{contact.name}}"})).await, 201).await["id"].as_str().unwrap().to_owned();
    let doomed = ok(
        app.post_as(
            &w.agent_in,
            "/api/v1/canned-responses",
            &json!({"team_id": w.team_in, "title": "Old", "body": "Old text"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let suggestion = app
        .get_as(&w.contact_in, "/api/v1/kb/suggest?q=escalation")
        .await
        .json()["suggestion_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = Utc::now() + Duration::days(2);
    let slots = json!([{"start": start, "end": start + Duration::minutes(30)}]);
    let meeting = ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/appointments"),
            &json!({"title": "Acme review", "slots": slots}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{case}"),
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;

    let ids = CareIds {
        article,
        canned,
        doomed,
        suggestion,
        meeting,
    };
    // The knowledge base is every agent's; a restricted article is not for other clients.
    check_matrix(&app, &w, &t, &care_rows(&w, &ids), |who| {
        if who == "agent outside it" {
            &["Acme", "Invoice 2026-114", "Acme review", "Hello Anna"]
        } else {
            &[
                "Acme",
                "Invoice 2026-114",
                "Acme review",
                "Hello Anna",
                "Call the desk",
            ]
        }
    })
    .await;
}
