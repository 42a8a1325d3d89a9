//! Evidence-grade history: versioned edits, redaction with tombstones,
//! verifiable evidence bundles, and auditors' reads in the audit log.

use rapport_tests::TestDatabase;
use std::io::{Cursor, Read, Write};

use actix_web::http::Method;
use rapport_tests::{TestApp, e2e_test, rapport_bin, run_rapport};
use serde_json::{Value, json};
use sha2::Digest;

use super::attachments::{content_type, multipart};
use super::directory::{ok, world};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn key(app: &TestApp) -> rapport_audit::AuditPublicKey {
    let k = app.get("/api/v1/audit/public-key").await.json();
    rapport_audit::AuditPublicKey::parse(k["verify_argument"].as_str().unwrap()).unwrap()
}

async fn bundle(app: &TestApp, token: &str, query: &str) -> Vec<u8> {
    let res = app
        .get_as(token, &format!("/api/v1/audit/bundle?{query}"))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("content-type"), Some("application/zip"));
    res.body.to_vec()
}

/// Every file of a ZIP: name and bytes.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).unwrap();
            (f.name().to_owned(), buf)
        })
        .collect()
}

/// A ZIP with the given files.
fn rezip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn all_text(files: &[(String, Vec<u8>)]) -> String {
    files
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect()
}

