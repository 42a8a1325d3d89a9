//! A second factor for staff: setting up TOTP, signing in with a code or a
//! recovery code, codes that work once, an administrator's reset, and
//! roles that must have one.

use rapport_server::auth::totp;
use rapport_tests::{TestApp, TestDatabase, e2e_test, seed};
use serde_json::{Value, json};

use super::directory::ok;

/// The code an authenticator app holding `secret` shows `steps` steps
/// from now.
fn code_in(secret: &str, steps: i64) -> String {
    let key = totp::from_base32(secret).expect("base32 secret");
    let step = totp::step_at(chrono::Utc::now().timestamp()) + steps;
    format!("{:06}", totp::code(&key, step, 6))
}

fn current_code(secret: &str) -> String {
    code_in(secret, 0)
}

/// The next step's code (accepted: codes are valid one step either side),
/// so a code just used for the current step does not make a sign-in wait.
fn next_code(secret: &str) -> String {
    code_in(secret, 1)
}

async fn sign_in(app: &TestApp, who: &(String, String), extra: Value) -> rapport_tests::Response {
    let mut body = json!({"email": who.0, "password": who.1});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.post_json("/api/v1/auth/login", &body).await
}

e2e_test!(staff_set_up_a_second_factor_and_sign_in_with_codes_that_work_once);
async fn staff_set_up_a_second_factor_and_sign_in_with_codes_that_work_once(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let agent = seed::staff(db, "agent");
    let admin = seed::staff(db, "admin");
    let session = ok(sign_in(&app, &agent, json!({})).await, 200).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let status = ok(app.get_as(&token, "/api/v1/me/totp").await, 200).await;
    assert_eq!(status["enabled"], false);

    // Setting up: a secret for the app, confirmed by a first code.
    let setup = ok(
        app.post_as(&token, "/api/v1/me/totp", &json!({})).await,
        200,
    )
    .await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")));
    let pending = ok(app.get_as(&token, "/api/v1/me/totp").await, 200).await;
    assert_eq!(pending["pending"], true);
    let wrong = app
        .post_as(
            &token,
            "/api/v1/me/totp/confirm",
            &json!({"code": "000000"}),
        )
        .await;
    if current_code(&secret) != "000000" {
        let problem = wrong.assert_problem(422, "validation_failed");
        assert_eq!(problem["field"], "code");
    }
    // Until confirmed, sign-in asks for no code.
    ok(sign_in(&app, &agent, json!({})).await, 200).await;
    let confirmed = ok(
        app.post_as(
            &token,
            "/api/v1/me/totp/confirm",
            &json!({"code": current_code(&secret)}),
        )
        .await,
        200,
    )
    .await;
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let status = ok(app.get_as(&token, "/api/v1/me/totp").await, 200).await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);
    app.post_as(&token, "/api/v1/me/totp", &json!({}))
        .await
        .assert_problem(409, "conflict");

    // Sign-in: the password alone is not enough, a wrong code fails.
    sign_in(&app, &agent, json!({}))
        .await
        .assert_problem(401, "totp_required");
    let wrong_password = (agent.0.clone(), "not the password at all".to_owned());
    sign_in(
        &app,
        &wrong_password,
        json!({"totp_code": next_code(&secret)}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    sign_in(&app, &agent, json!({"totp_code": "12345"}))
        .await
        .assert_problem(401, "invalid_totp");
    let code = next_code(&secret);
    ok(sign_in(&app, &agent, json!({"totp_code": code})).await, 200).await;
    sign_in(&app, &agent, json!({"totp_code": code}))
        .await
        .assert_problem(401, "invalid_totp");
    // A recovery code works once, with or without its dash.
    let compact = recovery[0].replace('-', "");
    ok(
        sign_in(&app, &agent, json!({"recovery_code": compact})).await,
        200,
    )
    .await;
    sign_in(&app, &agent, json!({"recovery_code": recovery[0]}))
        .await
        .assert_problem(401, "invalid_totp");

    // Lost phone and codes: an administrator removes the second factor.
    let admin_token = ok(sign_in(&app, &admin, json!({})).await, 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = ok(app.get_as(&token, "/api/v1/me").await, 200).await;
    let agent_id = me["id"].as_str().unwrap();
    let path = format!("/api/v1/staff/{agent_id}/totp");
    app.send(actix_web::http::Method::DELETE, &path, None, Some(&token))
        .await
        .assert_problem(403, "forbidden");
    let removed = app
        .send(
            actix_web::http::Method::DELETE,
            &path,
            None,
            Some(&admin_token),
        )
        .await;
    assert_eq!(removed.status, 204);
    ok(sign_in(&app, &agent, json!({})).await, 200).await;

    // Every step is in the audit log.
    let log = app
        .get_as(&admin_token, "/api/v1/audit/export?stream=system")
        .await;
    assert_eq!(log.status, 200);
    let text = String::from_utf8_lossy(&log.body);
    for action in [
        "auth.totp_enrolment_started",
        "auth.totp_enabled",
        "auth.totp_removed",
    ] {
        assert!(text.contains(action), "{action} is audited");
    }
}

/// Sets up a second factor in a session held back until there is one, and
/// refreshes it: the full session and the secret.
async fn enrol(app: &TestApp, session: &Value) -> (Value, String) {
    let token = session["access_token"].as_str().unwrap();
    let setup = ok(app.post_as(token, "/api/v1/me/totp", &json!({})).await, 200).await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    ok(
        app.post_as(
            token,
            "/api/v1/me/totp/confirm",
            &json!({"code": current_code(&secret)}),
        )
        .await,
        200,
    )
    .await;
    let fresh = ok(
        app.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": session["refresh_token"]}),
        )
        .await,
        200,
    )
    .await;
    (fresh, secret)
}

e2e_test!(a_role_that_must_have_a_second_factor_can_only_set_one_up_until_it_has);
async fn a_role_that_must_have_a_second_factor_can_only_set_one_up_until_it_has(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.auth.totp_required_roles = vec!["admin".into()]).await;
    let admin = seed::staff(db, "admin");
    let agent = seed::staff(db, "agent");
    // Other roles are not held back.
    let agent_session = ok(sign_in(&app, &agent, json!({})).await, 200).await;
    assert_eq!(agent_session["totp_enrolment_required"], false);

    let session = ok(sign_in(&app, &admin, json!({})).await, 200).await;
    assert_eq!(session["totp_enrolment_required"], true);
    let token = session["access_token"].as_str().unwrap().to_owned();
    app.get_as(&token, "/api/v1/accounts")
        .await
        .assert_problem(403, "totp_enrolment_required");
    let status = ok(app.get_as(&token, "/api/v1/me/totp").await, 200).await;
    assert_eq!(status["required"], true);
    // Set up, the refreshed session is a full one.
    let (fresh, secret) = enrol(&app, &session).await;
    assert_eq!(fresh["totp_enrolment_required"], false);
    let fresh_token = fresh["access_token"].as_str().unwrap();
    ok(app.get_as(fresh_token, "/api/v1/accounts").await, 200).await;
    sign_in(&app, &admin, json!({}))
        .await
        .assert_problem(401, "totp_required");
    ok(
        sign_in(&app, &admin, json!({"totp_code": next_code(&secret)})).await,
        200,
    )
    .await;
}

