//! The holes found when Rapport was attacked from outside, each closed:
//! article scope, sign-in lockout, forwarded addresses, case hand-offs,
//! staff-only fields, message limits, file permissions, a full disk and
//! connection floods.

use rapport_tests::TestDatabase;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use rapport_tests::small_disk::SmallDisk;
use rapport_tests::{Backend, ChatClient, RapportProcess, TestApp, e2e_test, rapport_bin, seed};
use serde_json::{Value, json};

use super::directory::{ok, world};

/// The audit events of one action, oldest first, as the admin exports them.
async fn events(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let export = app.get_as(admin, "/api/v1/audit/export").await;
    assert_eq!(export.status, 200);
    String::from_utf8(export.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == action)
        .collect()
}

e2e_test!(an_article_update_changes_only_what_it_is_given_and_never_widens_its_audience);
async fn an_article_update_changes_only_what_it_is_given_and_never_widens_its_audience(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let created = ok(app.post_as(&w.agent_in, "/api/v1/kb/articles", &json!({"title": "Acme escalation desk", "body": "Call +49 30 555.", "visibility": "restricted", "audience_accounts": [w.acme], "status": "published"})).await, 201).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/kb/articles/{id}");
    // Title and body alone used to reset the article to every client.
    let problem = app
        .send(
            Method::PUT,
            &path,
            Some(json!({"title": "Acme escalation desk", "body": "Call +49 30 556."}).to_string()),
            Some(&w.agent_in),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "visibility");
    let problem = app.send(Method::PUT, &path, Some(json!({"title": "T", "body": "B", "visibility": "restricted", "audience_accounts": [w.acme]}).to_string()), Some(&w.agent_in)).await.assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "status");
    let article = app.get_as(&w.agent_in, &path).await.json();
    assert_eq!(article["visibility"], "restricted");
    assert_eq!(article["revision"], 1, "nothing was written");
    app.get_as(&w.contact_out, &path)
        .await
        .assert_problem(404, "not_found");

    // An agent of another team may correct the text, not who reads it.
    let text_only = json!({"title": "Acme escalation desk", "body": "Call +49 30 557.", "visibility": "restricted", "audience_accounts": [w.acme], "status": "published"});
    assert_eq!(
        app.send(
            Method::PUT,
            &path,
            Some(text_only.to_string()),
            Some(&w.agent_out)
        )
        .await
        .status,
        200
    );
    let widened = json!({"title": "Acme escalation desk", "body": "Call +49 30 557.", "visibility": "contacts", "status": "published"});
    app.send(
        Method::PUT,
        &path,
        Some(widened.to_string()),
        Some(&w.agent_out),
    )
    .await
    .assert_problem(403, "forbidden");
    // Nor restrict a new article to an account they do not serve.
    app.post_as(&w.agent_out, "/api/v1/kb/articles", &json!({"title": "For Acme", "body": "x", "visibility": "restricted", "audience_accounts": [w.acme], "status": "draft"})).await.assert_problem(403, "forbidden");
    app.get_as(&w.contact_out, &path)
        .await
        .assert_problem(404, "not_found");
    // The account's own team and admins may.
    assert_eq!(
        app.send(
            Method::PUT,
            &path,
            Some(widened.to_string()),
            Some(&w.agent_in)
        )
        .await
        .status,
        200
    );
    assert_eq!(app.get_as(&w.contact_out, &path).await.status, 200);
}

e2e_test!(failures_from_one_address_never_lock_a_person_out_from_another);
async fn failures_from_one_address_never_lock_a_person_out_from_another(db: &TestDatabase) {
    let app =
        TestApp::spawn_with(db, |s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let (email, password) = seed::staff(db, "agent");
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let attempt = |password: String, ip: &'static str| {
        let body = json!({"email": email, "password": password}).to_string();
        let app = &app;
        async move {
            app.send_with_headers(
                Method::POST,
                "/api/v1/auth/login",
                Some(body),
                None,
                &from(ip),
            )
            .await
        }
    };
    let mut refused = false;
    for _ in 0..9 {
        let res = attempt("wrong guess".into(), "198.51.100.66").await;
        refused |= res.status == 429;
        assert!(res.status == 401 || res.status == 429, "{}", res.status);
    }
    assert!(refused, "the guessing address is slowed down");
    assert_eq!(
        attempt("wrong guess".into(), "198.51.100.66").await.status,
        429
    );
    // The owner, elsewhere, signs in at once.
    let res = attempt(password.clone(), "203.0.113.10").await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));

    // Sign-in links: always 202, however often, and sending stops.
    let mailbox = db.data_dir().join("mailbox");
    let sent = || std::fs::read_dir(&mailbox).map(|d| d.count()).unwrap_or(0);
    let w = world(&app, db).await;
    let before = sent();
    for _ in 0..40 {
        let res = app
            .post_json(
                "/api/v1/auth/contact/magic-link",
                &json!({"email": "anna@acme.example"}),
            )
            .await;
        assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    }
    let links = sent() - before;
    assert!(
        (1..40).contains(&links),
        "{links} links sent for 40 requests"
    );
    drop(w);
}

