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

e2e_test!(a_server_waiting_for_migrations_answers_503_until_they_run);
async fn a_server_waiting_for_migrations_answers_503_until_they_run(db: &TestDatabase) {
    let env = [("RAPPORT_DATABASE__MIGRATE_ON_START", "false")];
    let mut server = rapport_tests::RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let base = format!(
        "http://{}",
        server.wait_ready(std::time::Duration::from_secs(60))
    );
    let client = awc::Client::new();
    let login = || {
        rapport_tests::http::call(
            &client,
            "POST",
            format!("{base}/api/v1/auth/login"),
            None,
            Some(serde_json::json!({"email": "nobody@support.example", "password": "a password"})),
        )
    };
    // Every API request says why, instead of failing on a missing table.
    let (status, problem) = login().await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "migrations_pending");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("rapport migrate")
    );
    let (status, _) = rapport_tests::http::call(
        &client,
        "GET",
        format!("{base}/api/v1/instance"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 503);
    let (status, _) =
        rapport_tests::http::call(&client, "GET", format!("{base}/healthz"), None, None).await;
    assert_eq!(status, 200, "the process itself is alive");

    // A dry run lists what would run and changes nothing.
    let args = ["--database-url", db.url.as_str(), "migrate", "--dry-run"];
    let dry = run_rapport(rapport_bin!(), &args, &[]);
    assert!(dry.status.success());
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        out.contains("would apply migration") && out.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(login().await.0, 503);

    // Migrated: within seconds the server serves again.
    let migrated = run_rapport(
        rapport_bin!(),
        &["--database-url", db.url.as_str(), "migrate"],
        &[],
    );
    assert!(migrated.status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, body) = login().await;
        if status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    server.signal("TERM");
    server.wait_exit(std::time::Duration::from_secs(20));
    let log = server.stderr_text();
    assert_eq!(
        log.matches("migrations are pending").count(),
        1,
        "said once: {log}"
    );
    assert!(log.contains("schema is current now"), "{log}");
}

e2e_test!(a_binary_older_than_the_schema_refuses_to_start_and_names_both_versions);
async fn a_binary_older_than_the_schema_refuses_to_start_and_names_both_versions(
    db: &TestDatabase,
) {
    use diesel::RunQueryDsl;
    let store = connect(&db.url);
    store.migrate().unwrap();
    // A newer release ran a migration this binary does not have.
    diesel::sql_query(
        "INSERT INTO __diesel_schema_migrations (version, run_on) VALUES ('20991231000001', CURRENT_TIMESTAMP)",
    )
    .execute(&mut *store.conn().unwrap())
    .unwrap();
    drop(store);
    let serve = run_rapport(
        rapport_bin!(),
        &[
            "--database-url",
            db.url.as_str(),
            "--bind",
            "127.0.0.1:0",
            "serve",
        ],
        &[],
    );
    assert!(!serve.status.success(), "an older binary does not serve");
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(
        err.contains("20991231000001"),
        "names the database's migration: {err}"
    );
    let newest: String =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .max()
            .unwrap()
            .chars()
            .take_while(|c| *c != '_')
            .filter(char::is_ascii_digit)
            .collect();
    assert!(
        err.contains(&newest),
        "and the newest this binary knows ({newest}): {err}"
    );
    let migrate = run_rapport(
        rapport_bin!(),
        &["--database-url", db.url.as_str(), "migrate"],
        &[],
    );
    assert!(!migrate.status.success());
    assert!(String::from_utf8_lossy(&migrate.stderr).contains("newer than this binary"));
}

/// The least-privilege setup of docs/operations.md: migrations as the
/// owner, the server as a role that owns nothing. It works, it cannot
/// rewrite the audit log, and only the superuser is warned about.
#[actix_web::test]
async fn a_server_role_that_owns_nothing_runs_and_cannot_rewrite_the_audit_log() {
    use diesel::{Connection, RunQueryDsl};
    let Some(db) = rapport_tests::TestDatabase::create(rapport_tests::Backend::Postgres) else {
        return;
    };
    // As the superuser the tests connect as: warned at start.
    let mut server = rapport_tests::RapportProcess::serve(rapport_bin!(), &db, &[], &[]);
    server.wait_ready(std::time::Duration::from_secs(30));
    let log = server.stderr_text();
    assert!(log.contains("the database role is a superuser"), "{log}");
    drop(server);

    let role = format!("rapport_app_{}", uuid::Uuid::now_v7().simple());
    let mut owner = diesel::PgConnection::establish(&db.url).unwrap();
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM {role}"),
        format!("REVOKE DELETE, TRUNCATE ON audit_streams, audit_tree_leaves FROM {role}"),
    ] {
        diesel::sql_query(sql).execute(&mut owner).unwrap();
    }
    let app_url = db
        .url
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(app_url, db.url, "the test database URL names its user");
    let app = TestApp::spawn_with(&db, |s| {
        s.database.url = Some(app_url.clone());
        s.database.migrate_on_start = false;
    })
    .await;
    // The whole directory and a case, with their audit events, work.
    let w = super::directory::world(&app, &db).await;
    assert!(!w.acme_case.is_empty());
    let mut as_app = diesel::PgConnection::establish(&app_url).unwrap();
    let risks = rapport_store::privileges::audit_risks(&mut rapport_store::DbConnection::Postgres(
        diesel::PgConnection::establish(&app_url).unwrap(),
    ))
    .unwrap();
    assert!(risks.is_empty(), "{risks:?}");
    // What an attacker with the server's credentials would try.
    for attempt in [
        "UPDATE audit_events SET data = data",
        "DELETE FROM audit_events",
        "SET session_replication_role = replica",
        "DROP TRIGGER audit_events_no_update_or_delete ON audit_events",
    ] {
        let refused = diesel::sql_query(attempt).execute(&mut as_app);
        assert!(refused.is_err(), "{attempt} was allowed");
    }
    app.stop().await;
    diesel::sql_query(format!("DROP OWNED BY {role}"))
        .execute(&mut owner)
        .unwrap();
    diesel::sql_query(format!("DROP ROLE {role}"))
        .execute(&mut owner)
        .unwrap();
}
