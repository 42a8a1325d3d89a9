//! `rapport backup` while the server runs, and `rapport restore` into an
//! empty installation: the audit log verifies and people sign in as before.

use rapport_tests::{TestApp, TestDatabase, e2e_test, rapport_bin, run_rapport, seed};

use super::directory::{ok, world};

fn base(db: &TestDatabase) -> Vec<String> {
    vec![
        "--data-dir".into(),
        db.data_dir().display().to_string(),
        "--database-url".into(),
        db.url.clone(),
    ]
}

fn rapport(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    let all: Vec<String> = base(db)
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run_rapport(rapport_bin!(), &refs, &[])
}

e2e_test!(a_backup_taken_while_serving_restores_into_an_empty_installation);
async fn a_backup_taken_while_serving_restores_into_an_empty_installation(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (email, password) = seed::staff(db, "admin");
    // A file a client sent, so attachments are part of it.
    let upload = app
        .send_raw(
            &format!("/api/v1/cases/{}/attachments", w.acme_case),
            &super::attachments::content_type(),
            super::attachments::multipart(
                &[("body", "The signed order")],
                &[("order.txt", b"Order 9921, signed")],
            ),
            Some(&w.contact_in),
        )
        .await;
    let file_url = ok(upload, 201).await["entry"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    // Taken while the server runs.
    let dest = tempfile::tempdir().unwrap();
    let backup_dir = dest.path().join("backup-1");
    let out = rapport(db, &["backup", backup_dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup written to"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(backup_dir.join("manifest.json")).unwrap())
            .unwrap();
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.iter().any(|p| p.starts_with("secrets/")), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.starts_with("attachments/")),
        "{paths:?}"
    );
    // Into an existing backup: refused.
    assert!(
        !rapport(db, &["backup", backup_dir.to_str().unwrap()])
            .status
            .success()
    );
    app.stop().await;

    // Restored into an empty installation.
    let fresh = TestDatabase::create(db.backend).expect("a second database");
    // A damaged backup is refused before anything is restored.
    let damaged = dest.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for f in &paths {
        let to = damaged.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(backup_dir.join(f), &to).unwrap();
    }
    std::fs::copy(
        backup_dir.join("manifest.json"),
        damaged.join("manifest.json"),
    )
    .unwrap();
    let secret = paths.iter().find(|p| p.starts_with("secrets/")).unwrap();
    std::fs::write(damaged.join(secret), b"tampered").unwrap();
    let refused = rapport(&fresh, &["restore", damaged.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("differs from the manifest"));
    assert!(
        !fresh.data_dir().join("secrets").exists(),
        "nothing restored"
    );

    let restored = rapport(&fresh, &["restore", backup_dir.to_str().unwrap()]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    // Not twice into the same installation.
    assert!(
        !rapport(&fresh, &["restore", backup_dir.to_str().unwrap()])
            .status
            .success()
    );

    // The audit log verifies, people sign in, files are there.
    let export = fresh.data_dir().join("all.jsonl");
    let out = rapport(
        &fresh,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = rapport(&fresh, &["audit", "verify", export.to_str().unwrap()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let app = TestApp::spawn(&fresh).await;
    let admin = app.login(&email, &password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = app.get_as(&admin, &file_url).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"Order 9921, signed");
    ok(
        app.get_as(&admin, &format!("/api/v1/cases/{}", w.acme_case))
            .await,
        200,
    )
    .await;
    app.stop().await;
}
