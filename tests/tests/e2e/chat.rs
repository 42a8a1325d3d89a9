use rapport_tests::TestDatabase;
use std::time::Duration;

use rapport_tests::chat_client::{self, ChatClient};
use rapport_tests::{TestApp, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};

/// A contact at Acme starts a chat; returns the case id.
async fn start_chat(contact: &mut ChatClient, body: &str) -> String {
    contact
        .send(json!({"type": "start", "client_message_id": "start-1", "body": body}))
        .await;
    let ack = contact.next_of("ack").await;
    assert_eq!(ack["duplicate"], false);
    ack["case_id"].as_str().unwrap().to_owned()
}

fn bodies(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["body"].as_str().unwrap().to_owned())
        .collect()
}

e2e_test!(a_contact_and_an_agent_chat_in_real_time);
async fn a_contact_and_an_agent_chat_in_real_time(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (mut agent, hello) = ChatClient::connect(&app, &w.agent_in).await;
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["you"]["kind"], "staff");
    assert!(hello["limits"]["max_message_chars"].as_u64().unwrap() > 0);
    let (mut contact, hello) = ChatClient::connect(&app, &w.contact_in).await;
    assert_eq!(hello["you"]["name"], "Anna Finance");

    let case = start_chat(&mut contact, "Our March invoice shows the wrong VAT rate").await;
    let first = contact.next_of("backlog").await;
    let thread = first["entries"].as_array().unwrap();
    assert_eq!(
        thread[0]["body"],
        "Our March invoice shows the wrong VAT rate"
    );
    assert_eq!(thread[0]["kind"], "chat");
    let greeting = thread[1]["body"].as_str().unwrap();
    assert!(
        greeting.contains("Key Accounts"),
        "the greeting names the team: {greeting}"
    );
    assert!(
        greeting.contains("billing"),
        "and asks for the category: {greeting}"
    );
    assert_eq!(thread[1]["author"]["kind"], "system");
    assert_eq!(
        first["case"]["subject"],
        "Our March invoice shows the wrong VAT rate"
    );

    // The agent follows the new case; the contact sees them online.
    let seen = agent.join(&case, None).await;
    assert_eq!(
        bodies(&seen)[0],
        "Our March invoice shows the wrong VAT rate"
    );
    let presence = contact
        .next_where("presence", |p| {
            p["team_online"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(presence["team_online"][0]["id"], w.agent_in_id.as_str());
    assert!(presence["team_online"][0]["avatar"]["initials"].is_string());

    // Typing both ways, then the answer arrives live with the agent's name.
    contact
        .send(json!({"type": "typing", "case_id": case, "active": true}))
        .await;
    let typing = agent.next_of("typing").await;
    assert_eq!(typing["who"]["name"], "Anna Finance");
    agent
        .send(json!({"type": "typing", "case_id": case, "active": true}))
        .await;
    assert_eq!(contact.next_of("typing").await["who"]["kind"], "staff");
    let ack = agent
        .say(&case, "a-1", "Hello Anna, I am checking the VAT setup now.")
        .await;
    let message = contact.next_of("message").await;
    assert_eq!(message["entry"]["id"], ack["entry_id"]);
    assert_eq!(message["entry"]["author"]["id"], w.agent_in_id.as_str());
    assert_eq!(message["entry"]["kind"], "chat");

    // The contact answers the triage question; everyone sees the category.
    contact
        .send(json!({"type": "category", "case_id": case, "category": "billing"}))
        .await;
    let updated = agent
        .next_where("case_updated", |u| u["case"]["category"] != Value::Null)
        .await;
    assert_eq!(updated["case"]["category"], "billing");

    // Internal notes and note typing stay among staff.
    agent
        .send(json!({"type": "typing", "case_id": case, "active": true, "note": true}))
        .await;
    agent.send(json!({"type": "send", "case_id": case, "client_message_id": "n-1", "body": "VAT table was never updated", "note": true})).await;
    agent
        .next_where("ack", |a| a["client_message_id"] == "n-1")
        .await;
    contact.send(json!({"type": "send", "case_id": case, "client_message_id": "c-2", "note": true, "body": "sneaky"})).await;
    let refused = contact.next_of("error").await;
    assert_eq!(refused["code"], "invalid_input");
    let said = contact.say(&case, "c-3", "Thanks!").await;
    let rest = contact.drain(Duration::from_millis(300)).await;
    let text = rest.iter().map(Value::to_string).collect::<String>();
    assert!(
        !text.contains("VAT table was never updated"),
        "a note reached the contact: {text}"
    );
    assert!(
        rest.iter()
            .all(|f| !(f["type"] == "typing" && f["who"]["kind"] == "staff"))
    );

    // Read markers reach the others.
    contact
        .send(json!({"type": "read", "case_id": case, "entry_id": ack["entry_id"]}))
        .await;
    let read = agent
        .next_where("read", |r| r["who"]["kind"] == "contact")
        .await;
    assert_eq!(read["entry_id"], ack["entry_id"]);

    // The chat is the case thread, with every other channel.
    let thread = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{case}/entries"))
        .await
        .json();
    let items = thread["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["id"] == said["entry_id"] && e["kind"] == "chat")
    );
    assert!(items.iter().any(|e| e["kind"] == "note"));
    let case_json = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{case}"))
        .await
        .json();
    assert_eq!(case_json["channel"], "chat");
    assert_eq!(case_json["category"], "billing");
    assert!(
        case_json["first_response_at"].is_string(),
        "the chat answer counts as a response"
    );

    // An edit and a redaction reach the chat as updates of the same entry.
    let entry_path = format!(
        "/api/v1/cases/{case}/entries/{}",
        ack["entry_id"].as_str().unwrap()
    );
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &entry_path,
            Some(json!({"body": "Hello Anna, I am checking the VAT setup right now."}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    let updated = contact.next_of("entry_updated").await;
    assert_eq!(updated["entry"]["id"], ack["entry_id"]);
    assert_eq!(updated["entry"]["version"], 2);
    assert_eq!(
        updated["entry"]["body"],
        "Hello Anna, I am checking the VAT setup right now."
    );
    ok(
        app.post_as(
            &w.admin,
            &format!("{entry_path}/redact"),
            &json!({"reason": "contained an internal price"}),
        )
        .await,
        200,
    )
    .await;
    let redacted = contact.next_of("entry_updated").await;
    assert_eq!(redacted["entry"]["redacted"], true);
    assert_eq!(redacted["entry"]["body"], "");

    // A portal reply over HTTP reaches the chat too.
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "portal", "body": "Corrected invoice attached in the portal."}),
        )
        .await,
        201,
    )
    .await;
    let live = contact
        .next_where("message", |m| m["entry"]["kind"] == "portal")
        .await;
    assert_eq!(
        live["entry"]["body"],
        "Corrected invoice attached in the portal."
    );
    contact.close().await;
    agent.close().await;
}

