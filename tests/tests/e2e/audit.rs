use std::time::Duration;

use diesel::RunQueryDsl;
use rapport_audit::{
    Action, Actor, ActorKind, AuditSigner, NewEvent, StreamName, Subject, verify_export,
};
use rapport_server::audit_export::{self, ExportRequest};
use rapport_store::{PoolOptions, Store, StoreError};
use rapport_tests::{Backend, TestApp, TestDatabase, e2e_test, rapport_bin, run_rapport};
use serde_json::{Map, json};

fn migrated(db: &TestDatabase) -> Store {
    let url = rapport_store::DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::connect(
        &url,
        &PoolOptions {
            max_size: 4,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    store.migrate().unwrap();
    store
}

fn event(stream: &str, step: u64) -> NewEvent {
    let mut data = Map::new();
    data.insert("step".into(), json!(step));
    data.insert(
        "status".into(),
        json!({"before": "open", "after": "pending_client"}),
    );
    NewEvent::new(
        StreamName::parse(stream).unwrap(),
        Actor::new(ActorKind::Staff, "agent-1").unwrap(),
        Action::parse("case.status_changed").unwrap(),
        Subject::new("case", Some("c1")).unwrap(),
        data,
    )
    .unwrap()
}

fn append(store: &Store, stream: &str, step: u64, account: Option<&str>) {
    store
        .write(|conn| rapport_store::audit::append(conn, event(stream, step), account))
        .map(|_| ())
        .unwrap_or_else(|e: StoreError| panic!("append failed: {e}"));
}

fn signer() -> AuditSigner {
    AuditSigner::from_seed_hex(&"42".repeat(32)).unwrap()
}

fn export(store: &Store, request: &ExportRequest) -> Vec<u8> {
    let mut conn = store.conn().unwrap();
    let (bytes, _) =
        audit_export::run(&mut conn, request, &signer(), "test", Vec::new(), |_| {}).unwrap();
    bytes
}

fn all(format: Option<&str>) -> ExportRequest {
    ExportRequest::parse(None, None, None, None, None, format).unwrap()
}

fn verified(bytes: &[u8]) -> rapport_audit::VerifyReport {
    verify_export(bytes, &signer().public_key())
        .unwrap_or_else(|e| panic!("export must verify: {e}"))
}

e2e_test!(stored_history_exports_and_verifies_in_both_formats);
async fn stored_history_exports_and_verifies_in_both_formats(db: &TestDatabase) {
    let store = migrated(db);
    for step in 0..5 {
        append(&store, "case:c1", step, Some("acme"));
        append(&store, "case:c2", step, Some("acme"));
        append(&store, "account:acme", step, None);
    }
    for format in ["jsonl", "csv"] {
        let report = verified(&export(&store, &all(Some(format))));
        assert_eq!(report.events, 15);
        assert_eq!(report.streams, 3);
    }
}

e2e_test!(the_database_refuses_to_change_or_delete_audit_events);
async fn the_database_refuses_to_change_or_delete_audit_events(db: &TestDatabase) {
    let store = migrated(db);
    append(&store, "case:c1", 1, None);
    append(&store, "case:c1", 2, None);
    let mut conn = store.conn().unwrap();
    let mut statements = vec![
        "UPDATE audit_events SET data = '{}'",
        "DELETE FROM audit_events",
        "UPDATE audit_streams SET head_seq = 1",
        "DELETE FROM audit_streams",
    ];
    if db.backend == Backend::Postgres {
        statements.push("TRUNCATE audit_events CASCADE");
    }
    for sql in statements {
        let err = diesel::sql_query(sql).execute(&mut *conn).expect_err(sql);
        let msg = err.to_string();
        assert!(
            msg.contains("append-only")
                || msg.contains("cannot be deleted")
                || msg.contains("only moves forward"),
            "{sql}: {msg}"
        );
    }
    // A gap cannot be inserted by hand either.
    let err = diesel::sql_query(
        "INSERT INTO audit_events (stream, seq, id, at, actor_kind, action, subject_kind, data, prev, hash) \
         VALUES ('case:c1', 9, 'forged', '2026-01-01 00:00:00', 'system', 'case.forged', 'case', '{}', 'x', 'y')",
    )
    .execute(&mut *conn)
    .expect_err("gap refused");
    assert!(err.to_string().contains("without a gap"), "{err}");
    drop(conn);
    assert_eq!(verified(&export(&store, &all(None))).events, 2);
}

e2e_test!(an_event_rolls_back_with_the_change_it_records);
async fn an_event_rolls_back_with_the_change_it_records(db: &TestDatabase) {
    let store = migrated(db);
    append(&store, "case:c1", 1, None);
    let failed: Result<(), StoreError> = store.write(|conn| {
        rapport_store::audit::append(conn, event("case:c1", 2), None)?;
        Err(StoreError::NotFound("the change"))
    });
    assert!(failed.is_err());
    let head = rapport_store::audit::head(
        &mut store.conn().unwrap(),
        &StreamName::parse("case:c1").unwrap(),
    )
    .unwrap();
    assert_eq!(head.seq, 1, "the rolled-back event left no trace");
    append(&store, "case:c1", 3, None);
    assert_eq!(verified(&export(&store, &all(None))).events, 2);
}

e2e_test!(events_of_a_savepoint_that_rolled_back_are_not_appended);
/// A write's events are appended at its end: those recorded in a savepoint
/// that rolled back go with it, the others keep their order.
async fn events_of_a_savepoint_that_rolled_back_are_not_appended(db: &TestDatabase) {
    let store = migrated(db);
    store
        .write(|conn| {
            rapport_store::audit::append(conn, event("case:c1", 1), None)?;
            let failed: Result<(), StoreError> = rapport_store::savepoint(conn, |c| {
                rapport_store::audit::append(c, event("case:c1", 2), None)?;
                rapport_store::audit::append(c, event("case:c2", 2), None)?;
                Err(StoreError::NotFound("the row"))
            });
            assert!(failed.is_err());
            rapport_store::savepoint(conn, |c| {
                rapport_store::audit::append(c, event("case:c1", 3), None)
            })?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let mut conn = store.conn().unwrap();
    let head = |conn: &mut rapport_store::DbConnection, s: &str| {
        rapport_store::audit::head(conn, &StreamName::parse(s).unwrap())
            .unwrap()
            .seq
    };
    assert_eq!(head(&mut conn, "case:c1"), 2);
    assert_eq!(
        head(&mut conn, "case:c2"),
        0,
        "nothing of the rolled-back savepoint"
    );
    drop(conn);
    let report = verified(&export(&store, &all(None)));
    assert_eq!(report.events, 2);
}

e2e_test!(events_of_one_write_chain_onto_each_other_across_streams);
/// A write's events that follow one of the same stream chain onto the head
/// it left without reading it back; one of another stream in between does
/// not break either chain.
async fn events_of_one_write_chain_onto_each_other_across_streams(db: &TestDatabase) {
    let store = migrated(db);
    append(&store, "case:c1", 1, None);
    store
        .write(|conn| {
            for (stream, step) in [
                ("case:c1", 2),
                ("case:c1", 3),
                ("case:c2", 1),
                ("case:c1", 4),
                ("case:c2", 2),
                ("case:c2", 3),
            ] {
                rapport_store::audit::append(conn, event(stream, step), None)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let mut conn = store.conn().unwrap();
    let head = |conn: &mut rapport_store::DbConnection, s: &str| {
        rapport_store::audit::head(conn, &StreamName::parse(s).unwrap()).unwrap()
    };
    assert_eq!(head(&mut conn, "case:c1").seq, 4);
    assert_eq!(head(&mut conn, "case:c2").seq, 3);
    drop(conn);
    let report = verified(&export(&store, &all(None)));
    assert_eq!(report.events, 7);
    // The next write reads the head the last one left.
    append(&store, "case:c1", 5, None);
    assert_eq!(verified(&export(&store, &all(None))).events, 8);
}

e2e_test!(a_one_statement_write_refuses_an_audit_event_it_cannot_keep);
/// `Store::write_statement` commits its one statement on its own on
/// PostgreSQL: an audit event recorded in it fails the write, on both
/// backends, and is not appended.
async fn a_one_statement_write_refuses_an_audit_event_it_cannot_keep(db: &TestDatabase) {
    let store = migrated(db);
    let refused = store.write_statement(|conn| {
        rapport_store::audit::append(conn, event("case:c9", 1), None)?;
        Ok::<_, StoreError>(())
    });
    assert!(
        matches!(refused, Err(StoreError::AuditOutsideWrite)),
        "{refused:?}"
    );
    let head = rapport_store::audit::head(
        &mut store.conn().unwrap(),
        &StreamName::parse("case:c9").unwrap(),
    )
    .unwrap();
    assert_eq!(head.seq, 0, "the event was not appended");
    // A write without an event goes through.
    let done = store.write_statement(|conn| {
        diesel::sql_query("UPDATE instance SET id = id").execute(conn)?;
        Ok::<_, StoreError>(())
    });
    assert!(done.is_ok(), "{done:?}");
}

e2e_test!(two_threads_appending_a_thousand_times_each_leave_one_gap_free_chain);
async fn two_threads_appending_a_thousand_times_each_leave_one_gap_free_chain(db: &TestDatabase) {
    let store = migrated(db);
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..1_000 {
                    append(&store, "case:busy", t * 10_000 + i, None);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let head = rapport_store::audit::head(
        &mut store.conn().unwrap(),
        &StreamName::parse("case:busy").unwrap(),
    )
    .unwrap();
    assert_eq!(head.seq, 2_000);
    let report = verified(&export(&store, &all(None)));
    assert_eq!(report.events, 2_000);
    assert_eq!(report.streams, 1);
}

e2e_test!(an_account_export_holds_its_own_and_its_cases_streams_only);
async fn an_account_export_holds_its_own_and_its_cases_streams_only(db: &TestDatabase) {
    let store = migrated(db);
    append(&store, "account:acme", 1, None);
    append(&store, "case:a1", 1, Some("acme"));
    append(&store, "case:a2", 1, Some("acme"));
    append(&store, "account:globex", 1, None);
    append(&store, "case:g1", 1, Some("globex"));
    append(&store, "system", 1, None);
    let request = ExportRequest::parse(None, None, Some("acme"), None, None, None).unwrap();
    let bytes = export(&store, &request);
    let report = verified(&bytes);
    assert_eq!(report.streams, 3);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("\"stream\":\"case:a2\""));
    assert!(
        !text.contains("globex")
            && !text.contains("case:g1")
            && !text.contains("\"stream\":\"system\"")
    );
    let case = ExportRequest::parse(None, Some("a1"), None, None, None, None).unwrap();
    assert_eq!(verified(&export(&store, &case)).events, 1);
}

e2e_test!(a_time_window_export_verifies_on_its_own);
async fn a_time_window_export_verifies_on_its_own(db: &TestDatabase) {
    let store = migrated(db);
    for step in 0..3 {
        append(&store, "case:c1", step, None);
    }
    std::thread::sleep(Duration::from_millis(20));
    let middle = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(20));
    for step in 3..6 {
        append(&store, "case:c1", step, None);
    }
    let from = middle.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let request = ExportRequest::parse(None, None, None, Some(&from), None, None).unwrap();
    let report = verified(&export(&store, &request));
    assert_eq!(report.events, 3);
}

/// The same history recorded on both backends verifies alike: same
/// streams, same sequence, same content apart from ids, times and hashes.
#[test]
fn exports_from_sqlite_and_postgres_of_the_same_history_verify_alike() {
    let Some(pg) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let sqlite = TestDatabase::create(Backend::Sqlite).unwrap();
    let mut exports = Vec::new();
    for db in [&sqlite, &pg] {
        let store = migrated(db);
        for step in 0..4 {
            append(&store, "case:c1", step, Some("acme"));
            append(&store, "account:acme", step, None);
        }
        let bytes = export(
            &store,
            &ExportRequest::parse(None, None, Some("acme"), None, None, None).unwrap(),
        );
        let report = verified(&bytes);
        let events: Vec<serde_json::Value> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter(|l| !l.contains("\"manifest\""))
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                for key in ["id", "at", "hash", "prev"] {
                    v.as_object_mut().unwrap().remove(key);
                }
                v
            })
            .collect();
        exports.push((report.events, report.streams, events));
    }
    assert_eq!(exports[0], exports[1]);
}

e2e_test!(cli_exports_with_a_manifest_that_cli_verify_accepts);
async fn cli_exports_with_a_manifest_that_cli_verify_accepts(db: &TestDatabase) {
    // Start the server once so the schema, keys and a system event exist.
    let app = TestApp::spawn(db).await;
    app.stop().await;
    let store = migrated(db);
    append(&store, "case:c1", 1, Some("acme"));
    append(&store, "case:c1", 2, Some("acme"));
    let bin = rapport_bin!();
    let dir = db.data_dir().to_str().unwrap().to_owned();
    let out = db.data_dir().join("case.jsonl");
    let base = [
        "--data-dir",
        dir.as_str(),
        "--database-url",
        db.url.as_str(),
    ];

    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain([
            "audit",
            "export",
            "--case",
            "c1",
            "--out",
            out.to_str().unwrap(),
        ])
        .collect();
    let exported = run_rapport(bin, &args, &[]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(String::from_utf8_lossy(&exported.stdout).contains("exported 2 events in 1 streams"));
    assert!(!db.data_dir().join("case.jsonl.partial").exists());

    let key = run_rapport(
        bin,
        &base
            .iter()
            .copied()
            .chain(["audit", "public-key"])
            .collect::<Vec<_>>(),
        &[],
    );
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("ed25519:"), "{key}");

    // An auditor's machine has no configuration: only the file and the key.
    let verify = run_rapport(
        bin,
        &[
            "audit",
            "verify",
            out.to_str().unwrap(),
            "--public-key",
            &key,
        ],
        &[],
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).starts_with("OK: 2 events in 1 streams"));

    // Tampering is reported with the line and exit status 1.
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&out, text.replacen("\"step\":1", "\"step\":7", 1)).unwrap();
    let verify = run_rapport(
        bin,
        &[
            "audit",
            "verify",
            out.to_str().unwrap(),
            "--public-key",
            &key,
        ],
        &[],
    );
    assert_eq!(verify.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(stdout.starts_with("FAILED: line 1: "), "{stdout}");
    assert!(stdout.contains("altered"), "{stdout}");

    // The whole log, including the schema migrations the server recorded.
    let all = db.data_dir().join("all.csv");
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain([
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            all.to_str().unwrap(),
        ])
        .collect();
    assert!(run_rapport(bin, &args, &[]).status.success());
    let csv = std::fs::read_to_string(&all).unwrap();
    assert!(csv.contains("system.schema_migrated"), "{csv}");
    let verify = run_rapport(
        bin,
        &base
            .iter()
            .copied()
            .chain(["audit", "verify", all.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &[],
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn verify_without_a_key_on_an_auditors_machine_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.jsonl");
    std::fs::write(&file, "{}\n").unwrap();
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "audit",
            "verify",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--public-key"));
    assert!(
        !dir.path().join("secrets").exists(),
        "verify must not create a key"
    );
}

e2e_test!(paging_crosses_stream_boundaries_without_losing_or_repeating_events);
async fn paging_crosses_stream_boundaries_without_losing_or_repeating_events(db: &TestDatabase) {
    let store = migrated(db);
    for (stream, count) in [("case:a", 4), ("case:b", 1), ("case:c", 5), ("system", 2)] {
        for step in 0..count {
            append(&store, stream, step, None);
        }
    }
    let query = rapport_store::audit::ExportQuery {
        streams: rapport_store::audit::StreamSelection::All,
        from: None,
        to: None,
    };
    let mut conn = store.conn().unwrap();
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let (page, next) =
            rapport_store::audit::export_page(&mut conn, &query, cursor.as_ref(), 3).unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.into_iter().map(|e| (e.stream.to_string(), e.seq)));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let mut expected = Vec::new();
    for (stream, count) in [
        ("case:a", 4u64),
        ("case:b", 1),
        ("case:c", 5),
        ("system", 2),
    ] {
        expected.extend((1..=count).map(|seq| (stream.to_owned(), seq)));
    }
    assert_eq!(seen, expected);
}

/// The check every end-to-end test ends with catches an audit event
/// edited behind the database's back.
#[actix_web::test]
async fn the_closing_invariants_catch_a_rewritten_audit_event() {
    use diesel::Connection;
    let db = TestDatabase::create(Backend::Sqlite).expect("SQLite always works");
    let app = TestApp::spawn(&db).await;
    let _ = super::directory::world(&app, &db).await;
    app.stop().await;
    rapport_tests::invariants::check(&db);

    let path = db.sqlite_path().expect("a SQLite file");
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("DROP TRIGGER audit_events_no_update")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "UPDATE audit_events SET data = '{\"edited\":true}' \
         WHERE seq = 1 AND stream = (SELECT MIN(stream) FROM audit_events)",
    )
    .execute(&mut conn)
    .unwrap();
    let caught = std::panic::catch_unwind(|| rapport_tests::invariants::check(&db));
    assert!(caught.is_err(), "a rewritten event is caught");
}
