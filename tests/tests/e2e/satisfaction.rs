use actix_web::http::Method;
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::json;

use super::directory::{ok, world};

e2e_test!(a_rating_link_works_once_and_only_for_its_case);
async fn a_rating_link_works_once_and_only_for_its_case(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let other = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Second question", "body": "About the SLA."}),
        )
        .await,
        201,
    )
    .await["case"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rate = |case: &str| format!("/api/v1/cases/{case}/satisfaction");
    // Nothing to rate before resolution.
    assert_eq!(
        app.get_as(&w.contact_in, &rate(&w.acme_case)).await.json()["status"],
        "not_asked"
    );
    app.post_as(&w.contact_in, &rate(&w.acme_case), &json!({"rating": 5}))
        .await
        .assert_problem(409, "conflict");

    for case in [&w.acme_case, &other] {
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
    }
    // The email carries a signed link for its case.
    let mailbox = db.data_dir().join("mailbox");
    let acme_case = w.acme_case.clone();
    let (mail, _) = rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
        m.subject.contains("How did we do?") && m.text.contains(&acme_case)
    })
    .await;
    assert_eq!(mail.to[0].address, "anna@acme.example");
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/rate?case="))
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with(&app.base_url) || link.starts_with("http://"),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // The page behind the link is served without a sign-in.
    let page = app
        .get(&format!("/rate?case={}&token={token}", w.acme_case))
        .await;
    assert_eq!(page.status, 200);
    // Only for its case.
    app.post_json(&rate(&other), &json!({"rating": 1, "token": token}))
        .await
        .assert_problem(403, "invalid_rating_link");
    app.get(&format!("{}?token={token}", rate(&other)))
        .await
        .assert_problem(403, "invalid_rating_link");
    // A forged signature is refused.
    let forged = format!("{}.AAAA", token.split('.').next().unwrap());
    app.post_json(&rate(&w.acme_case), &json!({"rating": 1, "token": forged}))
        .await
        .assert_problem(403, "invalid_rating_link");
    // Out of range is a validation error and uses nothing up.
    let bad = app
        .post_json(&rate(&w.acme_case), &json!({"rating": 6, "token": token}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "rating");
    let status = app
        .get(&format!("{}?token={token}", rate(&w.acme_case)))
        .await
        .json();
    assert_eq!(status["status"], "open");
    assert_eq!(status["subject"], "Invoice 2026-114 does not match the PO");
    // Once.
    let done = ok(
        app.post_json(
            &rate(&w.acme_case),
            &json!({"rating": 4, "comment": "Quick and clear.", "token": token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["status"], "rated");
    assert_eq!(done["rating"], 4);
    app.post_json(&rate(&w.acme_case), &json!({"rating": 1, "token": token}))
        .await
        .assert_problem(409, "conflict");
    app.post_as(&w.contact_in, &rate(&w.acme_case), &json!({"rating": 1}))
        .await
        .assert_problem(409, "conflict");

    // The other case is rated in the portal; staff cannot rate for the client.
    app.post_as(&w.agent_in, &rate(&other), &json!({"rating": 5}))
        .await
        .assert_problem(403, "forbidden");
    app.post_as(&w.contact_out, &rate(&other), &json!({"rating": 5}))
        .await
        .assert_problem(404, "not_found");
    let portal = ok(
        app.post_as(
            &w.contact_in,
            &rate(&other),
            &json!({"rating": 2, "via": "portal"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(portal["rating"], 2);
    // Reopening and resolving again asks nobody twice.
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{other}"),
            Some(json!({"status": "open"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{other}"),
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        app.get_as(&w.agent_in, &rate(&other)).await.json()["rating"],
        2
    );
    // The audit log has both ratings.
    let log = app
        .get_as(
            &w.auditor,
            &format!("/api/v1/audit/export?account={}", w.acme),
        )
        .await;
    let text = String::from_utf8_lossy(&log.body);
    assert_eq!(text.matches("satisfaction.rated").count(), 2, "{text}");
    assert_eq!(text.matches("satisfaction.requested").count(), 2);
}
