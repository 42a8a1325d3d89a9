use actix_web::http::Method;
use rapport_tests::{Backend, TestApp, TestDatabase, e2e_test};

e2e_test!(unknown_route_is_a_problem_document);
async fn unknown_route_is_a_problem_document(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let body = app
        .get("/api/v1/nothing-here")
        .await
        .assert_problem(404, "route_not_found");
    assert_eq!(body["detail"], "no route for GET /api/v1/nothing-here");
}

e2e_test!(wrong_method_is_a_problem_document_that_names_the_allowed_one);
async fn wrong_method_is_a_problem_document_that_names_the_allowed_one(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let res = app.request(Method::DELETE, "/healthz", None).await;
    let body = res.assert_problem(405, "method_not_allowed");
    assert_eq!(
        body["detail"],
        "DELETE is not allowed on /healthz; allowed: GET"
    );
    assert_eq!(res.header("allow"), Some("GET"));
}

fn sqlite() -> TestDatabase {
    TestDatabase::create(Backend::Sqlite).expect("sqlite")
}

#[actix_web::test]
async fn openapi_document_is_served_and_lists_every_route() {
    let db = sqlite();
    let app = TestApp::spawn(&db).await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status, 200);
    let doc = res.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz", "/api/v1/instance"] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

/// `docs/openapi.json` is what readers of the docs see; regenerate it
/// with `make openapi` when the API changes.
#[actix_web::test]
async fn checked_in_openapi_document_matches_the_served_one() {
    let db = sqlite();
    let app = TestApp::spawn(&db).await;
    let served = app.get("/api/openapi.json").await.json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/openapi.json exists (run make openapi)");
    let checked_in: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(
        served == checked_in,
        "docs/openapi.json is stale: run `make openapi`"
    );
}
