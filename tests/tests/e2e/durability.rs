use rapport_tests::TestDatabase;
use std::time::Duration;

use rapport_tests::http::call;
use rapport_tests::{RapportProcess, e2e_test, rapport_bin, seed};
use serde_json::json;

e2e_test!(an_acknowledged_entry_survives_a_killed_server);
async fn an_acknowledged_entry_survives_a_killed_server(db: &TestDatabase) {
    let (email, password) = seed::staff(db, "admin");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    let base = format!("http://{}", server.wait_ready(Duration::from_secs(60)));
    let (_, tokens) = call(
        &client,
        "POST",
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, account) = call(
        &client,
        "POST",
        format!("{base}/api/v1/accounts"),
        Some(&token),
        Some(json!({"name": "Durable GmbH"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, opened) = call(
        &client,
        "POST",
        format!("{base}/api/v1/cases"),
        Some(&token),
        Some(json!({"account_id": account["id"], "subject": "Kept", "body": "first"})),
    )
    .await;
    assert_eq!(status, 201);
    let case = opened["case"]["id"].as_str().unwrap().to_owned();
    let (status, posted) = call(&client, "POST", format!("{base}/api/v1/cases/{case}/entries"), Some(&token), Some(json!({"kind": "note", "body": "acknowledged just before the crash", "client_message_id": "m-1"}))).await;
    assert_eq!(status, 201);
    // No graceful shutdown: the process dies right after acknowledging.
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));

    let mut again = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    let base = format!("http://{}", again.wait_ready(Duration::from_secs(60)));
    let (_, thread) = call(
        &client,
        "GET",
        format!("{base}/api/v1/cases/{case}/entries"),
        Some(&token),
        None,
    )
    .await;
    let items = thread["items"].as_array().unwrap();
    assert!(
        items.iter().any(|e| e["id"] == posted["entry"]["id"]),
        "the acknowledged entry is there"
    );
    // The retry a client makes after losing the answer stores nothing new.
    let (status, retried) = call(&client, "POST", format!("{base}/api/v1/cases/{case}/entries"), Some(&token), Some(json!({"kind": "note", "body": "acknowledged just before the crash", "client_message_id": "m-1"}))).await;
    assert_eq!(status, 200);
    assert_eq!(retried["entry"]["id"], posted["entry"]["id"]);
    // Its audit event survived with it, and the chain verifies.
    let (_, key) = call(
        &client,
        "GET",
        format!("{base}/api/v1/audit/public-key"),
        None,
        None,
    )
    .await;
    let key =
        rapport_audit::AuditPublicKey::parse(key["verify_argument"].as_str().unwrap()).unwrap();
    let mut res = client
        .get(format!("{base}/api/v1/audit/export?case={case}"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    let export = res.body().limit(1 << 24).await.unwrap();
    let report = rapport_audit::verify_export(&export[..], &key).unwrap();
    assert!(report.events >= 2);
    assert!(String::from_utf8_lossy(&export).contains(posted["entry"]["id"].as_str().unwrap()));
}
