use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use rapport_tests::{Backend, RapportProcess, TestDatabase, e2e_test, rapport_bin, run_rapport};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> u16 {
    let client = awc::Client::default();
    client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .expect("server answers")
        .status()
        .as_u16()
}

e2e_test!(serve_answers_and_stops_gracefully_on_sigterm);
async fn serve_answers_and_stops_gracefully_on_sigterm(db: &TestDatabase) {
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    let addr = server.wait_ready(Duration::from_secs(60));
    assert_eq!(http_get(addr, "/healthz").await, 200);
    assert_eq!(http_get(addr, "/readyz").await, 200);
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        server.stderr_text()
    );
    assert!(
        server.stderr_text().contains("Rapport stopped"),
        "{}",
        server.stderr_text()
    );
    // The binary built here has SQLite as `.cargo/config.toml` builds it.
    assert!(
        !server.stderr_text().contains("SQLite was built without"),
        "{}",
        server.stderr_text()
    );
}

e2e_test!(serve_stops_gracefully_on_sigint);
async fn serve_stops_gracefully_on_sigint(db: &TestDatabase) {
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    server.wait_ready(Duration::from_secs(60));
    server.signal("INT");
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        server.stderr_text()
    );
}

#[test]
fn malformed_config_file_stops_startup_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.toml");
    std::fs::write(&file, "[database]\npool_max_size = \"ten\"\n").unwrap();
    let out = run_rapport(
        rapport_bin!(),
        &["--config", file.to_str().unwrap(), "serve"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("`database.pool_max_size`"), "{err}");
    assert!(err.contains("u32"), "{err}");
}

#[test]
fn toml_syntax_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "[server\nbind = 1\n").unwrap();
    let out = run_rapport(
        rapport_bin!(),
        &["--config", file.to_str().unwrap(), "serve"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn misspelled_environment_variable_is_named_in_the_error() {
    let out = run_rapport(
        rapport_bin!(),
        &["check-config"],
        &[("RAPPORT_LOG__FORMATT", "json")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("`log.formatt`"), "{err}");
    assert!(err.contains("RAPPORT_LOG__FORMATT"), "{err}");
}

#[test]
fn missing_config_file_is_reported() {
    let out = run_rapport(
        rapport_bin!(),
        &["--config", "/nonexistent/rapport.toml", "serve"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("/nonexistent/rapport.toml does not exist"));
}

#[test]
fn production_mode_without_a_signing_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_rapport(
        rapport_bin!(),
        &["--data-dir", dir.path().to_str().unwrap(), "serve"],
        &[("RAPPORT_MODE", "production")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("`auth.jwt_secret`"), "{err}");
    assert!(err.contains("RAPPORT_AUTH__JWT_SECRET"), "{err}");
}

#[test]
fn unreachable_postgres_fails_fast_with_the_real_reason() {
    let started = std::time::Instant::now();
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--database-url",
            "postgres://rapport:hunter2@127.0.0.1:1/rapport",
            "migrate",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(!err.contains("hunter2"), "password leaked: {err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn busy_port_is_reported_with_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--data-dir",
            db.data_dir().to_str().unwrap(),
            "--bind",
            &addr,
            "serve",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(err.contains("--bind"), "{err}");
}

#[test]
fn check_config_shows_effective_settings_without_secrets() {
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--database-url",
            "postgres://rapport:s3cret-pw@db.internal/rapport",
            "check-config",
        ],
        &[
            (
                "RAPPORT_AUTH__JWT_SECRET",
                "0123456789abcdef0123456789abcdef-very-secret",
            ),
            ("RAPPORT_LOG__FORMAT", "json"),
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: toml::Table = text.parse().expect("check-config prints TOML");
    assert_eq!(parsed["log"]["format"].as_str(), Some("json"));
    assert_eq!(
        parsed["database"]["url"].as_str(),
        Some("postgres://rapport:***@db.internal/rapport")
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(!text.contains("very-secret"), "{text}");
}

#[test]
fn help_lists_commands_and_the_environment_variables() {
    let out = run_rapport(rapport_bin!(), &["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "serve",
        "migrate",
        "check-config",
        "version",
        "RAPPORT_DATABASE_URL",
        "RAPPORT_BIND",
        "RAPPORT_DATA_DIR",
        "RAPPORT_<SECTION>__<KEY>",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = run_rapport(rapport_bin!(), &["version"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

e2e_test!(embedded_mode_generates_a_private_secret_once);
async fn embedded_mode_generates_a_private_secret_once(db: &TestDatabase) {
    let mut first = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    first.wait_ready(Duration::from_secs(60));
    first.signal("TERM");
    first.wait_exit(Duration::from_secs(20));
    let key = db.data_dir().join("secrets/jwt.key");
    let meta = std::fs::metadata(&key).expect("secret generated");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(db.data_dir().join("secrets"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "secrets dir is private");
    let content = std::fs::read_to_string(&key).unwrap();
    assert!(!first.stderr_text().contains(&content), "secret was logged");

    let mut second = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    second.wait_ready(Duration::from_secs(60));
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        content,
        "secret is reused"
    );
}

e2e_test!(json_logs_are_one_object_per_line);
async fn json_logs_are_one_object_per_line(db: &TestDatabase) {
    let mut server =
        RapportProcess::serve(rapport_bin!(), db, &[], &[("RAPPORT_LOG__FORMAT", "json")]);
    let addr = server.wait_ready(Duration::from_secs(60));
    assert_eq!(http_get(addr, "/readyz").await, 200);
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(20));
    let logs = server.stderr_text();
    let mut saw_request = false;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value["message"] == "request served" {
            saw_request = true;
            assert!(value["span"]["request_id"].is_string(), "{line}");
        }
    }
    assert!(saw_request, "no request log line:\n{logs}");
}

/// Operators set the short forms and section keys in the environment;
/// unrelated RAPPORT_ variables of the test harness are not settings.
#[test]
fn settings_from_the_environment_are_taken_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.toml");
    std::fs::write(&file, "[instance]\nname = \"From File\"\n").unwrap();
    let data = dir.path().join("data");
    let out = run_rapport(
        rapport_bin!(),
        &["check-config"],
        &[
            ("RAPPORT_CONFIG", file.to_str().unwrap()),
            (
                "RAPPORT_DATABASE_URL",
                "postgres://rapport:pw@db.internal/rapport",
            ),
            ("RAPPORT_BIND", "0.0.0.0:9090"),
            ("RAPPORT_DATA_DIR", data.to_str().unwrap()),
            ("RAPPORT_LOG__LEVEL", "debug"),
            (
                "RAPPORT_TEST_POSTGRES",
                "postgres://postgres@127.0.0.1/postgres",
            ),
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let parsed: toml::Table = String::from_utf8_lossy(&out.stdout).parse().unwrap();
    assert_eq!(parsed["instance"]["name"].as_str(), Some("From File"));
    assert_eq!(
        parsed["database"]["url"].as_str(),
        Some("postgres://rapport:***@db.internal/rapport")
    );
    assert_eq!(parsed["server"]["bind"].as_str(), Some("0.0.0.0:9090"));
    assert_eq!(parsed["data_dir"].as_str(), data.to_str());
    assert_eq!(parsed["log"]["level"].as_str(), Some("debug"));
}