e2e_test!(reconnecting_with_since_loses_nothing_and_repeats_nothing);
async fn reconnecting_with_since_loses_nothing_and_repeats_nothing(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (mut agent, _) = ChatClient::connect(&app, &w.agent_in).await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    let case = w.acme_case.clone();
    agent.join(&case, None).await;
    let seen = contact.join(&case, None).await;
    let mine = contact.say(&case, "c-1", "Is there an update?").await;
    let last_seen = mine["entry_id"].as_str().unwrap().to_owned();
    assert!(!seen.is_empty());
    contact.close().await;

    // While the contact is away the agent writes three messages.
    let mut sent = Vec::new();
    for i in 1..=3 {
        let ack = agent
            .say(&case, &format!("a-{i}"), &format!("Update {i}"))
            .await;
        sent.push(ack["entry_id"].as_str().unwrap().to_owned());
    }
    let (mut back, _) = ChatClient::connect(&app, &w.contact_in).await;
    let missed = back.join(&case, Some(&last_seen)).await;
    let ids: Vec<String> = missed
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, sent, "exactly the missed messages, in order");
    // Live again: the next message arrives once.
    agent.say(&case, "a-4", "Update 4").await;
    let frames = back.drain(Duration::from_millis(500)).await;
    let copies = frames
        .iter()
        .filter(|f| f["type"] == "message" && f["entry"]["body"] == "Update 4")
        .count();
    assert_eq!(copies, 1);
    // A long absence spans several backlog pages, still in order, with
    // what came by other channels in between.
    back.close().await;
    for i in 5..=230 {
        ok(
            app.post_as(
                &w.agent_in,
                &format!("/api/v1/cases/{case}/entries"),
                &json!({"kind": "portal", "body": format!("Update {i}")}),
            )
            .await,
            201,
        )
        .await;
    }
    let (mut third, _) = ChatClient::connect(&app, &w.contact_in).await;
    let missed = third.join(&case, Some(&sent[2])).await;
    let got = bodies(&missed);
    let want: Vec<String> = (4..=230).map(|i| format!("Update {i}")).collect();
    assert_eq!(got, want);
}

