//! Single sign-on in real browsers against a real OpenID Connect provider
//! (oidc-provider on loopback): staff through the organisation's provider,
//! a client company's contacts through the provider their account names.

use std::net::SocketAddr;

use rapport_tests::TestDatabase;
use rapport_tests::browser::{Browser, Driver};
use rapport_tests::idp::{Idp, IdpClient, free_port};
use rapport_tests::{TestApp, e2e_test, seed};
use serde_json::{Value, json};

use super::directory::{ok, world};
use super::ui::staff_sign_in;

const STAFF_SECRET: &str = "staff-client-secret-of-the-support-organisation";
const ACME_SECRET: &str = "acme-client-secret-issued-by-acme-it-department-2026";

/// Signs in at the provider's own pages as a person does: a login, any
/// password, then consent.
async fn sign_in_at_provider(b: &Browser, login: &str) {
    b.find("input[name=login]").await;
    // The provider fills in the address Rapport hinted at; this person's
    // login at the provider is another.
    b.script("document.querySelector('input[name=login]').value = ''; return true")
        .await;
    b.type_into("input[name=login]", login).await;
    b.type_into("input[name=password]", "correct horse battery staple")
        .await;
    b.click("button[type=submit]").await;
    b.wait_text("body", "Continue").await;
    b.click("button[type=submit]").await;
}

/// A server on a port chosen first: the provider must know the callback.
async fn server_on(
    db: &TestDatabase,
    port: u16,
    tweak: impl FnOnce(&mut rapport_server::config::Settings),
) -> TestApp {
    TestApp::spawn_with(db, |s| {
        s.server.bind = SocketAddr::from(([127, 0, 0, 1], port));
        tweak(s);
    })
    .await
}

fn audit_methods(db: &TestDatabase) -> Vec<Value> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Data {
        #[diesel(sql_type = diesel::sql_types::Text)]
        data: String,
    }
    let store = seed::store(db);
    let mut conn = store.conn().unwrap();
    diesel::sql_query("SELECT data FROM audit_events WHERE action = 'auth.login_succeeded'")
        .load::<Data>(&mut *conn)
        .unwrap()
        .into_iter()
        .map(|d| serde_json::from_str::<Value>(&d.data).unwrap()["method"].clone())
        .collect()
}

