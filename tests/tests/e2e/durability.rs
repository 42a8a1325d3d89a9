use rapport_tests::TestDatabase;
use std::time::Duration;

use rapport_tests::http::{call, password_sign_in};
use rapport_tests::{RapportProcess, e2e_test, rapport_bin, seed};
use serde_json::json;

e2e_test!(an_acknowledged_entry_survives_a_killed_server);
async fn an_acknowledged_entry_survives_a_killed_server(db: &TestDatabase) {
    let (email, password) = seed::staff(db, "admin");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    let base = format!("http://{}", server.wait_ready(Duration::from_secs(60)));
    let token = password_sign_in(&client, &base, &email, &password).await;
    let (status, account) = call(
        &client,
        "POST",
        format!("{base}/api/v1/accounts"),
        Some(&token),
        Some(json!({"name": "Durable GmbH"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, opened) = call(
        &client,
        "POST",
        format!("{base}/api/v1/cases"),
        Some(&token),
        Some(json!({"account_id": account["id"], "subject": "Kept", "body": "first"})),
    )
    .await;
    assert_eq!(status, 201);
    let case = opened["case"]["id"].as_str().unwrap().to_owned();
    let (status, posted) = call(&client, "POST", format!("{base}/api/v1/cases/{case}/entries"), Some(&token), Some(json!({"kind": "note", "body": "acknowledged just before the crash", "client_message_id": "m-1"}))).await;
    assert_eq!(status, 201);
    // No graceful shutdown: the process dies right after acknowledging.
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));

    let mut again = RapportProcess::serve(rapport_bin!(), db, &[], &[]);
    let base = format!("http://{}", again.wait_ready(Duration::from_secs(60)));
    let (_, thread) = call(
        &client,
        "GET",
        format!("{base}/api/v1/cases/{case}/entries"),
        Some(&token),
        None,
    )
    .await;
    let items = thread["items"].as_array().unwrap();
    assert!(
        items.iter().any(|e| e["id"] == posted["entry"]["id"]),
        "the acknowledged entry is there"
    );
    // The retry a client makes after losing the answer stores nothing new.
    let (status, retried) = call(&client, "POST", format!("{base}/api/v1/cases/{case}/entries"), Some(&token), Some(json!({"kind": "note", "body": "acknowledged just before the crash", "client_message_id": "m-1"}))).await;
    assert_eq!(status, 200);
    assert_eq!(retried["entry"]["id"], posted["entry"]["id"]);
    // Its audit event survived with it, and the chain verifies.
    let (_, key) = call(
        &client,
        "GET",
        format!("{base}/api/v1/audit/public-key"),
        None,
        None,
    )
    .await;
    let key =
        rapport_audit::AuditPublicKey::parse(key["verify_argument"].as_str().unwrap()).unwrap();
    let mut res = client
        .get(format!("{base}/api/v1/audit/export?case={case}"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    let export = res.body().limit(1 << 24).await.unwrap();
    let report = rapport_audit::verify_export(&export[..], &key).unwrap();
    assert!(report.events >= 2);
    assert!(String::from_utf8_lossy(&export).contains(posted["entry"]["id"].as_str().unwrap()));
}

/// The hold switch of the SQLite flusher: while the file exists, batches
/// commit to the WAL but nothing is synced to disk. Everything a client
/// sends meanwhile must go unanswered and reach no one else, a read that
/// could see it must not be answered either; after a kill each write is
/// kept at most once (the kernel may still have written it), and a retry
/// is taken exactly once.
mod held_commits {
    use super::*;
    use rapport_tests::chat_client::ChatClient;
    use rapport_tests::{Backend, rapport_bin};

    const QUIET: Duration = Duration::from_millis(1500);

    struct Scene {
        base: String,
        token: String,
        case: String,
        lmtp: std::net::SocketAddr,
    }

    fn mail(id: &str) -> Vec<u8> {
        format!(
            "From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Held {id}\r\nMessage-ID: <{id}@acme.example>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\nThe March invoice, {id}.\r\n"
        )
        .into_bytes()
    }

    async fn scene(server: &mut RapportProcess, db: &TestDatabase, client: &awc::Client) -> Scene {
        let base = format!("http://{}", server.wait_ready(Duration::from_secs(60)));
        let lmtp = server.lmtp_addr().expect("LMTP listening");
        let (email, password) = seed::staff(db, "admin");
        let token = password_sign_in(client, &base, &email, &password).await;
        let (status, account) = call(
            client,
            "POST",
            format!("{base}/api/v1/accounts"),
            Some(&token),
            Some(json!({"name": "Acme Manufacturing", "domains": ["acme.example"]})),
        )
        .await;
        assert_eq!(status, 201);
        let (status, opened) = call(
            client,
            "POST",
            format!("{base}/api/v1/cases"),
            Some(&token),
            Some(json!({"account_id": account["id"], "subject": "March invoice", "body": "first"})),
        )
        .await;
        assert_eq!(status, 201);
        Scene {
            base,
            token,
            case: opened["case"]["id"].as_str().unwrap().to_owned(),
            lmtp,
        }
    }

    async fn bodies(client: &awc::Client, s: &Scene) -> Vec<String> {
        read_bodies(client.clone(), entries_url(s), s.token.clone()).await
    }

    fn entries_url(s: &Scene) -> String {
        format!("{}/api/v1/cases/{}/entries?limit=100", s.base, s.case)
    }

    async fn read_bodies(client: awc::Client, url: String, token: String) -> Vec<String> {
        let (status, thread) = call(&client, "GET", url, Some(&token), None).await;
        assert_eq!(status, 200, "{thread}");
        thread["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn inbound_message_ids(client: &awc::Client, s: &Scene) -> Vec<String> {
        let (status, inbound) = call(
            client,
            "GET",
            format!("{}/api/v1/mail/inbound?limit=100", s.base),
            Some(&s.token),
            None,
        )
        .await;
        assert_eq!(status, 200);
        inbound["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The most writes a held flush covered, as the server logged them.
    fn largest_held_flush(log: &str) -> Option<usize> {
        log.lines()
            .filter(|l| l.contains("a held flush ended"))
            .filter_map(|l| {
                l.split("writes=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .max()
    }

    /// With flushes held, sends a chat message, an HTTP note and an email
    /// whose bodies end in `tail` and ids in `n`; checks that none is
    /// answered or passed on, and returns the pending HTTP call and LMTP
    /// delivery.
    async fn send_while_held(
        hold: &std::path::Path,
        client: &awc::Client,
        s: &Scene,
        sender: &mut ChatClient,
        watcher: &mut ChatClient,
        tail: &str,
        n: &str,
    ) -> (
        actix_web::rt::task::JoinHandle<(u16, serde_json::Value)>,
        actix_web::rt::task::JoinHandle<Result<(), String>>,
    ) {
        std::fs::write(hold, b"").unwrap();
        sender.send(json!({"type": "send", "case_id": s.case, "client_message_id": format!("c-{n}"), "body": format!("chat {tail}")})).await;
        let http = actix_web::rt::spawn({
            let (client, url, token) = (
                client.clone(),
                format!("{}/api/v1/cases/{}/entries", s.base, s.case),
                s.token.clone(),
            );
            let body = json!({"kind": "note", "body": format!("note {tail}"), "client_message_id": format!("h-{n}")});
            async move { call(&client, "POST", url, Some(&token), Some(body)).await }
        });
        let lmtp = actix_web::rt::spawn(crate::mail::lmtp_send(
            s.lmtp,
            "anna@acme.example",
            &["support@rapport.localhost"],
            mail(&format!("m-{n}")),
        ));
        let heard = sender.drain(QUIET).await;
        assert!(
            heard.iter().all(|f| f["type"] != "ack"),
            "no ack before the flush: {heard:?}"
        );
        let seen = watcher.drain(Duration::from_millis(200)).await;
        assert!(
            !seen
                .iter()
                .any(|f| f["type"] == "message"
                    && f["entry"]["body"].as_str().unwrap().ends_with(tail)),
            "no fan-out before the flush: {seen:?}"
        );
        assert!(!http.is_finished(), "no HTTP answer before the flush");
        assert!(!lmtp.is_finished(), "no 250 before the flush");
        (http, lmtp)
    }

    #[actix_web::test]
    async fn nothing_is_acknowledged_before_its_commit_is_on_disk() {
        let db = TestDatabase::create(Backend::Sqlite).expect("SQLite always works");
        let hold = db.data_dir().join("hold-commits");
        let hold_env = hold.display().to_string();
        let env = [
            ("RAPPORT_MAIL__LMTP_BIND", "127.0.0.1:0"),
            (rapport_store::HOLD_COMMITS_ENV, hold_env.as_str()),
        ];
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        let mut server = RapportProcess::serve(rapport_bin!(), &db, &[], &env);
        let s = scene(&mut server, &db, &client).await;
        let (mut sender, _) = ChatClient::connect_to(&s.base, &s.token).await;
        let (mut watcher, _) = ChatClient::connect_to(&s.base, &s.token).await;
        sender.join(&s.case, None).await;
        watcher.join(&s.case, None).await;

        // 1. Held, then released: the answers come only after the flush.
        let (http, lmtp) = send_while_held(
            &hold,
            &client,
            &s,
            &mut sender,
            &mut watcher,
            "while held",
            "1",
        )
        .await;
        // The writes are committed, so a read would see them: it is not
        // answered before they are on disk either.
        let read = actix_web::rt::spawn(read_bodies(
            client.clone(),
            entries_url(&s),
            s.token.clone(),
        ));
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        assert!(!read.is_finished(), "no read answered before the flush");

        std::fs::remove_file(&hold).unwrap();
        let read = read.await.unwrap();
        assert!(
            read.iter().any(|b| b == "chat while held")
                && read.iter().any(|b| b == "note while held"),
            "the read, answered after the flush, shows what it waited for: {read:?}"
        );
        let ack = sender
            .next_where("ack", |a| a["client_message_id"] == "c-1")
            .await;
        assert_eq!(ack["duplicate"], false);
        // Both held writes reach the other connection once flushed, in
        // whichever order their batches went.
        let mut delivered = Vec::new();
        while delivered.len() < 2 {
            let m = watcher.next_of("message").await;
            delivered.push(m["entry"]["body"].as_str().unwrap().to_owned());
        }
        delivered.sort();
        assert_eq!(delivered, ["chat while held", "note while held"]);
        let (status, _) = http.await.unwrap();
        assert_eq!(status, 201);
        // The three writes were committed and waited for one held flush:
        // none was answered before it. The server logged so before
        // answering, but its log is read on another thread of this test,
        // which may not have reached the line yet.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (largest, held) = loop {
            let held = server.stderr_text();
            let largest = largest_held_flush(&held);
            if largest >= Some(3) || std::time::Instant::now() > deadline {
                break (largest, held);
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(largest >= Some(3), "held flushes: {largest:?}\n{held}");
        // Let the last frames of this round arrive before the next one.
        sender.drain(Duration::from_millis(300)).await;
        watcher.drain(Duration::from_millis(300)).await;
        lmtp.await.unwrap().expect("250 once committed");
        let now = bodies(&client, &s).await;
        assert!(
            now.iter().any(|b| b == "chat while held")
                && now.iter().any(|b| b == "note while held"),
            "{now:?}"
        );

        // 2. Held, then killed: nothing answered. A kill is not a power
        // loss: the kernel still writes what SQLite wrote to the WAL, so
        // in practice the held writes are kept, and this round proves
        // that each retry is recognised as the kept write (or, were it
        // lost, taken as new), never stored twice.
        let (http, lmtp) = send_while_held(
            &hold,
            &client,
            &s,
            &mut sender,
            &mut watcher,
            "held at the crash",
            "2",
        )
        .await;
        server.signal("KILL");
        server.wait_exit(Duration::from_secs(10));
        std::fs::remove_file(&hold).unwrap();
        assert!(
            lmtp.await.unwrap().is_err(),
            "the MTA got no 250 and keeps the message"
        );
        let _ = http.await;

        let mut again = RapportProcess::serve(rapport_bin!(), &db, &[], &env);
        let base = format!("http://{}", again.wait_ready(Duration::from_secs(60)));
        let s = Scene {
            base,
            lmtp: again.lmtp_addr().expect("LMTP listening"),
            ..s
        };
        let now = bodies(&client, &s).await;
        let kept = |body: &str| {
            let copies = now.iter().filter(|b| *b == body).count();
            assert!(copies <= 1, "{body} at most once: {now:?}");
            copies == 1
        };
        let (chat_kept, note_kept) = (
            kept("chat held at the crash"),
            kept("note held at the crash"),
        );

        let (mut sender, _) = ChatClient::connect_to(&s.base, &s.token).await;
        sender.join(&s.case, None).await;
        let ack = sender.say(&s.case, "c-2", "chat held at the crash").await;
        assert_eq!(ack["duplicate"], chat_kept, "the retry's ack: {ack}");
        let (status, _) = call(&client, "POST", format!("{}/api/v1/cases/{}/entries", s.base, s.case), Some(&s.token), Some(json!({"kind": "note", "body": "note held at the crash", "client_message_id": "h-2"}))).await;
        assert_eq!(
            status,
            if note_kept { 200 } else { 201 },
            "the retry is new exactly when nothing of the first try was kept"
        );
        crate::mail::lmtp_send(
            s.lmtp,
            "anna@acme.example",
            &["support@rapport.localhost"],
            mail("m-2"),
        )
        .await
        .expect("250");
        let now = bodies(&client, &s).await;
        for body in [
            "chat while held",
            "note while held",
            "chat held at the crash",
            "note held at the crash",
        ] {
            assert_eq!(
                now.iter().filter(|b| *b == body).count(),
                1,
                "{body} once: {now:?}"
            );
        }
        let ids = inbound_message_ids(&client, &s).await;
        for id in ["m-1@acme.example", "m-2@acme.example"] {
            assert_eq!(
                ids.iter().filter(|m| m.contains(id)).count(),
                1,
                "{id} once: {ids:?}"
            );
        }
        rapport_tests::invariants::check(&db);
    }
}
