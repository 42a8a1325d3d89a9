use rapport_audit::{AuditPublicKey, verify_export};
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};

e2e_test!(only_admins_and_auditors_export_the_audit_log);
async fn only_admins_and_auditors_export_the_audit_log(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.get("/api/v1/audit/export")
        .await
        .assert_problem(401, "unauthenticated");
    let agent = app.token_for(db, "agent").await;
    app.get_as(&agent, "/api/v1/audit/export")
        .await
        .assert_problem(403, "forbidden");
    for role in ["auditor", "admin"] {
        let token = app.token_for(db, role).await;
        let res = app.get_as(&token, "/api/v1/audit/export").await;
        assert_eq!(res.status, 200, "{role}");
    }
    // The key is public.
    assert_eq!(app.get("/api/v1/audit/public-key").await.status, 200);
}

e2e_test!(an_http_export_verifies_against_the_published_key);
async fn an_http_export_verifies_against_the_published_key(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let key = app.get("/api/v1/audit/public-key").await.json();
    let key = AuditPublicKey::parse(key["verify_argument"].as_str().unwrap()).unwrap();
    let auditor = app.token_for(db, "auditor").await;
    for format in ["jsonl", "csv"] {
        let res = app
            .get_as(&auditor, &format!("/api/v1/audit/export?format={format}"))
            .await;
        assert_eq!(res.status, 200);
        assert!(
            res.header("content-disposition")
                .unwrap()
                .contains(&format!(".{format}"))
        );
        let report =
            verify_export(res.body.as_slice(), &key).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(report.events >= 2, "migrations and sign-ins are recorded");
    }
    // Exports are themselves in the log, with who asked.
    let res = app.get_as(&auditor, "/api/v1/audit/export").await;
    let text = String::from_utf8(res.body).unwrap();
    assert!(text.contains("\"action\":\"audit.exported\""), "{text}");
    assert!(text.contains("\"action\":\"auth.login_succeeded\""));
    assert!(text.contains("\"action\":\"system.schema_migrated\""));
}

e2e_test!(export_parameters_are_checked);
async fn export_parameters_are_checked(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.token_for(db, "admin").await;
    let body = app
        .get_as(&admin, "/api/v1/audit/export?format=xml")
        .await
        .assert_problem(400, "invalid_query");
    assert!(body["detail"].as_str().unwrap().contains("format"));
    app.get_as(&admin, "/api/v1/audit/export?case=a&account=b")
        .await
        .assert_problem(400, "invalid_query");
    app.get_as(&admin, "/api/v1/audit/export?from=yesterday")
        .await
        .assert_problem(400, "invalid_query");
    app.get_as(&admin, "/api/v1/audit/export?colour=red")
        .await
        .assert_problem(400, "invalid_query");
    app.get_as(&admin, "/api/v1/audit/export?case=no-such-case")
        .await
        .assert_problem(404, "not_found");
}
