//! One person, several companies: an outside accountant is a contact of
//! Acme and of Globex, with one address and one password. A session acts
//! for one company at a time and is checked as that company's contact;
//! mail decides by what it says (the company's address, our reply it
//! answers) or by the person's choice from an automatic reply.

use actix_web::http::Method;
use rapport_tests::{TestApp, TestDatabase, e2e_test};
use serde_json::{Value, json};

use super::contact_functions::add_contact;
use super::directory::{ok, world};
use super::mail::ingest_as;

const PETRA: &str = "petra@ledger.example";

async fn account_named(app: &TestApp, admin: &str, q: &str) -> String {
    app.get_as(admin, &format!("/api/v1/accounts?q={q}"))
        .await
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Petra: finance of Acme seeing its finance cases, and Globex's
/// accountant seeing only her own cases there.
async fn petra(app: &TestApp, admin: &str, acme: &str, globex: &str) -> (String, String) {
    let at_acme = add_contact(
        app,
        admin,
        acme,
        json!({"name": "Petra Ledger", "emails": [PETRA], "function": "finance", "visibility": "function_cases"}),
    )
    .await;
    let at_globex = add_contact(
        app,
        admin,
        globex,
        json!({"name": "Petra Ledger", "emails": [PETRA], "function": "finance"}),
    )
    .await;
    (at_acme, at_globex)
}

async fn login(app: &TestApp, password: &str, account: Option<&str>) -> rapport_tests::Response {
    let mut body = json!({"email": PETRA, "password": password});
    if let Some(a) = account {
        body["account_id"] = json!(a);
    }
    app.send(
        Method::POST,
        "/api/v1/auth/contact/login",
        Some(body.to_string()),
        None,
    )
    .await
}

async fn switch(app: &TestApp, refresh: &str, account: &str) -> rapport_tests::Response {
    app.send(
        Method::POST,
        "/api/v1/auth/contact/switch",
        Some(json!({"refresh_token": refresh, "account_id": account}).to_string()),
        None,
    )
    .await
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

e2e_test!(a_person_of_two_companies_signs_in_once_and_acts_for_each_in_turn);
async fn a_person_of_two_companies_signs_in_once_and_acts_for_each_in_turn(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let globex = account_named(&app, &w.admin, "globex").await;
    let (at_acme, at_globex) = petra(&app, &w.admin, &w.acme, &globex).await;
    // An address is unique within a company, not across them.
    app.post_as(
        &w.admin,
        &format!("/api/v1/accounts/{}/contacts", w.acme),
        &json!({"name": "Petra Twice", "emails": [PETRA]}),
    )
    .await
    .assert_problem(409, "conflict");
    let gus_case = ok(
        app.post_as(&w.contact_out, "/api/v1/cases", &json!({"subject": "Pallet count is off", "body": "Short by two pallets.", "category": "billing"})).await,
        201,
    )
    .await["case"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // First sign-in by link: the first company by name, the other offered.
    let link_token = super::directory::contact_token(&app, db, PETRA).await;
    let me = ok(app.get_as(&link_token, "/api/v1/me").await, 200).await;
    assert_eq!(me["id"], at_acme.as_str());
    let companies: Vec<(String, bool)> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (text(m, "account_name"), m["current"] == true))
        .collect();
    assert_eq!(
        companies,
        [
            ("Acme Manufacturing".to_owned(), true),
            ("Globex Logistics".to_owned(), false)
        ]
    );
    assert!(
        me["memberships"][1]["mail_address"]
            .as_str()
            .unwrap()
            .starts_with("support+a"),
        "{me}"
    );
    // One password for the person: set once, good for both companies.
    let set = ok(
        app.post_as(
            &link_token,
            "/api/v1/me/password",
            &json!({"new_password": "ledger-and-balance-2026"}),
        )
        .await,
        200,
    )
    .await;
    assert!(set["refresh_token"].is_string());
    let acme_session = ok(login(&app, "ledger-and-balance-2026", None).await, 200).await;
    let acme_token = text(&acme_session, "access_token");
    assert_eq!(
        ok(app.get_as(&acme_token, "/api/v1/me").await, 200).await["account_id"],
        w.acme.as_str()
    );
    let globex_first = ok(
        login(&app, "ledger-and-balance-2026", Some(&globex)).await,
        200,
    )
    .await;
    assert_eq!(
        ok(
            app.get_as(&text(&globex_first, "access_token"), "/api/v1/me")
                .await,
            200
        )
        .await["id"],
        at_globex.as_str()
    );
    login(&app, "not-the-password-at-all", Some(&globex))
        .await
        .assert_problem(401, "invalid_credentials");

    // Acting for Acme: Acme's finance cases, nothing of Globex.
    assert_eq!(
        app.get_as(&acme_token, &format!("/api/v1/cases/{}", w.acme_case))
            .await
            .status,
        200
    );
    app.get_as(&acme_token, &format!("/api/v1/cases/{gus_case}"))
        .await
        .assert_problem(404, "not_found");

    // Switching: the same sign-in acts for Globex, as its contact there
    // (own cases only), and the old refresh token is spent.
    let refresh = text(&acme_session, "refresh_token");
    let globex_session = ok(switch(&app, &refresh, &globex).await, 200).await;
    let globex_token = text(&globex_session, "access_token");
    let me = ok(app.get_as(&globex_token, "/api/v1/me").await, 200).await;
    assert_eq!(me["id"], at_globex.as_str());
    assert_eq!(me["visibility"], "own_cases");
    assert!(me["memberships"][1]["current"] == true, "{me}");
    app.get_as(&globex_token, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .assert_problem(404, "not_found");
    app.get_as(&globex_token, &format!("/api/v1/cases/{gus_case}"))
        .await
        .assert_problem(404, "not_found");
    let opened = ok(
        app.post_as(
            &globex_token,
            "/api/v1/cases",
            &json!({"subject": "Q3 statement for Globex", "body": "Please send the Q3 statement."}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(opened["case"]["account_id"], globex.as_str());
    assert_eq!(opened["case"]["opened_by_contact_id"], at_globex.as_str());
    switch(&app, &refresh, &w.acme)
        .await
        .assert_problem(401, "refresh_token_reused");
    // That reuse revoked the whole sign-in, as for a refresh.
    switch(&app, &text(&globex_session, "refresh_token"), &w.acme)
        .await
        .assert_problem(401, "invalid_refresh_token");

    // A company she is no contact of, or one whose portal she lost, is
    // not hers to act for; staff sessions switch nowhere.
    let fresh = ok(login(&app, "ledger-and-balance-2026", None).await, 200).await;
    let initech = ok(
        app.post_as(&w.admin, "/api/v1/accounts", &json!({"name": "Initech"}))
            .await,
        201,
    )
    .await;
    switch(
        &app,
        &text(&fresh, "refresh_token"),
        initech["id"].as_str().unwrap(),
    )
    .await
    .assert_problem(404, "not_found");
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/contacts/{at_globex}"),
            Some(json!({"portal_access": false}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    switch(&app, &text(&fresh, "refresh_token"), &globex)
        .await
        .assert_problem(404, "not_found");
    let me = ok(
        app.get_as(&text(&fresh, "access_token"), "/api/v1/me")
            .await,
        200,
    )
    .await;
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    let (email, password) = rapport_tests::seed::staff(db, "agent");
    let staff = app.login(&email, &password).await;
    switch(&app, &text(&staff, "refresh_token"), &w.acme)
        .await
        .assert_problem(403, "forbidden");
}

fn mail_to(to: &str, subject: &str, id: &str, extra: &str) -> String {
    format!(
        "From: Petra Ledger <{PETRA}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}Date: Mon, 07 Dec 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhich VAT rate applies to the March freight invoices?\r\n"
    )
}

/// The links of the "which company?" reply, by company name.
fn choice_links(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("/mail/choose?token="))
        .map(|(i, l)| {
            (
                lines[i - 1].trim_end_matches(':').to_owned(),
                l.split("token=").nth(1).unwrap().to_owned(),
            )
        })
        .collect()
}

/// Sends Petra's message that says nothing of the company; returns what
/// became of it and the "which company?" question she received.
async fn held_and_asked(
    app: &TestApp,
    admin: &str,
    mailbox: &std::path::Path,
    subject: &str,
    extra: &str,
) -> (Value, rapport_mail::InboundMail) {
    let before: Vec<_> = std::fs::read_dir(mailbox)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let id = format!("{}@ledger.example", subject.replace(' ', "-"));
    let held = ingest_as(
        app,
        admin,
        mail_to("support@rapport.localhost", subject, &id, extra),
    )
    .await;
    assert_eq!(held["status"], "quarantined", "{held}");
    assert!(held["case_id"].is_null());
    let (asked, _) = rapport_tests::http::wait_for_new_mail_matching(mailbox, &before, |m| {
        m.to.iter().any(|t| t.address == PETRA) && m.subject.contains(subject)
    })
    .await;
    assert!(
        asked.subject.starts_with("Which company"),
        "{}",
        asked.subject
    );
    assert_eq!(asked.in_reply_to, [id], "it answers her message");
    (held, asked)
}

e2e_test!(mail_from_a_person_of_two_companies_goes_where_it_says_or_where_they_choose);
async fn mail_from_a_person_of_two_companies_goes_where_it_says_or_where_they_choose(
    db: &TestDatabase,
) {
    // Every question and acknowledgment of the story goes out (three an
    // hour to one address is the usual limit).
    let app = TestApp::spawn_with(db, |s| s.mail.acknowledgments_per_hour = 20).await;
    let w = world(&app, db).await;
    let globex = account_named(&app, &w.admin, "globex").await;
    let (at_acme, at_globex) = petra(&app, &w.admin, &w.acme, &globex).await;
    let mailbox = db.data_dir().join("mailbox");

    // Nothing in the message says which company: held, and she is asked.
    // A Reply-To elsewhere (forged, say) never learns her companies.
    let (held, asked) = held_and_asked(
        &app,
        &w.admin,
        &mailbox,
        "VAT on freight",
        "Reply-To: <snoop@elsewhere.example>\r\n",
    )
    .await;
    let outcome = text(&held, "outcome");
    assert!(
        outcome.contains("Acme Manufacturing, Globex Logistics")
            && outcome.ends_with("asked which by email"),
        "{outcome}"
    );
    let to_snoop = std::fs::read_dir(&mailbox)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter(|raw| String::from_utf8_lossy(raw).contains("snoop@elsewhere.example"))
        .count();
    assert_eq!(to_snoop, 0, "nothing went to the Reply-To");
    let links = choice_links(&asked.text);
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Acme Manufacturing", "Globex Logistics"],
        "{}",
        asked.text
    );
    assert!(
        asked.text.contains("support+a"),
        "each company's own address: {}",
        asked.text
    );
    let (acme_link, globex_link) = (&links[0].1, &links[1].1);

    // Opening a link decides nothing (mail scanners open links).
    let offer = ok(
        app.post_json("/api/v1/mail/choices/offer", &json!({"token": globex_link}))
            .await,
        200,
    )
    .await;
    assert_eq!(offer["account_name"], "Globex Logistics");
    assert_eq!(offer["subject"], "VAT on freight");
    let filed = ok(
        app.post_json("/api/v1/mail/choices/file", &json!({"token": globex_link}))
            .await,
        200,
    )
    .await;
    assert_eq!(filed["account_name"], "Globex Logistics");
    let globex_case = text(&filed, "case_id");
    let case = ok(
        app.get_as(&w.admin, &format!("/api/v1/cases/{globex_case}"))
            .await,
        200,
    )
    .await;
    assert_eq!(case["account_id"], globex.as_str());
    assert_eq!(case["opened_by_contact_id"], at_globex.as_str());
    assert_eq!(case["subject"], "VAT on freight");
    assert_eq!(case["number"], filed["case_number"]);
    // The first choice decides; every link of the message is spent.
    // Opened again, a link says where the message went.
    for link in [acme_link, globex_link] {
        app.post_json("/api/v1/mail/choices/file", &json!({"token": link}))
            .await
            .assert_problem(410, "invalid_mail_choice");
        let again = ok(
            app.post_json("/api/v1/mail/choices/offer", &json!({"token": link}))
                .await,
            200,
        )
        .await;
        assert_eq!(again["filed_under"], "Globex Logistics", "{again}");
        assert_eq!(again["filed_case_number"], filed["case_number"]);
    }
    app.post_json(
        "/api/v1/mail/choices/offer",
        &json!({"token": "not-a-token"}),
    )
    .await
    .assert_problem(410, "invalid_mail_choice");

    // A reply to that thread needs no asking: it goes to the Globex case.
    let reply = ingest_as(
        &app,
        &w.admin,
        mail_to(
            "support@rapport.localhost",
            "Re: VAT on freight",
            "vat-2@ledger.example",
            "In-Reply-To: <VAT-on-freight@ledger.example>\r\n",
        ),
    )
    .await;
    assert_eq!(reply["status"], "threaded", "{reply}");
    assert_eq!(reply["case_id"], globex_case.as_str());
    // Mail is not delivered in order: a reply naming a message not yet
    // arrived brings that message to the same case when it comes.
    let early = ingest_as(
        &app,
        &w.admin,
        mail_to(
            "support@rapport.localhost",
            "Re: Re: VAT on freight",
            "vat-4@ledger.example",
            "In-Reply-To: <vat-2@ledger.example>\r\nReferences: <vat-3@ledger.example> <vat-2@ledger.example>\r\n",
        ),
    )
    .await;
    assert_eq!(early["case_id"], globex_case.as_str(), "{early}");
    let late = ingest_as(
        &app,
        &w.admin,
        mail_to(
            "support@rapport.localhost",
            "VAT on freight, the figures",
            "vat-3@ledger.example",
            "",
        ),
    )
    .await;
    assert_eq!(late["case_id"], globex_case.as_str(), "{late}");

    // Written to Acme's own address: filed there at once, as her Acme self.
    let token = super::directory::contact_token(&app, db, PETRA).await;
    let me = ok(app.get_as(&token, "/api/v1/me").await, 200).await;
    let acme_address = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account_name"] == "Acme Manufacturing")
        .map(|m| text(m, "mail_address"))
        .unwrap();
    let direct = ingest_as(
        &app,
        &w.admin,
        mail_to(
            &acme_address,
            "Acme dunning run",
            "dun-1@ledger.example",
            "",
        ),
    )
    .await;
    assert_eq!(direct["status"], "threaded", "{direct}");
    let case = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/cases/{}", text(&direct, "case_id")),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(case["account_id"], w.acme.as_str());
    assert_eq!(case["opened_by_contact_id"], at_acme.as_str());
    // A forged company address counts for nothing: asked again.
    let forged = acme_address.replacen("+a", "+a0", 1);
    let forged = ingest_as(
        &app,
        &w.admin,
        mail_to(&forged, "Forged", "forged-1@ledger.example", ""),
    )
    .await;
    assert_eq!(forged["status"], "quarantined", "{forged}");

    // An admin may file a held message as one of her contacts; its links
    // are then dead.
    let (held, asked) = held_and_asked(&app, &w.admin, &mailbox, "Audit dates", "").await;
    let links = choice_links(&asked.text);
    let filed = ok(
        app.post_as(
            &w.admin,
            &format!(
                "/api/v1/mail/inbound/{}/retry?as_contact={at_acme}",
                text(&held, "id")
            ),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(filed["status"], "threaded", "{filed}");
    let case = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/cases/{}", text(&filed, "case_id")),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(case["account_id"], w.acme.as_str());
    for (_, link) in &links {
        app.post_json("/api/v1/mail/choices/file", &json!({"token": link}))
            .await
            .assert_problem(410, "invalid_mail_choice");
    }

    // Mail copied to her (Cc) makes her a participant of the case's own
    // company only.
    let cc = ingest_as(
        &app,
        &w.admin,
        format!(
            "From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nCc: {PETRA}\r\nSubject: Freight audit\r\nMessage-ID: <audit-1@acme.example>\r\n\r\nPetra, see below.\r\n"
        ),
    )
    .await;
    let participants = ok(
        app.get_as(
            &w.admin,
            &format!("/api/v1/cases/{}/participants", text(&cc, "case_id")),
        )
        .await,
        200,
    )
    .await;
    let ids: Vec<String> = participants
        .as_array()
        .unwrap()
        .iter()
        .map(|p| text(p, "contact_id"))
        .collect();
    assert_eq!(ids, std::slice::from_ref(&at_acme), "{participants}");
}

/// A session of the address `email`, acting for `account` when given.
async fn link_session(
    app: &TestApp,
    db: &TestDatabase,
    email: &str,
    account: Option<&str>,
) -> Value {
    let link = rapport_tests::http::mailed_sign_in_link_for(
        &awc::Client::new(),
        &app.base_url,
        db.data_dir(),
        email,
        account,
    )
    .await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    ok(
        app.post_json(
            "/api/v1/auth/contact/magic-link/redeem",
            &json!({"token": token}),
        )
        .await,
        200,
    )
    .await
}

e2e_test!(a_contact_that_lists_someone_elses_address_gains_nothing_of_theirs);
async fn a_contact_that_lists_someone_elses_address_gains_nothing_of_theirs(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let globex = account_named(&app, &w.admin, "globex").await;
    petra(&app, &w.admin, &w.acme, &globex).await;
    let petra_session = link_session(&app, db, PETRA, None).await;
    ok(
        app.post_as(
            &text(&petra_session, "access_token"),
            "/api/v1/me/password",
            &json!({"new_password": "ledger-and-balance-2026"}),
        )
        .await,
        200,
    )
    .await;
    // An agent of another team's client writes Petra's address beside
    // their own on a contact they control.
    let initech = ok(
        app.post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Initech", "team_id": w.team_out}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    add_contact(
        &app,
        &w.agent_out,
        &initech,
        json!({"name": "Mallory", "emails": ["mallory@evil.example", PETRA]}),
    )
    .await;
    let mallory = link_session(&app, db, "mallory@evil.example", None).await;
    let me = ok(
        app.get_as(&text(&mallory, "access_token"), "/api/v1/me")
            .await,
        200,
    )
    .await;
    let names: Vec<String> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| text(m, "account_name"))
        .collect();
    assert_eq!(
        names,
        ["Initech"],
        "only the address she signed in with counts"
    );
    switch(&app, &text(&mallory, "refresh_token"), &w.acme)
        .await
        .assert_problem(404, "not_found");
    // Her first password is hers alone: Petra's still signs Petra in, and
    // Mallory's opens none of Petra's companies.
    ok(
        app.post_as(
            &text(&mallory, "access_token"),
            "/api/v1/me/password",
            &json!({"new_password": "mallory-owns-this-one"}),
        )
        .await,
        200,
    )
    .await;
    let again = ok(
        login(&app, "ledger-and-balance-2026", Some(&w.acme)).await,
        200,
    )
    .await;
    assert_eq!(
        ok(
            app.get_as(&text(&again, "access_token"), "/api/v1/me")
                .await,
            200
        )
        .await["account_id"],
        w.acme.as_str()
    );
    login(&app, "mallory-owns-this-one", Some(&w.acme))
        .await
        .assert_problem(401, "invalid_credentials");
    // Typed with Petra's address, Mallory's password opens Mallory's own
    // contact only, and proves nothing of Petra's companies.
    let typed = ok(
        login(&app, "mallory-owns-this-one", Some(&initech)).await,
        200,
    )
    .await;
    let me = ok(
        app.get_as(&text(&typed, "access_token"), "/api/v1/me")
            .await,
        200,
    )
    .await;
    assert_eq!(me["name"], "Mallory");
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    for account in [&w.acme, &globex] {
        let refresh = text(
            &ok(
                login(&app, "mallory-owns-this-one", Some(&initech)).await,
                200,
            )
            .await,
            "refresh_token",
        );
        switch(&app, &refresh, account)
            .await
            .assert_problem(404, "not_found");
    }
    // Nor did Petra's sign-in hand Mallory's contact her password.
    login(&app, "ledger-and-balance-2026", Some(&initech))
        .await
        .assert_problem(401, "invalid_credentials");
}