e2e_test!(a_repeated_send_stores_one_entry);
async fn a_repeated_send_stores_one_entry(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    let case = w.acme_case.clone();
    contact.join(&case, None).await;
    let first = contact
        .say(&case, "retry-me", "Sent twice by a flaky network")
        .await;
    assert_eq!(first["duplicate"], false);
    let again = contact
        .say(&case, "retry-me", "Sent twice by a flaky network")
        .await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["entry_id"], first["entry_id"]);
    // Also after reconnecting.
    contact.close().await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    contact.join(&case, None).await;
    let third = contact
        .say(&case, "retry-me", "Sent twice by a flaky network")
        .await;
    assert_eq!(third["entry_id"], first["entry_id"]);
    let thread = app
        .get_as(&w.agent_in, &format!("/api/v1/cases/{case}/entries"))
        .await
        .json();
    let copies = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["body"] == "Sent twice by a flaky network")
        .count();
    assert_eq!(copies, 1);
    // A chat start retried with the same id opens one case.
    contact
        .send(json!({"type": "start", "client_message_id": "s-1", "body": "New question"}))
        .await;
    let a = contact.next_of("ack").await;
    contact
        .send(json!({"type": "start", "client_message_id": "s-1", "body": "New question"}))
        .await;
    let b = contact.next_where("ack", |x| x["duplicate"] == true).await;
    assert_eq!(a["case_id"], b["case_id"]);
}

