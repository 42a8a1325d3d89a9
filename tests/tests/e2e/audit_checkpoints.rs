//! Signed checkpoints of the whole audit log and the proofs that a newer
//! one extends an older one, as an auditor fetches and checks them.

use rapport_audit::AuditPublicKey;
use rapport_audit::merkle::{TreeHash, verify_consistency};
use rapport_tests::{TestApp, TestDatabase, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};

fn hash(text: &str) -> TreeHash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).expect("hex hash");
    out
}

e2e_test!(checkpoints_are_signed_kept_outside_the_database_and_prove_the_log_only_grew);
async fn checkpoints_are_signed_kept_outside_the_database_and_prove_the_log_only_grew(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let key = AuditPublicKey::parse(
        app.get("/api/v1/audit/public-key").await.json()["verify_argument"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let checkpoint =
        || rapport_server::usecase::audit_tree::checkpoint(&app.state, chrono::Utc::now()).unwrap();
    let first = checkpoint().expect("the world's events make a first checkpoint");
    assert!(first.tree_size > 5);
    assert!(checkpoint().is_none(), "nothing new, no new checkpoint");

    // The auditor fetches it; the signature is the audit key's.
    let latest = ok(
        app.get_as(&w.auditor, "/api/v1/audit/checkpoints/latest")
            .await,
        200,
    )
    .await;
    assert_eq!(latest["tree_size"], first.tree_size);
    assert!(
        key.verify(
            latest["signed_text"].as_str().unwrap().as_bytes(),
            latest["signature"].as_str().unwrap()
        )
        .unwrap()
    );
    app.get_as(&w.agent_in, "/api/v1/audit/checkpoints/latest")
        .await
        .assert_problem(403, "forbidden");

    // More history; a newer checkpoint; the proof that it extends the first.
    for i in 0..3 {
        ok(
            app.post_as(
                &w.agent_in,
                &format!("/api/v1/cases/{}/entries", w.acme_case),
                &json!({"kind": "note", "body": format!("Checked ledger line {i}")}),
            )
            .await,
            201,
        )
        .await;
    }
    let second = checkpoint().expect("a newer checkpoint");
    assert!(second.tree_size > first.tree_size);
    let proof = ok(
        app.get_as(
            &w.auditor,
            &format!(
                "/api/v1/audit/consistency?from={}&to={}",
                first.tree_size, second.tree_size
            ),
        )
        .await,
        200,
    )
    .await;
    let path: Vec<TreeHash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    assert!(verify_consistency(
        first.tree_size as u64,
        second.tree_size as u64,
        &hash(&first.root_hash),
        &hash(&second.root_hash),
        &path
    ));
    // The proof does not fit a root that differs from the one signed.
    assert!(!verify_consistency(
        first.tree_size as u64,
        second.tree_size as u64,
        &[7u8; 32],
        &hash(&second.root_hash),
        &path
    ));
    let old = ok(
        app.get_as(
            &w.auditor,
            &format!("/api/v1/audit/checkpoints/{}", first.tree_size),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(old["root_hash"], first.root_hash.as_str());
    app.get_as(
        &w.auditor,
        &format!(
            "/api/v1/audit/consistency?from={}&to={}",
            second.tree_size, first.tree_size
        ),
    )
    .await
    .assert_problem(422, "validation_failed");

    // Each checkpoint is also a line of a file outside the database.
    let log = std::fs::read_to_string(db.data_dir().join("audit/checkpoints.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // (The server also made one at start, of the events of its first run.)
    let ours: Vec<&Value> = lines.iter().rev().take(2).collect();
    assert_eq!(ours[1]["root_hash"], first.root_hash.as_str());
    assert_eq!(ours[0]["tree_size"], second.tree_size);
    assert_eq!(ours[0]["signature"], second.signature.as_str());
}

/// An account's audit log exported as an auditor downloads it.
async fn export_account(app: &TestApp, auditor: &str, account: &str) -> Vec<u8> {
    let res = app
        .get_as(
            auditor,
            &format!("/api/v1/audit/export?account={account}&format=jsonl"),
        )
        .await;
    assert_eq!(res.status, 200);
    res.body.to_vec()
}

/// What an attacker with the database does: the newest event of the
/// account's stream gets other data, its hash is sealed again and the
/// stream head moved, behind the database's own guards.
fn rewrite_newest_event(app: &TestApp, db: &TestDatabase, account: &str) -> String {
    use diesel::RunQueryDsl;
    use rapport_audit::{NewEvent, StreamName, seal};
    let store = rapport_tests::seed::store(db);
    let mut conn = store.conn().unwrap();
    let stream = StreamName::account(account.to_owned());
    let events = rapport_store::audit::stream_events(&mut conn, &stream, 10_000).unwrap();
    let (last, before) = events.split_last().unwrap();
    let head = before
        .last()
        .map(|e| e.head())
        .unwrap_or(rapport_audit::ChainHead::EMPTY);
    let mut data = last.data.clone();
    data.insert("notes".into(), json!("nothing happened here"));
    let new = NewEvent::new(
        last.stream.clone(),
        last.actor.clone(),
        last.action.clone(),
        last.subject.clone(),
        data.clone(),
    )
    .unwrap();
    let forged = seal(new, &head, last.id.clone(), last.at).unwrap();
    let guards_off: &[&str] = match &mut *conn {
        rapport_store::DbConnection::Sqlite(_) => &[
            "DROP TRIGGER IF EXISTS audit_events_no_update",
            "DROP TRIGGER IF EXISTS audit_streams_head_moves_forward",
        ],
        rapport_store::DbConnection::Postgres(_) => &["SET session_replication_role = replica"],
    };
    for sql in guards_off {
        diesel::sql_query(*sql).execute(&mut *conn).unwrap();
    }
    diesel::sql_query(format!(
        "UPDATE audit_events SET data = '{}', hash = '{}' WHERE id = '{}'",
        serde_json::to_string(&data).unwrap().replace('\'', "''"),
        forged.hash.to_hex(),
        last.id
    ))
    .execute(&mut *conn)
    .unwrap();
    diesel::sql_query(format!(
        "UPDATE audit_streams SET head_hash = '{}' WHERE stream = '{}'",
        forged.hash.to_hex(),
        stream.as_str()
    ))
    .execute(&mut *conn)
    .unwrap();
    let _ = app;
    last.id.clone()
}

e2e_test!(an_auditor_shows_nothing_exported_before_was_rewritten_or_catches_it);
async fn an_auditor_shows_nothing_exported_before_was_rewritten_or_catches_it(db: &TestDatabase) {
    use rapport_tests::{rapport_bin, run_rapport};
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let checkpoint =
        || rapport_server::usecase::audit_tree::checkpoint(&app.state, chrono::Utc::now()).unwrap();
    // Last quarter's export, under a checkpoint.
    checkpoint();
    let older = export_account(&app, &w.auditor, &w.acme).await;
    let manifest: Value =
        serde_json::from_str(String::from_utf8_lossy(&older).lines().last().unwrap()).unwrap();
    assert!(
        manifest["manifest"]["checkpoint"]["tree_size"]
            .as_i64()
            .unwrap()
            > 0,
        "the signed manifest carries the checkpoint"
    );
    // This quarter: more history (the account changes), a newer export.
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/accounts/{}", w.acme),
            Some(json!({"notes": "Renewal signed"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    checkpoint();
    let newer = export_account(&app, &w.auditor, &w.acme).await;
    let dir = db.data_dir();
    let (older_path, newer_path) = (dir.join("q3.jsonl"), dir.join("q4.jsonl"));
    std::fs::write(&older_path, &older).unwrap();
    std::fs::write(&newer_path, &newer).unwrap();
    let bin = rapport_bin!();
    let data_dir = dir.to_str().unwrap().to_owned();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "--data-dir",
            data_dir.as_str(),
            "--database-url",
            db.url.as_str(),
            "audit",
            "verify",
        ];
        args.extend_from_slice(extra);
        run_rapport(bin, &args, &[])
    };
    let clean = verify(&[
        newer_path.to_str().unwrap(),
        "--against",
        older_path.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&clean.stdout).into_owned();
    assert!(
        clean.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(said.contains("unchanged in the newer one"), "{said}");
    assert!(said.contains("consistency proof verified"), "{said}");
    let witness = dir.join("audit/checkpoints.log");
    let witnessed = verify(&["--witness", witness.to_str().unwrap()]);
    assert!(
        witnessed.status.success(),
        "{}",
        String::from_utf8_lossy(&witnessed.stdout)
    );

    // Someone with the database rewrites the account's newest event and
    // seals it again: a fresh export verifies on its own, but not against
    // the earlier one, and not against the witnessed checkpoints.
    let forged_id = rewrite_newest_event(&app, db, &w.acme);
    let forged = export_account(&app, &w.auditor, &w.acme).await;
    let forged_path = dir.join("forged.jsonl");
    std::fs::write(&forged_path, &forged).unwrap();
    let alone = verify(&[forged_path.to_str().unwrap()]);
    assert!(
        alone.status.success(),
        "{}",
        String::from_utf8_lossy(&alone.stdout)
    );
    let caught = verify(&[
        forged_path.to_str().unwrap(),
        "--against",
        newer_path.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&caught.stdout).into_owned();
    assert!(!caught.status.success(), "{said}");
    assert!(
        said.contains(&forged_id) && said.contains("rewritten"),
        "{said}"
    );
    let witnessed = verify(&["--witness", witness.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&witnessed.stdout).into_owned();
    assert!(!witnessed.status.success(), "{said}");
    assert!(said.contains(&forged_id), "{said}");

    // The same comparison over HTTP, as the auditor page sends it.
    let boundary = "rapport-compare";
    let mut body = Vec::new();
    for (name, bytes) in [("file", &forged), ("against", &newer)] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let res = app
        .send_raw(
            "/api/v1/audit/verify",
            &format!("multipart/form-data; boundary={boundary}"),
            body,
            Some(&w.auditor),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let r = res.json();
    assert_eq!(r["ok"], false);
    assert_eq!(r["kind"], "comparison");
    assert!(r["summary"].as_str().unwrap().contains(&forged_id), "{r}");
}

e2e_test!(every_checkpoint_reaches_the_witnesses_and_their_record_checks_the_log);
async fn every_checkpoint_reaches_the_witnesses_and_their_record_checks_the_log(db: &TestDatabase) {
    use rapport_tests::{rapport_bin, run_rapport};
    let receiver = super::webhooks::Receiver::start();
    let url = receiver.url.clone();
    let app = TestApp::spawn_with(db, |s| {
        s.audit.checkpoint_interval_secs = 1;
        s.audit.witness_emails = vec!["records@audit-firm.example".into()];
        s.audit.witness_urls = vec![url];
    })
    .await;
    let w = world(&app, db).await;
    // The world's events are taken into a checkpoint within a second or
    // two; the witness URL gets it.
    let total: i64 = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let store = rapport_tests::seed::store(db);
        let mut conn = store.conn().unwrap();
        diesel::sql_query("SELECT COUNT(*) AS n FROM audit_events")
            .get_result::<Count>(&mut *conn)
            .unwrap()
            .n
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let posted: Vec<Value> = loop {
        let got: Vec<Value> = receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        if got.iter().any(|c| c["tree_size"].as_i64() >= Some(total)) {
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {total} events reached the witness: {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // The mailed witness holds the same line.
    let mailbox = db.data_dir().join("mailbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mailed = loop {
        let found = std::fs::read_dir(&mailbox)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| rapport_mail::parse(&std::fs::read(e.path()).ok()?).ok())
                    .filter(|m| m.subject.contains("audit checkpoint of"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if let Some(m) = found.into_iter().next() {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint mail");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(mailed.to[0].address, "records@audit-firm.example");
    let line = mailed
        .text
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("the checkpoint line");
    let from_mail: Value = serde_json::from_str(line).unwrap();
    assert!(posted.contains(&from_mail), "{from_mail} was POSTed too");

    // What the witness received checks the database's log.
    let witness = db.data_dir().join("witness.log");
    std::fs::write(
        &witness,
        posted.iter().map(|c| format!("{c}\n")).collect::<String>(),
    )
    .unwrap();
    let data_dir = db.data_dir().to_str().unwrap().to_owned();
    let checked = run_rapport(
        rapport_bin!(),
        &[
            "--data-dir",
            &data_dir,
            "--database-url",
            &db.url,
            "audit",
            "verify",
            "--witness",
            witness.to_str().unwrap(),
        ],
        &[],
    );
    let said = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(checked.status.success(), "{said}");
    assert!(said.contains("still gives all"), "{said}");
    let _ = w;
}
