//! Customer cards against real HTTP systems on loopback: an admin adds a
//! system in the browser, an agent opening a case sees what it knows of
//! the client beside the thread, a slow system is named as such, and the
//! requests are signed and carry the external ids.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport_tests::browser::Driver;
use rapport_tests::{TestApp, TestDatabase, e2e_test, seed};
use serde_json::{Value, json};

use super::directory::{ok, world};
use super::ui::staff_sign_in;
use super::webhooks::{Received, Receiver, verify};

/// A system that answers every request with `card` after `delay`.
fn system(card: Value, delay: Duration) -> (String, Arc<Mutex<Vec<Received>>>) {
    let receiver = Receiver::answering(Some(card), delay);
    (receiver.url, receiver.got)
}

e2e_test!(an_agent_sees_what_the_suppliers_systems_know_of_the_client);
async fn an_agent_sees_what_the_suppliers_systems_know_of_the_client(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (erp_url, erp_got) = system(
        json!({
            "title": "ERP: Acme Manufacturing",
            "rows": [{"label": "Open invoices", "value": 3}, {"label": "Overdue", "value": "EUR 1,240.00"}],
            "links": [{"label": "Open in ERP", "url": "https://erp.example/customers/CRM-4711"},
                      {"label": "Not a link", "url": "javascript:alert(1)"}]
        }),
        Duration::ZERO,
    );
    let (slow_url, _) = system(json!({"title": "Never shown"}), Duration::from_secs(6));
    // Acme's id in the CRM, set the way an admin or an import would.
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/accounts/{}", w.acme),
            Some(json!({"external_id": "CRM-4711"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/contacts/{}", w.anna),
            Some(json!({"external_id": "CRM-P-88"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    // Another account may not take the same external id.
    let globex = app
        .get_as(&w.admin, "/api/v1/accounts?q=globex")
        .await
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send(
        actix_web::http::Method::PATCH,
        &format!("/api/v1/accounts/{globex}"),
        Some(json!({"external_id": "CRM-4711"}).to_string()),
        Some(&w.admin),
    )
    .await
    .assert_problem(409, "conflict");
    let found = ok(
        app.get_as(&w.admin, "/api/v1/accounts?external_id=CRM-4711")
            .await,
        200,
    )
    .await;
    assert_eq!(
        found["items"][0]["id"],
        w.acme.as_str(),
        "CRM matching by id"
    );

    // An admin adds the ERP in the browser and copies its secret.
    let (admin_email, admin_password) = seed::staff(db, "admin");
    let b = driver.browser().await;
    b.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&b, &admin_email, &admin_password).await;
    b.wait_text("#who", "(admin)").await;
    b.click("#nav-cards").await;
    b.wait_text("body", "No system is asked yet").await;
    b.type_into("#cc-name", "ERP").await;
    b.type_into("#cc-url", &erp_url).await;
    b.click("#cc-form-submit").await;
    b.wait_text("#cc-list", "ERP").await;
    let secret = b
        .script("return document.getElementById('cc-secret-value').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    b.quit().await;
    ok(
        app.post_as(
            &w.admin,
            "/api/v1/customer-cards",
            &json!({"name": "Billing", "url": slow_url}),
        )
        .await,
        201,
    )
    .await;

    // The agent opens Acme's case: the ERP's card is beside the thread, the
    // slow billing system is named, and nothing waits for it for long.
    let (agent_email, agent_password, _, _) = super::ui::team_agent(&app, db, &w).await;
    let number = app
        .get_as(&w.admin, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .json()["number"]
        .as_i64()
        .unwrap();
    let b = driver.browser().await;
    b.goto(&format!("{}/console/cases/{number}", app.base_url))
        .await;
    staff_sign_in(&b, &agent_email, &agent_password).await;
    let started = std::time::Instant::now();
    b.wait_text("#c-cards", "Open invoices").await;
    b.wait_text("#c-cards", "EUR 1,240.00").await;
    b.wait_text("#c-cards", "Billing: no card, it did not answer in time")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "three seconds, not six"
    );
    assert_eq!(
        b.script("return [...document.querySelectorAll('#c-cards a')].map((a) => a.href)")
            .await,
        json!(["https://erp.example/customers/CRM-4711"]),
        "only http(s) links"
    );
    b.quit().await;

    // The request was signed with the secret and named the client by the
    // CRM's ids; a second look within five minutes asks nobody again.
    let first = erp_got.lock().unwrap()[0].clone();
    verify(&secret, &first);
    let asked: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(asked["account"]["external_id"], "CRM-4711");
    assert_eq!(asked["contact"]["external_id"], "CRM-P-88");
    assert_eq!(asked["case"]["id"], w.acme_case.as_str());
    let again = ok(
        app.get_as(&w.agent_in, &format!("/api/v1/cases/{}/cards", w.acme_case))
            .await,
        200,
    )
    .await;
    assert_eq!(again[0]["card"]["rows"][0]["value"], "3");
    assert_eq!(erp_got.lock().unwrap().len(), 1, "the answer was reused");

    // Cards are the supplier's: never the client's, nor another team's.
    app.get_as(
        &w.contact_in,
        &format!("/api/v1/cases/{}/cards", w.acme_case),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get_as(
        &w.agent_out,
        &format!("/api/v1/cases/{}/cards", w.acme_case),
    )
    .await
    .assert_problem(404, "not_found");
}
