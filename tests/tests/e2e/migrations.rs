use rapport_store::{PoolOptions, Readiness, Store};
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test, rapport_bin, run_rapport};

fn connect(url: &str) -> Store {
    let url = rapport_store::DatabaseUrl::parse(url).unwrap();
    Store::connect(&url, &PoolOptions::default()).expect("database reachable")
}

e2e_test!(empty_database_migrates_and_a_second_run_is_a_no_op);
async fn empty_database_migrates_and_a_second_run_is_a_no_op(db: &TestDatabase) {
    let store = connect(&db.url);
    assert!(matches!(
        store.readiness(std::time::Duration::from_secs(2)).unwrap(),
        Readiness::MigrationsPending(pending) if !pending.is_empty()
    ));
    let first = store.migrate().unwrap();
    assert!(!first.applied.is_empty());
    let second = store.migrate().unwrap();
    assert!(
        second.applied.is_empty(),
        "re-run applied {:?}",
        second.applied
    );
    assert_eq!(
        store.readiness(std::time::Duration::from_secs(2)).unwrap(),
        Readiness::Ready
    );
}

e2e_test!(rapport_migrate_applies_once_then_reports_the_schema_current);
async fn rapport_migrate_applies_once_then_reports_the_schema_current(db: &TestDatabase) {
    let bin = rapport_bin!();
    let args = ["--database-url", db.url.as_str(), "migrate"];
    let first = run_rapport(bin, &args, &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("applied migration"), "{out}");

    let second = run_rapport(bin, &args, &[]);
    assert!(second.status.success());
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.contains("schema is current"), "{out}");

    // A server started on the migrated database is ready at once.
    let app = TestApp::spawn_with(db, |s| s.database.migrate_on_start = false).await;
    assert_eq!(app.get("/readyz").await.status, 200);
}

e2e_test!(nodes_migrating_at_once_apply_each_migration_exactly_once);
async fn nodes_migrating_at_once_apply_each_migration_exactly_once(db: &TestDatabase) {
    let url = db.url.clone();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || connect(&url).migrate())
        })
        .collect();
    let reports: Vec<_> = runs
        .into_iter()
        .map(|t| t.join().unwrap().expect("every node's migrate succeeds"))
        .collect();
    let applying: Vec<_> = reports.iter().filter(|r| !r.applied.is_empty()).collect();
    assert_eq!(applying.len(), 1, "exactly one node applies: {reports:?}");
}