e2e_test!(an_edit_keeps_every_version_and_the_chain_verifies);
async fn an_edit_keeps_every_version_and_the_chain_verifies(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let note = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "note", "body": "Client owes 12,400 EUR"}),
        )
        .await,
        201,
    )
    .await;
    let id = note["entry"]["id"].as_str().unwrap().to_owned();
    let path = format!("{entries}/{id}");
    let edited = ok(
        app.send(
            Method::PATCH,
            &path,
            Some(json!({"body": "Client owes 14,200 EUR (typo fixed)"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(edited["version"], 2);
    assert!(edited["edited_at"].is_string());
    let thread = app.get_as(&w.agent_in, &entries).await.json();
    let shown = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(shown["body"], "Client owes 14,200 EUR (typo fixed)");
    assert_eq!(shown["version"], 2);
    let versions = ok(
        app.get_as(&w.agent_in, &format!("{path}/versions")).await,
        200,
    )
    .await;
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["body"], "Client owes 12,400 EUR");
    assert_eq!(
        versions[0]["body_sha256"],
        sha256(b"Client owes 12,400 EUR").as_str()
    );
    assert_eq!(versions[1]["written_by_id"], w.agent_in_id.as_str());

    // Who may edit: the author within the window, admins; nobody else.
    app.send(
        Method::PATCH,
        &path,
        Some(json!({"body": "x"}).to_string()),
        Some(&w.agent_out),
    )
    .await
    .assert_problem(404, "not_found");
    app.send(
        Method::PATCH,
        &path,
        Some(json!({"body": "x"}).to_string()),
        Some(&w.auditor),
    )
    .await
    .assert_problem(403, "forbidden");
    app.send(
        Method::PATCH,
        &path,
        Some(json!({"body": "x"}).to_string()),
        Some(&w.contact_in),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get_as(&w.contact_in, &format!("{path}/versions"))
        .await
        .assert_problem(403, "forbidden");
    let reply = ok(
        app.post_as(
            &w.contact_in,
            &entries,
            &json!({"kind": "portal", "body": "Paid today."}),
        )
        .await,
        201,
    )
    .await;
    let reply_path = format!("{entries}/{}", reply["entry"]["id"].as_str().unwrap());
    app.send(
        Method::PATCH,
        &reply_path,
        Some(json!({"body": "Not paid"}).to_string()),
        Some(&w.agent_in),
    )
    .await
    .assert_problem(403, "forbidden");
    ok(
        app.send(
            Method::PATCH,
            &reply_path,
            Some(json!({"body": "Paid today (admin corrected the date)."}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    ok(
        app.send(
            Method::PATCH,
            &path,
            Some(json!({"body": "Client owes 14,200 EUR"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let three = ok(
        app.get_as(&w.agent_in, &format!("{path}/versions")).await,
        200,
    )
    .await;
    assert_eq!(three.as_array().unwrap().len(), 3);

    // Each edit is an audit event with the hash of the body it replaced; the chain verifies.
    let export = app
        .get_as(
            &w.admin,
            &format!("/api/v1/audit/export?case={}", w.acme_case),
        )
        .await;
    let report = rapport_audit::verify_export(&export.body[..], &key(&app).await).unwrap();
    assert!(report.events > 3);
    let text = String::from_utf8_lossy(&export.body);
    let edits: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["action"] == "entry.edited")
        .collect();
    assert_eq!(edits.len(), 3);
    assert_eq!(
        edits[0]["data"]["previous_body_sha256"],
        sha256(b"Client owes 12,400 EUR").as_str()
    );
}

e2e_test!(edits_after_the_window_are_for_admins_and_emails_are_never_edited);
async fn edits_after_the_window_are_for_admins_and_emails_are_never_edited(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.cases.edit_window_minutes = 0).await;
    let w = world(&app, db).await;
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let note = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "note", "body": "first"}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("{entries}/{}", note["entry"]["id"].as_str().unwrap());
    let res = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"body": "second"}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(
        res.assert_problem(422, "validation_failed")["field"],
        "entry"
    );
    ok(
        app.send(
            Method::PATCH,
            &path,
            Some(json!({"body": "second"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let mail = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "email_out", "body": "Your invoice is corrected."}),
        )
        .await,
        201,
    )
    .await;
    let mail_path = format!("{entries}/{}", mail["entry"]["id"].as_str().unwrap());
    app.send(
        Method::PATCH,
        &mail_path,
        Some(json!({"body": "changed"}).to_string()),
        Some(&w.admin),
    )
    .await
    .assert_problem(422, "validation_failed");
}

e2e_test!(a_redacted_attachment_is_gone_from_disk_and_search_yet_the_bundle_verifies);
async fn a_redacted_attachment_is_gone_from_disk_and_search_yet_the_bundle_verifies(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let secret = b"vpn password: Hunter2-Zebra-Quartz\n";
    let posted = app
        .send_raw(
            &format!("/api/v1/cases/{}/attachments", w.acme_case),
            &content_type(),
            multipart(
                &[
                    ("kind", "portal"),
                    (
                        "body",
                        "Login for the portal is in the file; password Hunter2Zebra",
                    ),
                ],
                &[("access.txt", secret)],
            ),
            Some(&w.contact_in),
        )
        .await;
    assert_eq!(
        posted.status,
        201,
        "{}",
        String::from_utf8_lossy(&posted.body)
    );
    let posted = posted.json();
    let entry = posted["entry"]["id"].as_str().unwrap().to_owned();
    let attachment = posted["entry"]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_disk = rapport_server::attachment_files::content_path(db.data_dir(), &sha256(secret));
    assert!(on_disk.exists());
    let found = app
        .get_as(&w.agent_in, "/api/v1/search?q=Hunter2Zebra")
        .await
        .json();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);

    // Only admins redact, and they must say why.
    let redact = format!("/api/v1/attachments/{attachment}/redact");
    for token in [&w.agent_in, &w.auditor, &w.contact_in] {
        app.post_as(token, &redact, &json!({"reason": "leaked password"}))
            .await
            .assert_problem(403, "forbidden");
    }
    app.post_as(&w.admin, &redact, &json!({"reason": ""}))
        .await
        .assert_problem(422, "validation_failed");
    let tomb = ok(
        app.post_as(&w.admin, &redact, &json!({"reason": "leaked VPN password"}))
            .await,
        200,
    )
    .await;
    assert_eq!(tomb["removed_sha256"][0], sha256(secret).as_str());
    assert!(!on_disk.exists(), "the content is gone from disk");
    app.get_as(&w.agent_in, &format!("/api/v1/attachments/{attachment}"))
        .await
        .assert_problem(410, "redacted");
    let entry_redact = format!("/api/v1/cases/{}/entries/{entry}/redact", w.acme_case);
    ok(
        app.post_as(
            &w.admin,
            &entry_redact,
            &json!({"reason": "password in the message text"}),
        )
        .await,
        200,
    )
    .await;
    app.post_as(&w.admin, &entry_redact, &json!({"reason": "again"}))
        .await
        .assert_problem(409, "conflict");
    let found = app
        .get_as(&w.agent_in, "/api/v1/search?q=Hunter2Zebra")
        .await
        .json();
    assert!(
        found["items"].as_array().unwrap().is_empty(),
        "gone from search"
    );
    // The thread keeps a tombstone for both.
    let thread = app
        .get_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json();
    let shown = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == entry.as_str())
        .unwrap()
        .clone();
    assert_eq!(shown["body"], "");
    assert_eq!(shown["redaction"]["reason"], "password in the message text");
    assert_eq!(
        shown["attachments"][0]["redaction"]["reason"],
        "leaked VPN password"
    );
    let text = String::from_utf8_lossy(
        &app.get_as(&w.admin, &format!("/api/v1/cases/{}/entries", w.acme_case))
            .await
            .body,
    )
    .into_owned();
    assert!(!text.contains("Hunter2"), "no trace in the API");

    // What was emailed out goes too: an agent's email reply, redacted.
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let mail = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "email_out", "body": "Your new VPN password is Hunter2-Zebra-Quartz"}),
        )
        .await,
        201,
    )
    .await;
    let mail_id = mail["entry"]["id"].as_str().unwrap().to_owned();
    ok(
        app.post_as(
            &w.admin,
            &format!("{entries}/{mail_id}/redact"),
            &json!({"reason": "password sent by email"}),
        )
        .await,
        200,
    )
    .await;
    let stored: i64 = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let store = rapport_tests::seed::store(db);
        diesel::sql_query(format!("SELECT CAST(COALESCE(SUM(LENGTH(raw)), 0) AS BIGINT) AS n FROM outbox WHERE entry_id = '{mail_id}'"))
            .get_result::<N>(&mut *store.conn().unwrap())
            .unwrap()
            .n
    };
    assert_eq!(stored, 0, "the sent message is gone from the outbox");

    // The bundle verifies and shows the tombstones, with nothing of the secret.
    let zip = bundle(&app, &w.auditor, &format!("case={}", w.acme_case)).await;
    let report = rapport_server::bundle::verify(Cursor::new(&zip), &key(&app).await).unwrap();
    assert!(report.audit_events > 0);
    let files = unzip(&zip);
    let all = all_text(&files);
    assert!(!all.contains("Hunter2"), "the secret is in the bundle");
    let html = files
        .iter()
        .find(|(n, _)| n.ends_with("thread.html"))
        .unwrap();
    let html = String::from_utf8_lossy(&html.1);
    assert!(html.contains("REDACTED") && html.contains("leaked VPN password"));
    assert!(
        !files.iter().any(|(n, _)| n.contains("access.txt")),
        "no redacted file in the bundle"
    );
    // The audit log keeps the hash of what was removed.
    assert!(all.contains(&sha256(secret)));
}

e2e_test!(changing_any_byte_of_any_file_of_a_bundle_is_detected);
async fn changing_any_byte_of_any_file_of_a_bundle_is_detected(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let posted = app
        .send_raw(
            &format!("/api/v1/cases/{}/attachments", w.acme_case),
            &content_type(),
            multipart(
                &[("kind", "portal"), ("body", "Delivery note attached")],
                &[("note.txt", b"12 cartons, Hall 3\n")],
            ),
            Some(&w.contact_in),
        )
        .await;
    assert_eq!(posted.status, 201);
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let note = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "note", "body": "draft"}),
        )
        .await,
        201,
    )
    .await;
    ok(
        app.send(
            Method::PATCH,
            &format!("{entries}/{}", note["entry"]["id"].as_str().unwrap()),
            Some(json!({"body": "final"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    let zip = bundle(&app, &w.admin, &format!("case={}", w.acme_case)).await;
    let key = key(&app).await;
    rapport_server::bundle::verify(Cursor::new(&zip), &key).unwrap();
    let files = unzip(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "thread.html",
        "thread.txt",
        "attachments/",
        "audit/log.jsonl",
        "SHA256SUMS",
        "manifest.json",
        "README.txt",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "{want} in {names:?}"
        );
    }
    let thread = String::from_utf8_lossy(
        &files
            .iter()
            .find(|(n, _)| n.ends_with("thread.txt"))
            .unwrap()
            .1,
    )
    .into_owned();
    assert!(
        thread.contains("version 1") && thread.contains("draft") && thread.contains("final"),
        "versions shown: {thread}"
    );
    // The re-packed original still verifies (the check is on contents, not on the ZIP).
    rapport_server::bundle::verify(Cursor::new(rezip(&files)), &key).unwrap();
    for i in 0..files.len() {
        for at in [0, files[i].1.len() / 2, files[i].1.len().saturating_sub(1)] {
            let mut changed = files.clone();
            if changed[i].1.is_empty() {
                continue;
            }
            changed[i].1[at] ^= 0x01;
            let failure = rapport_server::bundle::verify(Cursor::new(rezip(&changed)), &key);
            assert!(
                failure.is_err(),
                "a changed byte {at} of {} went unnoticed",
                files[i].0
            );
        }
    }
    let mut fewer = files.clone();
    fewer.retain(|(n, _)| !n.ends_with("thread.txt"));
    assert!(
        rapport_server::bundle::verify(Cursor::new(rezip(&fewer)), &key)
            .unwrap_err()
            .contains("missing")
    );
    let mut more = files.clone();
    more.push(("cases/extra.txt".into(), b"planted".to_vec()));
    assert!(
        rapport_server::bundle::verify(Cursor::new(rezip(&more)), &key)
            .unwrap_err()
            .contains("not in SHA256SUMS")
    );

    // The command line agrees: writes a bundle by case number, verifies it, and refuses a changed one.
    let number = app
        .get_as(&w.admin, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .json()["number"]
        .as_i64()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case.zip");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--data-dir",
            db.data_dir().to_str().unwrap(),
            "--database-url",
            db.url.as_str(),
            "audit",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>()
    };
    let number_text = number.to_string();
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run_rapport(rapport_bin!(), &refs, &[])
    };
    let made = run(args(&[
        "bundle",
        "--case",
        &number_text,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let checked = run(args(&["verify", out.to_str().unwrap()]));
    assert!(
        checked.status.success()
            && String::from_utf8_lossy(&checked.stdout).starts_with("OK: evidence bundle"),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let mut tampered = unzip(&std::fs::read(&out).unwrap());
    let i = tampered
        .iter()
        .position(|(n, _)| n.ends_with("thread.txt"))
        .unwrap();
    tampered[i].1.extend_from_slice(b"one more line\n");
    std::fs::write(&out, rezip(&tampered)).unwrap();
    let refused = run(args(&["verify", out.to_str().unwrap()]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("has changed"));
}

e2e_test!(an_account_bundle_holds_every_case_of_the_account_and_nothing_else);
async fn an_account_bundle_holds_every_case_of_the_account_and_nothing_else(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let second = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Second Acme question", "body": "About the framework contract"}),
        )
        .await,
        201,
    )
    .await;
    let other = ok(
        app.post_as(
            &w.contact_out,
            "/api/v1/cases",
            &json!({"subject": "Globex private matter", "body": "Globex-only secret 7781"}),
        )
        .await,
        201,
    )
    .await;
    let zip = bundle(&app, &w.auditor, &format!("account={}", w.acme)).await;
    let report = rapport_server::bundle::verify(Cursor::new(&zip), &key(&app).await).unwrap();
    let acme_numbers = [
        app.get_as(&w.admin, &format!("/api/v1/cases/{}", w.acme_case))
            .await
            .json()["number"]
            .as_i64()
            .unwrap(),
        second["case"]["number"].as_i64().unwrap(),
    ];
    let mut got = report.cases.clone();
    got.sort();
    let mut want = acme_numbers.to_vec();
    want.sort();
    assert_eq!(got, want);
    let all = all_text(&unzip(&zip));
    assert!(all.contains("Second Acme question"));
    assert!(!all.contains("Globex"), "nothing of another account");
    assert!(!all.contains(other["case"]["id"].as_str().unwrap()));
    // Agents and contacts do not take bundles.
    app.get_as(
        &w.agent_in,
        &format!("/api/v1/audit/bundle?account={}", w.acme),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get_as(
        &w.contact_in,
        &format!("/api/v1/audit/bundle?account={}", w.acme),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get_as(&w.auditor, "/api/v1/audit/bundle")
        .await
        .assert_problem(400, "invalid_query");
    app.get_as(&w.auditor, "/api/v1/audit/bundle?case=999999")
        .await
        .assert_problem(404, "not_found");
}

e2e_test!(what_auditors_read_and_export_is_itself_in_the_audit_log);
async fn what_auditors_read_and_export_is_itself_in_the_audit_log(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let auditor_id = app.get_as(&w.auditor, "/api/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app.get_as(&w.auditor, &format!("/api/v1/cases/{}", w.acme_case))
            .await,
        200,
    )
    .await;
    ok(
        app.get_as(
            &w.auditor,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await,
        200,
    )
    .await;
    bundle(&app, &w.auditor, &format!("case={}", w.acme_case)).await;
    let log = app
        .get_as(
            &w.admin,
            &format!("/api/v1/audit/export?stream=staff:{auditor_id}"),
        )
        .await;
    assert_eq!(log.status, 200);
    let events: Vec<Value> = String::from_utf8_lossy(&log.body)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e.get("action").is_some())
        .collect();
    let viewed: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "audit.viewed")
        .collect();
    assert!(
        viewed
            .iter()
            .any(|e| e["subject"]["kind"] == "case" && e["subject"]["id"] == w.acme_case.as_str()),
        "{events:?}"
    );
    assert!(viewed.iter().any(|e| e["subject"]["kind"] == "case_thread"));
    assert!(events.iter().any(|e| e["action"] == "audit.bundle_exported"
        && e["data"]["selection"]["case"] == w.acme_case.as_str()));
    // Staff who are not auditors leave no such trace.
    let agent_id = w.agent_in_id.clone();
    ok(
        app.get_as(&w.agent_in, &format!("/api/v1/cases/{}", w.acme_case))
            .await,
        200,
    )
    .await;
    let log = app
        .get_as(
            &w.admin,
            &format!("/api/v1/audit/export?stream=staff:{agent_id}"),
        )
        .await;
    assert!(!String::from_utf8_lossy(&log.body).contains("audit.viewed"));
}

e2e_test!(verification_and_policy_endpoints_check_who_asks);
async fn verification_and_policy_endpoints_check_who_asks(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let token = ok(
        app.post_as(
            &w.admin,
            "/api/v1/api-tokens",
            &json!({"name": "crm", "scopes": ["directory:read"]}),
        )
        .await,
        201,
    )
    .await;
    let api = token["secret"].as_str().unwrap().to_owned();
    let export = app
        .get_as(
            &w.admin,
            &format!("/api/v1/audit/export?case={}", w.acme_case),
        )
        .await
        .body
        .to_vec();
    for (who, status) in [
        (&w.contact_in, 403),
        (&w.agent_in, 403),
        (&api, 403),
        (&w.auditor, 200),
        (&w.admin, 200),
    ] {
        let res = app
            .send_raw(
                "/api/v1/audit/verify",
                "application/octet-stream",
                export.clone(),
                Some(who),
            )
            .await;
        assert_eq!(res.status, status, "verify");
        if status == 200 {
            let r = res.json();
            assert_eq!(r["ok"], true, "{r}");
            assert_eq!(r["kind"], "export");
        }
    }
    let mut altered = export.clone();
    altered[20] ^= 1;
    let r = app
        .send_raw(
            "/api/v1/audit/verify",
            "application/octet-stream",
            altered,
            Some(&w.auditor),
        )
        .await
        .json();
    assert_eq!(r["ok"], false, "{r}");
    app.send_raw(
        "/api/v1/audit/verify",
        "application/octet-stream",
        export,
        None,
    )
    .await
    .assert_problem(401, "unauthenticated");
    for (who, status) in [
        (&w.contact_in, 403),
        (&api, 403),
        (&w.agent_in, 200),
        (&w.auditor, 200),
    ] {
        assert_eq!(
            app.get_as(who, "/api/v1/sla/policies").await.status,
            status,
            "policies"
        );
    }
    let policy = app.get_as(&w.admin, "/api/v1/sla/policies").await.json();
    assert!(
        policy["tiers"]["strategic"]["first_response_minutes"]
            .as_u64()
            .is_some()
    );
    // Clients never see service-level targets on their cases.
    let mine = app
        .get_as(&w.contact_in, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .json();
    assert!(mine["sla_due_at"].is_null());
    let staff_view = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{}", w.acme_case))
        .await
        .json();
    assert!(staff_view["sla_due_at"].is_string(), "{staff_view}");
}
