use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::json;

use super::directory::{contact_token, ok, world};

e2e_test!(an_outreach_case_reaches_two_contacts_by_email_and_portal_and_threads_their_answers);
async fn an_outreach_case_reaches_two_contacts_by_email_and_portal_and_threads_their_answers(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let otto = ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/accounts/{}/contacts", w.acme),
            &json!({"name": "Otto Ops", "emails": ["otto@acme.example"], "function": "operations"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let otto_token = contact_token(&app, db, "otto@acme.example").await;
    let subject = "Planned maintenance on 2 December";
    let opened = ok(app.post_as(&w.agent_in, "/api/v1/cases", &json!({
        "account_id": w.acme,
        "subject": subject,
        "body": "Our platform is down for maintenance on 2 December from 22:00 to 23:00 UTC.",
        "participant_ids": [w.anna, otto],
        "category": "billing",
    })).await, 201).await;
    let case = opened["case"]["id"].as_str().unwrap().to_owned();
    let number = opened["case"]["number"].as_i64().unwrap();

    // Both get the email, tagged with the case so that replies thread.
    let mailbox = db.data_dir().join("mailbox");
    for address in ["anna@acme.example", "otto@acme.example"] {
        let (mail, _) = rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
            m.subject.contains(subject) && m.to.iter().any(|t| t.address == address)
        })
        .await;
        assert!(
            mail.subject.contains(&format!("[#{number}]")),
            "{}",
            mail.subject
        );
        assert!(mail.text.contains("22:00 to 23:00 UTC"));
        assert!(mail.text.contains("/portal"));
        assert!(mail.reply_to.is_some(), "a reply address that threads back");
    }
    // Both see it in the portal, with the message.
    for token in [&w.contact_in, &otto_token] {
        let list = app.get_as(token, "/api/v1/cases").await.json();
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == case.as_str()),
            "{list}"
        );
        let thread = app
            .get_as(token, &format!("/api/v1/cases/{case}/entries"))
            .await
            .json();
        assert!(
            thread["items"][0]["body"]
                .as_str()
                .unwrap()
                .contains("maintenance")
        );
    }
    // Another account's contacts see nothing of it.
    app.get_as(&w.contact_out, &format!("/api/v1/cases/{case}"))
        .await
        .assert_problem(404, "not_found");
    // Otto answers in the portal: same thread.
    let reply = ok(
        app.post_as(
            &otto_token,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "portal", "body": "Thanks, noted for our night shift."}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(reply["case"]["id"], case.as_str());
    // A contact of another account cannot be a participant.
    let globex_contacts = app
        .get_as(
            &w.admin,
            &format!(
                "/api/v1/accounts/{}/contacts",
                app.get_as(&w.admin, "/api/v1/accounts?q=globex")
                    .await
                    .json()["items"][0]["id"]
                    .as_str()
                    .unwrap()
            ),
        )
        .await
        .json();
    let gus_id = globex_contacts["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = app.post_as(&w.agent_in, "/api/v1/cases", &json!({"account_id": w.acme, "subject": "x", "body": "y", "participant_ids": [gus_id]})).await.assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "participants");
}