e2e_test!(forwarded_addresses_count_only_from_trusted_proxies);
async fn forwarded_addresses_count_only_from_trusted_proxies(db: &TestDatabase) {
    let forged = [("x-forwarded-for", "192.0.2.66")];
    let body = json!({"email": "nobody@support.example", "password": "wrong"}).to_string();
    // No trusted proxy: the header is the client's own words and ignored.
    let app = TestApp::spawn(db).await;
    let admin = app.token_for(db, "admin").await;
    app.send_with_headers(
        Method::POST,
        "/api/v1/auth/login",
        Some(body.clone()),
        None,
        &forged,
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let failed = events(&app, &admin, "auth.login_failed").await;
    assert_eq!(failed.last().unwrap()["data"]["ip"], "127.0.0.1");
    app.stop().await;

    // Behind a trusted proxy, its header names the client.
    let app = TestApp::spawn_with(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()]
    })
    .await;
    app.send_with_headers(
        Method::POST,
        "/api/v1/auth/login",
        Some(body.clone()),
        None,
        &forged,
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let failed = events(&app, &admin, "auth.login_failed").await;
    assert_eq!(failed.last().unwrap()["data"]["ip"], "192.0.2.66");
    app.stop().await;

    // The request log agrees; the environment takes a comma-separated list.
    let env = [
        ("RAPPORT_SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ("RAPPORT_LOG__FORMAT", "json"),
    ];
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let addr = server.wait_ready(Duration::from_secs(30));
    let res = rapport_tests::send_to(
        &format!("http://{addr}"),
        Method::GET,
        "/api/v1/instance",
        None,
        None,
        &[("x-forwarded-for", "198.51.100.23")],
    )
    .await;
    assert_eq!(res.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let log = server.stderr_text();
        let line = log
            .lines()
            .find(|l| l.contains("request served") && l.contains("/api/v1/instance"))
            .map(str::to_owned);
        if let Some(line) = line {
            break line;
        }
        assert!(Instant::now() < deadline, "no request line: {log}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(logged.contains("198.51.100.23"), "{logged}");
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(30));
}

e2e_test!(a_case_goes_only_to_teams_and_people_who_can_see_it);
async fn a_case_goes_only_to_teams_and_people_who_can_see_it(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}", w.acme_case);
    let patch = |body: Value| {
        app.send(
            Method::PATCH,
            &path,
            Some(body.to_string()),
            Some(&w.agent_in),
        )
    };
    let problem = patch(json!({"team_id": w.team_out}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "team_id");
    let problem = patch(json!({"assignee_id": w.agent_out_id}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "assignee_id");
    let case = ok(
        patch(json!({"team_id": w.team_in, "assignee_id": w.agent_in_id})).await,
        200,
    )
    .await;
    assert_eq!(case["assignee_id"], w.agent_in_id.as_str());
    assert_eq!(app.get_as(&w.agent_in, &path).await.status, 200);
    // Once the account moves to the other team, the case may follow it.
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", w.acme),
            Some(json!({"team_id": w.team_out}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let case = ok(
        app.send(
            Method::PATCH,
            &path,
            Some(json!({"team_id": w.team_out, "assignee_id": w.agent_out_id}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(case["team_id"], w.team_out.as_str());
}

e2e_test!(contacts_cannot_set_what_only_staff_decide);
async fn contacts_cannot_set_what_only_staff_decide(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    for (field, value) in [
        ("priority", json!("urgent")),
        ("channel", json!("phone")),
        ("email_contacts", json!(true)),
    ] {
        let mut body = json!({"subject": "Refund for invoice 88", "body": "Please refund."});
        body[field] = value;
        let problem = app
            .post_as(&w.contact_in, "/api/v1/cases", &body)
            .await
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["field"], field);
    }
    let mine = app.get_as(&w.contact_in, "/api/v1/cases").await.json();
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        1,
        "nothing was opened: {mine}"
    );
    // Staff may.
    let opened = ok(app.post_as(&w.agent_in, "/api/v1/cases", &json!({"account_id": w.acme, "subject": "Call log", "body": "Anna called.", "priority": "urgent", "channel": "phone"})).await, 201).await;
    assert_eq!(opened["case"]["priority"], "urgent");
}

e2e_test!(one_message_limit_holds_at_every_door);
async fn one_message_limit_holds_at_every_door(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.cases.max_message_chars = 200).await;
    let w = world(&app, db).await;
    let (fits, too_long) = ("x".repeat(200), "x".repeat(201));
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    let problem = app
        .post_as(
            &w.contact_in,
            &entries,
            &json!({"kind": "portal", "body": too_long}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "body");
    let problem = app
        .post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Long", "body": too_long}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "body");
    let posted = ok(
        app.post_as(
            &w.agent_in,
            &entries,
            &json!({"kind": "note", "body": fits}),
        )
        .await,
        201,
    )
    .await;
    let entry = posted["entry"]["id"].as_str().unwrap();
    let problem = app
        .send(
            Method::PATCH,
            &format!("{entries}/{entry}"),
            Some(json!({"body": too_long}).to_string()),
            Some(&w.agent_in),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "body");
    let (mut chat, hello) = ChatClient::connect(&app, &w.contact_in).await;
    assert_eq!(hello["limits"]["max_message_chars"], 200);
    chat.join(&w.acme_case, None).await;
    chat.send(json!({"type": "send", "case_id": w.acme_case, "client_message_id": "long-1", "body": too_long})).await;
    assert_eq!(chat.next_of("error").await["code"], "message_too_long");
    assert_eq!(chat.say(&w.acme_case, "fits-1", &fits).await["type"], "ack");
}

e2e_test!(the_database_and_the_data_directory_are_private);
async fn the_database_and_the_data_directory_are_private(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // Some writes, so that SQLite has its journal files.
    ok(
        app.post_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
            &json!({"kind": "portal", "body": "Any news?"}),
        )
        .await,
        201,
    )
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(db.data_dir()), 0o700);
    if db.backend == Backend::Sqlite {
        let file = db.sqlite_path().unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    // A database left readable by an older version is made private.
    app.stop().await;
    std::fs::set_permissions(db.data_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if let Some(file) = db.sqlite_path() {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let app = TestApp::spawn(db).await;
    assert_eq!(mode(db.data_dir()), 0o700);
    if let Some(file) = db.sqlite_path() {
        assert_eq!(mode(&file), 0o600);
    }
    app.stop().await;
}

e2e_test!(a_full_disk_answers_storage_full_and_readiness_says_so);
async fn a_full_disk_answers_storage_full_and_readiness_says_so(db: &TestDatabase) {
    // SQLite: the data directory, database included, on the small disk;
    // PostgreSQL: the database's tablespace.
    let disk = match db.backend {
        Backend::Sqlite => SmallDisk::mount_at(db.data_dir(), 48),
        Backend::Postgres => {
            let disk = SmallDisk::mount(48);
            db.move_to_tablespace(&disk.dir_for("tablespace", "postgres"));
            disk
        }
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let entries = format!("/api/v1/cases/{}/entries", w.acme_case);
    assert_eq!(app.get("/readyz").await.status, 200);
    disk.fill();
    // Readiness sees the full data directory (SQLite) at once; on
    // PostgreSQL, the first write that fails tells it.
    let mut refused = None;
    for n in 0..5_000 {
        let res = app
            .post_as(
                &w.contact_in,
                &entries,
                &json!({"kind": "portal", "body": format!("Reading {n}: {}", "z".repeat(9_000))}),
            )
            .await;
        if res.status != 201 {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("a write fails once the disk is full");
    let problem = refused.assert_problem(503, "storage_full");
    assert!(
        problem["detail"].as_str().unwrap().contains("retry"),
        "{problem}"
    );
    assert_eq!(refused.header("retry-after"), Some("30"));
    app.get("/readyz").await.assert_problem(503, "storage_full");
    // Reads still work; nothing acknowledged was lost.
    let before = app
        .get_as(&w.agent_in, &format!("{entries}?limit=100"))
        .await;
    assert_eq!(before.status, 200);

    disk.free();
    let res = app
        .post_as(
            &w.contact_in,
            &entries,
            &json!({"kind": "portal", "body": "Room again?"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(app.get("/readyz").await.status, 200);
    app.stop().await;
    // The database goes before its disk does: a tablespace unmounted under
    // a running PostgreSQL leaves its checkpointer files it cannot fsync,
    // and it stops the whole server.
    if db.backend == Backend::Postgres {
        db.destroy();
    }
}

e2e_test!(chat_connections_per_person_are_capped);
async fn chat_connections_per_person_are_capped(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.chat.max_connections_per_person = 2).await;
    let w = world(&app, db).await;
    let (first, _) = ChatClient::connect(&app, &w.contact_in).await;
    let (_second, _) = ChatClient::connect(&app, &w.contact_in).await;
    let problem = app
        .post_as(&w.contact_in, "/api/v1/chat/ticket", &json!({}))
        .await
        .assert_problem(429, "too_many_connections");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("2 chat connections"),
        "{problem}"
    );
    // Others are not affected.
    let (_colleague, _) = ChatClient::connect(&app, &w.agent_in).await;
    // Tickets taken together before connecting: the extra one is closed.
    first.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let ticket = loop {
        let res = app
            .post_as(&w.contact_in, "/api/v1/chat/ticket", &json!({}))
            .await;
        if res.status == 201 {
            break res.json()["ticket"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's place was not freed"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    let spare = rapport_tests::chat_client::ticket(&app.base_url, &w.contact_in).await;
    let mut third = ChatClient::connect_with_ticket(&app.base_url, &ticket)
        .await
        .unwrap();
    assert_eq!(third.next_of("hello").await["type"], "hello");
    let mut fourth = ChatClient::connect_with_ticket(&app.base_url, &spare)
        .await
        .unwrap();
    while fourth.recv().await.is_some() {}
    assert_eq!(
        fourth.closed,
        Some(4029),
        "over the cap, the connection is closed with 4029"
    );
}
