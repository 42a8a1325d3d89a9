use actix_web::http::Method;
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};

/// The `title` of each item of a JSON array.
pub(crate) fn titles(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect()
}

e2e_test!(a_contact_sees_only_the_articles_of_their_tier_by_list_search_and_id);
async fn a_contact_sees_only_the_articles_of_their_tier_by_list_search_and_id(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let article = |title: &str, visibility: &str, tiers: Vec<&str>| json!({"title": title, "body": format!("## {title}\n\nHow **escalation** works for this contract."), "category": "contracts", "tags": ["escalation"], "visibility": visibility, "audience_tiers": tiers, "status": "published"});
    let strategic = ok(
        app.post_as(
            &w.agent_in,
            "/api/v1/kb/articles",
            &article("Strategic escalation desk", "restricted", vec!["strategic"]),
        )
        .await,
        201,
    )
    .await;
    let everyone = ok(
        app.post_as(
            &w.agent_in,
            "/api/v1/kb/articles",
            &article("Escalation for all contacts", "contacts", vec![]),
        )
        .await,
        201,
    )
    .await;
    let public = ok(
        app.post_as(
            &w.admin,
            "/api/v1/kb/articles",
            &article("Public escalation policy", "public", vec![]),
        )
        .await,
        201,
    )
    .await;
    let mut draft = article("Escalation draft", "public", vec![]);
    draft["status"] = json!("draft");
    let draft = ok(
        app.post_as(&w.agent_in, "/api/v1/kb/articles", &draft)
            .await,
        201,
    )
    .await;
    assert!(
        strategic["html"]
            .as_str()
            .unwrap()
            .contains("<strong>escalation</strong>")
    );

    // Acme is strategic: Anna sees the restricted article; Gus (Globex,
    // standard) never does, whichever way he asks.
    let anna = titles(
        &app.get_as(&w.contact_in, "/api/v1/kb/articles")
            .await
            .json(),
    );
    assert!(
        anna.contains(&"Strategic escalation desk".to_owned()),
        "{anna:?}"
    );
    assert!(!anna.contains(&"Escalation draft".to_owned()));
    let gus = titles(
        &app.get_as(&w.contact_out, "/api/v1/kb/articles")
            .await
            .json(),
    );
    assert_eq!(
        gus,
        ["Public escalation policy", "Escalation for all contacts"]
    );
    let found = titles(
        &app.get_as(&w.contact_out, "/api/v1/kb/search?q=escalation")
            .await
            .json(),
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(!found.contains(&"Strategic escalation desk".to_owned()));
    let strategic_id = strategic["id"].as_str().unwrap();
    app.get_as(
        &w.contact_out,
        &format!("/api/v1/kb/articles/{strategic_id}"),
    )
    .await
    .assert_problem(404, "not_found");
    let suggested = app
        .get_as(&w.contact_out, "/api/v1/kb/suggest?q=escalation%20desk")
        .await
        .json();
    assert!(!titles(&suggested["articles"]).contains(&"Strategic escalation desk".to_owned()));
    assert_eq!(
        app.get_as(
            &w.contact_in,
            &format!("/api/v1/kb/articles/{strategic_id}")
        )
        .await
        .status,
        200
    );
    // Nobody signed in: public articles only; drafts are for staff.
    assert_eq!(
        titles(&app.get("/api/v1/kb/articles").await.json()),
        ["Public escalation policy"]
    );
    app.get(&format!(
        "/api/v1/kb/articles/{}",
        everyone["id"].as_str().unwrap()
    ))
    .await
    .assert_problem(404, "not_found");
    let draft_path = format!("/api/v1/kb/articles/{}", draft["id"].as_str().unwrap());
    app.get_as(&w.contact_in, &draft_path)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get_as(&w.auditor, &draft_path).await.status, 200);
    assert_eq!(
        app.get(&format!(
            "/api/v1/kb/articles/{}",
            public["id"].as_str().unwrap()
        ))
        .await
        .status,
        200
    );
    // The restriction can also name one account of another tier.
    let mut named = article("Globex escalation contacts", "restricted", vec![]);
    let globex = app
        .get_as(&w.admin, "/api/v1/accounts?q=globex")
        .await
        .json()["items"][0]["id"]
        .clone();
    named["audience_accounts"] = json!([globex]);
    ok(
        app.post_as(&w.agent_out, "/api/v1/kb/articles", &named)
            .await,
        201,
    )
    .await;
    assert!(
        titles(
            &app.get_as(&w.contact_out, "/api/v1/kb/search?q=escalation")
                .await
                .json()
        )
        .contains(&"Globex escalation contacts".to_owned())
    );
    assert!(
        !titles(
            &app.get_as(&w.contact_in, "/api/v1/kb/search?q=escalation")
                .await
                .json()
        )
        .contains(&"Globex escalation contacts".to_owned())
    );
    // Filters: a tag, exactly (`_` is no wildcard); a category.
    assert_eq!(
        titles(
            &app.get_as(&w.contact_out, "/api/v1/kb/articles?tag=escalation")
                .await
                .json()
        )
        .len(),
        3
    );
    assert!(
        titles(
            &app.get_as(&w.contact_out, "/api/v1/kb/articles?tag=escalati_n")
                .await
                .json()
        )
        .is_empty()
    );
    assert_eq!(
        titles(
            &app.get_as(&w.contact_out, "/api/v1/kb/articles?category=contracts")
                .await
                .json()
        )
        .len(),
        3
    );
    // A bad token is refused rather than read as "nobody signed in".
    app.send(
        Method::GET,
        "/api/v1/kb/articles",
        None,
        Some("not-a-token"),
    )
    .await
    .assert_problem(401, "invalid_token");
}