e2e_test!(access_is_checked_for_every_frame);
async fn access_is_checked_for_every_frame(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // A contact of another account cannot join, write or type in Acme's case.
    let (mut outsider, _) = ChatClient::connect(&app, &w.contact_out).await;
    outsider
        .send(json!({"type": "join", "case_id": w.acme_case}))
        .await;
    let err = outsider.next_of("error").await;
    assert_eq!(err["code"], "case_not_found");
    for frame in [
        json!({"type": "send", "case_id": w.acme_case, "client_message_id": "x", "body": "hi"}),
        json!({"type": "typing", "case_id": w.acme_case, "active": true}),
        json!({"type": "category", "case_id": w.acme_case, "category": "billing"}),
    ] {
        outsider.send(frame).await;
        assert_eq!(outsider.next_of("error").await["code"], "not_joined");
    }
    // The connection stays usable.
    outsider
        .send(json!({"type": "ping", "nonce": "still-here"}))
        .await;
    assert_eq!(outsider.next_of("pong").await["nonce"], "still-here");
    // An agent of another team neither.
    let (mut other_agent, _) = ChatClient::connect(&app, &w.agent_out).await;
    other_agent
        .send(json!({"type": "join", "case_id": w.acme_case}))
        .await;
    assert_eq!(other_agent.next_of("error").await["code"], "case_not_found");
    // An auditor reads but never writes.
    let (mut auditor, _) = ChatClient::connect(&app, &w.auditor).await;
    let history = auditor.join(&w.acme_case, None).await;
    assert!(!history.is_empty());
    auditor.send(json!({"type": "send", "case_id": w.acme_case, "client_message_id": "aud-1", "body": "I should not"})).await;
    assert_eq!(auditor.next_of("error").await["code"], "forbidden");
    let thread = app
        .get_as(&w.admin, &format!("/api/v1/cases/{}/entries", w.acme_case))
        .await
        .json();
    assert!(
        thread["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["body"] != "I should not")
    );
    // Staff cannot start chats for themselves.
    auditor
        .send(json!({"type": "start", "client_message_id": "s", "body": "x"}))
        .await;
    assert_eq!(auditor.next_of("error").await["code"], "invalid_input");

    // API tokens do not chat; tickets are single-use and need a real upgrade.
    let token = ok(
        app.post_as(
            &w.admin,
            "/api/v1/api-tokens",
            &json!({"name": "crm", "scopes": ["directory:read"]}),
        )
        .await,
        201,
    )
    .await;
    let api = token["secret"].as_str().unwrap();
    app.post_as(api, "/api/v1/chat/ticket", &json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post_json("/api/v1/chat/ticket", &json!({}))
        .await
        .assert_problem(401, "unauthenticated");
    let ticket = chat_client::ticket(&app.base_url, &w.contact_in).await;
    app.get(&format!("/ws?ticket={ticket}"))
        .await
        .assert_problem(400, "not_websocket");
    let first = ChatClient::connect_with_ticket(&app.base_url, &ticket).await;
    assert!(first.is_ok(), "a plain GET did not spend the ticket");
    assert_eq!(
        ChatClient::connect_with_ticket(&app.base_url, &ticket)
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        ChatClient::connect_with_ticket(&app.base_url, "made-up")
            .await
            .err(),
        Some(401)
    );
    app.get("/ws").await.assert_problem(400, "invalid_query");
}

e2e_test!(a_chat_ticket_is_signed_spent_once_and_admits_its_holder_as_they_are_now);
async fn a_chat_ticket_is_signed_spent_once_and_admits_its_holder_as_they_are_now(
    db: &TestDatabase,
) {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let spent_rows = || {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT COUNT(*) AS n FROM chat_tickets")
            .get_result::<Count>(&mut *rapport_tests::seed::store(db).conn().unwrap())
            .unwrap()
            .n
    };

    // Issuing writes nothing; a ticket changed anywhere is refused.
    let ticket = chat_client::ticket(&app.base_url, &w.agent_in).await;
    assert_eq!(spent_rows(), 0);
    for at in [2, ticket.len() / 2, ticket.len() - 2] {
        let mut changed: Vec<char> = ticket.chars().collect();
        changed[at] = if changed[at] == 'x' { 'y' } else { 'x' };
        let changed: String = changed.into_iter().collect();
        assert_eq!(
            ChatClient::connect_with_ticket(&app.base_url, &changed)
                .await
                .err(),
            Some(401),
            "changed at {at}"
        );
    }
    // The unchanged ticket still works, once: the spend is recorded.
    let mut agent = ChatClient::connect_with_ticket(&app.base_url, &ticket)
        .await
        .expect("the ticket admits its holder");
    assert_eq!(agent.next_of("hello").await["you"]["kind"], "staff");
    assert_eq!(spent_rows(), 1);
    assert_eq!(
        ChatClient::connect_with_ticket(&app.base_url, &ticket)
            .await
            .err(),
        Some(401)
    );

    // A ticket taken before its holder was deactivated admits no one.
    let ticket = chat_client::ticket(&app.base_url, &w.agent_in).await;
    let res = app
        .send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/staff/{}", w.agent_in_id),
            Some(json!({"active": false}).to_string()),
            Some(&w.admin),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(
        ChatClient::connect_with_ticket(&app.base_url, &ticket)
            .await
            .err(),
        Some(401)
    );
    // The connection they opened before ends too.
    assert!(
        agent.closes_within(Duration::from_secs(10)).await,
        "a deactivated agent's chat stayed open"
    );
}

e2e_test!(bad_frames_get_errors_and_the_connection_survives);
async fn bad_frames_get_errors_and_the_connection_survives(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| {
        s.chat.max_frame_bytes = 2_048;
        s.chat.hard_frame_bytes = 8_192;
        s.cases.max_message_chars = 100;
        s.chat.frames_per_second = 5;
        s.chat.burst = 20;
    })
    .await;
    let w = world(&app, db).await;
    let (mut c, _) = ChatClient::connect(&app, &w.contact_in).await;
    c.join(&w.acme_case, None).await;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "malformed_frame"),
        (json!({"type": "shout"}).to_string(), "malformed_frame"),
        (json!({"type": "join", "case_id": "not-an-id"}).to_string(), "malformed_frame"),
        (json!({"type": "ping", "extra": true}).to_string(), "malformed_frame"),
        (json!({"type": "ping", "nonce": "x".repeat(3_000)}).to_string(), "frame_too_large"),
        (json!({"type": "send", "case_id": w.acme_case, "client_message_id": "long", "body": "y".repeat(101)}).to_string(), "message_too_long"),
        (json!({"type": "send", "case_id": w.acme_case, "client_message_id": "bad id with spaces", "body": "hi"}).to_string(), "invalid_input"),
        (json!({"type": "send", "case_id": w.acme_case, "client_message_id": "empty", "body": "   "}).to_string(), "invalid_input"),
    ];
    for (text, code) in cases {
        c.send_text(text.clone()).await;
        let err = c.next_of("error").await;
        assert_eq!(err["code"], code, "{text:.80}");
    }
    c.send_binary(vec![1, 2, 3]).await;
    assert_eq!(c.next_of("error").await["code"], "unsupported_frame");
    c.send(json!({"type": "ping"})).await;
    c.next_of("pong").await;

    // Too many frames at once: errors, then the connection is still there.
    for _ in 0..40 {
        c.send(json!({"type": "ping"})).await;
    }
    c.send(json!({"type": "send", "case_id": w.acme_case, "client_message_id": "dropped-1", "body": "too fast"})).await;
    let frames = c.drain(Duration::from_millis(500)).await;
    assert!(frames.iter().any(|f| f["code"] == "rate_limited"));
    assert!(
        frames
            .iter()
            .any(|f| f["code"] == "rate_limited" && f["about"] == "dropped-1"),
        "a dropped send is named, to be resent"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.send(json!({"type": "ping", "nonce": "after"})).await;
    assert_eq!(c.next_of("pong").await["nonce"], "after");

    // Over the hard limit the connection closes with 1009, and the server goes on.
    c.send_text("z".repeat(10_000)).await;
    assert!(c.recv().await.is_none() || c.recv().await.is_none());
    assert_eq!(c.closed, Some(1009));
    let (mut again, _) = ChatClient::connect(&app, &w.contact_in).await;
    again.send(json!({"type": "ping"})).await;
    again.next_of("pong").await;
}