e2e_test!(an_admin_sets_up_two_step_sign_in_in_the_browser_and_signs_in_with_a_code);
async fn an_admin_sets_up_two_step_sign_in_in_the_browser_and_signs_in_with_a_code(
    db: &TestDatabase,
) {
    let Some(driver) = rapport_tests::browser::Driver::start().await else {
        return;
    };
    let app = TestApp::spawn_with(db, |s| s.auth.totp_required_roles = vec!["admin".into()]).await;
    let (email, password) = seed::staff(db, "admin");
    let b = driver.browser().await;

    // First sign-in: the role needs a second factor, so setting it up comes first.
    b.goto(&format!("{}/console", app.base_url)).await;
    super::ui::staff_sign_in(&b, &email, &password).await;
    b.wait_text("#second-factor", "Set up two-step sign-in")
        .await;
    b.wait_text("#second-factor", "Your role signs in with a code")
        .await;
    let shown = b
        .script("return document.getElementById('totp-secret').textContent")
        .await;
    let secret: String = shown
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    b.type_into("#totp-new-code", "000001").await;
    b.click("#totp-turn-on").await;
    if current_code(&secret) != "000001" {
        b.wait_text("#second-factor", "is not the code your app shows now")
            .await;
    }
    b.script("document.getElementById('totp-new-code').value = ''")
        .await;
    b.type_into("#totp-new-code", &current_code(&secret)).await;
    b.click("#totp-turn-on").await;
    b.wait_text("#second-factor", "Two-step sign-in is on")
        .await;
    let codes = b
        .script("return document.querySelectorAll('#recovery-codes li').length")
        .await;
    assert_eq!(codes, 10, "ten recovery codes to keep");
    b.click("#recovery-saved").await;
    // The console loads afresh: open the panel once its button is there
    // (a click on the page being replaced would be lost).
    b.wait_true(
        "const panel = document.getElementById('two-step'); \
         if (!panel) { document.getElementById('open-two-step')?.click(); return false; } \
         return panel.textContent.includes('Two-step sign-in is on')",
        "the two-step panel of the console",
    )
    .await;
    b.wait_text("#two-step", "Recovery codes left: 10").await;

    // Signed out and back: the password, then the app's code.
    b.script("localStorage.clear()").await;
    b.goto(&format!("{}/console", app.base_url)).await;
    super::ui::staff_sign_in(&b, &email, &password).await;
    b.wait_text("form", "Now type the code your authenticator app shows")
        .await;
    b.type_into("#totp-code", &next_code(&secret)).await;
    b.click("form button[type=submit]").await;
    b.wait_text("#who", "Sign out").await;
    b.quit().await;
}

