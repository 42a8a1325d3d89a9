//! Contact functions in real browsers: an admin says what a category
//! concerns and who has the skill; the finance chief sees and follows her
//! company's billing case and chooses a digest; the agent it was routed to
//! reads why and copies an outside adviser after confirming; a subsidiary
//! joins its group.

use rapport_tests::TestDatabase;
use rapport_tests::browser::Driver;
use rapport_tests::{TestApp, e2e_test, seed};
use serde_json::json;

use super::directory::{ok, world};
use super::ui::{sign_in_link, staff_sign_in, team_agent};

e2e_test!(a_clients_finance_chief_follows_billing_and_the_billing_agent_copies_an_adviser);
async fn a_clients_finance_chief_follows_billing_and_the_billing_agent_copies_an_adviser(
    db: &TestDatabase,
) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (agent_email, agent_password, _, agent_id) = team_agent(&app, db, &w).await;

    // The admin: billing concerns finance and executives too; the new agent
    // has the billing skill; Fiona, the finance chief, sees her function's cases.
    let (admin_email, admin_password) = seed::staff(db, "admin");
    let admin = driver.browser().await;
    admin.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&admin, &admin_email, &admin_password).await;
    admin.wait_text("#staff-list", "Test Person").await;
    admin.click("#nav-routing").await;
    admin.wait_text("#categories-list", "billing").await;
    admin.click("#r-billing-executive").await;
    admin.click("#r-billing-save").await;
    admin
        .wait_text(
            "#section-status",
            "billing: concerns finance, executive; answered by the billing skill",
        )
        .await;
    admin.type_into(&format!("#k-{agent_id}"), "billing").await;
    admin.click(&format!("#k-save-{agent_id}")).await;
    admin.wait_text("#section-status", "skills billing").await;
    admin.wait_text("#categories-list", "Test Person").await;
    admin.screenshot("admin-categories-and-skills").await;
    // Acme's logistics subsidiary joins its group and takes its team.
    admin.click("#nav-accounts").await;
    admin
        .wait_text("#accounts-list", "Acme Manufacturing")
        .await;
    admin.type_into("#a-name", "Acme Logistics").await;
    admin
        .type_into("#a-domains", "acme-logistics.example")
        .await;
    admin.choose("#a-parent", &w.acme).await;
    admin.choose("#a-team", "inherit").await;
    admin.click("#a-form-submit").await;
    admin
        .wait_text("#section-status", "Acme Logistics created")
        .await;
    admin
        .wait_text("#accounts-list", "Key Accounts (the group's)")
        .await;
    admin.click("#nav-contacts").await;
    admin.choose("#c-account", &w.acme).await;
    admin.wait_text("#contacts-list", "Anna Finance").await;
    admin.type_into("#c-name", "Fiona Chief").await;
    admin.type_into("#c-email", "fiona@acme.example").await;
    admin.choose("#c-function", "finance").await;
    admin.choose("#c-visibility", "function_cases").await;
    admin.click("#c-form-submit").await;
    admin
        .wait_text("#section-status", "Fiona Chief added")
        .await;
    admin
        .wait_text("#contacts-list", "own and their function's")
        .await;

    // Anna asks about an invoice: a billing case, routed to the skill.
    let case = ok(
        app.post_as(&w.contact_in, "/api/v1/cases", &json!({"subject": "Credit note for invoice 2026-0412", "body": "We were charged twice.", "category": "billing"}))
            .await,
        201,
    )
    .await["case"]
        .clone();
    assert_eq!(case["assignee_id"], json!(agent_id));

    // Fiona, in the portal, sees her colleague's billing case and follows it.
    let fiona = driver.browser().await;
    let link = sign_in_link(&app, db, "fiona@acme.example").await;
    fiona.goto(&link).await;
    fiona.wait_text("#cases-h", "Your cases").await;
    fiona
        .wait_text("main", "Credit note for invoice 2026-0412")
        .await;
    fiona.click("[data-case]").await;
    fiona.wait_text("#follow", "Not your case").await;
    fiona.click("#follow-toggle").await;
    fiona
        .wait_text("#follow", "You receive this case's replies by email")
        .await;
    // She would rather have one email a day about such cases.
    fiona.click("#email-settings").await;
    fiona
        .wait_text("#pane", "When a case about finance is opened or resolved")
        .await;
    fiona.click("#notices-digest").await;
    fiona.click("#email-settings-save").await;
    fiona
        .wait_text("#email-settings-status", "Saved: one email a day")
        .await;
    fiona.screenshot("portal-email-about-cases").await;

    // The agent reads why the case came to them and copies the client's
    // outside adviser, confirming the address outside Acme.
    let console = driver.browser().await;
    console
        .goto(&format!(
            "{}/console/cases/{}",
            app.base_url,
            case["number"].as_i64().unwrap()
        ))
        .await;
    staff_sign_in(&console, &agent_email, &agent_password).await;
    console
        .wait_text("#pane h2", "Credit note for invoice 2026-0412")
        .await;
    console.wait_text("#c-routing", "billing skill").await;
    console.wait_text("#c-participants", "Fiona Chief").await;
    console
        .wait_text("#c-recipients", "fiona@acme.example")
        .await;
    console
        .type_into("#c-cc-email", "counsel@lawfirm.example")
        .await;
    console.type_into("#c-cc-name", "Lena Counsel").await;
    console.click("#c-cc-add").await;
    console
        .wait_text(
            "#c-cc-confirm",
            "outside Acme Manufacturing's contacts and domains",
        )
        .await;
    console.click("#c-cc-outside").await;
    console.click("#c-cc-add").await;
    console
        .wait_text("#c-participants", "Lena Counsel <counsel@lawfirm.example>")
        .await;
    console
        .wait_text(".thread", "Lena Counsel was added to the case")
        .await;
    console
        .wait_text("#c-recipients", "counsel@lawfirm.example")
        .await;
    console.screenshot("console-copied").await;
    // Acme's page names its subsidiary, whose figures its health includes.
    console.click("#c-account").await;
    console.wait_text("#account-h", "Acme Manufacturing").await;
    console
        .wait_text("#group", "Subsidiaries: Acme Logistics")
        .await;
    let me = ok(
        app.get_as(
            &w.admin,
            &format!(
                "/api/v1/cases/{}/participants",
                case["id"].as_str().unwrap()
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me.as_array().unwrap().len(), 2, "{me}");
}
