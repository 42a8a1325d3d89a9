use actix_web::http::Method;
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::{Value, json};

use super::directory::{contact_token, ok, world};

fn items(page: Value) -> Vec<Value> {
    page["items"].as_array().unwrap().clone()
}

e2e_test!(a_contacts_case_lands_with_the_accounts_team_and_its_familiar_agent);
async fn a_contacts_case_lands_with_the_accounts_team_and_its_familiar_agent(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let first = app
        .get_as(&w.contact_in, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .json();
    assert_eq!(first["team_id"], w.team_in.as_str());
    assert_eq!(
        first["assignee_id"],
        w.agent_in_id.as_str(),
        "the only agent of the team"
    );
    assert_eq!(first["status"], "new");
    assert!(first["reference"].as_str().unwrap().starts_with('#'));

    // A second agent joins the team with no cases at all; still, the
    // agent who already answered this client gets their next case.
    let helper = app.token_for(db, "agent").await;
    let helper_id = app.get_as(&helper, "/api/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/teams/{}/members/{helper_id}", w.team_in),
            Some(json!({"role": "member"}).to_string()),
            Some(&w.admin),
        )
        .await;
    assert_eq!(res.status, 200);
    let reply = ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "Looking into it."}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        reply["case"]["status"], "open",
        "a staff reply opens a new case"
    );
    assert!(reply["case"]["first_response_at"].is_string());
    // As stored, not only as answered: read back, and found by its new
    // status (the status's indexes moved with it).
    let stored = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .json();
    assert_eq!(stored["status"], "open");
    assert_eq!(
        stored["first_response_at"],
        reply["case"]["first_response_at"]
    );
    let listed = |status: &'static str| {
        let (app, token) = (&app, &w.agent_in);
        async move {
            let page = app
                .get_as(token, &format!("/api/v1/cases?status={status}"))
                .await
                .json();
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert!(listed("open").await.contains(&w.acme_case.to_string()));
    assert!(!listed("new").await.contains(&w.acme_case.to_string()));
    let second = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Delivery address change", "body": "Please use our new warehouse."}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(second["case"]["assignee_id"], w.agent_in_id.as_str());
    // Without history with this client, the least busy member takes it.
    let staff_case = ok(app.post_as(&w.admin, "/api/v1/cases", &json!({"account_id": w.acme, "subject": "Contract renewal", "body": "Your contract renews in March."})).await, 201).await;
    assert!(staff_case["case"]["opened_by_contact_id"].is_null());
    assert_ne!(first["number"], second["case"]["number"]);
}

e2e_test!(an_internal_note_never_reaches_a_contact);
async fn an_internal_note_never_reaches_a_contact(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let secret = "Client is late on three invoices; escalate to finance";
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "note", "body": secret}),
        )
        .await,
        201,
    )
    .await;
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "We are checking with billing."}),
        )
        .await,
        201,
    )
    .await;
    // Staff see it.
    let staff_thread = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await;
    assert!(String::from_utf8_lossy(&staff_thread.body).contains(secret));
    // The contact sees every other entry, by every path, and never the note.
    for path in [
        format!("/api/v1/cases/{}/entries", w.acme_case),
        format!("/api/v1/accounts/{}/timeline", w.acme),
        format!("/api/v1/cases/{}", w.acme_case),
        "/api/v1/cases".to_owned(),
    ] {
        let res = app.get_as(&w.contact_in, &path).await;
        assert_eq!(res.status, 200, "{path}");
        let text = String::from_utf8_lossy(&res.body);
        assert!(!text.contains(secret), "{path} showed the note: {text}");
    }
    let thread = items(
        app.get_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json(),
    );
    assert!(
        thread
            .iter()
            .any(|e| e["body"] == "We are checking with billing.")
    );
    assert!(thread.iter().all(|e| e["kind"] != "note"));
    // Contacts cannot export the audit log, and cannot write notes.
    app.get_as(&w.contact_in, "/api/v1/audit/export")
        .await
        .assert_problem(403, "forbidden");
    let body = app
        .post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "note", "body": "x"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(body["field"], "kind");
}