e2e_test!(writers_are_staff_and_every_revision_is_in_the_audit_log);
async fn writers_are_staff_and_every_revision_is_in_the_audit_log(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let body = json!({"title": "Resetting a password", "body": "Use the link on the sign-in page.", "visibility": "public"});
    for token in [&w.contact_in, &w.auditor] {
        app.post_as(token, "/api/v1/kb/articles", &body)
            .await
            .assert_problem(403, "forbidden");
    }
    let created = ok(
        app.post_as(&w.agent_in, "/api/v1/kb/articles", &body).await,
        201,
    )
    .await;
    assert_eq!(created["status"], "draft");
    let path = format!("/api/v1/kb/articles/{}", created["id"].as_str().unwrap());
    let mut next = body.clone();
    next["body"] = json!("Use the link on the sign-in page; it is valid for 15 minutes.");
    next["status"] = json!("published");
    let updated = ok(
        app.send(Method::PUT, &path, Some(next.to_string()), Some(&w.admin))
            .await,
        200,
    )
    .await;
    assert_eq!(updated["revision"], 2);
    assert!(updated["published_at"].is_string());
    // The same content again is no new revision.
    let same = ok(
        app.send(Method::PUT, &path, Some(next.to_string()), Some(&w.admin))
            .await,
        200,
    )
    .await;
    assert_eq!(same["revision"], 2);
    let revisions = app
        .get_as(&w.auditor, &format!("{path}/revisions"))
        .await
        .json();
    let revisions = revisions.as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["action"], "article.created");
    assert_eq!(
        revisions[0]["content"]["body"],
        "Use the link on the sign-in page."
    );
    assert_eq!(revisions[1]["action"], "article.published");
    app.get_as(&w.contact_in, &format!("{path}/revisions"))
        .await
        .assert_problem(403, "forbidden");
    // Bad input names the field.
    let bad = app
        .post_as(
            &w.agent_in,
            "/api/v1/kb/articles",
            &json!({"title": "x", "body": "y", "visibility": "restricted"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "audience_tiers");
    let bad = app.post_as(&w.agent_in, "/api/v1/kb/articles", &json!({"title": "x", "body": "y", "visibility": "restricted", "audience_tiers": ["platinum"]})).await.assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "audience_tiers");
    let bad = app
        .post_as(
            &w.agent_in,
            "/api/v1/kb/articles",
            &json!({"title": "x", "body": "y", "tags": ["no spaces"]}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "tags");
}

e2e_test!(suggestions_before_a_case_record_deflection_or_the_case_they_led_to);
async fn suggestions_before_a_case_record_deflection_or_the_case_they_led_to(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    ok(app.post_as(&w.agent_in, "/api/v1/kb/articles", &json!({"title": "Why your invoice shows no VAT number", "body": "Reverse-charge invoices carry the client's VAT number instead.", "status": "published"})).await, 201).await;
    ok(app.post_as(&w.agent_in, "/api/v1/kb/articles", &json!({"title": "Changing the delivery address", "body": "Addresses change from the portal.", "status": "published"})).await, 201).await;

    // Typing: any word counts, the last as a prefix.
    let s = app
        .get_as(&w.contact_in, "/api/v1/kb/suggest?q=The%20VAT%20num")
        .await
        .json();
    assert_eq!(
        titles(&s["articles"]),
        ["Why your invoice shows no VAT number"]
    );
    let first = s["suggestion_id"].as_str().unwrap().to_owned();
    // The subject growing as it is typed refines the same suggestion.
    let again = app
        .get_as(
            &w.contact_in,
            "/api/v1/kb/suggest?q=The%20VAT%20number%20on%20invoices",
        )
        .await
        .json();
    assert_eq!(again["suggestion_id"], first.as_str());
    let res = app
        .post_as(
            &w.contact_in,
            &format!("/api/v1/kb/suggestions/{first}/deflect"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status, 204);
    app.post_as(
        &w.contact_in,
        &format!("/api/v1/kb/suggestions/{first}/deflect"),
        &json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    // Another contact cannot decide it.
    app.post_as(
        &w.contact_out,
        &format!("/api/v1/kb/suggestions/{first}/deflect"),
        &json!({}),
    )
    .await
    .assert_problem(404, "not_found");

    // Going on: the case records what was shown.
    let s = app
        .get_as(&w.contact_in, "/api/v1/kb/suggest?q=delivery%20address")
        .await
        .json();
    let second = s["suggestion_id"].as_str().unwrap().to_owned();
    let opened = ok(app.post_as(&w.contact_in, "/api/v1/cases", &json!({"subject": "Delivery address", "body": "Our warehouse moved.", "kb_suggestion_id": second})).await, 201).await;
    let case = opened["case"]["id"].as_str().unwrap();
    let detail = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{case}"))
        .await
        .json();
    assert_eq!(
        titles(&detail["articles_shown"]),
        ["Changing the delivery address"]
    );
    let export = app
        .get_as(&w.auditor, &format!("/api/v1/audit/export?case={case}"))
        .await;
    let text = String::from_utf8_lossy(&export.body);
    assert!(text.contains("case.articles_shown"), "{text}");
    // A suggestion leads to one case only.
    app.post_as(
        &w.contact_in,
        "/api/v1/cases",
        &json!({"subject": "Again", "body": "x", "kb_suggestion_id": second}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // Nothing matching: nothing recorded.
    let none = app
        .get_as(&w.contact_in, "/api/v1/kb/suggest?q=zeppelin")
        .await
        .json();
    assert!(none["suggestion_id"].is_null());
    assert_eq!(none["articles"], json!([]));
}
