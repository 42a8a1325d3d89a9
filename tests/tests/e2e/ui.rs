//! The web interface in a real browser (headless Chromium): an agent in
//! the console and a contact in the portal, in two browsers at once.

use actix_web::http::Method;
use rapport_tests::TestDatabase;
use rapport_tests::browser::{Browser, Driver};
use rapport_tests::{TestApp, e2e_test, seed};
use serde_json::json;

use super::directory::{ok, world};

/// A 1×1 PNG, for a screenshot a client sends.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A new sign-in link for `email`, as the contact receives it.
pub(crate) async fn sign_in_link(
    app: &TestApp,
    db: &rapport_tests::TestDatabase,
    email: &str,
) -> String {
    rapport_tests::http::mailed_sign_in_link(
        &awc::Client::new(),
        &app.base_url,
        db.data_dir(),
        email,
    )
    .await
}

/// An agent of Acme's team who signs in with a password:
/// (email, password, access token, id).
pub(crate) async fn team_agent(
    app: &TestApp,
    db: &rapport_tests::TestDatabase,
    w: &super::directory::World,
) -> (String, String, String, String) {
    let (email, password) = seed::staff(db, "agent");
    let agent = app.login(&email, &password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent_id = app.get_as(&agent, "/api/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app.send(
            Method::PUT,
            &format!("/api/v1/teams/{}/members/{agent_id}", w.team_in),
            Some(json!({"role": "member"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    (email, password, agent, agent_id)
}

/// Fills in and sends the staff sign-in form the browser shows.
pub(crate) async fn staff_sign_in(b: &Browser, email: &str, password: &str) {
    b.type_into("#email", email).await;
    b.type_into("#password", password).await;
    b.click("form button[type=submit]").await;
}

e2e_test!(an_agent_and_a_contact_work_a_case_live_in_two_browsers);
async fn an_agent_and_a_contact_work_a_case_live_in_two_browsers(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // An agent of Acme's team who signs in with a password.
    let (email, password, agent, agent_id) = team_agent(&app, db, &w).await;

    // The contact follows a sign-in link and opens a case in the portal.
    let contact = driver.browser().await;
    // The link exactly as mailed: it follows the port this server listens on.
    let link = sign_in_link(&app, db, "anna@acme.example").await;
    assert!(
        link.starts_with(&format!("{}/portal/sign-in?token=", app.base_url)),
        "{link}"
    );
    contact.goto(&link).await;
    contact.wait_text("#cases-h", "Your cases").await;
    contact.screenshot("portal-cases").await;
    contact.click("#new-case").await;
    contact.choose("#category", "billing").await;
    contact
        .type_into("#subject", "VAT rate on invoice 2026-0318")
        .await;
    contact
        .type_into("#body", "The invoice shows 19% VAT; our contract says 7%.")
        .await;
    let scan = tempfile::tempdir().unwrap();
    let scan_path = scan.path().join("invoice-2026-0318.txt");
    std::fs::write(&scan_path, "Invoice 2026-0318: VAT 19%\n").unwrap();
    contact
        .type_into("#files", scan_path.to_str().unwrap())
        .await;
    contact.click("#pane form button[type=submit]").await;
    contact
        .wait_text("#pane h2", "VAT rate on invoice 2026-0318")
        .await;
    contact.wait_text(".thread", "our contract says 7%").await;
    contact.wait_text(".thread", "invoice-2026-0318.txt").await;
    // The file came with the first message, not as a message of its own.
    let opened = app.get_as(&agent, "/api/v1/cases").await.json()["items"][0].clone();
    assert_eq!(opened["opened_by_name"], "Anna Finance");
    let first = app
        .get_as(
            &agent,
            &format!("/api/v1/cases/{}/entries", opened["id"].as_str().unwrap()),
        )
        .await
        .json();
    let from_anna: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["author_kind"] == "contact")
        .collect();
    assert_eq!(from_anna.len(), 1, "{first}");
    assert_eq!(
        from_anna[0]["attachments"][0]["filename"],
        "invoice-2026-0318.txt"
    );
    contact.wait_text("ul.cases", "opened by you").await;
    // A reply with a screenshot: picked, shown as a picture in the thread.
    let shot = scan.path().join("vat-line.png");
    std::fs::write(&shot, PNG).unwrap();
    contact
        .type_into("#reply-file", shot.to_str().unwrap())
        .await;
    contact
        .type_into("#reply", "The VAT line on my screen")
        .await;
    contact.click("#reply-send").await;
    contact.wait_text(".thread", "vat-line.png").await;
    let shown = contact
        .script("return [...document.querySelectorAll('.thread img.preview')].length")
        .await;
    assert_eq!(shown, json!(1), "the screenshot is previewed");

    // The agent signs in to the console and finds it at the top of the inbox.
    let console = driver.browser().await;
    console
        .goto(&format!("{}/console/views/team", app.base_url))
        .await;
    staff_sign_in(&console, &email, &password).await;
    console
        .wait_text("#case-list", "VAT rate on invoice 2026-0318")
        .await;
    console.wait_text("#case-list", "due in").await;
    console
        .wait_text("#case-list", "Anna Finance · finance")
        .await;
    console.screenshot("console-inbox").await;
    console
        .click("#case-list tbody tr:first-child a[data-open]")
        .await;
    console
        .wait_text("#pane h2", "VAT rate on invoice 2026-0318")
        .await;
    console.wait_text(".thread", "our contract says 7%").await;

    // Typing shows on the other side; the answer arrives without a reload.
    contact.wait_text(".people", "").await;
    console
        .type_into("#c-reply", "Hello Anna, you are right: ")
        .await;
    contact.wait_text(".typing", "is typing").await;
    console
        .type_into("#c-reply", "a corrected invoice follows today.")
        .await;
    console.click("#c-reply-send").await;
    console
        .wait_text(".thread", "a corrected invoice follows today")
        .await;
    contact
        .wait_text(".thread", "a corrected invoice follows today")
        .await;
    contact.screenshot("portal-case").await;
    // On a phone-sized screen the page is one column and nothing overflows sideways.
    contact.resize(390, 844).await;
    let overflow = contact
        .script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "horizontal overflow on a phone: {overflow}"
    );
    contact.screenshot("portal-case-phone").await;
    contact.resize(1280, 900).await;

    // An internal note stays among staff.
    console.choose("#c-mode", "note").await;
    console
        .type_into(
            "#c-reply",
            "Internal: the VAT table of this account was never updated",
        )
        .await;
    console.click("#c-reply-send").await;
    console
        .wait_text(".thread", "VAT table of this account was never updated")
        .await;
    console.screenshot("console-case").await;

    // The contact answers in the chat; the agent sees it live.
    contact
        .type_into("#reply", "Thank you for the quick answer!")
        .await;
    contact.click("#pane form button[type=submit]").await;
    console
        .wait_text(".thread", "Thank you for the quick answer!")
        .await;
    // The thread as the server gives it to the contact now, after the
    // note was committed: the note is not in it.
    contact.script("location.reload()").await;
    contact
        .wait_text("main", "VAT rate on invoice 2026-0318")
        .await;
    contact.script("[...document.querySelectorAll('[data-case]')].find(b => b.textContent.includes('VAT rate')).click()").await;
    contact
        .wait_text("#pane", "Thank you for the quick answer!")
        .await;
    let seen = contact.text().await;
    assert!(
        !seen.contains("never updated"),
        "the note reached the portal: {seen}"
    );
    // The account page: contacts, team, service levels and the timeline.
    console.click("#c-account").await;
    console.wait_text("#account-h", "Acme Manufacturing").await;
    console.wait_text("#contacts", "Anna Finance").await;
    console
        .wait_text("#timeline", "a corrected invoice follows today")
        .await;
    console.wait_text("#sla", "First response").await;
    console.screenshot("console-account").await;
    // Search finds the case by a word of the client's message.
    console.type_into("#q", "contract").await;
    console.click("#search-go").await;
    console.wait_text("#results", "contract").await;
    console.click("#results li:first-child a").await;
    console
        .wait_text("#pane h2", "VAT rate on invoice 2026-0318")
        .await;
    // Routing gave the case to who handled Acme's last billing case, and
    // says so; reassigning from the case view: the thread says who did what.
    console
        .wait_text("#c-routing", "handled this account's latest billing case")
        .await;
    console.choose("#c-assignee", &agent_id).await;
    console.wait_text(".thread", "Assigned to").await;

    // The thread is the case's, whatever the channel.
    let case = app.get_as(&agent, "/api/v1/cases").await.json()["items"][0].clone();
    assert_eq!(case["subject"], "VAT rate on invoice 2026-0318");
    assert!(case["first_response_at"].is_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .get_as(
            &agent,
            &format!("/api/v1/cases/{}", case["id"].as_str().unwrap()),
        )
        .await
        .json()["assignee_id"]
        != agent_id.as_str()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the case was not assigned from the console"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    contact.quit().await;
    console.quit().await;
}

e2e_test!(an_auditor_exports_and_verifies_a_case_log_in_the_browser);
async fn an_auditor_exports_and_verifies_a_case_log_in_the_browser(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (email, password) = seed::staff(db, "auditor");
    let auditor = driver.browser().await;
    auditor.goto(&format!("{}/auditor", app.base_url)).await;
    staff_sign_in(&auditor, &email, &password).await;
    auditor.find("#target").await;
    auditor
        .choose("#target", &format!("case={}", w.acme_case))
        .await;
    auditor.choose("#format", "jsonl").await;
    auditor.click("#export").await;
    auditor.wait_text("#export-result", "Download").await;
    auditor.click("#verify-export").await;
    auditor.wait_text("#export-result", "Verified:").await;
    auditor.screenshot("auditor-export").await;
    // The evidence bundle verifies too.
    auditor.choose("#format", "bundle").await;
    auditor.click("#export").await;
    auditor.wait_text("#export-result", "Download").await;
    auditor.click("#verify-export").await;
    auditor
        .wait_text("#export-result", "match SHA256SUMS")
        .await;
    // An altered export, uploaded, is refused with the reason.
    let export = app
        .get_as(
            &w.admin,
            &format!("/api/v1/audit/export?case={}", w.acme_case),
        )
        .await;
    let altered = String::from_utf8_lossy(&export.body).replacen("portal", "p0rtal", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("altered.jsonl");
    std::fs::write(&path, altered).unwrap();
    auditor.type_into("#file", path.to_str().unwrap()).await;
    auditor.click("#verify-file").await;
    auditor.wait_text("main", "NOT VERIFIED").await;
    auditor.screenshot("auditor-verify").await;
    // Last quarter's export against this quarter's: nothing changed since.
    let case_log = format!("/api/v1/audit/export?case={}&format=jsonl", w.acme_case);
    let earlier = app.get_as(&w.auditor, &case_log).await.body.to_vec();
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "note", "body": "Quarter closed"}),
        )
        .await,
        201,
    )
    .await;
    let later = app.get_as(&w.auditor, &case_log).await.body.to_vec();
    let (earlier_path, later_path) = (dir.path().join("q3.jsonl"), dir.path().join("q4.jsonl"));
    std::fs::write(&earlier_path, &earlier).unwrap();
    std::fs::write(&later_path, &later).unwrap();
    auditor
        .type_into("#compare-newer", later_path.to_str().unwrap())
        .await;
    auditor
        .type_into("#compare-older", earlier_path.to_str().unwrap())
        .await;
    auditor.click("#compare").await;
    auditor
        .wait_text("#compare-result", "Nothing exported before was changed")
        .await;
    // The other way round, history seems to have lost an event.
    auditor.script("document.getElementById('compare-newer').value = ''; document.getElementById('compare-older').value = ''; return true").await;
    auditor
        .type_into("#compare-newer", earlier_path.to_str().unwrap())
        .await;
    auditor
        .type_into("#compare-older", later_path.to_str().unwrap())
        .await;
    auditor.click("#compare").await;
    auditor
        .wait_text("#compare-result", "CHANGED SINCE THE EARLIER EXPORT")
        .await;
    // Agents are turned away.
    let (agent_email, agent_password) = seed::staff(db, "agent");
    let other = driver.browser().await;
    other.goto(&format!("{}/auditor", app.base_url)).await;
    staff_sign_in(&other, &agent_email, &agent_password).await;
    other.wait_text("main", "for auditors and admins").await;
    auditor.quit().await;
    other.quit().await;
}

e2e_test!(an_admin_sets_up_a_client_in_the_browser);
async fn an_admin_sets_up_a_client_in_the_browser(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let (email, password) = seed::staff(db, "admin");
    let admin = app.login(&email, &password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = driver.browser().await;
    b.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&b, &email, &password).await;
    // A new agent, a team with them, an account served by it, a contact, a token.
    b.type_into("#s-email", "jonas@support.example").await;
    b.type_into("#s-name", "Jonas Weber").await;
    b.click("#s-form-submit").await;
    b.wait_text(
        "#section-status",
        "Invitation sent to jonas@support.example",
    )
    .await;
    b.wait_text("#staff-list", "Jonas Weber").await;
    b.click("#nav-teams").await;
    b.type_into("#t-name", "Manufacturing").await;
    b.click("#t-form-submit").await;
    b.wait_text("#section-status", "Team Manufacturing created")
        .await;
    let jonas = app.get_as(&admin, "/api/v1/staff?limit=200").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "jonas@support.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = app
        .get_as(&admin, "/api/v1/teams")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Manufacturing")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.choose(&format!("#t-member-{team}"), &jonas).await;
    b.click(&format!("#t-add-{team}-submit")).await;
    b.wait_text(&format!("#t-members-{team}"), "Jonas Weber")
        .await;
    b.click("#nav-accounts").await;
    b.type_into("#a-name", "Initech").await;
    b.type_into("#a-domains", "initech.example").await;
    b.choose("#a-team", &team).await;
    b.click("#a-form-submit").await;
    b.wait_text("#accounts-list", "initech.example").await;
    b.screenshot("admin-accounts").await;
    b.click("#nav-contacts").await;
    let initech = app
        .get_as(&admin, "/api/v1/accounts?limit=200")
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Initech")
        .unwrap()
        .clone();
    assert_eq!(initech["team_id"], team.as_str());
    b.choose("#c-account", initech["id"].as_str().unwrap())
        .await;
    b.wait_text("#section", "No contacts yet").await;
    b.type_into("#c-name", "Peter Gibbons").await;
    b.type_into("#c-email", "peter@initech.example").await;
    b.click("#c-form-submit").await;
    b.wait_text("#c-list", "peter@initech.example").await;
    b.click("#nav-sla").await;
    b.wait_text("#sla-policy", "First response").await;
    b.wait_text("#sla-policy", "strategic").await;
    b.click("#nav-tokens").await;
    b.type_into("#k-name", "Mail provider").await;
    b.click("#k-mail-ingest").await;
    b.click("#k-form-submit").await;
    b.wait_text("#k-secret", "rpt_").await;
    let tokens = app.get_as(&admin, "/api/v1/api-tokens").await.json();
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Mail provider" && t["scopes"][0] == "mail:ingest")
    );
    // Agents are turned away.
    let (agent_email, agent_password) = seed::staff(db, "agent");
    let other = driver.browser().await;
    other.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&other, &agent_email, &agent_password).await;
    other.wait_text("main", "for admins").await;
    b.quit().await;
    other.quit().await;
}