e2e_test!(staff_sign_in_through_the_organisations_identity_provider);
async fn staff_sign_in_through_the_organisations_identity_provider(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (agent_email, agent_password) = seed::staff(db, "agent");
    rapport_store::team::insert(&mut seed::store(db).conn().unwrap(), "Key Accounts").unwrap();
    let port = free_port();
    let idp = Idp::start(
        &[IdpClient {
            id: "rapport".into(),
            secret: STAFF_SECRET.into(),
            redirect_uri: format!("http://127.0.0.1:{port}/auth/sso/callback"),
        }],
        json!({
            "agent": {"email": agent_email, "email_verified": true, "name": "Test Person"},
            "dana": {"email": "dana.lead@support.example", "email_verified": true, "name": "Dana Lead", "rapport_role": "admin", "rapport_teams": ["Everyone", "Key Accounts"]},
            "mallory": {"email": "mallory@elsewhere.example", "email_verified": true, "name": "Mallory"},
            "unverified": {"email": "sam@support.example", "email_verified": false, "name": "Sam"},
        }),
    );
    let app = server_on(db, port, |s| {
        s.auth.oidc.issuer = Some(idp.issuer.clone());
        s.auth.oidc.client_id = "rapport".into();
        s.auth.oidc.client_secret = Some(STAFF_SECRET.to_owned().into());
        s.auth.oidc.label = "Support Workspace".into();
        s.auth.oidc.allowed_domains = vec!["support.example".into()];
        s.auth.oidc.role_claim = "rapport_role".into();
        s.auth.oidc.team_claim = "rapport_teams".into();
        s.auth.oidc.create_unknown_staff = true;
        s.auth.password_disabled_roles = vec!["agent".into()];
    })
    .await;

    // The agent opens the console and signs in with the company account.
    let b = driver.browser().await;
    b.goto(&format!("{}/console", app.base_url)).await;
    b.wait_text("#sso", "Sign in with Support Workspace").await;
    b.click("#sso-start").await;
    sign_in_at_provider(&b, "agent").await;
    b.wait_text("#who", "Test Person").await;
    assert!(
        b.script("return location.hash").await == json!(""),
        "the one-time code is gone from the address bar"
    );
    // Agents have no password sign-in any more: the page and the API say why.
    let refused = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": agent_email, "password": agent_password}),
        )
        .await;
    let problem = refused.assert_problem(403, "password_sign_in_disabled");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("identity provider")
    );
    b.quit().await;

    // Someone the provider knows but Rapport does not: created as the role
    // the provider names, on first sign-in.
    let b = driver.browser().await;
    b.goto(&format!("{}/admin", app.base_url)).await;
    b.click("#sso-start").await;
    sign_in_at_provider(&b, "dana").await;
    b.wait_text("#who", "Dana Lead (admin)").await;
    b.quit().await;
    // The team claim put her in the team of that name that exists.
    let store = seed::store(db);
    let mut conn = store.conn().unwrap();
    let team = rapport_store::team::find_by_name(&mut conn, "Key Accounts")
        .unwrap()
        .unwrap();
    let dana = rapport_store::staff::find_by_email(
        &mut conn,
        &rapport_domain::EmailAddress::parse("dana.lead@support.example").unwrap(),
    )
    .unwrap()
    .unwrap();
    assert!(team.members.iter().any(|m| m.staff_id == dana.id));
    drop(conn);

    // An address outside the organisation's domains, and one the provider
    // does not vouch for, are refused with a sentence on the sign-in page.
    for (login, says) in [
        ("mallory", "not at one of the organisation's domains"),
        ("unverified", "did not vouch for an email address"),
    ] {
        let b = driver.browser().await;
        b.goto(&format!("{}/console", app.base_url)).await;
        b.click("#sso-start").await;
        sign_in_at_provider(&b, login).await;
        b.wait_text("form .error", says).await;
        b.quit().await;
    }

    // An answer replayed, or for no sign-in of this server, signs nobody in.
    let no_redirects = awc::Client::builder().disable_redirects().finish();
    let forged = no_redirects
        .get(format!(
            "{}/auth/sso/callback?state=forged&code=x",
            app.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);
    let location = forged.headers().get("location").unwrap().to_str().unwrap();
    assert!(location.contains("#sso_error="), "{location}");
    app.post_json("/api/v1/auth/sso/redeem", &json!({"code": "guessed"}))
        .await
        .assert_problem(401, "invalid_sso_code");
    // A sign-in finishes only in the browser that started it: an answer
    // for it arriving from elsewhere (a link sent to someone) is refused.
    let started = no_redirects
        .get(format!(
            "{}/auth/sso/staff?return_to=/console",
            app.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    assert!(
        started
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("HttpOnly; SameSite=Lax"),
        "the starting browser gets its cookie"
    );
    let to_provider = started.headers().get("location").unwrap().to_str().unwrap();
    let state = to_provider
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let elsewhere = no_redirects
        .get(format!(
            "{}/auth/sso/callback?state={state}&code=stolen",
            app.base_url
        ))
        .send()
        .await
        .unwrap();
    let back = elsewhere
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(back.contains("another%20browser"), "{back}");
    // Only pages of the product are returned to.
    let away = no_redirects
        .get(format!(
            "{}/auth/sso/staff?return_to=/auth/sso/contact%3Femail%3Dx%40evil.example",
            app.base_url
        ))
        .send()
        .await
        .unwrap();
    let refused = away.headers().get("location").unwrap().to_str().unwrap();
    assert!(refused.starts_with("/console#sso_error="), "{refused}");
    let methods = audit_methods(db);
    assert_eq!(
        methods.iter().filter(|m| *m == "single_sign_on").count(),
        2,
        "{methods:?}"
    );
}

e2e_test!(a_client_companys_people_sign_in_with_their_company_account);
async fn a_client_companys_people_sign_in_with_their_company_account(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let port = free_port();
    let acme_idp = Idp::start(
        &[IdpClient {
            id: "rapport-portal".into(),
            secret: ACME_SECRET.into(),
            redirect_uri: format!("http://127.0.0.1:{port}/auth/sso/callback"),
        }],
        json!({
            "anna": {"email": "anna@acme.example", "email_verified": true, "name": "Anna Finance"},
            "stranger": {"email": "new.hire@acme.example", "email_verified": true, "name": "New Hire"},
        }),
    );
    let app = server_on(db, port, |_| {}).await;
    let w = world(&app, db).await;
    let (admin_email, admin_password) = seed::staff(db, "admin");

    // An admin names Acme's provider on the account's page.
    let b = driver.browser().await;
    b.goto(&format!("{}/admin", app.base_url)).await;
    staff_sign_in(&b, &admin_email, &admin_password).await;
    b.wait_text("#who", "(admin)").await;
    b.click("#nav-accounts").await;
    b.wait_text("#accounts-list", "Acme Manufacturing").await;
    b.click(&format!("#a-edit-{}", w.acme)).await;
    b.wait_text("#sso-form", "Company sign-in for Acme Manufacturing")
        .await;
    b.wait_text("#sso-callback", "/auth/sso/callback").await;
    b.type_into("#sso-issuer", &acme_idp.issuer).await;
    b.type_into("#sso-client", "rapport-portal").await;
    b.type_into("#sso-secret", ACME_SECRET).await;
    b.click("#sso-form-submit").await;
    b.wait_text(
        "#section-status",
        "Company sign-in for Acme Manufacturing saved",
    )
    .await;
    b.quit().await;
    let stored = ok(
        app.get_as(&w.admin, &format!("/api/v1/accounts/{}/sso", w.acme))
            .await,
        200,
    )
    .await;
    assert_eq!(stored["client_id"], "rapport-portal");
    assert!(
        !stored.to_string().contains(ACME_SECRET),
        "the secret is never shown"
    );
    // Only admins see or change it.
    app.get_as(&w.agent_in, &format!("/api/v1/accounts/{}/sso", w.acme))
        .await
        .assert_problem(403, "forbidden");

    // Anna types her address in the portal and is offered Acme's sign-in.
    let b = driver.browser().await;
    b.goto(&format!("{}/portal", app.base_url)).await;
    b.type_into("#email", "anna@acme.example\u{E004}").await;
    b.wait_text("#sso", "Sign in with Acme Manufacturing sign-in")
        .await;
    b.click("#sso-start").await;
    sign_in_at_provider(&b, "anna").await;
    b.wait_text("body", "Your cases").await;
    b.quit().await;

    // Someone at Acme's domain who is not a contact here is told what to do.
    let b = driver.browser().await;
    b.goto(&format!("{}/portal", app.base_url)).await;
    b.type_into("#email", "new.hire@acme.example\u{E004}").await;
    b.click("#sso-start").await;
    sign_in_at_provider(&b, "stranger").await;
    b.wait_text("form .error", "ask your supplier to add you")
        .await;
    b.quit().await;
    // Globex names no provider: its people are not offered one.
    let offer = ok(
        app.get("/api/v1/auth/sso/contact?email=gus%40globex.example")
            .await,
        200,
    )
    .await;
    assert_eq!(offer["label"], Value::Null);

    // Acme requires its own sign-in: passwords and mailed links stop working
    // for its contacts, and the portal offers only the company sign-in.
    ok(
        app.send(
            actix_web::http::Method::PUT,
            &format!("/api/v1/accounts/{}/sso", w.acme),
            Some(json!({"issuer": acme_idp.issuer, "client_id": "rapport-portal", "label": "Acme sign-in", "required": true}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let link = super::ui::sign_in_link(&app, db, "anna@acme.example").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    app.post_json(
        "/api/v1/auth/contact/magic-link/redeem",
        &json!({"token": token}),
    )
    .await
    .assert_problem(403, "sso_required");
    let b = driver.browser().await;
    b.goto(&format!("{}/portal", app.base_url)).await;
    b.type_into("#email", "anna@acme.example\u{E004}").await;
    b.wait_text("#sso", "Your company signs you in with its own account")
        .await;
    assert_eq!(
        b.script("return document.getElementById('usual-sign-in').hidden")
            .await,
        json!(true)
    );
    b.click("#sso-start").await;
    sign_in_at_provider(&b, "anna").await;
    b.wait_text("body", "Your cases").await;
    b.quit().await;
}
