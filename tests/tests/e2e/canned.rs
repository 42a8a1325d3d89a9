use actix_web::http::Method;
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};
use super::knowledge::titles;

e2e_test!(canned_responses_are_per_team_or_global_and_fill_in_the_case);
async fn canned_responses_are_per_team_or_global_and_fill_in_the_case(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let global = json!({"title": "Thanks", "body": "Thank you {{contact.first_name}}, we are on {{case.number}}.\n\n{{agent.name}}"});
    // Global responses are the admins'.
    app.post_as(&w.agent_in, "/api/v1/canned-responses", &global)
        .await
        .assert_problem(403, "forbidden");
    let thanks = ok(
        app.post_as(&w.admin, "/api/v1/canned-responses", &global)
            .await,
        201,
    )
    .await;
    // A team's agents write its responses; other agents cannot.
    let team = json!({"team_id": w.team_in, "title": "Invoice fix", "body": "Dear {{contact.name}}, the invoice for {{account.name}} ({{case.subject}}) is corrected."});
    app.post_as(&w.agent_out, "/api/v1/canned-responses", &team)
        .await
        .assert_problem(403, "forbidden");
    let fix = ok(
        app.post_as(&w.agent_in, "/api/v1/canned-responses", &team)
            .await,
        201,
    )
    .await;
    // Everyone on staff sees the global one; the team one only its team (and admins, auditors).
    assert_eq!(
        titles(
            &app.get_as(&w.agent_in, "/api/v1/canned-responses")
                .await
                .json()
        ),
        ["Invoice fix", "Thanks"]
    );
    assert_eq!(
        titles(
            &app.get_as(&w.agent_out, "/api/v1/canned-responses")
                .await
                .json()
        ),
        ["Thanks"]
    );
    assert_eq!(
        titles(
            &app.get_as(&w.auditor, "/api/v1/canned-responses")
                .await
                .json()
        )
        .len(),
        2
    );
    for token in [&w.contact_in, &w.contact_out] {
        app.get_as(token, "/api/v1/canned-responses")
            .await
            .assert_problem(403, "forbidden");
    }
    // Inserted in a case: placeholders filled in.
    let render = |id: &Value| format!("/api/v1/canned-responses/{}/render", id.as_str().unwrap());
    let text = ok(
        app.post_as(
            &w.agent_in,
            &render(&fix["id"]),
            &json!({"case_id": w.acme_case}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        text["text"],
        "Dear Anna Finance, the invoice for Acme Manufacturing (Invoice 2026-114 does not match the PO) is corrected."
    );
    let text = ok(
        app.post_as(
            &w.agent_in,
            &render(&thanks["id"]),
            &json!({"case_id": w.acme_case}),
        )
        .await,
        200,
    )
    .await;
    assert!(
        text["text"]
            .as_str()
            .unwrap()
            .starts_with("Thank you Anna, we are on #"),
        "{text}"
    );
    // Not for cases one does not work, nor someone else's team response.
    app.post_as(
        &w.agent_out,
        &render(&thanks["id"]),
        &json!({"case_id": w.acme_case}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post_as(
        &w.agent_out,
        &render(&fix["id"]),
        &json!({"case_id": w.acme_case}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post_as(
        &w.auditor,
        &render(&fix["id"]),
        &json!({"case_id": w.acme_case}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Typos in placeholders are caught when written.
    let bad = app
        .post_as(
            &w.admin,
            "/api/v1/canned-responses",
            &json!({"title": "x", "body": "Hi {{contact.nmae}}"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert!(
        bad["detail"].as_str().unwrap().contains("{{contact.name}}"),
        "{bad}"
    );
    // Change and delete: the team's agents, not others.
    let path = format!("/api/v1/canned-responses/{}", fix["id"].as_str().unwrap());
    let changed = json!({"team_id": w.team_in, "title": "Invoice corrected", "body": "Corrected."});
    assert_eq!(
        app.send(
            Method::PUT,
            &path,
            Some(changed.to_string()),
            Some(&w.agent_out)
        )
        .await
        .status,
        403
    );
    assert_eq!(
        ok(
            app.send(
                Method::PUT,
                &path,
                Some(changed.to_string()),
                Some(&w.agent_in)
            )
            .await,
            200
        )
        .await["title"],
        "Invoice corrected"
    );
    assert_eq!(
        app.send(Method::DELETE, &path, None, Some(&w.auditor))
            .await
            .status,
        403
    );
    assert_eq!(
        app.send(Method::DELETE, &path, None, Some(&w.agent_in))
            .await
            .status,
        204
    );
    assert_eq!(
        titles(
            &app.get_as(&w.agent_in, "/api/v1/canned-responses")
                .await
                .json()
        ),
        ["Thanks"]
    );
}