e2e_test!(a_contact_who_left_gets_one_email_per_absence_with_every_answer_not_read);
async fn a_contact_who_left_gets_one_email_per_absence_with_every_answer_not_read(
    db: &TestDatabase,
) {
    let app = TestApp::spawn_with(db, |s| s.chat.offline_email_after_secs = 3).await;
    let w = world(&app, db).await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    let case = start_chat(&mut contact, "Anyone there?").await;
    let notice = contact.next_of("notice").await;
    assert_eq!(notice["code"], "team_offline");
    assert!(notice["text"].as_str().unwrap().contains("email"));
    let mailbox = db.data_dir().join("mailbox");
    // An answer while the contact is there (never marked read) is no
    // part of a later absence's email.
    let (mut agent, _) = ChatClient::connect(&app, &w.agent_in).await;
    agent.join(&case, None).await;
    contact.join(&case, None).await;
    let present = agent
        .say(&case, "present-0", "Hello Anna, I am on it.")
        .await;
    contact
        .next_where("message", |m| m["entry"]["id"] == present["entry_id"])
        .await;
    contact.close().await;

    // First absence: five answers, one email carrying all five in order.
    let answers = [
        "Sorry for the wait.",
        "Your VAT rate is fixed.",
        "The credit note is on its way.",
        "It covers March and April.",
        "Anything else?",
    ];
    for (i, a) in answers.iter().enumerate() {
        agent.say(&case, &format!("away-1-{i}"), a).await;
    }
    let first = wait_for_digests(&mailbox, 1).await;
    let mail = &first[0];
    let positions: Vec<usize> = answers
        .iter()
        .map(|a| {
            mail.text
                .find(a)
                .unwrap_or_else(|| panic!("{a} missing: {}", mail.text))
        })
        .collect();
    assert!(
        positions.windows(2).all(|p| p[0] < p[1]),
        "in the order written: {}",
        mail.text
    );
    assert!(
        !mail.text.contains("I am on it"),
        "seen live before the absence: {}",
        mail.text
    );
    assert_eq!(mail.to[0].address, "anna@acme.example");
    assert!(
        mail.subject.contains("[#"),
        "the case tag: {}",
        mail.subject
    );
    let reply_to = mail.reply_to.as_ref().unwrap().address.clone();
    assert!(
        reply_to.starts_with("support+"),
        "a signed reply address: {reply_to}"
    );

    // Back in the chat, the contact reads an answer live: no email.
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    contact.join(&case, None).await;
    let live = agent.say(&case, "here-1", "Glad to see you back.").await;
    contact
        .next_where("message", |m| m["entry"]["id"] == live["entry_id"])
        .await;
    contact
        .send(json!({"type": "read", "case_id": case, "entry_id": live["entry_id"]}))
        .await;
    agent
        .next_where("read", |r| r["entry_id"] == live["entry_id"])
        .await;
    contact.close().await;

    // Second absence: an answer the contact then reads elsewhere is not emailed.
    let seen = agent
        .say(&case, "away-2-0", "Seen on your phone, I hope.")
        .await;
    // The offline email reads the change log after commit: the wait
    // starts within moments.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !digest_waits(&app, &case) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the answer to an absent contact starts a wait"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut phone, _) = ChatClient::connect(&app, &w.contact_in).await;
    phone.join(&case, None).await;
    phone
        .send(json!({"type": "read", "case_id": case, "entry_id": seen["entry_id"]}))
        .await;
    agent
        .next_where("read", |r| r["entry_id"] == seen["entry_id"])
        .await;
    phone.close().await;
    wait_until_no_digest_waits(&app).await;
    assert_eq!(
        chat_replies_queued(&app, &w.admin, &case).await,
        1,
        "nothing unread, nothing sent"
    );

    // Third absence: only what came after is emailed, once.
    agent
        .say(
            &case,
            "away-3-0",
            "One more thing: the new invoice number is 2026-0412.",
        )
        .await;
    agent.say(&case, "away-3-1", "It replaces 2026-0318.").await;
    let all = wait_for_digests(&mailbox, 2).await;
    let last = &all[1];
    assert!(
        last.text.contains("2026-0412") && last.text.contains("replaces 2026-0318"),
        "{}",
        last.text
    );
    for earlier in answers
        .iter()
        .chain(&["Glad to see you back.", "Seen on your phone"])
    {
        assert!(
            !last.text.contains(earlier),
            "{earlier} was sent or read before: {}",
            last.text
        );
    }
    wait_until_no_digest_waits(&app).await;
    assert_eq!(
        chat_replies_queued(&app, &w.admin, &case).await,
        2,
        "one email per absence"
    );
}

