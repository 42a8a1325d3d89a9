//! What a client company's people do decides who sees and who answers:
//! categories name the contact functions they concern and the staff skill
//! that answers them; `function_cases` contacts see their function's cases
//! on every read path; cases are routed by skill inside the dedicated team.

use std::collections::BTreeSet;

use actix_web::http::Method;
use rapport_tests::chat_client::ChatClient;
use rapport_tests::{TestApp, TestDatabase, e2e_test};
use serde_json::{Value, json};

use super::directory::{contact_token, me_id, ok, world};
use super::mail::ingest_as;

/// The ids a page of `items` names under `key`.
fn ids(page: &Value, key: &str) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|i| i[key].as_str().expect("an id").to_owned())
        .collect()
}

pub(crate) async fn add_contact(app: &TestApp, agent: &str, account: &str, body: Value) -> String {
    ok(
        app.post_as(
            agent,
            &format!("/api/v1/accounts/{account}/contacts"),
            &body,
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn open(app: &TestApp, token: &str, subject: &str, category: Option<&str>) -> Value {
    let mut body = json!({"subject": subject, "body": format!("{subject}: details follow.")});
    if let Some(c) = category {
        body["category"] = json!(c);
    }
    ok(app.post_as(token, "/api/v1/cases", &body).await, 201).await["case"].clone()
}

/// Every way a contact reads cases, each giving the set of case ids seen
/// among `all`: the list, each case, its thread, search, the account
/// timeline and joining it on the websocket.
async fn seen_everywhere(
    app: &TestApp,
    token: &str,
    account: &str,
    all: &[(&str, &str)],
) -> BTreeSet<String> {
    let listed = ids(
        &ok(app.get_as(token, "/api/v1/cases?limit=200").await, 200).await,
        "id",
    );
    let found = ids(
        &ok(
            app.get_as(token, "/api/v1/search?q=details&limit=200")
                .await,
            200,
        )
        .await,
        "case_id",
    );
    let timeline = ids(
        &ok(
            app.get_as(
                token,
                &format!("/api/v1/accounts/{account}/timeline?limit=200"),
            )
            .await,
            200,
        )
        .await,
        "case_id",
    );
    let (mut chat, _) = ChatClient::connect(app, token).await;
    let mut by_case = BTreeSet::new();
    for (id, subject) in all {
        let read = app.get_as(token, &format!("/api/v1/cases/{id}")).await;
        let thread = app
            .get_as(token, &format!("/api/v1/cases/{id}/entries"))
            .await;
        assert_eq!(
            read.status, thread.status,
            "{subject}: case and thread agree"
        );
        assert!(
            [200, 404].contains(&read.status),
            "{subject}: {}",
            read.status
        );
        chat.send(json!({"type": "join", "case_id": id})).await;
        let answer = loop {
            let frame = chat.recv().await.expect("an answer to join");
            if frame["type"] == "backlog" || frame["type"] == "error" {
                break frame;
            }
        };
        let joined = answer["type"] == "backlog";
        assert_eq!(
            joined,
            read.status == 200,
            "{subject}: the websocket agrees with the API: {answer}"
        );
        if joined {
            // The rest of the backlog, so the next join's answer is its own.
            let mut page = answer;
            while page["complete"] != true {
                page = chat.next_of("backlog").await;
            }
            by_case.insert(id.to_string());
        } else {
            assert!(
                !read
                    .body
                    .windows(subject.len())
                    .any(|w| w == subject.as_bytes()),
                "{subject}: a refused read names nothing"
            );
        }
    }
    chat.close().await;
    let relevant = |s: BTreeSet<String>| -> BTreeSet<String> {
        s.into_iter()
            .filter(|id| all.iter().any(|(a, _)| a == id))
            .collect()
    };
    assert_eq!(relevant(listed), by_case, "the list agrees with each case");
    assert_eq!(relevant(found), by_case, "search agrees with each case");
    assert_eq!(
        relevant(timeline),
        by_case,
        "the timeline agrees with each case"
    );
    by_case
}

e2e_test!(contacts_see_the_cases_of_their_function_on_every_read_path);
async fn contacts_see_the_cases_of_their_function_on_every_read_path(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let acme = w.acme.clone();
    let globex = ok(
        app.post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Initech", "domains": ["initech.example"], "team_id": w.team_in}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, email, function, visibility) in [
        (
            "Fiona Chief",
            "fiona@acme.example",
            "finance",
            "function_cases",
        ),
        (
            "Theo Tech",
            "theo@acme.example",
            "technical",
            "function_cases",
        ),
        ("Olga Ops", "olga@acme.example", "operations", "own_cases"),
        (
            "Alex Exec",
            "alex@acme.example",
            "executive",
            "all_account_cases",
        ),
    ] {
        add_contact(
            &app,
            &w.agent_in,
            &acme,
            json!({"name": name, "emails": [email], "function": function, "visibility": visibility}),
        )
        .await;
    }
    add_contact(
        &app,
        &w.agent_in,
        &globex,
        json!({"name": "Ines Finance", "emails": ["ines@initech.example"], "function": "finance", "visibility": "function_cases"}),
    )
    .await;
    let anna = w.contact_in.clone();
    ok(
        app.post_as(
            &anna,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "PO 7781: details follow."}),
        )
        .await,
        201,
    )
    .await;
    // Petra works for both companies: Acme's technical contact, Initech's
    // finance contact, each seeing their function's cases.
    for (account, function) in [(&acme, "technical"), (&globex, "finance")] {
        add_contact(
            &app,
            &w.agent_in,
            account,
            json!({"name": "Petra Ledger", "emails": ["petra@ledger.example"], "function": function, "visibility": "function_cases"}),
        )
        .await;
    }
    let ines = contact_token(&app, db, "ines@initech.example").await;
    let billing = w.acme_case.clone();
    let technical = open(&app, &anna, "Gateway latency spikes", Some("technical")).await;
    let orders = open(&app, &anna, "Pallet order 4411 delayed", Some("orders")).await;
    let general = open(&app, &anna, "General question about onboarding", None).await;
    let theirs = open(&app, &ines, "Initech invoice query", Some("billing")).await;
    let all = [
        (billing.as_str(), "Invoice 2026-114"),
        (technical["id"].as_str().unwrap(), "Gateway latency spikes"),
        (orders["id"].as_str().unwrap(), "Pallet order 4411"),
        (general["id"].as_str().unwrap(), "General question"),
        (theirs["id"].as_str().unwrap(), "Initech invoice query"),
    ];
    let set = |picked: &[usize]| -> BTreeSet<String> {
        picked.iter().map(|i| all[*i].0.to_owned()).collect()
    };

    let fiona = contact_token(&app, db, "fiona@acme.example").await;
    let theo = contact_token(&app, db, "theo@acme.example").await;
    let olga = contact_token(&app, db, "olga@acme.example").await;
    let alex = contact_token(&app, db, "alex@acme.example").await;
    let petra_for = |account: String| {
        let app = &app;
        async move {
            rapport_tests::http::contact_token_by_link_for(
                &awc::Client::new(),
                &app.base_url,
                db.data_dir(),
                "petra@ledger.example",
                Some(&account),
            )
            .await
        }
    };
    let petra_acme = petra_for(acme.clone()).await;
    let petra_initech = petra_for(globex.clone()).await;
    // Function × visibility × account: the finance chief sees billing, the
    // technician technical, operations own cases only, the executive all;
    // nobody anything of another account.
    for (who, token, account, expected) in [
        (
            "Anna (finance, own cases, opened them)",
            &anna,
            &acme,
            set(&[0, 1, 2, 3]),
        ),
        ("Fiona (finance, function cases)", &fiona, &acme, set(&[0])),
        ("Theo (technical, function cases)", &theo, &acme, set(&[1])),
        ("Olga (operations, own cases)", &olga, &acme, set(&[])),
        (
            "Alex (executive, every case)",
            &alex,
            &acme,
            set(&[0, 1, 2, 3]),
        ),
        (
            "Ines (finance, function cases, Initech)",
            &ines,
            &globex,
            set(&[4]),
        ),
        (
            "Petra acting for Acme (technical, function cases)",
            &petra_acme,
            &acme,
            set(&[1]),
        ),
        (
            "Petra acting for Initech (finance, function cases)",
            &petra_initech,
            &globex,
            set(&[4]),
        ),
    ] {
        assert_eq!(
            seen_everywhere(&app, token, account, &all).await,
            expected,
            "{who}"
        );
    }
    // Another account's timeline is not theirs to read at all.
    app.get_as(&fiona, &format!("/api/v1/accounts/{globex}/timeline"))
        .await
        .assert_problem(404, "not_found");
    // Seeing is answering: Fiona replies on the billing case, not the technical one.
    ok(
        app.post_as(
            &fiona,
            &format!("/api/v1/cases/{billing}/entries"),
            &json!({"kind": "portal", "body": "Finance here: the PO total is right."}),
        )
        .await,
        201,
    )
    .await;
    app.post_as(
        &fiona,
        &format!("/api/v1/cases/{}/entries", all[1].0),
        &json!({"kind": "portal", "body": "Not mine to answer."}),
    )
    .await
    .assert_problem(404, "not_found");

    // An admin decides what a category concerns; access follows at once.
    let put = app
        .send(
            Method::PUT,
            "/api/v1/case-categories/orders",
            Some(json!({"functions": ["operations", "finance"], "skill": "orders"}).to_string()),
            Some(&w.admin),
        )
        .await;
    let changed = ok(put, 200).await;
    assert_eq!(changed["functions"], json!(["operations", "finance"]));
    assert_eq!(
        seen_everywhere(&app, &fiona, &acme, &all).await,
        set(&[0, 2]),
        "Fiona now sees orders too"
    );
    // Changing her visibility takes effect at her next sign-in.
    let fiona_id = ok(app.get_as(&fiona, "/api/v1/me").await, 200).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/contacts/{fiona_id}"),
            Some(json!({"visibility": "own_cases"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(ok(res, 200).await["visibility"], "own_cases");
    let fiona = contact_token(&app, db, "fiona@acme.example").await;
    assert_eq!(
        seen_everywhere(&app, &fiona, &acme, &all).await,
        set(&[]),
        "with own cases, none: she opened none and takes part in none"
    );
}

e2e_test!(inbound_mail_threads_into_a_case_only_for_contacts_who_may_see_it);
async fn inbound_mail_threads_into_a_case_only_for_contacts_who_may_see_it(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    add_contact(
        &app,
        &w.agent_in,
        &w.acme,
        json!({"name": "Fiona Chief", "emails": ["fiona@acme.example"], "function": "finance", "visibility": "function_cases"}),
    )
    .await;
    let technical = open(
        &app,
        &w.contact_in,
        "Gateway latency spikes",
        Some("technical"),
    )
    .await;
    let billing = ok(
        app.get_as(&w.admin, &format!("/api/v1/cases/{}", w.acme_case))
            .await,
        200,
    )
    .await;
    let mail = |number: &Value, n: u32| {
        format!(
            "From: Fiona Chief <fiona@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Re: [#{number}] the case\r\nMessage-ID: <fn-{n}@acme.example>\r\n\r\nFinance's view on this.\r\n"
        )
    };
    let into_billing = ingest_as(&app, &w.admin, mail(&billing["number"], 1)).await;
    assert_eq!(
        into_billing["case_id"].as_str(),
        Some(w.acme_case.as_str()),
        "the subject tag of a billing case threads Fiona's mail into it"
    );
    let not_technical = ingest_as(&app, &w.admin, mail(&technical["number"], 2)).await;
    let landed = not_technical["case_id"].as_str().unwrap().to_owned();
    assert_ne!(
        landed,
        technical["id"].as_str().unwrap(),
        "a guessed tag of a case she may not see opens a new case instead"
    );
}

/// Why the case went where it did, as staff read it.
async fn routing_note(app: &TestApp, staff: &str, case: &Value) -> String {
    ok(
        app.get_as(
            staff,
            &format!("/api/v1/cases/{}", case["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await["routing_note"]
        .as_str()
        .expect("staff see why the case went where it did")
        .to_owned()
}

e2e_test!(cases_go_to_the_team_member_with_the_category_skill_and_say_why);
async fn cases_go_to_the_team_member_with_the_category_skill_and_say_why(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // A billing specialist joins the account's team.
    let ana_token = app.token_for(db, "agent").await;
    let ana = me_id(&app, &ana_token).await;
    ok(
        app.send(
            Method::PUT,
            &format!("/api/v1/teams/{}/members/{ana}", w.team_in),
            Some(json!({"role": "member"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let ana_name = ok(app.get_as(&ana_token, "/api/v1/me").await, 200).await["display_name"]
        .as_str()
        .unwrap()
        .to_owned();
    // Skills are the admins' to give; a bad one is refused with its field.
    app.send(
        Method::PUT,
        &format!("/api/v1/staff/{ana}/skills"),
        Some(json!({"skills": ["billing"]}).to_string()),
        Some(&w.agent_in),
    )
    .await
    .assert_problem(403, "forbidden");
    app.send(
        Method::PUT,
        &format!("/api/v1/staff/{ana}/skills"),
        Some(json!({"skills": ["bill ing"]}).to_string()),
        Some(&w.admin),
    )
    .await
    .assert_problem(422, "validation_failed");
    let skills = ok(
        app.send(
            Method::PUT,
            &format!("/api/v1/staff/{ana}/skills"),
            Some(json!({"skills": ["Billing", "contract"]}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(skills["skills"], json!(["billing", "contract"]));
    let categories = ok(
        app.get_as(&w.agent_in, "/api/v1/case-categories").await,
        200,
    )
    .await;
    let billing = categories
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "billing")
        .expect("billing is configured")
        .clone();
    assert_eq!(billing["skill"], "billing");
    assert_eq!(billing["functions"], json!(["finance"]));
    assert_eq!(billing["skilled_staff_ids"], json!([ana]));
    app.send(
        Method::PUT,
        "/api/v1/case-categories/unheard-of",
        Some(json!({"functions": []}).to_string()),
        Some(&w.admin),
    )
    .await
    .assert_problem(404, "not_found");
    app.send(
        Method::PUT,
        "/api/v1/case-categories/billing",
        Some(json!({"functions": ["treasury"]}).to_string()),
        Some(&w.admin),
    )
    .await
    .assert_problem(422, "validation_failed");

    // The agent who wrote last would get it by familiarity; the skill wins.
    let first = open(
        &app,
        &w.contact_in,
        "Credit note for invoice 2026-120",
        Some("billing"),
    )
    .await;
    assert_eq!(
        first["assignee_id"],
        json!(ana),
        "billing goes to the billing skill"
    );
    let staff_view = ok(
        app.get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}", first["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    let note = staff_view["routing_note"]
        .as_str()
        .unwrap_or_else(|| panic!("staff see why: {staff_view}"));
    assert!(
        note.contains(&ana_name) && note.contains("billing skill"),
        "{note}"
    );
    let client_view = ok(
        app.get_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}", first["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    assert!(
        client_view.get("routing_note").is_none(),
        "clients never see routing"
    );
    // The next billing case: the same specialist, who now knows the account's billing.
    let second = open(
        &app,
        &w.contact_in,
        "Dunning letter sent by mistake",
        Some("billing"),
    )
    .await;
    assert_eq!(second["assignee_id"], json!(ana));
    let note = routing_note(&app, &w.admin, &second).await;
    assert!(
        note.contains("billing skill") && note.contains("this account's latest billing case"),
        "{note}"
    );
    // Nobody has the technical skill: any member, and the note says so.
    let tech = open(
        &app,
        &w.contact_in,
        "Gateway latency spikes",
        Some("technical"),
    )
    .await;
    let note = routing_note(&app, &w.admin, &tech).await;
    assert!(
        note.contains("nobody in Key Accounts has the technical skill"),
        "{note}"
    );
    assert!(
        tech["assignee_id"].is_string(),
        "a member is still assigned"
    );
    // The decision is in the audit log of the case too.
    let log = app
        .get_as(
            &w.admin,
            &format!(
                "/api/v1/audit/export?case={}",
                first["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(log.status, 200);
    let text = String::from_utf8_lossy(&log.body);
    assert!(
        text.contains("\"routing\":\"skill\"") && text.contains("billing skill"),
        "the audit event names the rule and the reason: {text}"
    );
}

/// The kinds and recipients of the case's queued mail.
async fn outbox_of(app: &TestApp, admin: &str, case: &str) -> Vec<(String, Vec<String>)> {
    ok(
        app.get_as(
            admin,
            &format!("/api/v1/mail/outbox?case_id={case}&limit=200"),
        )
        .await,
        200,
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|m| {
        (
            m["kind"].as_str().unwrap().to_owned(),
            m["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect(),
        )
    })
    .collect()
}

fn notified(outbox: &[(String, Vec<String>)]) -> BTreeSet<String> {
    outbox
        .iter()
        .filter(|(kind, _)| kind == "case_notice")
        .flat_map(|(_, to)| to.iter().cloned())
        .collect()
}

e2e_test!(a_clients_people_hear_of_the_cases_of_their_function_as_they_chose);
async fn a_clients_people_hear_of_the_cases_of_their_function_as_they_chose(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    for (name, email, function, visibility, notices) in [
        (
            "Fiona Chief",
            "fiona@acme.example",
            "finance",
            "function_cases",
            "each",
        ),
        (
            "Felix Ledger",
            "felix@acme.example",
            "finance",
            "all_account_cases",
            "digest",
        ),
        (
            "Fay Quiet",
            "fay@acme.example",
            "finance",
            "function_cases",
            "off",
        ),
        (
            "Olga Own",
            "olga@acme.example",
            "finance",
            "own_cases",
            "each",
        ),
        (
            "Otto Ops",
            "otto@acme.example",
            "operations",
            "function_cases",
            "each",
        ),
    ] {
        add_contact(
            &app,
            &w.agent_in,
            &w.acme,
            json!({"name": name, "emails": [email], "function": function, "visibility": visibility, "case_notices": notices}),
        )
        .await;
    }
    let mailbox = db.data_dir().join("mailbox");
    let case = open(
        &app,
        &w.contact_in,
        "Credit note needed for invoice 88",
        Some("billing"),
    )
    .await;
    let id = case["id"].as_str().unwrap().to_owned();
    // Only Fiona hears at once: Felix waits for his digest, Fay opted out,
    // Olga may not see the case, Otto's function is not concerned, and
    // Anna opened it.
    assert_eq!(
        notified(&outbox_of(&app, &w.admin, &id).await),
        BTreeSet::from(["fiona@acme.example".to_owned()])
    );
    let (mail, _) = rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
        m.subject
            .contains("New billing case: Credit note needed for invoice 88")
            && m.to.iter().any(|t| t.address == "fiona@acme.example")
    })
    .await;
    assert!(
        mail.text.contains("Anna Finance opened a billing case"),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("billing cases concern finance"),
        "{}",
        mail.text
    );

    // Felix's digest: once its time has come, one email; never twice.
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    assert_eq!(
        rapport_server::usecase::notices::send_due_digests(&app.state, chrono::Utc::now()).unwrap(),
        0,
        "not before a day has passed"
    );
    assert_eq!(
        rapport_server::usecase::notices::send_due_digests(&app.state, later).unwrap(),
        1
    );
    assert_eq!(
        rapport_server::usecase::notices::send_due_digests(&app.state, later).unwrap(),
        0
    );
    let (digest, _) = rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
        m.subject.contains("Your cases digest: 1 opened")
            && m.to.iter().any(|t| t.address == "felix@acme.example")
    })
    .await;
    assert!(
        digest.text.contains("Credit note needed for invoice 88"),
        "{}",
        digest.text
    );

    // Resolved: Fiona hears again.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/cases/{id}"),
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    ok(res, 200).await;
    rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
        m.subject
            .contains("Resolved: Credit note needed for invoice 88")
            && m.to.iter().any(|t| t.address == "fiona@acme.example")
    })
    .await;

    // A case filed under billing only later: Fiona hears of it then.
    let later_filed = open(&app, &w.contact_in, "Question about a statement", None).await;
    let later_id = later_filed["id"].as_str().unwrap().to_owned();
    assert!(notified(&outbox_of(&app, &w.admin, &later_id).await).is_empty());
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{later_id}"),
            Some(json!({"category": "billing"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        notified(&outbox_of(&app, &w.admin, &later_id).await),
        BTreeSet::from(["fiona@acme.example".to_owned()])
    );
    // Moved to orders: operations hear of it now; finance heard already.
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{later_id}"),
            Some(json!({"category": "orders"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    let sent = outbox_of(&app, &w.admin, &later_id).await;
    assert_eq!(
        notified(&sent),
        BTreeSet::from([
            "fiona@acme.example".to_owned(),
            "otto@acme.example".to_owned()
        ])
    );
    assert_eq!(
        sent.iter().filter(|(k, _)| k == "case_notice").count(),
        2,
        "one notice each: {sent:?}"
    );

    // A digest carries only what its reader may still see: billing no
    // longer concerns finance, so Felix's next digest... has nothing for
    // function readers. Dora sees by function; her pending case goes.
    add_contact(
        &app,
        &w.agent_in,
        &w.acme,
        json!({"name": "Dora Digest", "emails": ["dora@acme.example"], "function": "finance", "visibility": "function_cases", "case_notices": "digest"}),
    )
    .await;
    open(
        &app,
        &w.contact_in,
        "Invoice address change",
        Some("billing"),
    )
    .await;
    ok(
        app.send(
            Method::PUT,
            "/api/v1/case-categories/billing",
            Some(json!({"functions": ["executive"], "skill": "billing"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let much_later = chrono::Utc::now() + chrono::Duration::days(4);
    assert_eq!(
        rapport_server::usecase::notices::send_due_digests(&app.state, much_later).unwrap(),
        1,
        "Felix (all cases) still gets his; Dora may no longer see billing"
    );
    // Only finished messages (`.eml`): other files in the mailbox are being
    // written and may be gone by the time they are read.
    let dora_mail = std::fs::read_dir(&mailbox)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter_map(|p| rapport_mail::parse(&std::fs::read(p).unwrap()).ok())
        .any(|m| {
            m.to.iter().any(|t| t.address == "dora@acme.example") && m.subject.contains("digest")
        });
    assert!(!dora_mail, "no digest reaches Dora");
    ok(
        app.send(
            Method::PUT,
            "/api/v1/case-categories/billing",
            Some(json!({"functions": ["finance"], "skill": "billing"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;

    // Fiona opts out herself; staff have no such setting; a wrong value is named.
    let fiona = contact_token(&app, db, "fiona@acme.example").await;
    app.send(
        Method::PUT,
        "/api/v1/me/case-notices",
        Some(json!({"case_notices": "weekly"}).to_string()),
        Some(&fiona),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.send(
        Method::PUT,
        "/api/v1/me/case-notices",
        Some(json!({"case_notices": "off"}).to_string()),
        Some(&w.agent_in),
    )
    .await
    .assert_problem(403, "forbidden");
    let me = ok(
        app.send(
            Method::PUT,
            "/api/v1/me/case-notices",
            Some(json!({"case_notices": "off"}).to_string()),
            Some(&fiona),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me["case_notices"], "off");
    assert_eq!(me["function"], "finance");
    let next = open(
        &app,
        &w.contact_in,
        "Second reminder sent in error",
        Some("billing"),
    )
    .await;
    assert!(
        notified(&outbox_of(&app, &w.admin, next["id"].as_str().unwrap()).await).is_empty(),
        "nobody left to tell at once"
    );
    // A case without a category concerns no function.
    let plain = open(&app, &w.contact_in, "A general question", None).await;
    assert!(notified(&outbox_of(&app, &w.admin, plain["id"].as_str().unwrap()).await).is_empty());
}

e2e_test!(participants_receive_the_replies_and_only_the_accounts_people_can_be_added);
async fn participants_receive_the_replies_and_only_the_accounts_people_can_be_added(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let fiona_id = add_contact(
        &app,
        &w.agent_in,
        &w.acme,
        json!({"name": "Fiona Chief", "emails": ["fiona@acme.example"], "function": "finance", "visibility": "function_cases", "case_notices": "off"}),
    )
    .await;
    add_contact(
        &app,
        &w.agent_in,
        &w.acme,
        json!({"name": "Olga Own", "emails": ["olga@acme.example"], "function": "operations"}),
    )
    .await;
    let case = w.acme_case.clone();
    let path = format!("/api/v1/cases/{case}/participants");
    let add = |token: String, body: Value| {
        let (app, path) = (&app, path.clone());
        async move { app.post_as(&token, &path, &body).await }
    };
    let list = ok(
        add(w.agent_in.clone(), json!({"contact_id": fiona_id})).await,
        200,
    )
    .await;
    assert_eq!(list[0]["email"], "fiona@acme.example");
    // Outside the account's contacts and domains: only when confirmed.
    let refused = add(
        w.agent_in.clone(),
        json!({"email": "counsel@lawfirm.example", "name": "Lena Counsel"}),
    )
    .await;
    let problem = refused.assert_problem(422, "validation_failed");
    assert!(problem.to_string().contains("confirm_outside"), "{problem}");
    let list = ok(
        add(w.agent_in.clone(), json!({"email": "counsel@lawfirm.example", "name": "Lena Counsel", "confirm_outside": true})).await,
        200,
    )
    .await;
    let lena = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "counsel@lawfirm.example")
        .expect("Lena takes part")["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another company's contact only when confirmed: they become a
    // contact of this company too, with its own access.
    let problem = add(w.agent_in.clone(), json!({"email": "gus@globex.example"}))
        .await
        .assert_problem(422, "validation_failed");
    assert!(
        problem.to_string().contains("contact of another company"),
        "{problem}"
    );
    // Who may not work the case may not add anyone.
    add(w.auditor.clone(), json!({"contact_id": fiona_id}))
        .await
        .assert_problem(403, "forbidden");
    add(w.agent_out.clone(), json!({"contact_id": fiona_id}))
        .await
        .assert_problem(404, "not_found");
    add(w.contact_out.clone(), json!({"contact_id": fiona_id}))
        .await
        .assert_problem(404, "not_found");
    // A staff email reply goes to the opener and every participant.
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "email_out", "body": "We are checking the PO with finance."}),
        )
        .await,
        201,
    )
    .await;
    let replied: BTreeSet<String> = outbox_of(&app, &w.admin, &case)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "reply")
        .flat_map(|(_, to)| to)
        .collect();
    assert_eq!(
        replied,
        BTreeSet::from(
            [
                "anna@acme.example",
                "fiona@acme.example",
                "counsel@lawfirm.example"
            ]
            .map(String::from)
        )
    );
    // Contacts: Olga cannot see the case, so cannot follow it; Fiona may
    // leave, but not remove someone else; a contact sees no one else's address.
    let olga = contact_token(&app, db, "olga@acme.example").await;
    let olga_id = ok(app.get_as(&olga, "/api/v1/me").await, 200).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    add(olga.clone(), json!({"contact_id": olga_id}))
        .await
        .assert_problem(404, "not_found");
    let fiona = contact_token(&app, db, "fiona@acme.example").await;
    let seen = ok(app.get_as(&fiona, &path).await, 200).await;
    assert!(
        !seen.to_string().contains("counsel@lawfirm.example"),
        "a contact does not see others' addresses: {seen}"
    );
    app.send(
        Method::DELETE,
        &format!("{path}/{lena}"),
        None,
        Some(&fiona),
    )
    .await
    .assert_problem(403, "forbidden");
    let left = ok(
        app.send(
            Method::DELETE,
            &format!("{path}/{fiona_id}"),
            None,
            Some(&fiona),
        )
        .await,
        200,
    )
    .await;
    assert!(!left.to_string().contains(&fiona_id));
    // The thread says who joined and left.
    let thread = ok(
        app.get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/entries?limit=200"),
        )
        .await,
        200,
    )
    .await;
    let text = thread.to_string();
    assert!(
        text.contains("Lena Counsel was added to the case"),
        "{text}"
    );
    assert!(
        text.contains("Fiona Chief no longer receives this case's replies"),
        "{text}"
    );
    // She may follow it again herself: she sees billing cases.
    ok(
        add(fiona.clone(), json!({"contact_id": fiona_id})).await,
        200,
    )
    .await;
}

async fn patch_account(
    app: &TestApp,
    admin: &str,
    id: &str,
    body: Value,
) -> rapport_tests::Response {
    app.send(
        Method::PATCH,
        &format!("/api/v1/accounts/{id}"),
        Some(body.to_string()),
        Some(admin),
    )
    .await
}

e2e_test!(a_group_sees_its_subsidiaries_cases_shares_its_team_and_rolls_up_its_reports);
async fn a_group_sees_its_subsidiaries_cases_shares_its_team_and_rolls_up_its_reports(
    db: &TestDatabase,
) {
    let app = TestApp::spawn_with(db, |s| s.cases.reopen_closed_within_days = 0).await;
    let w = world(&app, db).await;
    let holding = ok(
        app.post_as(&w.admin, "/api/v1/accounts", &json!({"name": "Acme Holding", "domains": ["acme-holding.example"], "team_id": w.team_in}))
            .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let acme = w.acme.clone();
    ok(
        patch_account(&app, &w.admin, &acme, json!({"parent_id": holding})).await,
        200,
    )
    .await;
    // A subsidiary of Acme that takes Acme's team.
    let logistics = ok(
        app.post_as(&w.admin, "/api/v1/accounts", &json!({"name": "Acme Logistics", "domains": ["acme-logistics.example"], "parent_id": acme, "inherit_team": true}))
            .await,
        201,
    )
    .await;
    assert_eq!(logistics["team_id"], json!(w.team_in), "the group's team");
    assert_eq!(logistics["team_inherited"], true);
    let logistics = logistics["id"].as_str().unwrap().to_owned();
    // A group cannot contain itself; a team is inherited only from a parent.
    patch_account(&app, &w.admin, &holding, json!({"parent_id": logistics}))
        .await
        .assert_problem(422, "validation_failed");
    patch_account(&app, &w.admin, &holding, json!({"parent_id": holding}))
        .await
        .assert_problem(422, "validation_failed");
    patch_account(&app, &w.admin, &holding, json!({"inherit_team": true}))
        .await
        .assert_problem(422, "validation_failed");
    patch_account(&app, &w.agent_in, &acme, json!({"parent_id": null}))
        .await
        .assert_problem(403, "forbidden");

    for (account, name, email, function, visibility) in [
        (
            &holding,
            "Hannah Group",
            "hannah@acme-holding.example",
            "executive",
            "all_account_cases",
        ),
        (
            &holding,
            "Henri Own",
            "henri@acme-holding.example",
            "finance",
            "own_cases",
        ),
        (
            &holding,
            "Harriet Finance",
            "harriet@acme-holding.example",
            "finance",
            "function_cases",
        ),
        (
            &logistics,
            "Leo Logistics",
            "leo@acme-logistics.example",
            "operations",
            "all_account_cases",
        ),
    ] {
        add_contact(
            &app,
            &w.admin,
            account,
            json!({"name": name, "emails": [email], "function": function, "visibility": visibility, "case_notices": "off"}),
        )
        .await;
    }
    let leo = contact_token(&app, db, "leo@acme-logistics.example").await;
    let freight = open(&app, &leo, "Freight invoice 77 is twice", Some("billing")).await;
    let pallets = open(&app, &leo, "Pallet scanner offline", Some("technical")).await;
    assert_eq!(
        freight["team_id"],
        json!(w.team_in),
        "the subsidiary's case goes to the team it inherits"
    );
    let all = [
        (w.acme_case.as_str(), "Invoice 2026-114"),
        (freight["id"].as_str().unwrap(), "Freight invoice 77"),
        (pallets["id"].as_str().unwrap(), "Pallet scanner offline"),
    ];
    // Every case holds the word the search looks for.
    ok(
        app.post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "PO 7781: details follow."}),
        )
        .await,
        201,
    )
    .await;
    let hannah = contact_token(&app, db, "hannah@acme-holding.example").await;
    let henri = contact_token(&app, db, "henri@acme-holding.example").await;
    let harriet = contact_token(&app, db, "harriet@acme-holding.example").await;
    let set = |picked: &[usize]| -> BTreeSet<String> {
        picked.iter().map(|i| all[*i].0.to_owned()).collect()
    };
    // The parent's people see down the group as their visibility allows;
    // the subsidiary's never see up.
    let lists = |token: String| {
        let app = &app;
        async move {
            ids(
                &ok(app.get_as(&token, "/api/v1/cases?limit=200").await, 200).await,
                "id",
            )
        }
    };
    assert_eq!(
        lists(hannah.clone()).await,
        set(&[0, 1, 2]),
        "the group's executive sees every subsidiary case"
    );
    assert_eq!(
        lists(harriet.clone()).await,
        set(&[0, 1]),
        "the group's finance sees the billing cases below"
    );
    assert_eq!(lists(henri.clone()).await, set(&[]), "own cases only");
    assert_eq!(
        lists(leo.clone()).await,
        set(&[1, 2]),
        "the subsidiary sees its own only"
    );
    assert_eq!(
        seen_everywhere(&app, &hannah, &logistics, &all[1..]).await,
        set(&[1, 2]),
        "every read path agrees for the group's executive"
    );
    assert_eq!(
        seen_everywhere(&app, &harriet, &acme, &all[..1]).await,
        set(&[0]),
        "and for the group's finance"
    );
    // The group's finance people who want each case hear of the
    // subsidiary's billing case; its technical one concerns none of them.
    add_contact(
        &app,
        &w.admin,
        &holding,
        json!({"name": "Hugo Ledger", "emails": ["hugo@acme-holding.example"], "function": "finance", "visibility": "function_cases", "case_notices": "each"}),
    )
    .await;
    let invoice = open(&app, &leo, "Freight invoice 78 missing", Some("billing")).await;
    assert_eq!(
        notified(&outbox_of(&app, &w.admin, invoice["id"].as_str().unwrap()).await),
        BTreeSet::from(["hugo@acme-holding.example".to_owned()])
    );
    // Mail: the group's executive answers on a subsidiary's case by its
    // number; the group's own-cases contact cannot reach it that way.
    let mail = |from: &str, number: &Value, n: u32| {
        format!(
            "From: {from}\r\nTo: support@rapport.localhost\r\nSubject: Re: [#{number}] scanner\r\nMessage-ID: <grp-{n}@acme-holding.example>\r\n\r\nThe group's view on this.\r\n"
        )
    };
    let threaded = ingest_as(
        &app,
        &w.admin,
        mail("hannah@acme-holding.example", &pallets["number"], 1),
    )
    .await;
    assert_eq!(
        threaded["case_id"], pallets["id"],
        "threads into the subsidiary's case"
    );
    let elsewhere = ingest_as(
        &app,
        &w.admin,
        mail("henri@acme-holding.example", &pallets["number"], 2),
    )
    .await;
    assert_ne!(
        elsewhere["case_id"], pallets["id"],
        "a new case of their own instead"
    );
    let participants = ok(
        app.get_as(
            &w.admin,
            &format!(
                "/api/v1/cases/{}/participants",
                pallets["id"].as_str().unwrap()
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        participants,
        json!([]),
        "nobody of another account joins the case"
    );

    app.get_as(&leo, &format!("/api/v1/accounts/{holding}/timeline"))
        .await
        .assert_problem(404, "not_found");
    app.get_as(&henri, &format!("/api/v1/accounts/{acme}/timeline"))
        .await
        .assert_problem(404, "not_found");

    // A reply to a closed case opens a new one: for the subsidiary's own
    // people, not for the group's, who open cases for their own company.
    let closed = freight["id"].as_str().unwrap();
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{closed}"),
            Some(json!({"status": "closed"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    app.post_as(
        &hannah,
        &format!("/api/v1/cases/{closed}/entries"),
        &json!({"kind": "portal", "body": "One more thing."}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let followed = ok(
        app.post_as(
            &leo,
            &format!("/api/v1/cases/{closed}/entries"),
            &json!({"kind": "portal", "body": "One more thing."}),
        )
        .await,
        201,
    )
    .await;
    assert_ne!(
        followed["case"]["id"].as_str(),
        Some(closed),
        "a new case follows the closed one"
    );

    // Acme changes team: its subsidiary follows; the change is audited.
    ok(
        patch_account(&app, &w.admin, &acme, json!({"team_id": w.team_out})).await,
        200,
    )
    .await;
    let now = ok(
        app.get_as(&w.admin, &format!("/api/v1/accounts/{logistics}"))
            .await,
        200,
    )
    .await;
    assert_eq!(now["team_id"], json!(w.team_out));
    let log = app
        .get_as(
            &w.admin,
            &format!("/api/v1/audit/export?account={logistics}"),
        )
        .await;
    assert!(
        String::from_utf8_lossy(&log.body).contains("team inherited from the parent company"),
        "the inherited change is in the subsidiary's log"
    );

    // Reports and health of the parent include its subsidiaries.
    let report = ok(
        app.get_as(&w.admin, &format!("/api/v1/reports?account_id={acme}"))
            .await,
        200,
    )
    .await;
    assert_eq!(report["volume"]["created"], 5, "{report}");
    let own = ok(
        app.get_as(&w.admin, &format!("/api/v1/reports?account_id={logistics}"))
            .await,
        200,
    )
    .await;
    assert_eq!(own["volume"]["created"], 4);
    let health = ok(
        app.get_as(&w.admin, &format!("/api/v1/accounts/{holding}/health"))
            .await,
        200,
    )
    .await;
    // The holding's own case (Henri's email) counts too.
    assert_eq!(health["report"]["volume"]["created"], 6, "{health}");
}

async fn import_csv(app: &TestApp, admin: &str, kind: &str, csv: &str) -> Value {
    ok(
        app.send_raw(
            &format!("/api/v1/directory/import?kind={kind}&dry_run=false"),
            "text/csv",
            csv.as_bytes().to_vec(),
            Some(admin),
        )
        .await,
        200,
    )
    .await
}

e2e_test!(groups_and_notice_choices_go_out_and_come_back_as_csv);
async fn groups_and_notice_choices_go_out_and_come_back_as_csv(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let done = import_csv(
        &app,
        &w.admin,
        "accounts",
        "name,team,parent\nGlobex Holding,Key Accounts,\nGlobex Rail,,Globex Holding\n",
    )
    .await;
    assert_eq!(
        (done["applied"].clone(), done["created"].clone()),
        (json!(true), json!(2)),
        "{done}"
    );
    let find = |name: &'static str| {
        let app = &app;
        let admin = w.admin.clone();
        async move {
            ok(
                app.get_as(
                    &admin,
                    &format!("/api/v1/accounts?q={}", name.replace(' ', "%20")),
                )
                .await,
                200,
            )
            .await["items"][0]
                .clone()
        }
    };
    let holding = find("Globex Holding").await;
    let rail = find("Globex Rail").await;
    assert_eq!(rail["parent_id"], holding["id"]);
    ok(
        patch_account(
            &app,
            &w.admin,
            rail["id"].as_str().unwrap(),
            json!({"inherit_team": true}),
        )
        .await,
        200,
    )
    .await;
    // The export names the parent and the team it inherits; read back, the
    // file changes nothing and the team stays inherited.
    let exported = app.get_as(&w.admin, "/api/v1/directory/accounts.csv").await;
    let text = String::from_utf8_lossy(&exported.body).into_owned();
    assert!(text.lines().next().unwrap().ends_with(",parent"), "{text}");
    assert!(
        text.contains("Globex Rail")
            && text.contains(",Key Accounts,")
            && text.contains(",Globex Holding"),
        "{text}"
    );
    let again = import_csv(&app, &w.admin, "accounts", &text).await;
    assert_eq!(again["updated"], 0, "{again}");
    assert_eq!(find("Globex Rail").await["team_inherited"], true);
    // Contacts carry how they hear of their function's cases.
    let rail_name = "Globex Rail";
    let done = import_csv(
        &app,
        &w.admin,
        "contacts",
        &format!("account,name,emails,function,visibility,case_notices\n{rail_name},Gina Rail,gina@globex-rail.example,finance,function_cases,digest\n"),
    )
    .await;
    assert_eq!(done["created"], 1, "{done}");
    let gina =
        ok(app.get_as(&w.admin, "/api/v1/contacts?q=gina").await, 200).await["items"][0].clone();
    assert_eq!(
        (gina["case_notices"].clone(), gina["visibility"].clone()),
        (json!("digest"), json!("function_cases"))
    );
    let refused = import_csv(
        &app,
        &w.admin,
        "contacts",
        &format!("account,name,emails,case_notices\n{rail_name},Gil Rail,gil@globex-rail.example,weekly\n"),
    )
    .await;
    assert_eq!(
        (refused["applied"].clone(), refused["invalid"].clone()),
        (json!(false), json!(1)),
        "{refused}"
    );
    assert!(refused.to_string().contains("case_notices"), "{refused}");
}

e2e_test!(an_open_chat_stops_showing_a_case_the_moment_its_reader_loses_it);
async fn an_open_chat_stops_showing_a_case_the_moment_its_reader_loses_it(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let case = w.acme_case.clone();
    let olga_id = add_contact(
        &app,
        &w.agent_in,
        &w.acme,
        json!({"name": "Olga Own", "emails": ["olga@acme.example"], "function": "operations", "case_notices": "off"}),
    )
    .await;
    let fiona_id = add_contact(
        &app,
        &w.agent_in,
        &w.acme,
        json!({"name": "Fiona Chief", "emails": ["fiona@acme.example"], "function": "finance", "visibility": "function_cases", "case_notices": "off"}),
    )
    .await;
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/participants"),
            &json!({"contact_id": olga_id}),
        )
        .await,
        200,
    )
    .await;
    let olga = contact_token(&app, db, "olga@acme.example").await;
    let fiona = contact_token(&app, db, "fiona@acme.example").await;
    let (mut olga_chat, _) = ChatClient::connect(&app, &olga).await;
    let (mut fiona_chat, _) = ChatClient::connect(&app, &fiona).await;
    olga_chat.join(&case, None).await;
    fiona_chat.join(&case, None).await;
    // Both follow the case live.
    ok(
        app.post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "chat", "body": "First live line"}),
        )
        .await,
        201,
    )
    .await;
    for chat in [&mut olga_chat, &mut fiona_chat] {
        chat.next_where("message", |m| m["entry"]["body"] == "First live line")
            .await;
    }

    // Olga is no longer copied; Fiona now sees her own cases only.
    ok(
        app.send(
            Method::DELETE,
            &format!("/api/v1/cases/{case}/participants/{olga_id}"),
            None,
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/contacts/{fiona_id}"),
            Some(json!({"visibility": "own_cases"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    for chat in [&mut olga_chat, &mut fiona_chat] {
        let gone = chat
            .next_where("error", |e| e["code"] == "case_not_found")
            .await;
        assert_eq!(gone["about"], format!("case:{case}"), "{gone}");
    }
    ok(
        app.post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "chat", "body": "Second live line"}),
        )
        .await,
        201,
    )
    .await;
    // Anna, who opened it, still gets it; the two others get nothing more.
    for chat in [&mut olga_chat, &mut fiona_chat] {
        let later = chat.drain(std::time::Duration::from_millis(800)).await;
        assert!(
            !later
                .iter()
                .any(|f| f.to_string().contains("Second live line")),
            "a case no longer theirs stays silent: {later:?}"
        );
    }
    // Joining again is refused.
    olga_chat
        .send(json!({"type": "join", "case_id": case}))
        .await;
    let refused = olga_chat.next_of("error").await;
    assert_eq!(refused["code"], "case_not_found");
}