e2e_test!(a_client_reply_reopens_a_resolved_case);
async fn a_client_reply_reopens_a_resolved_case(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}", w.acme_case);
    let res = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.json()["status"], "resolved");
    let posted = ok(
        app.post_as(
            &w.contact_in,
            &format!("{path}/entries"),
            &json!({"kind": "portal", "body": "Still wrong on the new invoice."}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(posted["case"]["id"], w.acme_case.as_str());
    assert_eq!(posted["case"]["status"], "open");
    assert_eq!(posted["case"]["reopen_count"], 1);
    assert!(posted["case"]["resolved_at"].is_null());
    let thread = items(
        app.get_as(&w.agent_in, &format!("{path}/entries"))
            .await
            .json(),
    );
    assert!(
        thread
            .iter()
            .any(|e| e["kind"] == "event" && e["body"].as_str().unwrap().contains("Reopened"))
    );
    assert!(
        thread
            .iter()
            .any(|e| e["kind"] == "event" && e["body"].as_str().unwrap().contains("→ Resolved by"))
    );
}

e2e_test!(a_reply_long_after_closing_opens_a_new_linked_case);
async fn a_reply_long_after_closing_opens_a_new_linked_case(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.cases.reopen_closed_within_days = 0).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}", w.acme_case);
    assert_eq!(
        app.send(
            Method::PATCH,
            &path,
            Some(json!({"status": "closed"}).to_string()),
            Some(&w.agent_in)
        )
        .await
        .status,
        200
    );
    let posted = ok(
        app.post_as(
            &w.contact_in,
            &format!("{path}/entries"),
            &json!({"kind": "portal", "body": "Same problem again this quarter."}),
        )
        .await,
        201,
    )
    .await;
    assert_ne!(posted["case"]["id"], w.acme_case.as_str());
    assert_eq!(posted["case"]["follows_case_id"], w.acme_case.as_str());
    assert_eq!(
        posted["case"]["subject"],
        "Re: Invoice 2026-114 does not match the PO"
    );
    assert_eq!(posted["case"]["assignee_id"], w.agent_in_id.as_str());
    let old = app.get_as(&w.agent_in, &path).await.json();
    assert_eq!(old["status"], "closed");
}

e2e_test!(a_retried_post_with_the_same_client_message_id_stores_one_entry);
async fn a_retried_post_with_the_same_client_message_id_stores_one_entry(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/entries", w.acme_case);
    let body =
        json!({"kind": "portal", "body": "Attached the PO.", "client_message_id": "msg-0001"});
    let first = ok(app.post_as(&w.contact_in, &path, &body).await, 201).await;
    let again = ok(app.post_as(&w.contact_in, &path, &body).await, 200).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(first["entry"]["id"], again["entry"]["id"]);
    let thread = items(app.get_as(&w.agent_in, &path).await.json());
    assert_eq!(
        thread
            .iter()
            .filter(|e| e["body"] == "Attached the PO.")
            .count(),
        1
    );
    // Opening a case is idempotent the same way.
    let open = json!({"subject": "Portal login", "body": "Cannot sign in.", "client_message_id": "open-7"});
    let a = ok(
        app.post_as(&w.contact_in, "/api/v1/cases", &open).await,
        201,
    )
    .await;
    let b = ok(
        app.post_as(&w.contact_in, "/api/v1/cases", &open).await,
        201,
    )
    .await;
    assert_eq!(a["case"]["id"], b["case"]["id"]);
}

