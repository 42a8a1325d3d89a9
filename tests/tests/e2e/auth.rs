use rapport_tests::TestDatabase;
use std::time::Duration;

use actix_web::http::Method;
use rapport_tests::{TestApp, e2e_test, rapport_bin, run_rapport, seed};
use serde_json::json;

e2e_test!(staff_signs_in_and_sees_who_they_are);
async fn staff_signs_in_and_sees_who_they_are(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (email, password) = seed::staff(db, "agent");
    let tokens = app.login(&email.to_uppercase(), &password).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["password_change_required"], false);
    let me = app
        .get_as(tokens["access_token"].as_str().unwrap(), "/api/v1/me")
        .await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["role"], "agent");
    assert_eq!(me["avatar"]["initials"], "TP");
    assert!(me.get("password_hash").is_none(), "{me}");
}

e2e_test!(an_edited_staff_member_sees_the_change_in_their_profile);
async fn an_edited_staff_member_sees_the_change_in_their_profile(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.token_for(db, "admin").await;
    let (email, password) = seed::staff(db, "agent");
    let tokens = app.login(&email, &password).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = app.get_as(token, "/api/v1/me").await.json();
    assert_eq!(me["display_name"], "Test Person");
    let id = me["id"].as_str().unwrap();
    for name in ["Tessa Park", "Tessa Park-Lund"] {
        let res = app
            .send(
                Method::PATCH,
                &format!("/api/v1/staff/{id}"),
                Some(json!({ "display_name": name }).to_string()),
                Some(&admin),
            )
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let me = app.get_as(token, "/api/v1/me").await.json();
        assert_eq!(me["display_name"], name, "{me}");
        assert_eq!(me["avatar"]["initials"], "TP");
    }
}

e2e_test!(a_rehashed_one_time_password_is_still_one_to_change);
async fn a_rehashed_one_time_password_is_still_one_to_change(db: &TestDatabase) {
    use argon2::PasswordHasher;
    let app = TestApp::spawn(db).await;
    // A one-time password hashed with weaker parameters than today's: the
    // first sign-in stores it hashed anew.
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8_192, 1, 1, None).unwrap(),
    )
    .hash_password(b"one-time 4711 pass")
    .unwrap()
    .to_string();
    let store = seed::store(db);
    let email = rapport_domain::EmailAddress::parse("newcomer@support.example").unwrap();
    rapport_store::staff::insert(
        &mut store.conn().unwrap(),
        rapport_store::staff::NewStaff {
            email: email.clone(),
            name: rapport_domain::PersonName::parse("Nora Newcomer").unwrap(),
            display_name: rapport_domain::PersonName::parse("Nora Newcomer").unwrap(),
            role: rapport_domain::StaffRole::Agent,
            password_hash: weak.clone(),
            password_change_required: true,
        },
    )
    .unwrap();
    for _ in 0..2 {
        let tokens = app
            .login("newcomer@support.example", "one-time 4711 pass")
            .await;
        assert_eq!(tokens["password_change_required"], true);
        let token = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            app.get_as(token, "/api/v1/me").await.json()["password_change_required"],
            true
        );
    }
    let stored = rapport_store::staff::find_by_email(&mut store.conn().unwrap(), &email)
        .unwrap()
        .unwrap();
    assert_ne!(stored.password_hash, weak, "the first sign-in rehashed it");
    assert!(stored.password_change_required);
}

e2e_test!(unknown_address_and_wrong_password_answer_alike);
async fn unknown_address_and_wrong_password_answer_alike(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (email, _) = seed::staff(db, "agent");
    let wrong = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": "not-the-password"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "nobody@support.example", "password": "whatever-it-is"}),
        )
        .await;
    let a = wrong.assert_problem(401, "invalid_credentials");
    let b = unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(a["detail"], b["detail"]);
    assert_eq!(
        wrong.header("www-authenticate"),
        unknown.header("www-authenticate")
    );
}

e2e_test!(deactivated_staff_cannot_sign_in);
async fn deactivated_staff_cannot_sign_in(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (email, password) = seed::staff(db, "agent");
    {
        use diesel::RunQueryDsl;
        let store = seed::store(db);
        diesel::sql_query(format!(
            "UPDATE staff_users SET active = false WHERE email = '{email}'"
        ))
        .execute(&mut *store.conn().unwrap())
        .unwrap();
    }
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await;
    res.assert_problem(401, "invalid_credentials");
}

e2e_test!(refresh_rotates_and_a_reused_token_revokes_the_whole_sign_in);
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_sign_in(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (email, password) = seed::staff(db, "agent");
    let first = app.login(&email, &password).await;
    let t1 = first["refresh_token"].as_str().unwrap().to_owned();

    let second = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": t1}))
        .await;
    assert_eq!(second.status, 200);
    let t2 = second.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(t1, t2);

    // The spent token comes back: someone copied it.
    app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": t1}))
        .await
        .assert_problem(401, "refresh_token_reused");
    // Its successor dies with it.
    app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": t2}))
        .await
        .assert_problem(401, "invalid_refresh_token");
    // Another sign-in is unaffected.
    let other = app.login(&email, &password).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status, 200);
}