e2e_test!(answers_on_several_cases_of_an_absent_contact_each_reach_their_own_email);
async fn answers_on_several_cases_of_an_absent_contact_each_reach_their_own_email(
    db: &TestDatabase,
) {
    // A pool of one connection: the consumer that schedules the emails
    // must not hold its reading connection while it writes.
    let app = TestApp::spawn_with(db, |s| {
        s.chat.offline_email_after_secs = 2;
        s.database.pool_max_size = 1;
    })
    .await;
    let w = world(&app, db).await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    let first = start_chat(&mut contact, "About the invoice").await;
    contact
        .send(
            json!({"type": "start", "client_message_id": "start-2", "body": "About the delivery"}),
        )
        .await;
    let second = contact
        .next_where("ack", |a| a["client_message_id"] == "start-2")
        .await;
    let second = second["case_id"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    contact.close().await;

    // Answers on both cases at once: the consumer reads them in one page
    // of the change log and schedules one email per case.
    let (mut agent, _) = ChatClient::connect(&app, &w.agent_in).await;
    agent.join(&first, None).await;
    agent.join(&second, None).await;
    let mut wrote = Vec::new();
    for i in 0..3 {
        for (case, topic) in [(&first, "invoice"), (&second, "delivery")] {
            let text = format!("On the {topic}: answer {i}.");
            agent.say(case, &format!("{topic}-{i}"), &text).await;
            wrote.push((topic, text));
        }
    }
    let mailbox = db.data_dir().join("mailbox");
    let digests = wait_for_digests(&mailbox, 2).await;
    for topic in ["invoice", "delivery"] {
        let other = if topic == "invoice" {
            "delivery"
        } else {
            "invoice"
        };
        let mail = digests
            .iter()
            .find(|m| m.text.contains(&format!("On the {topic}")))
            .unwrap_or_else(|| panic!("no email about the {topic}"));
        for (t, text) in &wrote {
            assert_eq!(
                mail.text.contains(text.as_str()),
                *t == topic,
                "{text} in the email about the {topic}: {}",
                mail.text
            );
        }
        assert!(
            !mail.text.contains(&format!("On the {other}")),
            "{}",
            mail.text
        );
    }
    wait_until_no_digest_waits(&app).await;
    assert_eq!(chat_replies_queued(&app, &w.admin, &first).await, 1);
    assert_eq!(chat_replies_queued(&app, &w.admin, &second).await, 1);
}

/// The "replied in your chat" emails in the mailbox, oldest first.
fn chat_digests(mailbox: &std::path::Path) -> Vec<rapport_mail::InboundMail> {
    let mut files: Vec<_> = std::fs::read_dir(mailbox)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|p| rapport_mail::parse(&std::fs::read(p).ok()?).ok())
        .filter(|m| m.text.contains("replied in your chat"))
        .collect()
}