e2e_test!(merging_keeps_every_entry_and_the_audit_chain_verifies);
async fn merging_keeps_every_entry_and_the_audit_chain_verifies(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let other = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Invoice question", "body": "Same invoice, second email."}),
        )
        .await,
        201,
    )
    .await;
    let other_id = other["case"]["id"].as_str().unwrap().to_owned();
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{other_id}/entries"),
            &json!({"kind": "note", "body": "Duplicate of the first"}),
        )
        .await,
        201,
    )
    .await;
    let before_a = items(
        app.get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json(),
    )
    .len();
    let before_b = items(
        app.get_as(&w.agent_in, &format!("/api/v1/cases/{other_id}/entries"))
            .await
            .json(),
    )
    .len();
    let kept = ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{other_id}/merge"),
            &json!({"into": w.acme_case}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(kept["id"], w.acme_case.as_str());
    let after = items(
        app.get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json(),
    );
    // Every entry of both, plus the merge event; the merged case keeps
    // its own "merged into" event.
    assert_eq!(after.len(), before_a + before_b + 1, "{after:?}");
    // The moved entries take the places after the survivor's own: still
    // one place per entry, none skipped.
    let mut places: Vec<i64> = after.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    places.sort_unstable();
    assert_eq!(places, (1..=after.len() as i64).collect::<Vec<_>>());
    let left = items(
        app.get_as(&w.agent_in, &format!("/api/v1/cases/{other_id}/entries"))
            .await
            .json(),
    );
    assert_eq!(left.len(), 1);
    assert!(
        left[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("Merged into #")
    );
    let gone = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{other_id}"))
        .await
        .json();
    assert_eq!(gone["merged_into_id"], w.acme_case.as_str());
    assert_eq!(gone["status"], "closed");
    // Posting to the merged case points to the survivor.
    let body = app
        .post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{other_id}/entries"),
            &json!({"kind": "portal", "body": "hello?"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert!(body["detail"].as_str().unwrap().contains("merged into #"));
    // The account's audit export, case streams included, verifies.
    let key = rapport_audit::AuditPublicKey::parse(
        app.get("/api/v1/audit/public-key").await.json()["verify_argument"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let export = app
        .get_as(
            &w.auditor,
            &format!("/api/v1/audit/export?account={}", w.acme),
        )
        .await;
    let report = rapport_audit::verify_export(export.body.as_slice(), &key).unwrap();
    assert!(report.streams >= 3, "account stream and both case streams");
    let text = String::from_utf8(export.body).unwrap();
    assert!(
        text.contains("\"action\":\"case.merged\"")
            && text.contains("\"action\":\"case.merge_received\"")
    );
    // Cases of different accounts never merge.
    let gx = ok(
        app.post_as(
            &w.contact_out,
            "/api/v1/cases",
            &json!({"subject": "Globex", "body": "x"}),
        )
        .await,
        201,
    )
    .await;
    let res = app
        .post_as(
            &w.admin,
            &format!("/api/v1/cases/{}/merge", gx["case"]["id"].as_str().unwrap()),
            &json!({"into": w.acme_case}),
        )
        .await;
    res.assert_problem(422, "validation_failed");
}

e2e_test!(contacts_see_the_cases_their_visibility_allows);
async fn contacts_see_the_cases_their_visibility_allows(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // A colleague who sees only their own cases, and one who sees all.
    for (email, visibility) in [
        ("olaf@acme.example", "own_cases"),
        ("cfo@acme.example", "all_account_cases"),
    ] {
        ok(
            app.post_as(
                &w.agent_in,
                &format!("/api/v1/accounts/{}/contacts", w.acme),
                &json!({"name": "Colleague", "emails": [email], "visibility": visibility}),
            )
            .await,
            201,
        )
        .await;
    }
    let olaf = contact_token(&app, db, "olaf@acme.example").await;
    let cfo = contact_token(&app, db, "cfo@acme.example").await;
    app.get_as(&olaf, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .assert_problem(404, "not_found");
    assert!(items(app.get_as(&olaf, "/api/v1/cases").await.json()).is_empty());
    assert!(
        items(
            app.get_as(&olaf, &format!("/api/v1/accounts/{}/timeline", w.acme))
                .await
                .json()
        )
        .is_empty()
    );
    assert_eq!(
        app.get_as(&cfo, &format!("/api/v1/cases/{}", w.acme_case))
            .await
            .status,
        200
    );
    assert_eq!(
        items(app.get_as(&cfo, "/api/v1/cases").await.json()).len(),
        1
    );
    // Another company's contact sees nothing of Acme's cases.
    assert!(items(app.get_as(&w.contact_out, "/api/v1/cases").await.json()).is_empty());
    // An agent of another team neither.
    assert!(
        !String::from_utf8_lossy(&app.get_as(&w.agent_out, "/api/v1/cases").await.body)
            .contains("Invoice 2026-114")
    );
}

e2e_test!(search_finds_words_only_where_the_caller_may_read);
async fn search_finds_words_only_where_the_caller_may_read(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/entries", w.acme_case);
    ok(
        app.post_as(
            &w.agent_in,
            &path,
            &json!({"kind": "note", "body": "Suspect the Zeppelin discount code"}),
        )
        .await,
        201,
    )
    .await;
    ok(
        app.post_as(
            &w.agent_in,
            &path,
            &json!({"kind": "portal", "body": "Credit note for the Zeppelin order is on its way."}),
        )
        .await,
        201,
    )
    .await;
    let gx = ok(
        app.post_as(
            &w.contact_out,
            "/api/v1/cases",
            &json!({"subject": "Zeppelin shipment delayed", "body": "Where is it?"}),
        )
        .await,
        201,
    )
    .await;

    let staff = items(
        app.get_as(&w.agent_in, "/api/v1/search?q=zeppelin")
            .await
            .json(),
    );
    assert_eq!(
        staff.len(),
        2,
        "note and reply of Acme, nothing of Globex: {staff:?}"
    );
    assert!(staff.iter().all(|h| h["case_id"] == w.acme_case.as_str()));
    // Matches are marked in parts, never with characters that could be text.
    assert!(
        staff
            .iter()
            .any(|h| h["snippet"].as_str().unwrap().contains("Zeppelin")
                && !h["snippet"].as_str().unwrap().contains("[Zeppelin]"))
    );
    assert!(staff.iter().any(|h| {
        h["snippet_parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["match"] == true && p["text"] == "Zeppelin")
    }));

    let contact = items(
        app.get_as(&w.contact_in, "/api/v1/search?q=ZEPPELIN")
            .await
            .json(),
    );
    assert_eq!(contact.len(), 1);
    assert_eq!(contact[0]["kind"], "portal");
    let other = items(
        app.get_as(&w.contact_out, "/api/v1/search?q=zeppelin")
            .await
            .json(),
    );
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["case_id"], gx["case"]["id"]);
    assert_eq!(other[0]["kind"], "subject");

    // Every word must match; subjects match too; syntax is just text.
    assert_eq!(
        items(
            app.get_as(&w.auditor, "/api/v1/search?q=zeppelin%20credit")
                .await
                .json()
        )
        .len(),
        1
    );
    assert_eq!(
        items(
            app.get_as(&w.auditor, "/api/v1/search?q=PO%20does%20not%20match")
                .await
                .json()
        )[0]["kind"],
        "subject"
    );
    assert!(
        items(
            app.get_as(&w.auditor, "/api/v1/search?q=%22zeppelin%22%20OR%20NEAR(")
                .await
                .json()
        )
        .len()
            <= 3
    );
    app.get_as(&w.auditor, "/api/v1/search?q=***")
        .await
        .assert_problem(422, "validation_failed");

    // Pages of one walk through all matches newest first.
    let first = app
        .get_as(&w.auditor, "/api/v1/search?q=zeppelin&limit=1")
        .await
        .json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get_as(
            &w.auditor,
            &format!("/api/v1/search?q=zeppelin&limit=1&cursor={cursor}"),
        )
        .await
        .json();
    assert_ne!(items(first)[0]["id"], items(second)[0]["id"]);
}

e2e_test!(search_follows_subject_changes_and_merges);
async fn search_follows_subject_changes_and_merges(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/cases/{}", w.acme_case),
            Some(json!({"subject": "Quarterly reconciliation"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        items(
            app.get_as(&w.agent_in, "/api/v1/search?q=reconciliation")
                .await
                .json()
        )
        .len(),
        1
    );
    let other = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Zebra", "body": "Quokka sighting"}),
        )
        .await,
        201,
    )
    .await;
    let other_id = other["case"]["id"].as_str().unwrap().to_owned();
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{other_id}/merge"),
            &json!({"into": w.acme_case}),
        )
        .await,
        200,
    )
    .await;
    let hits = items(
        app.get_as(&w.agent_in, "/api/v1/search?q=quokka")
            .await
            .json(),
    );
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0]["case_id"],
        w.acme_case.as_str(),
        "the entry is found in the case it moved to"
    );
}

e2e_test!(appends_to_one_case_at_once_take_consecutive_places_in_id_order);
async fn appends_to_one_case_at_once_take_consecutive_places_in_id_order(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/entries", w.acme_case);
    let (app_ref, w_ref) = (&app, &w);
    // The agent's notes and the contact's messages, all in flight at once.
    let posts = (0..24).map(|i| {
        let (token, kind) = if i % 2 == 0 {
            (&w_ref.agent_in, "note")
        } else {
            (&w_ref.contact_in, "portal")
        };
        let body = json!({"kind": kind, "body": format!("Message {i} about the freight invoice.")});
        let path = path.clone();
        async move { app_ref.post_as(token, &path, &body).await.status }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let thread = items(
        app.get_as(&w.agent_in, &format!("{path}?limit=200"))
            .await
            .json(),
    );
    let seqs: Vec<i64> = thread.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=thread.len() as i64).collect();
    assert_eq!(seqs, expected, "one place each, no gap, no repeat");
    let ids: Vec<&str> = thread.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        ids.windows(2).all(|p| p[0] < p[1]),
        "ids follow the places: {ids:?}"
    );
    for i in 0..24 {
        let body = format!("Message {i} about the freight invoice.");
        assert_eq!(
            thread.iter().filter(|e| e["body"] == body.as_str()).count(),
            1,
            "{body}"
        );
    }
}

e2e_test!(an_opened_case_is_as_active_as_its_first_entry_and_reads_back_so);
/// A case and its first entry are written at one time: the case's
/// activity (and, opened by staff, its first response) is the entry's
/// time, as answered and as read back, and the entry is the thread's first.
async fn an_opened_case_is_as_active_as_its_first_entry_and_reads_back_so(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let by_staff = json!({"account_id": w.acme, "subject": "Contract renewal", "body": "Your contract renews in March."});
    let by_contact =
        json!({"subject": "Delivery address change", "body": "Please use our new warehouse."});
    for (token, body, staff) in [
        (&w.admin, by_staff, true),
        (&w.contact_in, by_contact, false),
    ] {
        let opened = ok(app.post_as(token, "/api/v1/cases", &body).await, 201).await;
        let (case, entry) = (&opened["case"], &opened["entry"]);
        assert_eq!(entry["seq"], 1, "{opened}");
        assert!(entry["created_at"].is_string(), "{opened}");
        assert_eq!(case["last_activity_at"], entry["created_at"], "{opened}");
        assert_eq!(case["created_at"], entry["created_at"], "{opened}");
        let answered = if staff {
            entry["created_at"].clone()
        } else {
            Value::Null
        };
        assert_eq!(case["first_response_at"], answered, "{opened}");
        let id = case["id"].as_str().unwrap();
        let stored = app
            .get_as(&w.admin, &format!("/api/v1/cases/{id}"))
            .await
            .json();
        for field in [
            "created_at",
            "last_activity_at",
            "first_response_at",
            "status",
        ] {
            assert_eq!(
                stored[field], case[field],
                "{field}: {stored} against {case}"
            );
        }
        let thread = items(
            app.get_as(&w.admin, &format!("/api/v1/cases/{id}/entries"))
                .await
                .json(),
        );
        assert_eq!(thread.len(), 1);
        assert_eq!(thread[0]["created_at"], entry["created_at"]);
    }
}
