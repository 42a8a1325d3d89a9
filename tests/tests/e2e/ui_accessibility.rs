//! Every page, in the states people see it in, has no WCAG 2.1 A/AA
//! violation that axe-core finds: sign-in forms, the portal with a case,
//! the console's list and case, reports, the admin sections, the audit
//! page, the help pages and the chat widget.

use rapport_tests::TestDatabase;
use rapport_tests::browser::{Browser, Driver};
use rapport_tests::{TestApp, axe, e2e_test, seed};
use serde_json::{Value, json};

use super::directory::{ok, world};
use super::ui::{sign_in_link, staff_sign_in, team_agent};

async fn check(b: &Browser, page: &str, found: &mut Vec<(String, Value)>) {
    for v in axe::violations(b).await {
        found.push((page.to_owned(), v));
    }
}

e2e_test!(every_page_passes_the_accessibility_checks);
async fn every_page_passes_the_accessibility_checks(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (email, password, _, _) = team_agent(&app, db, &w).await;
    ok(app.post_as(&w.agent_in, "/api/v1/kb/articles", &json!({"title": "Paying invoices", "body": "Pay within **30 days**.", "visibility": "public", "status": "published"})).await, 201).await;
    let mut found = Vec::new();
    let b = driver.browser().await;

    // Signed out: help, the sign-in forms.
    for (path, wait) in [
        ("/help", "main"),
        ("/portal", "#email"),
        ("/console", "#email"),
        ("/admin", "#email"),
        ("/auditor", "#email"),
        ("/welcome?token=nothing", "#w-save"),
        ("/rate", "main"),
        ("/widget", "#w-email"),
    ] {
        b.goto(&format!("{}{path}", app.base_url)).await;
        b.find(wait).await;
        check(&b, path, &mut found).await;
    }

    // The portal with a case open.
    let link = sign_in_link(&app, db, "anna@acme.example").await;
    b.goto(&link).await;
    b.wait_text("#cases-h", "Your cases").await;
    check(&b, "/portal (cases)", &mut found).await;
    b.click("ul.cases li:first-child button").await;
    b.wait_text(".thread", "PO 7781").await;
    check(&b, "/portal (a case)", &mut found).await;
    b.click("#new-case").await;
    b.find("#subject").await;
    check(&b, "/portal (new case)", &mut found).await;

    // The console: the list, a case, reports.
    let agent = driver.browser().await;
    agent
        .goto(&format!("{}/console/views/team", app.base_url))
        .await;
    staff_sign_in(&agent, &email, &password).await;
    agent.wait_text("#case-list", "Invoice 2026-114").await;
    check(&agent, "/console (list)", &mut found).await;
    agent
        .click("#case-list tbody tr:first-child a[data-open]")
        .await;
    agent.wait_text("#context", "Acme Manufacturing").await;
    check(&agent, "/console (case)", &mut found).await;
    for (key, wait) in [
        ("reports", "#r-times"),
        ("knowledge", "main"),
        ("canned", "#canned"),
        ("portfolio", "main"),
    ] {
        agent.goto(&format!("{}/console/{key}", app.base_url)).await;
        agent.find(wait).await;
        check(&agent, &format!("/console/{key}"), &mut found).await;
    }

    // Administration, every section; the audit page.
    let (admin_email, admin_password) = seed::staff(db, "admin");
    let admin = driver.browser().await;
    admin.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&admin, &admin_email, &admin_password).await;
    admin.wait_text("#staff-list", "Test Person").await;
    for key in [
        "staff", "teams", "accounts", "contacts", "routing", "import", "widget", "sla", "tokens",
        "webhooks",
    ] {
        admin.click(&format!("#nav-{key}")).await;
        admin.find(&format!("#nav-{key}[aria-current=true]")).await;
        admin.find("#section > *:not(p)").await;
        check(&admin, &format!("/admin ({key})"), &mut found).await;
    }
    admin.goto(&format!("{}/auditor", app.base_url)).await;
    admin.find("main form, main section").await;
    check(&admin, "/auditor", &mut found).await;

    assert!(
        found.is_empty(),
        "accessibility violations:\n{}",
        found
            .iter()
            .map(|(page, v)| format!("{page}: {}", serde_json::to_string_pretty(v).unwrap()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    b.quit().await;
    agent.quit().await;
    admin.quit().await;
}