e2e_test!(the_chat_widget_on_a_client_site_greets_triages_and_chats);
async fn the_chat_widget_on_a_client_site_greets_triages_and_chats(db: &TestDatabase) {
    use rapport_tests::ChatClient;
    use std::sync::{Arc, Mutex};
    let Some(driver) = Driver::start().await else {
        return;
    };
    // The client's own website, on another origin, with the one script tag.
    let rapport_url: Arc<Mutex<String>> = Arc::default();
    let shared = rapport_url.clone();
    let site = actix_web::HttpServer::new(move || {
        let url = shared.clone();
        actix_web::App::new().route("/", actix_web::web::get().to(move || {
            let url = url.lock().unwrap().clone();
            async move {
                actix_web::HttpResponse::Ok().content_type("text/html").body(format!(
                    "<!DOCTYPE html><html><body><h1>Acme Manufacturing</h1><p>Our products.</p><script src=\"{url}/widget.js\" async></script></body></html>"
                ))
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let site_addr = site.addrs()[0];
    let site = site.run();
    let site_handle = site.handle();
    actix_web::rt::spawn(site);
    let site_origin = format!("http://{site_addr}");
    let origin = site_origin.clone();
    let app = TestApp::spawn_with(db, move |s| s.server.widget_origins = vec![origin]).await;
    *rapport_url.lock().unwrap() = app.base_url.clone();
    let w = world(&app, db).await;

    let b = driver.browser().await;
    b.goto(&format!("{site_origin}/")).await;
    b.wait_text("h1", "Acme Manufacturing").await;
    b.enter_frame("const host = document.getElementById('rapport-chat-widget'); if (!host) return null; host.shadowRoot.querySelector('button').click(); return host.shadowRoot.querySelector('iframe');").await;
    b.type_into("#w-email", "anna@acme.example").await;
    let mailbox = db.data_dir().join("mailbox");
    let before: Vec<_> = std::fs::read_dir(&mailbox)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    b.click("#w-send").await;
    let mail = rapport_tests::http::wait_for_new_mail(&mailbox, &before).await;
    let mail = rapport_mail::parse(&std::fs::read(mail).unwrap()).unwrap();
    // The code to type is short: eight characters, shown as ABCD-EFGH.
    let code = mail
        .text
        .split_whitespace()
        .find(|w| {
            w.len() == 9
                && w.as_bytes()[4] == b'-'
                && w.chars()
                    .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .expect("a sign-in code")
        .to_owned();
    b.type_into("#w-code", &code.to_lowercase()).await;
    b.click("#w-code-go").await;
    // Enter sends; Shift+Enter would start a new line.
    b.type_into("#w-first", "Could you resend invoice 2026-0402?\u{E007}")
        .await;
    b.wait_text(".thread", "Key Accounts").await;
    b.wait_text(".thread", "Could you resend invoice 2026-0402?")
        .await;
    b.wait_text(".notice", "No one from the team is online")
        .await;
    b.click("button[data-category=\"billing\"]").await;

    // The agent answers; the client sees who, and the answer, live.
    let cases = app.get_as(&w.agent_in, "/api/v1/cases").await.json();
    let case = cases["items"][0].clone();
    assert_eq!(case["channel"], "chat");
    assert_eq!(case["subject"], "Could you resend invoice 2026-0402?");
    let case_id = case["id"].as_str().unwrap().to_owned();
    let (mut agent, _) = ChatClient::connect(&app, &w.agent_in).await;
    agent.join(&case_id, None).await;
    // The triage answer set the case's category.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{case_id}"))
        .await
        .json()["category"]
        != "billing"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the category was not set from the widget"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.wait_text(".people", "").await;
    agent
        .send(serde_json::json!({"type": "typing", "case_id": case_id, "active": true}))
        .await;
    b.wait_text(".typing", "is typing").await;
    agent
        .say(&case_id, "w-1", "Resent just now to your billing address.")
        .await;
    b.wait_text(".thread", "Resent just now").await;
    let widget_text = b.text().await;
    assert!(
        !widget_text.contains("No one from the team is online"),
        "{widget_text}"
    );
    b.screenshot("widget").await;
    // And the client answers from the widget, with Enter, and sends a screenshot.
    b.type_into("#w-reply", "Got it, thanks!\u{E007}").await;
    agent
        .next_where("message", |m| m["entry"]["body"] == "Got it, thanks!")
        .await;
    let shot = db.data_dir().join("invoice-screenshot.png");
    std::fs::write(&shot, PNG).unwrap();
    b.type_into("#w-reply-file", shot.to_str().unwrap()).await;
    b.wait_text(".pending-files", "invoice-screenshot.png")
        .await;
    b.type_into("#w-reply", "Here is what I see").await;
    b.click("#w-reply-send").await;
    b.wait_text(".thread", "invoice-screenshot.png").await;
    b.wait_true("return [...document.querySelectorAll('.thread img.preview')].some((i) => i.complete && i.naturalWidth > 0)", "the screenshot in the thread").await;
    let files = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{case_id}/entries"))
        .await
        .json();
    let sent = files["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"] == "Here is what I see")
        .expect("the message with the file");
    assert_eq!(sent["attachments"][0]["filename"], "invoice-screenshot.png");
    assert_eq!(sent["attachments"][0]["content_type"], "image/png");

    // Closed, the chat counts what arrives; opened again, the count goes.
    b.click("#w-close").await;
    b.leave_frame().await;
    let badge =
        "return document.getElementById('rapport-chat-widget').shadowRoot.querySelector('.badge')";
    // Closing travels from the frame to the page by a message: wait for it.
    b.wait_true("return document.getElementById('rapport-chat-widget').shadowRoot.querySelector('iframe').hidden", "the widget closed").await;
    assert_eq!(
        b.script(&format!("{badge}.hidden")).await,
        serde_json::Value::Bool(true)
    );
    agent.say(&case_id, "w-2", "Anything else?").await;
    b.wait_script(
        &format!("{badge}.textContent"),
        serde_json::Value::String("1".into()),
        "an unread badge on the closed widget",
    )
    .await;
    b.enter_frame("const host = document.getElementById('rapport-chat-widget'); host.shadowRoot.querySelector('button').click(); return host.shadowRoot.querySelector('iframe');").await;
    b.wait_text(".thread", "Anything else?").await;
    b.leave_frame().await;
    assert_eq!(
        b.script(&format!("{badge}.hidden")).await,
        serde_json::Value::Bool(true),
        "opening clears the count"
    );
    b.enter_frame(
        "return document.getElementById('rapport-chat-widget').shadowRoot.querySelector('iframe');",
    )
    .await;
    // Resolved: the widget asks for a rating, once.
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    b.wait_text("#w-rating", "How did we do?").await;
    b.click("#w-rating [data-rating='4']").await;
    b.click("#rating-send").await;
    b.wait_text("#w-rating", "Thank you").await;
    let rated = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case_id}/satisfaction"),
        )
        .await
        .json();
    assert_eq!(rated["rating"], 4);
    b.quit().await;
    site_handle.stop(true).await;
}

e2e_test!(an_admin_reads_every_version_and_redacts_in_the_console);
async fn an_admin_reads_every_version_and_redacts_in_the_console(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let note = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "note", "body": "IBAN DE89 3704 0044 0532 0130 00"}),
        )
        .await,
        201,
    )
    .await;
    let id = note["entry"]["id"].as_str().unwrap().to_owned();
    ok(
        app.send(
            Method::PATCH,
            &format!("{entries}/{id}"),
            Some(json!({"body": "IBAN on file (see the ERP)"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    let (email, password) = seed::staff(db, "admin");
    let b = driver.browser().await;
    b.goto(&format!("{}/console/views/open", app.base_url))
        .await;
    staff_sign_in(&b, &email, &password).await;
    b.click("#case-list tbody tr:first-child a[data-open]")
        .await;
    b.wait_text(".thread", "edited").await;
    b.click(&format!("button[data-versions=\"{id}\"]")).await;
    b.wait_text(".versions", "DE89 3704").await;
    b.screenshot("console-versions").await;
    b.click(&format!("button[data-redact=\"{id}\"]")).await;
    b.type_into(
        &format!("input[data-reason=\"{id}\"]"),
        "bank details do not belong in a note",
    )
    .await;
    b.click(&format!("button[data-redact-confirm=\"{id}\"]"))
        .await;
    b.wait_text(
        ".thread",
        "Removed by an administrator: bank details do not belong in a note",
    )
    .await;
    let text = b.text().await;
    assert!(!text.contains("DE89"), "{text}");
    let versions = app
        .get_as(&w.admin, &format!("{entries}/{id}/versions"))
        .await
        .json();
    assert!(
        versions.as_array().unwrap().iter().all(|v| v["body"] == ""),
        "{versions}"
    );
    // A file, too: the thread keeps its name and the reason.
    let body = crate::attachments::multipart(
        &[("kind", "portal"), ("body", "Our bank letter")],
        &[("bank-letter.txt", b"IBAN DE89 3704 0044 0532 0130 00\n")],
    );
    let posted = app
        .send_raw(
            &format!("/api/v1/cases/{}/attachments", w.acme_case),
            &crate::attachments::content_type(),
            body,
            Some(&w.contact_in),
        )
        .await
        .json();
    let file = posted["entry"]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.wait_text(".thread", "bank-letter.txt").await;
    b.click(&format!("button[data-redact=\"{file}\"]")).await;
    b.type_into(
        &format!("input[data-reason=\"{file}\"]"),
        "bank letter with account numbers",
    )
    .await;
    b.click(&format!("button[data-redact-confirm=\"{file}\"]"))
        .await;
    b.wait_text(
        ".thread",
        "bank-letter.txt was removed: bank letter with account numbers",
    )
    .await;
    app.get_as(&w.admin, &format!("/api/v1/attachments/{file}"))
        .await
        .assert_problem(410, "redacted");
    b.quit().await;
}