e2e_test!(an_admin_requires_two_step_sign_in_of_a_role_on_the_staff_page);
async fn an_admin_requires_two_step_sign_in_of_a_role_on_the_staff_page(db: &TestDatabase) {
    use rapport_tests::browser::Driver;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn_with(db, |s| s.auth.totp_required_roles = vec!["admin".into()]).await;
    let admin = seed::staff(db, "admin");
    let auditor = seed::staff(db, "auditor");
    // The admin sets up their own second factor first (the configuration
    // requires one of admins), then opens the staff page.
    let session = ok(sign_in(&app, &admin, json!({})).await, 200).await;
    let (full, secret) = enrol(&app, &session).await;
    let token = full["access_token"].as_str().unwrap().to_owned();
    let b = driver.browser().await;
    b.goto(&format!("{}/admin", app.base_url)).await;
    super::ui::staff_sign_in(&b, &admin.0, &admin.1).await;
    b.wait_text("#second-step", "authenticator").await;
    b.type_into("#totp-code", &next_code(&secret)).await;
    b.click("form button[type=submit]").await;
    b.wait_text("#s-second-factor", "Two-step sign-in by role")
        .await;
    // Admins are required by the configuration: the box cannot be cleared.
    assert_eq!(
        b.script(
            "const i = document.getElementById('s-totp-admin'); return [i.checked, i.disabled]"
        )
        .await,
        json!([true, true])
    );
    // Auditors sign in with the password alone until the admin ticks them.
    let before = ok(sign_in(&app, &auditor, json!({})).await, 200).await;
    assert_eq!(before["totp_enrolment_required"], false);
    b.click("#s-totp-auditor").await;
    b.wait_text(
        "#section-status",
        "Every auditor now signs in with a second factor",
    )
    .await;
    b.quit().await;
    let after = ok(sign_in(&app, &auditor, json!({})).await, 200).await;
    assert_eq!(after["totp_enrolment_required"], true);
    let listed = ok(
        app.get_as(&token, "/api/v1/security/second-factor").await,
        200,
    )
    .await;
    assert_eq!(
        listed,
        json!([
            {"role": "admin", "required": true, "by_config": true},
            {"role": "agent", "required": false, "by_config": false},
            {"role": "auditor", "required": true, "by_config": false},
        ])
    );
    // What the configuration requires cannot be turned off here.
    app.send(
        actix_web::http::Method::PUT,
        "/api/v1/security/second-factor/admin",
        Some(json!({"required": false}).to_string()),
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
}
