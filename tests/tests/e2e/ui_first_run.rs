//! The first run, in a real browser, as a newcomer does it: the first
//! admin from the command line, their first sign-in and own password, an
//! agent invited by email, teams, an account with two contacts, changing
//! the account's team and deactivating a contact, and a contact signing in
//! by the mailed link, all on a server on a non-default port, then the chat
//! widget on the client's own site.

use rapport_tests::TestDatabase;
use rapport_tests::browser::{Browser, Driver};
use rapport_tests::http::{wait_for_mail_matching, wait_for_new_mail};
use rapport_tests::{TestApp, e2e_test, rapport_bin, run_rapport};

/// A client company's website on its own origin, serving one page.
struct ClientSite {
    origin: String,
    page: std::sync::Arc<std::sync::Mutex<String>>,
    handle: actix_web::dev::ServerHandle,
}

impl ClientSite {
    async fn start() -> ClientSite {
        let page: std::sync::Arc<std::sync::Mutex<String>> = std::sync::Arc::default();
        let shared = page.clone();
        let server = actix_web::HttpServer::new(move || {
            let page = shared.clone();
            actix_web::App::new().route(
                "/",
                actix_web::web::get().to(move || {
                    let body = page.lock().unwrap().clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("text/html")
                            .body(body)
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let origin = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        ClientSite {
            origin,
            page,
            handle,
        }
    }

    fn set_page(&self, html: &str) {
        *self.page.lock().unwrap() = html.to_owned();
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The link with a token in the newest mail to `to` about `subject`.
async fn mailed_link(db: &rapport_tests::TestDatabase, to: &str, subject: &str) -> String {
    let (mail, _) = wait_for_mail_matching(&db.data_dir().join("mailbox"), |m| {
        m.to.iter().any(|t| t.address == to) && m.subject.contains(subject)
    })
    .await;
    mail.text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("token="))
        .expect("a link")
        .to_owned()
}

async fn open_section(b: &Browser, key: &str, heading: &str) {
    b.click(&format!("#nav-{key}")).await;
    b.wait_text("#section", heading).await;
}

e2e_test!(a_newcomer_sets_up_rapport_from_the_first_sign_in_to_a_client_in_the_portal);
async fn a_newcomer_sets_up_rapport_from_the_first_sign_in_to_a_client_in_the_portal(
    db: &TestDatabase,
) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let dir = db.data_dir().to_str().unwrap().to_owned();
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--data-dir",
            &dir,
            "--database-url",
            &db.url,
            "admin",
            "create",
            "--email",
            "olivia@support.example",
            "--name",
            "Olivia Owner",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let one_time = printed
        .lines()
        .find_map(|l| l.split("password: ").nth(1))
        .map(str::trim)
        .expect("a one-time password")
        .to_owned();
    // The client's own website, on another origin, allowed to show the chat.
    let site = ClientSite::start().await;
    let site_origin = site.origin.clone();
    let app = TestApp::spawn_with(db, move |s| s.server.widget_origins = vec![site_origin]).await;
    assert_ne!(app.addr.port(), 8080, "a non-default port");

    // First sign-in: the one-time password, then one's own, in place.
    let admin = driver.browser().await;
    admin.goto(&format!("{}/admin", app.base_url)).await;
    admin.type_into("#email", "olivia@support.example").await;
    admin.type_into("#password", &one_time).await;
    admin.click("form button[type=submit]").await;
    admin
        .wait_text("#choose-password", "Choose your own password")
        .await;
    admin
        .type_into("#c-new-password", "olivia's own passphrase")
        .await;
    admin
        .type_into("#c-new-password-again", "olivia's own passphrase")
        .await;
    admin.click("#c-save").await;
    admin.wait_text("#staff-list", "Olivia Owner").await;

    // An agent is invited and chooses a password from the mailed link.
    admin.type_into("#s-email", "ben@support.example").await;
    admin.type_into("#s-name", "Ben Agent").await;
    admin.click("#s-form-submit").await;
    admin
        .wait_text("#section-status", "Invitation sent to ben@support.example")
        .await;
    admin.wait_text("#staff-list", "Ben Agent").await;
    let invitation = mailed_link(db, "ben@support.example", "invitation").await;
    assert!(
        invitation.starts_with(&format!("{}/welcome?token=", app.base_url)),
        "{invitation}"
    );
    let agent = driver.browser().await;
    agent.goto(&invitation).await;
    agent.wait_text("main", "Choose your password").await;
    agent
        .type_into("#w-new-password", "ben's long passphrase")
        .await;
    agent
        .type_into("#w-new-password-again", "ben's long passphrase")
        .await;
    agent.click("#w-save").await;
    agent.wait_text("#who", "Ben Agent").await;
    agent.screenshot("first-run-agent-console").await;

    // Teams, an account with two contacts.
    open_section(&admin, "teams", "New team").await;
    for team in ["Key Accounts", "Mid Market"] {
        admin.type_into("#t-name", team).await;
        admin.click("#t-form-submit").await;
        admin
            .wait_text("#section-status", &format!("Team {team} created"))
            .await;
    }
    let olivia = app
        .login("olivia@support.example", "olivia's own passphrase")
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let teams = app.get_as(&olivia, "/api/v1/teams").await.json();
    let team_id = |name: &str| {
        teams
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (key_accounts, mid_market) = (team_id("Key Accounts"), team_id("Mid Market"));
    let staff = app.get_as(&olivia, "/api/v1/staff").await.json();
    let ben = staff["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "ben@support.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .choose(&format!("#t-member-{key_accounts}"), &ben)
        .await;
    admin.click(&format!("#t-add-{key_accounts}-submit")).await;
    admin
        .wait_text(&format!("#t-members-{key_accounts}"), "Ben Agent")
        .await;

    open_section(&admin, "accounts", "New account").await;
    admin.type_into("#a-name", "Acme Manufacturing").await;
    admin.type_into("#a-domains", "acme.example").await;
    admin.choose("#a-tier", "strategic").await;
    admin.choose("#a-team", &key_accounts).await;
    admin.click("#a-form-submit").await;
    admin.wait_text("#accounts-list", "Key Accounts").await;

    open_section(&admin, "contacts", "Add a contact").await;
    for (name, email) in [
        ("Anna Finance", "anna@acme.example"),
        ("Carl Controller", "carl@acme.example"),
    ] {
        admin.type_into("#c-name", name).await;
        admin.type_into("#c-email", email).await;
        admin.choose("#c-function", "finance").await;
        admin.click("#c-form-submit").await;
        admin.wait_text("#c-list", email).await;
    }

    // The account moves to the other team; Carl leaves the client.
    open_section(&admin, "accounts", "New account").await;
    admin
        .click("button[aria-label='Edit Acme Manufacturing']")
        .await;
    admin.choose("#e-team", &mid_market).await;
    admin.click("#a-edit-submit").await;
    admin
        .wait_text("#section-status", "Acme Manufacturing saved")
        .await;
    admin.wait_text("#accounts-list", "Mid Market").await;
    open_section(&admin, "contacts", "Add a contact").await;
    admin
        .click("button[aria-label='Edit Carl Controller']")
        .await;
    admin.click("#ce-active").await;
    admin.click("#c-edit-submit").await;
    admin
        .wait_text("#section-status", "Carl Controller saved")
        .await;
    admin.wait_text("#c-list", "deactivated").await;
    admin.screenshot("first-run-admin-contacts").await;

    // A contact signs in by the mailed link; the deactivated one gets none.
    let client = driver.browser().await;
    client.goto(&format!("{}/portal", app.base_url)).await;
    client.type_into("#email", "anna@acme.example").await;
    client.click("form .row button.secondary").await;
    client
        .wait_text("main", "a sign-in link is on its way")
        .await;
    let link = mailed_link(db, "anna@acme.example", "sign-in link").await;
    assert!(
        link.starts_with(&format!("{}/portal/sign-in?token=", app.base_url)),
        "{link}"
    );
    client.goto(&link).await;
    client.wait_text("#cases-h", "Your cases").await;
    client.wait_text("#who", "Anna Finance").await;
    assert_eq!(
        app.post_json(
            "/api/v1/auth/contact/magic-link",
            &serde_json::json!({"email": "carl@acme.example"})
        )
        .await
        .status,
        202
    );

    // The admin page gives the line for the client's site and the sites allowed.
    open_section(&admin, "widget", "Chat widget").await;
    admin.wait_text("#w-origins", &site.origin).await;
    let snippet = admin
        .script("return document.getElementById('w-snippet').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        snippet,
        format!("<script src=\"{}/widget.js\" async></script>", app.base_url)
    );
    site.set_page(&format!(
        "<!DOCTYPE html><html><body><h1>Acme Manufacturing</h1>{snippet}</body></html>"
    ));

    // On the client's site, Anna signs in with the mailed code and asks with Enter.
    let visitor = driver.browser().await;
    visitor.goto(&format!("{}/", site.origin)).await;
    visitor.wait_text("h1", "Acme Manufacturing").await;
    visitor.enter_frame("const host = document.getElementById('rapport-chat-widget'); if (!host) return null; host.shadowRoot.querySelector('button').click(); return host.shadowRoot.querySelector('iframe');").await;
    visitor.type_into("#w-email", "anna@acme.example").await;
    let mailbox = db.data_dir().join("mailbox");
    let before: Vec<_> = std::fs::read_dir(&mailbox)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    visitor.click("#w-send").await;
    visitor.wait_text("main", "8-character code").await;
    let mail =
        rapport_mail::parse(&std::fs::read(wait_for_new_mail(&mailbox, &before).await).unwrap())
            .unwrap();
    assert!(mail.to.iter().any(|t| t.address == "anna@acme.example"));
    let code = mail
        .text
        .split_whitespace()
        .find(|w| w.len() == 9 && w.as_bytes()[4] == b'-')
        .expect("a code")
        .to_owned();
    visitor.type_into("#w-code", &code).await;
    visitor.click("#w-code-go").await;
    visitor
        .type_into(
            "#w-first",
            "Where is the credit note for order 4471?\u{E007}",
        )
        .await;
    visitor
        .wait_text(".thread", "Where is the credit note for order 4471?")
        .await;
    visitor
        .type_into("#w-reply", "It is urgent for our month end.\u{E007}")
        .await;
    visitor
        .wait_text(".thread", "urgent for our month end")
        .await;
    visitor.screenshot("first-run-widget").await;
    // The chat is in Anna's portal too, without a reload.
    client
        .wait_text("ul.cases", "Where is the credit note for order 4471?")
        .await;
    let cases = app.get_as(&olivia, "/api/v1/cases").await.json();
    let chat = cases["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "chat")
        .expect("the chat case")
        .clone();
    assert_eq!(
        chat["team_id"],
        mid_market.as_str(),
        "routed to the account's team as it is now"
    );
    visitor.quit().await;
    site.stop().await;

    admin.quit().await;
    agent.quit().await;
    client.quit().await;
}
