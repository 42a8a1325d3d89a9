//! The worked examples of `docs/audit-format.md` must stay true: anyone
//! writing a verifier from that page tests against them.

#![allow(clippy::unwrap_used)]

use rapport_audit::{AuditPublicKey, EventHash, VerifyReport, verify_export};

fn doc() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/audit-format.md"
    ))
    .unwrap()
}

/// The fenced block that follows `<!-- example: NAME -->`.
fn example(name: &str) -> String {
    let doc = doc();
    let marker = format!("<!-- example: {name} -->");
    let after = &doc[doc
        .find(&marker)
        .unwrap_or_else(|| panic!("no example {name}"))
        + marker.len()..];
    let start = after.find("```").unwrap();
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

fn key() -> AuditPublicKey {
    AuditPublicKey::parse(&example("public-key")).unwrap()
}

#[test]
fn documented_jsonl_export_verifies_with_the_documented_key() {
    let report: VerifyReport = verify_export(example("export.jsonl").as_bytes(), &key()).unwrap();
    assert_eq!((report.events, report.streams), (2, 1));
}

#[test]
fn documented_csv_export_verifies_with_the_documented_key() {
    let report = verify_export(example("export.csv").as_bytes(), &key()).unwrap();
    assert_eq!((report.events, report.streams), (2, 1));
}

#[test]
fn documented_unhashed_form_hashes_to_the_documented_hash() {
    let text = example("unhashed");
    let hash = EventHash::of(text.trim_end().as_bytes());
    assert!(example("export.jsonl").contains(&format!("\"hash\":\"{hash}\"")));
}

#[test]
fn documented_python_verifier_accepts_the_example_and_catches_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, example("verify.py")).unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, example("export.jsonl")).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&good)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "chain OK: 2 events"
    );

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        example("export.jsonl").replace("pending_client", "resolved"),
    )
    .unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: altered"));
}
