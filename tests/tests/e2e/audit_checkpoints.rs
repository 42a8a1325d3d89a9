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
