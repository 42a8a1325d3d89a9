//! Proactive care in real browsers: help articles before a case, canned
//! answers, a meeting booked, a rating, reports and account health.

use actix_web::http::Method;
use chrono::{Duration, Utc};
use rapport_tests::TestDatabase;
use rapport_tests::browser::Driver;
use rapport_tests::{TestApp, e2e_test};
use serde_json::json;

use super::directory::{ok, world};
use super::ui::{sign_in_link, staff_sign_in, team_agent};

e2e_test!(articles_canned_answers_meetings_ratings_and_reports_in_the_browser);
async fn articles_canned_answers_meetings_ratings_and_reports_in_the_browser(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (email, password, agent, agent_id) = team_agent(&app, db, &w).await;
    ok(app.post_as(&agent, "/api/v1/kb/articles", &json!({"title": "Where to find your VAT number", "body": "Your **VAT number** is printed under the address block.", "visibility": "contacts", "status": "published"})).await, 201).await;
    ok(app.post_as(&agent, "/api/v1/kb/articles", &json!({"title": "Opening hours of the support desk", "body": "Monday to Friday, 8:00 to 18:00.", "visibility": "public", "status": "published"})).await, 201).await;
    // This agent owns Acme: their portfolio lists it.
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", w.acme),
            Some(json!({"owner_id": agent_id}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let canned = ok(app.post_as(&agent, "/api/v1/canned-responses", &json!({"team_id": w.team_in, "title": "Copy on its way", "body": "Hello {{contact.first_name}}, a copy for {{account.name}} is on its way."})).await, 201).await;

    // The contact reads the suggested article and opens no case.
    let contact = driver.browser().await;
    let link = sign_in_link(&app, db, "anna@acme.example").await;
    contact
        .goto(&format!(
            "{}{}",
            app.base_url,
            &link[link.find("/portal").unwrap()..]
        ))
        .await;
    contact.wait_text("#cases-h", "Your cases").await;
    contact.click("#help").await;
    contact
        .wait_text("#kb-results", "Where to find your VAT number")
        .await;
    contact.click("#new-case").await;
    contact.type_into("#subject", "Missing VAT number").await;
    contact
        .wait_text("#suggestions", "Where to find your VAT number")
        .await;
    contact.screenshot("portal-suggestions").await;
    contact.click("[data-suggested]").await;
    contact
        .wait_text(".article-body", "printed under the address block")
        .await;
    contact.click("#deflect").await;
    contact.wait_text("#pane h2", "Glad that helped").await;

    // Another question becomes a case.
    contact.click("#new-case").await;
    contact
        .type_into("#subject", "Copy of invoice 2026-0411")
        .await;
    contact
        .type_into("#body", "Please send a copy for our auditors.")
        .await;
    contact.click("#pane form button[type=submit]").await;
    contact
        .wait_text("#pane h2", "Copy of invoice 2026-0411")
        .await;
    let case = app.get_as(&agent, "/api/v1/cases").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Copy of invoice 2026-0411")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The agent answers with a canned response filled in for the case.
    let console = driver.browser().await;
    console
        .goto(&format!("{}/console/views/open", app.base_url))
        .await;
    staff_sign_in(&console, &email, &password).await;
    console
        .wait_text("#case-list", "Copy of invoice 2026-0411")
        .await;
    console
        .click("#case-list tbody tr:first-child a[data-open]")
        .await;
    console
        .wait_text("#pane h2", "Copy of invoice 2026-0411")
        .await;
    console
        .choose("#c-canned", canned["id"].as_str().unwrap())
        .await;
    console.wait_true("return document.querySelector('#c-reply').value.includes('Hello Anna, a copy for Acme Manufacturing')", "the canned text").await;
    console.click("#pane form button[type=submit]").await;
    contact
        .wait_text(
            ".thread",
            "Hello Anna, a copy for Acme Manufacturing is on its way.",
        )
        .await;

    // The agent proposes a meeting; the contact books it in the portal.
    console.click(&format!("#ap-new-{case}")).await;
    console
        .type_into(&format!("#ap-title-{case}"), "Audit call")
        .await;
    let when = (Utc::now() + Duration::days(3))
        .format("%Y-%m-%dT10:00")
        .to_string();
    console
        .script(&format!(
            "const s = document.querySelector('[data-slot=\"0\"]'); s.value = '{when}'; return true"
        ))
        .await;
    console.click(&format!("#ap-send-{case}")).await;
    console.wait_text("[data-appointment]", "Audit call").await;
    contact.wait_text(".appointments", "Audit call").await;
    contact.click("[data-book='0']").await;
    contact.wait_text(".appointment.booked", "Audit call").await;
    contact.screenshot("portal-appointment").await;
    console.wait_text(".appointment.booked", "Audit call").await;
    let booked = app
        .get_as(&agent, &format!("/api/v1/cases/{case}/appointments"))
        .await
        .json();
    assert_eq!(booked[0]["status"], "booked");

    // Resolved: the portal asks for a rating, once.
    console.choose("#c-status", "resolved").await;
    contact.wait_text("#rating", "How did we do?").await;
    contact.click("[data-rating='5']").await;
    contact.click("#rating-send").await;
    contact.wait_text("#rating", "Thank you").await;
    contact.screenshot("portal-rating").await;
    assert_eq!(
        app.get_as(&agent, &format!("/api/v1/cases/{case}/satisfaction"))
            .await
            .json()["rating"],
        5
    );

    // Reports and the account's health.
    console.click("#nav-reports").await;
    console.wait_text("#r-times", "First response").await;
    console.wait_text("#r-sat", "1 rating of 1 asked").await;
    console
        .wait_text("#r-deflection", "answered without a case 1")
        .await;
    console.screenshot("console-reports").await;
    console.click("#nav-portfolio").await;
    console.wait_text("#portfolio", "Acme Manufacturing").await;
    console.screenshot("console-portfolio").await;
    console.click("[data-account]").await;
    console.wait_text("#health", "Health:").await;
    console.screenshot("console-account-health").await;

    // Writing an article in the console; its history comes from the audit log.
    console.click("#nav-kb").await;
    console.click("#a-new").await;
    console
        .type_into("#a-title", "Requesting invoice copies")
        .await;
    console
        .type_into(
            "#a-body",
            "Ask in the portal; copies arrive **within a day**.",
        )
        .await;
    console.choose("#a-status", "published").await;
    console.click("#a-save").await;
    console
        .wait_text("#article-h", "Requesting invoice copies")
        .await;
    console
        .wait_text(".article-body strong", "within a day")
        .await;
    console.wait_text("#revisions", "created").await;
    console.screenshot("console-knowledge").await;

    // The public help page shows public articles only.
    contact.goto(&format!("{}/help", app.base_url)).await;
    contact
        .wait_text("#kb-results", "Opening hours of the support desk")
        .await;
    let text = contact.text().await;
    assert!(!text.contains("Where to find your VAT number"), "{text}");
    contact.quit().await;
    console.quit().await;
}