async fn wait_for_digests(mailbox: &std::path::Path, n: usize) -> Vec<rapport_mail::InboundMail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = chat_digests(mailbox);
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} chat digests expected, {} arrived",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Chat answer emails queued for the case (sent or not yet).
async fn chat_replies_queued(app: &TestApp, admin: &str, case: &str) -> usize {
    let outbox = app
        .get_as(admin, &format!("/api/v1/mail/outbox?case_id={case}"))
        .await
        .json();
    outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "chat_reply")
        .count()
}

fn digest_waits(app: &TestApp, case: &str) -> bool {
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    rapport_store::chat::due_offline_digests(&mut app.state.store.conn().unwrap(), far, 100)
        .unwrap()
        .iter()
        .any(|c| c.to_string() == case)
}

/// Waits until the server has dealt with every digest it had waiting.
async fn wait_until_no_digest_waits(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    loop {
        let waiting =
            rapport_store::chat::due_offline_digests(&mut app.state.store.conn().unwrap(), far, 10)
                .unwrap();
        if waiting.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a chat digest still waits"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

e2e_test!(a_renamed_contact_shows_under_the_new_name_in_the_next_message);
async fn a_renamed_contact_shows_under_the_new_name_in_the_next_message(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (mut agent, _) = ChatClient::connect(&app, &w.agent_in).await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    let case = start_chat(&mut contact, "Where is the credit note for March?").await;
    contact.next_of("backlog").await;
    agent.join(&case, None).await;
    contact.say(&case, "r-1", "Any news?").await;
    let first = agent
        .next_where("message", |m| m["entry"]["body"] == "Any news?")
        .await;
    assert_eq!(first["entry"]["author"]["name"], "Anna Finance");

    // An admin corrects her name: the chat's cached name goes at once.
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/contacts/{}", w.anna),
            Some(json!({"name": "Anna Keller"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    contact.say(&case, "r-2", "Still waiting on it").await;
    let second = agent
        .next_where("message", |m| m["entry"]["body"] == "Still waiting on it")
        .await;
    assert_eq!(
        second["entry"]["author"]["name"], "Anna Keller",
        "the next message carries the new name, not the cached one"
    );
}

e2e_test!(an_answer_to_an_absent_contact_is_emailed_across_a_restart);
async fn an_answer_to_an_absent_contact_is_emailed_across_a_restart(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.chat.offline_email_after_secs = 2).await;
    let w = world(&app, db).await;
    let (mut contact, _) = ChatClient::connect(&app, &w.contact_in).await;
    let case = start_chat(&mut contact, "Is the March credit note out?").await;
    contact.close().await;
    let (mut agent, _) = ChatClient::connect(&app, &w.agent_in).await;
    agent.join(&case, None).await;
    agent
        .say(&case, "restart-0", "Yes, it went out this morning.")
        .await;
    // Stopped at once: the change log may not have been read yet. The next
    // start goes on from where the offline email had read it.
    app.stop().await;
    let _again = TestApp::spawn_with(db, |s| s.chat.offline_email_after_secs = 2).await;
    let mails = wait_for_digests(&db.data_dir().join("mailbox"), 1).await;
    assert!(
        mails[0].text.contains("went out this morning"),
        "{}",
        mails[0].text
    );
}