e2e_test!(logout_revokes_the_refresh_token);
async fn logout_revokes_the_refresh_token(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (email, password) = seed::staff(db, "agent");
    let tokens = app.login(&email, &password).await;
    let refresh = tokens["refresh_token"].clone();
    let res = app
        .post_json("/api/v1/auth/logout", &json!({"refresh_token": refresh}))
        .await;
    assert_eq!(res.status, 204);
    app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_problem(401, "invalid_refresh_token");
    // Signing out twice is fine.
    assert_eq!(
        app.post_json("/api/v1/auth/logout", &json!({"refresh_token": refresh}))
            .await
            .status,
        204
    );
}

e2e_test!(repeated_failures_are_slowed_down_even_for_the_right_password);
async fn repeated_failures_are_slowed_down_even_for_the_right_password(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (email, password) = seed::staff(db, "agent");
    for _ in 0..5 {
        app.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": "wrong-password"}),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    }
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await;
    res.assert_problem(429, "rate_limited");
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        app.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password})
        )
        .await
        .status,
        200
    );
}

e2e_test!(bad_tokens_are_refused_with_precise_codes);
async fn bad_tokens_are_refused_with_precise_codes(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.get("/api/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    app.get_as("not.a.jwt", "/api/v1/me")
        .await
        .assert_problem(401, "invalid_token");
    let token = app.token_for(db, "admin").await;
    let parts: Vec<&str> = token.split('.').collect();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    app.get_as(&format!("{none_header}.{}.", parts[1]), "/api/v1/me")
        .await
        .assert_problem(401, "invalid_token");
    let mut sig = parts[2].to_owned();
    let last = if sig.ends_with('A') { 'B' } else { 'A' };
    sig.pop();
    sig.push(last);
    app.get_as(&format!("{}.{}.{sig}", parts[0], parts[1]), "/api/v1/me")
        .await
        .assert_problem(401, "invalid_token");

    // A token signed with the installation's real key but expired.
    let secret = std::fs::read_to_string(db.data_dir().join("secrets/jwt.key")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": "rapport", "aud": "rapport-api", "sub": uuid::Uuid::now_v7().to_string(), "kind": "staff",
        "role": "admin", "iat": now - 3600, "exp": now - 60});
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .unwrap();
    app.get_as(&expired, "/api/v1/me")
        .await
        .assert_problem(401, "token_expired");
}

e2e_test!(a_one_time_password_allows_nothing_but_choosing_a_new_one);
async fn a_one_time_password_allows_nothing_but_choosing_a_new_one(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir().to_str().unwrap(),
            "admin",
            "create",
            "--email",
            "Chief@Support.example",
            "--name",
            "Chris Chief",
            "--role",
            "auditor",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let one_time = stdout
        .lines()
        .find_map(|l| l.strip_prefix("one-time password: "))
        .unwrap()
        .to_owned();
    let tokens = app.login("chief@support.example", &one_time).await;
    assert_eq!(tokens["password_change_required"], true);
    let token = tokens["access_token"].as_str().unwrap();
    app.get_as(token, "/api/v1/audit/export")
        .await
        .assert_problem(403, "password_change_required");
    assert_eq!(
        app.get_as(token, "/api/v1/me").await.json()["password_change_required"],
        true
    );

    let res = app
        .post_as(
            token,
            "/api/v1/me/password",
            &json!({"current_password": one_time, "new_password": "short"}),
        )
        .await;
    let body = res.assert_problem(422, "validation_failed");
    assert_eq!(body["field"], "new_password");
    let res = app
        .post_as(
            token,
            "/api/v1/me/password",
            &json!({"current_password": one_time, "new_password": "a much longer passphrase"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let fresh = res.json();
    assert_eq!(fresh["password_change_required"], false);
    // The profile read before the change is not served again.
    assert_eq!(
        app.get_as(fresh["access_token"].as_str().unwrap(), "/api/v1/me")
            .await
            .json()["password_change_required"],
        false
    );
    let res = app
        .get_as(
            fresh["access_token"].as_str().unwrap(),
            "/api/v1/audit/export",
        )
        .await;
    assert_eq!(res.status, 200);
    // The one-time password is gone, and the old session with it.
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "chief@support.example", "password": one_time}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    app.post_json(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");

    // The same address twice is refused, naming the problem.
    let again = run_rapport(
        rapport_bin!(),
        &[
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir().to_str().unwrap(),
            "admin",
            "create",
            "--email",
            "chief@support.example",
            "--name",
            "Other",
        ],
        &[],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

e2e_test!(malformed_sign_in_requests_get_precise_errors);
async fn malformed_sign_in_requests_get_precise_errors(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.post_json("/api/v1/auth/login", &json!({"email": "a@b.example"}))
        .await
        .assert_problem(400, "invalid_json");
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "a@b.example", "password": "x", "admin": true}),
    )
    .await
    .assert_problem(400, "invalid_json");
    let body = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "a@b.example", "password": "x".repeat(300)}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(body["field"], "password");
    let res = app
        .send(
            Method::POST,
            "/api/v1/auth/login",
            Some("{\"email\":".into()),
            None,
        )
        .await;
    res.assert_problem(400, "invalid_json");
    let huge = format!(
        "{{\"email\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(2_000_000)
    );
    app.send(Method::POST, "/api/v1/auth/login", Some(huge), None)
        .await
        .assert_problem(413, "payload_too_large");
}
