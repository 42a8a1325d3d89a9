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

e2e_test!(an_outside_accountant_of_two_companies_chooses_which_one_each_time_it_matters);
async fn an_outside_accountant_of_two_companies_chooses_which_one_each_time_it_matters(
    db: &TestDatabase,
) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let globex = app
        .get_as(&w.admin, "/api/v1/accounts?q=globex")
        .await
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let petra = "petra@ledger.example";

    // The admin makes Petra, the outside accountant, a contact of both.
    let (admin_email, admin_password) = seed::staff(db, "admin");
    let admin = driver.browser().await;
    admin.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&admin, &admin_email, &admin_password).await;
    admin.wait_text("#staff-list", "Test Person").await;
    for account in [&w.acme, &globex] {
        admin.click("#nav-contacts").await;
        admin.choose("#c-account", account).await;
        admin.wait_text("#c-list", "").await;
        admin.type_into("#c-name", "Petra Ledger").await;
        admin.type_into("#c-email", petra).await;
        admin.choose("#c-function", "finance").await;
        admin.click("#c-form-submit").await;
        admin
            .wait_text("#section-status", "Petra Ledger added")
            .await;
        admin.wait_text("#contacts-list", petra).await;
    }

    // One sign-in link; the portal says whom she acts for.
    let b = driver.browser().await;
    b.goto(&sign_in_link(&app, db, petra).await).await;
    b.wait_text("#cases-h", "Your cases at Acme Manufacturing")
        .await;
    b.wait_text(
        "#company-address",
        "Email for Acme Manufacturing: support+a",
    )
    .await;
    // A new case asks which company it is for, every time.
    b.click("#new-case").await;
    b.wait_text("#pane", "For which company?").await;
    b.type_into("#subject", "Q3 statement for Globex").await;
    b.type_into("#body", "Please send the Q3 statement of account.")
        .await;
    b.click("#pane button[type=submit]").await;
    b.wait_text("#pane", "Choose the company this case is for")
        .await;
    b.choose("#case-company", &globex).await;
    b.screenshot("portal-which-company").await;
    b.click("#pane button[type=submit]").await;
    b.wait_text("#cases-h", "Your cases at Globex Logistics")
        .await;
    b.wait_text("#pane h2", "Q3 statement for Globex").await;
    let cases = app.get_as(&w.admin, "/api/v1/cases?q=Q3").await.json();
    let opened = cases["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Q3 statement for Globex")
        .expect("the case")
        .clone();
    assert_eq!(opened["account_id"], globex.as_str());
    // Back to Acme: Globex's case is not in Acme's list.
    b.choose("#company", &w.acme).await;
    b.wait_text("#cases-h", "Your cases at Acme Manufacturing")
        .await;
    b.wait_text(".cases", "").await;
    assert!(!b.text().await.contains("Q3 statement for Globex"));

    // The chat widget asks too, before the chat starts.
    b.goto(&format!("{}/widget", app.base_url)).await;
    b.wait_text("#app", "For which company?").await;
    b.choose("#w-company", &globex).await;
    b.type_into("#w-first", "Is the Globex payment run today?\u{E007}")
        .await;
    b.wait_text(".thread", "Is the Globex payment run today?")
        .await;
    let chat = app.get_as(&w.admin, "/api/v1/cases?q=payment").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Is the Globex payment run today?")
        .expect("the chat's case")
        .clone();
    assert_eq!(chat["account_id"], globex.as_str());
    assert_eq!(chat["channel"], "chat");
    b.wait_text("#w-company-line", "Chat for Globex Logistics")
        .await;
    // Back in the portal she acts for Acme again; the chat window then
    // offers to continue the Globex chat rather than failing on it.
    b.goto(&format!("{}/portal", app.base_url)).await;
    b.wait_text("#cases-h", "Your cases at Globex Logistics")
        .await;
    b.choose("#company", &w.acme).await;
    b.wait_text("#cases-h", "Your cases at Acme Manufacturing")
        .await;
    b.goto(&format!("{}/widget", app.base_url)).await;
    b.wait_text("#app", "Your chat is with the Globex Logistics team")
        .await;
    b.click("#w-continue").await;
    b.wait_text(".thread", "Is the Globex payment run today?")
        .await;

    // An email that says nothing of the company: she chooses from our reply.
    let mailbox = db.data_dir().join("mailbox");
    let before: Vec<_> = std::fs::read_dir(&mailbox)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let held = super::mail::ingest_as(
        &app,
        &w.admin,
        format!("From: Petra Ledger <{petra}>\r\nTo: support@rapport.localhost\r\nSubject: Dunning letters\r\nMessage-ID: <dun-7@ledger.example>\r\n\r\nWho signs the dunning letters?\r\n"),
    )
    .await;
    assert_eq!(held["status"], "quarantined");
    let (asked, _) = rapport_tests::http::wait_for_new_mail_matching(&mailbox, &before, |m| {
        m.to.iter().any(|t| t.address == petra) && m.subject.starts_with("Which company")
    })
    .await;
    let lines: Vec<&str> = asked.text.lines().map(str::trim).collect();
    let globex_link = lines
        .windows(2)
        .find(|p| p[0] == "Globex Logistics:")
        .map(|p| p[1])
        .expect("Globex's link");
    b.goto(globex_link).await;
    b.wait_text("main", "Which company is your message about?")
        .await;
    b.wait_text("main", "Dunning letters").await;
    b.click("main button").await;
    b.wait_text("main", "Filed under Globex Logistics").await;
    b.screenshot("mail-which-company").await;
    b.wait_text("main", "Your message is now case #").await;
    // Opened again, the link says where the message went.
    b.goto(globex_link).await;
    b.wait_text("main", "Already filed under Globex Logistics")
        .await;
}
