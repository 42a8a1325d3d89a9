use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};

e2e_test!(healthz_answers_ok);
async fn healthz_answers_ok(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["status"], "ok");
}

e2e_test!(readyz_names_the_backend_when_ready);
async fn readyz_names_the_backend_when_ready(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["migrations"], "current");
    let expected = match db.backend {
        rapport_tests::Backend::Sqlite => "sqlite",
        rapport_tests::Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
}

e2e_test!(readyz_fails_with_503_when_the_database_is_gone);
async fn readyz_fails_with_503_when_the_database_is_gone(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    assert_eq!(app.get("/readyz").await.status, 200);
    db.destroy();
    let res = app.get("/readyz").await;
    res.assert_problem(503, "database_unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status, 200);
}

e2e_test!(readyz_fails_while_migrations_are_pending);
async fn readyz_fails_while_migrations_are_pending(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.database.migrate_on_start = false).await;
    let body = app
        .get("/readyz")
        .await
        .assert_problem(503, "migrations_pending");
    assert!(
        body["detail"].as_str().unwrap().contains("rapport migrate"),
        "{body}"
    );
    app.stop().await;

    let app = TestApp::spawn(db).await;
    assert_eq!(app.get("/readyz").await.status, 200);
}

e2e_test!(installation_identity_is_stored_and_survives_a_restart);
async fn installation_identity_is_stored_and_survives_a_restart(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let first = app.get("/api/v1/instance").await;
    assert_eq!(first.status, 200);
    let first = first.json();
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(first["name"], "Rapport");
    app.stop().await;

    let app = TestApp::spawn_with(db, |s| s.instance.name = "Acme Support".into()).await;
    let second = app.get("/api/v1/instance").await.json();
    assert_eq!(second["id"], id.as_str());
    assert_eq!(second["created_at"], first["created_at"]);
    assert_eq!(second["name"], "Acme Support");
}

e2e_test!(every_response_carries_a_request_id_and_security_headers);
async fn every_response_carries_a_request_id_and_security_headers(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let a = app.get("/healthz").await;
    let b = app.get("/does-not-exist").await;
    let id_a = a.header("x-request-id").expect("request id on success");
    let id_b = b.header("x-request-id").expect("request id on error");
    assert_ne!(id_a, id_b);
    assert!(uuid::Uuid::parse_str(id_a).is_ok(), "{id_a}");
    for res in [&a, &b] {
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(res.header("x-frame-options"), Some("DENY"));
        assert!(res.header("content-security-policy").is_some());
    }
}
