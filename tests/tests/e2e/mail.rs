//! Email end to end: the LMTP door with a real LMTP client (Python's
//! smtplib), the HTTP door with a corpus of real-world messages, outbound
//! mail into a real SMTP sink on loopback, the quarantine, and a server
//! killed in the middle of a delivery batch.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::Method;
use rapport_server::config::{MailTransport, SmtpSecurity, UnknownSenders};
use rapport_tests::smtp_sink::SmtpSink;
use rapport_tests::{TestApp, TestDatabase, e2e_test};
use serde_json::{Value, json};

use super::directory::ok;

/// Sends one message over LMTP with Python's smtplib (a real client).
/// Ok(()) when the server answered 250 for every recipient.
pub(crate) async fn lmtp_send(
    addr: std::net::SocketAddr,
    from: &str,
    to: &[&str],
    raw: Vec<u8>,
) -> Result<(), String> {
    let script = r#"
import smtplib, sys
host, port, sender = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rcpts = sys.argv[4:]
data = sys.stdin.buffer.read()
try:
    s = smtplib.LMTP(host, port, timeout=30)
    refused = s.sendmail(sender, rcpts, data)
    s.quit()
except smtplib.SMTPResponseException as e:
    print(f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}")
    sys.exit(1)
except smtplib.SMTPRecipientsRefused as e:
    print(str(e.recipients))
    sys.exit(1)
except Exception as e:
    print(f"error: {e}")
    sys.exit(1)
if refused:
    print(str(refused))
    sys.exit(1)
print("OK")
"#;
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let mut args = vec![
        "-c".to_owned(),
        script.to_owned(),
        host,
        port,
        from.to_owned(),
    ];
    args.extend(to.iter().map(|t| (*t).to_owned()));
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&raw)
            .expect("write");
        let out = child.wait_with_output().expect("python3 finishes");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await
    .expect("the LMTP client ran")
}

/// A corpus message with its placeholders filled in.
pub(crate) fn corpus(name: &str, fill: &HashMap<&str, String>) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/mail")
        .join(name);
    let mut text = std::fs::read(path).expect("corpus file");
    for (k, v) in fill {
        let needle = format!("{{{{{k}}}}}");
        let mut out = Vec::new();
        let mut rest = &text[..];
        while let Some(i) = rest
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(v.as_bytes());
            rest = &rest[i + needle.len()..];
        }
        out.extend_from_slice(rest);
        text = out;
    }
    text
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

/// Admin, a team with one agent, Acme (domain acme.example) and Anna.
struct Desk {
    admin: String,
    agent: String,
    acme: String,
}

async fn desk(app: &TestApp, db: &TestDatabase) -> Desk {
    let admin = app.token_for(db, "admin").await;
    let agent = app.token_for(db, "agent").await;
    let agent_id = app.get_as(&agent, "/api/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = ok(
        app.post_as(&admin, "/api/v1/teams", &json!({"name": "Key Accounts"}))
            .await,
        201,
    )
    .await;
    let team = team["id"].as_str().unwrap();
    ok(
        app.send(
            Method::PUT,
            &format!("/api/v1/teams/{team}/members/{agent_id}"),
            Some(json!({"role": "member"}).to_string()),
            Some(&admin),
        )
        .await,
        200,
    )
    .await;
    let acme = ok(
        app.post_as(
            &admin,
            "/api/v1/accounts",
            &json!({"name": "Acme Manufacturing", "domains": ["acme.example"], "team_id": team}),
        )
        .await,
        201,
    )
    .await;
    let acme = acme["id"].as_str().unwrap().to_owned();
    ok(app.post_as(&admin, &format!("/api/v1/accounts/{acme}/contacts"), &json!({"name": "Anna Finance", "emails": ["anna@acme.example"], "function": "finance"})).await, 201).await;
    // The ops lead sees all of the company's cases.
    ok(app.post_as(&admin, &format!("/api/v1/accounts/{acme}/contacts"), &json!({"name": "Bob Ops", "emails": ["bob@acme.example"], "function": "operations", "visibility": "all_account_cases"})).await, 201).await;
    Desk { admin, agent, acme }
}

fn first_mail(subject: &str, id: &str) -> Vec<u8> {
    format!("From: Anna Finance <anna@acme.example>\r\nTo: Acme Support <support@rapport.localhost>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOur March invoice shows 19% VAT instead of 7%.\r\n").into_bytes()
}

async fn thread_of(app: &TestApp, token: &str, case: &str) -> Vec<Value> {
    app.get_as(token, &format!("/api/v1/cases/{case}/entries?limit=200"))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

e2e_test!(mail_through_lmtp_threads_into_one_case_and_replies_reach_an_smtp_sink);
async fn mail_through_lmtp_threads_into_one_case_and_replies_reach_an_smtp_sink(db: &TestDatabase) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn_with(db, |s| {
        s.mail.lmtp_bind = "127.0.0.1:0".into();
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = sink.addr.port();
        s.mail.smtp_security = SmtpSecurity::None;
    })
    .await;
    let lmtp = app.lmtp_addr.expect("the LMTP listener runs");
    let d = desk(&app, db).await;

    // A new message opens a case and is acknowledged over SMTP.
    lmtp_send(
        lmtp,
        "anna@acme.example",
        &["support@rapport.localhost"],
        first_mail(
            "Invoice 2026-0318 shows the wrong VAT rate",
            "first-1@acme.example",
        ),
    )
    .await
    .unwrap();
    let sent = sink.wait_for(1).await;
    let ack = String::from_utf8_lossy(&sent[0].raw).into_owned();
    assert_eq!(sent[0].rcpt_to, vec!["anna@acme.example"]);
    assert_eq!(sent[0].mail_from, "support@rapport.localhost");
    assert_eq!(header(&ack, "Auto-Submitted"), Some("auto-generated"));
    assert_eq!(header(&ack, "In-Reply-To"), Some("<first-1@acme.example>"));
    let subject = header(&ack, "Subject").unwrap().to_owned();
    assert!(subject.starts_with("[#"), "{subject}");
    let number: i64 = subject[2..subject.find(']').unwrap()].parse().unwrap();
    let reply_to = header(&ack, "Reply-To").unwrap().to_owned();
    assert!(
        reply_to.contains(&format!("support+{number}-")) && reply_to.contains("@rapport.localhost"),
        "{reply_to}"
    );
    let ack_id = header(&ack, "Message-ID")
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    assert!(ack_id.ends_with("@rapport.localhost"));
    let parsed = rapport_mail::parse(&sent[0].raw).unwrap();
    assert!(
        parsed.text.contains(&format!("case #{number}")),
        "{}",
        parsed.text
    );
    assert!(parsed.html.is_some(), "text and HTML parts");
    let cases = app.get_as(&d.agent, "/api/v1/cases").await.json();
    let case = cases["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == number)
        .unwrap()
        .clone();
    let case_id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["channel"], "email");
    assert_eq!(case["account_id"], d.acme.as_str());

    // Replies thread back: by In-Reply-To (Gmail), by the signed reply
    // address (Apple Mail), by the subject tag from a colleague (Outlook).
    let mut fill = HashMap::from([
        ("RUN", "lmtp".to_owned()),
        ("CASE_NUMBER", number.to_string()),
        ("OUR_MESSAGE_ID", ack_id.clone()),
    ]);
    lmtp_send(
        lmtp,
        "anna@acme.example",
        &["support@rapport.localhost"],
        corpus("gmail_reply.eml", &fill),
    )
    .await
    .unwrap();
    let address = reply_to
        .trim_start_matches(|c| c != '<')
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    let address = if address.is_empty() {
        reply_to.clone()
    } else {
        address
    };
    fill.insert("REPLY_ADDRESS", address.clone());
    lmtp_send(
        lmtp,
        "anna@acme.example",
        &[&address],
        corpus("apple_mail_reply.eml", &fill),
    )
    .await
    .unwrap();
    lmtp_send(
        lmtp,
        "bob@acme.example",
        &["support@rapport.localhost"],
        corpus("outlook_reply.eml", &fill),
    )
    .await
    .unwrap();
    let thread = thread_of(&app, &d.agent, &case_id).await;
    let bodies: Vec<&str> = thread
        .iter()
        .filter(|e| e["kind"] == "email_in")
        .map(|e| e["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert_eq!(
        bodies[1], "Thanks, the corrected invoice arrived and the totals match now.",
        "quoted history collapsed"
    );
    assert!(bodies[2].starts_with("Could you send the credit note as PDF too?"));
    assert!(!bodies[2].contains("> Hello Anna"));
    assert!(bodies[3].contains("Hall 3") && !bodies[3].contains("Original Message"));
    let inbound = app
        .get_as(&d.admin, "/api/v1/mail/inbound?limit=200")
        .await
        .json();
    let outcomes: Vec<String> = inbound["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["outcome"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(outcomes[1].contains("In-Reply-To"), "{outcomes:?}");
    assert!(outcomes[2].contains("reply address"), "{outcomes:?}");
    assert!(outcomes[3].contains("subject tag"), "{outcomes:?}");
    // Bob, who sees all of Acme's cases, takes part now.
    let detail = app
        .get_as(&d.agent, &format!("/api/v1/cases/{case_id}"))
        .await
        .json();
    assert_eq!(
        detail["participant_ids"].as_array().unwrap().len(),
        1,
        "{detail}"
    );

    // An agent's email reply goes to Anna and Bob, threaded.
    ok(app.post_as(&d.agent, &format!("/api/v1/cases/{case_id}/entries"), &json!({"kind": "email_out", "body": "The credit note is attached to this email.\n\nKind regards"})).await, 201).await;
    let sent = sink.wait_for(2).await;
    let reply = String::from_utf8_lossy(&sent[1].raw).into_owned();
    let mut to = sent[1].rcpt_to.clone();
    to.sort();
    assert_eq!(to, vec!["anna@acme.example", "bob@acme.example"]);
    assert_eq!(
        header(&reply, "Auto-Submitted"),
        None,
        "a person's reply is not automatic"
    );
    assert!(
        header(&reply, "Subject")
            .unwrap()
            .starts_with(&format!("[#{number}]"))
    );
    let parsed = rapport_mail::parse(&sent[1].raw).unwrap();
    assert!(
        parsed.references.contains(&ack_id)
            && parsed
                .references
                .contains(&"CAGmail-lmtp-0001@mail.gmail.com".to_owned()),
        "{:?}",
        parsed.references
    );
    assert_eq!(
        parsed.references.first().map(String::as_str),
        Some("first-1@acme.example"),
        "oldest first"
    );
    assert_eq!(parsed.in_reply_to.first(), parsed.references.last());
    let reply_id = header(&reply, "Message-ID")
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();

    // An out-of-office answer is stored but never answered.
    let queued_before = app
        .get_as(&d.agent, &format!("/api/v1/mail/outbox?case_id={case_id}"))
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    lmtp_send(
        lmtp,
        "anna@acme.example",
        &["support@rapport.localhost"],
        corpus("out_of_office.eml", &fill),
    )
    .await
    .unwrap();
    // An answer would be queued in the transaction that stores the
    // message: once it is in the thread, the outbox says it all.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while thread_of(&app, &d.agent, &case_id)
        .await
        .iter()
        .filter(|e| e["kind"] == "email_in")
        .count()
        < 5
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the out-of-office reply is stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queued = app
        .get_as(&d.agent, &format!("/api/v1/mail/outbox?case_id={case_id}"))
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(queued, queued_before, "no answer to an automatic reply");
    assert_eq!(sink.messages().len(), 2);

    // A bounce of our reply marks it failed and tells the team, without a new case.
    fill.insert("OUR_MESSAGE_ID", reply_id.clone());
    lmtp_send(
        lmtp,
        "",
        &["support@rapport.localhost"],
        corpus("dsn_bounce.eml", &fill),
    )
    .await
    .unwrap();
    let outbox = app
        .get_as(&d.agent, &format!("/api/v1/mail/outbox?case_id={case_id}"))
        .await
        .json();
    let failed = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == reply_id.as_str())
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(failed["last_error"].as_str().unwrap().contains("5.1.1"));
    let thread = thread_of(&app, &d.agent, &case_id).await;
    assert!(thread.iter().any(|e| {
        e["kind"] == "note"
            && e["body"]
                .as_str()
                .unwrap()
                .contains("could not be delivered")
    }));
    assert_eq!(
        app.get_as(&d.agent, "/api/v1/cases").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no case for the bounce"
    );
    assert_eq!(sink.messages().len(), 2);
}

e2e_test!(a_corpus_of_real_world_mail_lands_where_it_should);
async fn a_corpus_of_real_world_mail_lands_where_it_should(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let d = desk(&app, db).await;
    let token = ok(
        app.post_as(
            &d.admin,
            "/api/v1/api-tokens",
            &json!({"name": "mail provider", "scopes": ["mail:ingest"]}),
        )
        .await,
        201,
    )
    .await;
    let ingest = token["secret"].as_str().unwrap().to_owned();
    let post = |raw: Vec<u8>, to: &'static str| {
        let (app, ingest) = (&app, ingest.clone());
        async move {
            let res = app
                .send_raw(
                    &format!("/api/v1/inbound/email?to={to}"),
                    "message/rfc822",
                    raw,
                    Some(&ingest),
                )
                .await;
            assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
            res.json()
        }
    };
    let first = post(
        first_mail(
            "Invoice 2026-0318 shows the wrong VAT rate",
            "c-first@acme.example",
        ),
        "support@rapport.localhost",
    )
    .await;
    assert_eq!(first["status"], "threaded");
    assert!(first["outcome"].as_str().unwrap().contains("acknowledged"));
    let case_id = first["case_id"].as_str().unwrap().to_owned();
    let case = app
        .get_as(&d.agent, &format!("/api/v1/cases/{case_id}"))
        .await
        .json();
    let number = case["number"].as_i64().unwrap();
    let outbox = app
        .get_as(&d.agent, &format!("/api/v1/mail/outbox?case_id={case_id}"))
        .await
        .json();
    let ack_id = outbox[0]["message_id"].as_str().unwrap().to_owned();
    let reply_address = app
        .state
        .mail
        .tokens
        .reply_address("support@rapport.localhost", number);
    let fill = HashMap::from([
        ("RUN", "http".to_owned()),
        ("CASE_NUMBER", number.to_string()),
        ("OUR_MESSAGE_ID", ack_id.clone()),
        ("REPLY_ADDRESS", reply_address),
    ]);

    let gmail = post(corpus("gmail_reply.eml", &fill), "").await;
    assert_eq!(
        (gmail["status"].as_str(), gmail["case_id"].as_str()),
        (Some("threaded"), Some(case_id.as_str()))
    );
    // The thread shows the reply; its email keeps the whole text and safe HTML.
    let thread = thread_of(&app, &d.agent, &case_id).await;
    let email = thread
        .iter()
        .find(|e| e["id"] == gmail["entry_id"])
        .unwrap()["email"]
        .clone();
    assert_eq!(email["from"], "anna@acme.example");
    assert_eq!(email["collapsed"], true);
    assert!(
        email["full_text"]
            .as_str()
            .unwrap()
            .contains("the corrected invoice is attached")
    );
    let html = email["html"].as_str().unwrap();
    assert!(
        html.contains("corrected invoice arrived")
            && !html.contains("script")
            && !html.contains("tracker.example"),
        "{html}"
    );
    let outlook = post(corpus("outlook_reply.eml", &fill), "").await;
    assert_eq!(outlook["case_id"], case_id.as_str());
    // A colleague only known by the domain cannot join a case by its
    // (guessable) number: the tag opens a new case instead.
    let guess = format!(
        "From: Mallory <mallory@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Re: [#{number}] anything\r\nMessage-ID: <guess@acme.example>\r\n\r\nWhat is in this case?\r\n"
    );
    let guessed = post(guess.into_bytes(), "").await;
    assert_eq!(guessed["status"], "threaded");
    assert_ne!(guessed["case_id"], case_id.as_str());
    let apple = post(corpus("apple_mail_reply.eml", &fill), "").await;
    assert_eq!(apple["case_id"], case_id.as_str());
    let ooo = post(corpus("out_of_office.eml", &fill), "").await;
    assert_eq!(ooo["case_id"], case_id.as_str());
    assert!(
        ooo["outcome"].as_str().unwrap().contains("not answered"),
        "{ooo}"
    );
    let list = post(corpus("mailing_list.eml", &fill), "").await;
    assert_eq!(list["status"], "threaded");
    assert!(
        list["outcome"].as_str().unwrap().contains("mailing-list"),
        "{list}"
    );
    assert_ne!(list["case_id"], case_id.as_str());
    let bounce = post(corpus("dsn_bounce.eml", &fill), "").await;
    assert_eq!(bounce["status"], "bounce");
    assert!(bounce["case_id"].is_null());
    let outbox = app
        .get_as(&d.agent, &format!("/api/v1/mail/outbox?case_id={case_id}"))
        .await
        .json();
    assert_eq!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message_id"] == ack_id.as_str())
            .unwrap()["status"],
        "failed"
    );

    // Charsets are decoded.
    let latin = post(corpus("iso_8859_1.eml", &fill), "").await;
    let latin_case = app
        .get_as(
            &d.agent,
            &format!("/api/v1/cases/{}", latin["case_id"].as_str().unwrap()),
        )
        .await
        .json();
    assert_eq!(latin_case["subject"], "Unvollständige Lieferung 4711");
    let body = &thread_of(&app, &d.agent, latin["case_id"].as_str().unwrap()).await[0]["body"];
    assert!(
        body.as_str().unwrap().contains("Grüße aus München"),
        "{body}"
    );
    let sjis = post(corpus("shift_jis.eml", &fill), "").await;
    let sjis_case = app
        .get_as(
            &d.agent,
            &format!("/api/v1/cases/{}", sjis["case_id"].as_str().unwrap()),
        )
        .await
        .json();
    assert_eq!(sjis_case["subject"], "請求書について");
    let body = &thread_of(&app, &d.agent, sjis["case_id"].as_str().unwrap()).await[0]["body"];
    assert!(
        body.as_str().unwrap().contains("請求書の金額について"),
        "{body}"
    );

    // No Message-ID: the bytes identify it; a redelivery stores nothing new.
    let raw = corpus("no_message_id.eml", &fill);
    let once = post(raw.clone(), "").await;
    assert_eq!(once["status"], "threaded");
    let twice = post(raw, "").await;
    assert_eq!(twice["duplicate"], true);
    assert_eq!(twice["id"], once["id"]);
    // The same Message-ID with other bytes (another relay's headers): ignored.
    let mut relayed = b"Received: from mx2.acme.example by mx.rapport.localhost; Mon, 23 Nov 2026 10:20:00 +0000\r\n".to_vec();
    relayed.extend(corpus("gmail_reply.eml", &fill));
    let again = post(relayed, "").await;
    assert_eq!(again["status"], "ignored");
    assert!(again["outcome"].as_str().unwrap().contains("duplicate"));
    let gmail_bodies = thread_of(&app, &d.agent, &case_id)
        .await
        .iter()
        .filter(|e| e["body"] == "Thanks, the corrected invoice arrived and the totals match now.")
        .count();
    assert_eq!(gmail_bodies, 1);

    // A damaged MIME tree still yields its text.
    let broken = post(corpus("malformed_mime.eml", &fill), "").await;
    assert_eq!(broken["status"], "threaded");
    let body = &thread_of(&app, &d.agent, broken["case_id"].as_str().unwrap()).await[0]["body"];
    assert!(
        body.as_str().unwrap().contains("The scanner sent this"),
        "{body}"
    );

    // A large attachment is stored whole, like any attachment.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut b64 = String::new();
    for chunk in base64_lines(&data) {
        b64.push_str(&chunk);
        b64.push_str("\r\n");
    }
    let big = format!(
        "From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Scans of the delivery\r\nMessage-ID: <big-http@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nScans attached.\r\n--B\r\nContent-Type: application/octet-stream; name=\"scans.bin\"\r\nContent-Disposition: attachment; filename=\"scans.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}--B--\r\n"
    );
    let big = post(big.into_bytes(), "").await;
    let entries = app
        .get_as(
            &d.agent,
            &format!("/api/v1/cases/{}/entries", big["case_id"].as_str().unwrap()),
        )
        .await
        .json();
    let files = entries["items"][0]["attachments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(files.len(), 1, "{entries}");
    assert_eq!(files[0]["size"], 3_000_000);
    let download = app
        .get_as(&d.agent, files[0]["url"].as_str().unwrap())
        .await;
    assert_eq!(download.status, 200);
    assert!(
        download.body == data,
        "the attachment comes back byte for byte"
    );

    // Not a message at all: quarantined, not dropped.
    let junk = post(b"\x00\x01\x02 this is not an email".to_vec(), "").await;
    assert_eq!(junk["status"], "quarantined");
    // Nothing may come in without the ingest scope.
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            first_mail("x", "x@acme.example"),
            Some(&d.agent),
        )
        .await;
    res.assert_problem(403, "forbidden");
}

fn base64_lines(data: &[u8]) -> Vec<String> {
    use base64::Engine;
    let all = base64::engine::general_purpose::STANDARD.encode(data);
    all.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// Sends a message through the HTTP door; the row it answers with.
async fn received_over_http(app: &TestApp, token: &str, raw: Vec<u8>) -> Value {
    let res = app
        .send_raw("/api/v1/inbound/email", "message/rfc822", raw, Some(token))
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

/// How many received messages keep their original in the database.
fn originals_in_database(db: &TestDatabase) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let store = rapport_tests::seed::store(db);
    diesel::sql_query("SELECT COUNT(*) AS n FROM mail_originals")
        .get_result::<N>(&mut *store.conn().unwrap())
        .unwrap()
        .n
}

e2e_test!(usual_mail_keeps_its_original_in_the_database_large_mail_in_the_spool_and_redaction_removes_either);
async fn usual_mail_keeps_its_original_in_the_database_large_mail_in_the_spool_and_redaction_removes_either(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let d = desk(&app, db).await;
    let small = first_mail(
        "Invoice 2026-0318 shows the wrong VAT rate",
        "kept-small@acme.example",
    );
    let mut large = first_mail(
        "Delivery notes of the whole quarter",
        "kept-large@acme.example",
    );
    large.extend(
        b"Delivery note 2026-Q3, line by line as our warehouse printed it.\r\n".repeat(5000),
    );
    assert!(small.len() < 256 * 1024 && large.len() > 256 * 1024);
    let mut received = Vec::new();
    for raw in [&small, &large] {
        let row = received_over_http(&app, &d.admin, raw.clone()).await;
        assert_eq!(row["status"], "threaded", "{row}");
        received.push(row);
    }
    // The same email by another path: other bytes, the same Message-ID.
    let mut copy = b"Received: from relay.acme.example\r\n".to_vec();
    copy.extend(&small);
    let duplicate = received_over_http(&app, &d.admin, copy.clone()).await;
    assert_eq!(duplicate["status"], "ignored", "{duplicate}");
    assert_eq!(duplicate["entry_id"], received[0]["entry_id"]);
    let spool = db.data_dir().join("mail/spool");
    let spooled = |row: &Value| {
        spool
            .join(format!("{}.eml", row["sha256"].as_str().unwrap()))
            .exists()
    };
    assert!(!spooled(&received[0]), "a usual email is not spooled");
    assert!(spooled(&received[1]), "a large email is spooled");
    assert_eq!(
        originals_in_database(db),
        2,
        "the usual email's bytes and its copy's are in the database"
    );
    received.push(duplicate);
    let raw_of = |row: &Value| format!("/api/v1/mail/inbound/{}/raw", row["id"].as_str().unwrap());
    for (row, raw) in received.iter().zip([&small, &large, &copy]) {
        let original = app.get_as(&d.admin, &raw_of(row)).await;
        assert_eq!(original.status, 200);
        assert_eq!(&original.body, raw, "the original comes back byte for byte");
    }
    // Redacting the email's entry removes its original wherever it is
    // kept, and its copy's.
    for row in &received[..2] {
        let (case, entry) = (
            row["case_id"].as_str().unwrap(),
            row["entry_id"].as_str().unwrap(),
        );
        ok(
            app.post_as(
                &d.admin,
                &format!("/api/v1/cases/{case}/entries/{entry}/redact"),
                &json!({"reason": "bank details sent to the wrong supplier"}),
            )
            .await,
            200,
        )
        .await;
        app.get_as(&d.admin, &raw_of(row))
            .await
            .assert_problem(410, "redacted");
    }
    app.get_as(&d.admin, &raw_of(&received[2]))
        .await
        .assert_problem(410, "redacted");
    assert_eq!(originals_in_database(db), 0);
    assert!(!spooled(&received[1]));
    // Delivered again, the same bytes do not bring them back.
    for (row, raw) in received.iter().zip([&small, &large, &copy]) {
        let again = received_over_http(&app, &d.admin, raw.clone()).await;
        assert_eq!(again["id"], row["id"], "{again}");
        app.get_as(&d.admin, &raw_of(row))
            .await
            .assert_problem(410, "redacted");
    }
    assert_eq!(originals_in_database(db), 0);
    assert!(!spooled(&received[1]));

    // A usual email received before the database kept originals is read
    // from the spool.
    let earlier = first_mail("Credit note for March", "kept-earlier@acme.example");
    let row = received_over_http(&app, &d.admin, earlier.clone()).await;
    let sha = row["sha256"].as_str().unwrap();
    {
        use diesel::RunQueryDsl;
        let store = rapport_tests::seed::store(db);
        diesel::sql_query(format!("DELETE FROM mail_originals WHERE sha256 = '{sha}'"))
            .execute(&mut *store.conn().unwrap())
            .unwrap();
    }
    std::fs::write(spool.join(format!("{sha}.eml")), &earlier).unwrap();
    let original = app.get_as(&d.admin, &raw_of(&row)).await;
    assert_eq!(original.status, 200);
    assert_eq!(original.body, earlier);
}

e2e_test!(the_quarantine_holds_unknown_senders_for_admins_to_retry);
async fn the_quarantine_holds_unknown_senders_for_admins_to_retry(db: &TestDatabase) {
    let app =
        TestApp::spawn_with(db, |s| s.mail.unknown_senders = UnknownSenders::Quarantine).await;
    let d = desk(&app, db).await;
    let raw = b"From: Stranger <someone@newclient.example>\r\nTo: support@rapport.localhost\r\nSubject: Offer request\r\nMessage-ID: <q-1@newclient.example>\r\n\r\nPlease send us an offer.\r\n".to_vec();
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            raw.clone(),
            Some(&d.admin),
        )
        .await;
    assert_eq!(res.status, 202);
    let held = res.json();
    assert_eq!(held["status"], "quarantined");
    assert!(held["outcome"].as_str().unwrap().contains("unknown sender"));
    let id = held["id"].as_str().unwrap().to_owned();
    // Admins only, for every quarantine route.
    let contact_free = app.token_for(db, "auditor").await;
    for token in [&d.agent, &contact_free] {
        app.get_as(token, "/api/v1/mail/inbound?status=quarantined")
            .await
            .assert_problem(403, "forbidden");
        app.get_as(token, &format!("/api/v1/mail/inbound/{id}/raw"))
            .await
            .assert_problem(403, "forbidden");
        app.post_as(
            token,
            &format!("/api/v1/mail/inbound/{id}/retry"),
            &json!({}),
        )
        .await
        .assert_problem(403, "forbidden");
        app.get_as(token, "/api/v1/mail/outbox")
            .await
            .assert_problem(403, "forbidden");
    }
    let list = app
        .get_as(&d.admin, "/api/v1/mail/inbound?status=quarantined")
        .await
        .json();
    assert_eq!(list["items"][0]["id"], id.as_str());
    let original = app
        .get_as(&d.admin, &format!("/api/v1/mail/inbound/{id}/raw"))
        .await;
    assert_eq!(original.body, raw);
    assert_eq!(original.header("content-type"), Some("message/rfc822"));
    // The sender's company becomes a client; the message is retried.
    ok(
        app.post_as(
            &d.admin,
            "/api/v1/accounts",
            &json!({"name": "New Client", "domains": ["newclient.example"]}),
        )
        .await,
        201,
    )
    .await;
    let retried = ok(
        app.post_as(
            &d.admin,
            &format!("/api/v1/mail/inbound/{id}/retry"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(retried["status"], "threaded", "{retried}");
    app.post_as(
        &d.admin,
        &format!("/api/v1/mail/inbound/{id}/retry"),
        &json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    app.get_as(&d.admin, "/api/v1/mail/inbound?status=nonsense")
        .await
        .assert_problem(400, "invalid_query");
}

e2e_test!(a_failing_relay_is_retried_then_the_team_is_told);
async fn a_failing_relay_is_retried_then_the_team_is_told(db: &TestDatabase) {
    let sink = SmtpSink::start();
    sink.refuse_with(Some("451 4.3.0 try later"));
    let app = TestApp::spawn_with(db, |s| {
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = sink.addr.port();
        s.mail.smtp_security = SmtpSecurity::None;
        s.mail.max_attempts = 2;
        s.mail.retry_base_secs = 1;
    })
    .await;
    let d = desk(&app, db).await;
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            first_mail("Delivery address", "retry-1@acme.example"),
            Some(&d.admin),
        )
        .await;
    let case_id = res.json()["case_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let outbox = app
            .get_as(&d.agent, &format!("/api/v1/mail/outbox?case_id={case_id}"))
            .await
            .json();
        let m = outbox[0].clone();
        if m["status"] == "failed" {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "still {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed["attempts"], 2);
    assert!(
        failed["last_error"].as_str().unwrap().contains("451"),
        "{failed}"
    );
    let thread = thread_of(&app, &d.agent, &case_id).await;
    assert!(thread.iter().any(|e| {
        e["kind"] == "note"
            && e["body"]
                .as_str()
                .unwrap()
                .contains("could not be sent after 2 attempts")
    }));
    assert!(sink.messages().is_empty());
}

/// Sends messages `indices` over one LMTP connection, printing `ACK i`
/// after each 250 and stopping at the first failure.
const LMTP_BATCH: &str = r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
indices = [int(i) for i in sys.argv[3:]]
try:
    s = smtplib.LMTP(host, port, timeout=30)
    for i in indices:
        msg = (f"From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\n"
               f"Subject: Order question {i}\r\nMessage-ID: <crash-{i}@acme.example>\r\n\r\n"
               f"Question number {i} about order 88{i}.\r\n").encode()
        s.sendmail("anna@acme.example", ["support@rapport.localhost"], msg)
        print(f"ACK {i}", flush=True)
    s.quit()
except Exception as e:
    print(f"FAIL {e}", flush=True)
    sys.exit(1)
"#;

/// Runs the batch client; calls `on_ack` with each acknowledged index.
fn lmtp_batch(
    addr: std::net::SocketAddr,
    indices: &[usize],
    mut on_ack: impl FnMut(usize),
) -> bool {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(LMTP_BATCH)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args(indices.iter().map(ToString::to_string))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    for line in out.lines().map_while(Result::ok) {
        if let Some(i) = line.strip_prefix("ACK ") {
            on_ack(i.parse().expect("index"));
        }
    }
    child.wait().expect("python3 finishes").success()
}

e2e_test!(mail_acknowledged_over_lmtp_survives_a_killed_server_exactly_once);
async fn mail_acknowledged_over_lmtp_survives_a_killed_server_exactly_once(db: &TestDatabase) {
    use rapport_tests::http::call;
    use rapport_tests::{RapportProcess, rapport_bin, seed};
    const N: usize = 60;
    let env = [("RAPPORT_MAIL__LMTP_BIND", "127.0.0.1:0")];
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let base = format!("http://{}", server.wait_ready(Duration::from_secs(60)));
    let lmtp = server.lmtp_addr().expect("LMTP listening");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let (email, password) = seed::staff(db, "admin");
    let admin = rapport_tests::http::password_sign_in(&client, &base, &email, &password).await;
    let (status, acme) = call(
        &client,
        "POST",
        format!("{base}/api/v1/accounts"),
        Some(&admin),
        Some(json!({"name": "Acme Manufacturing", "domains": ["acme.example"]})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &client,
        "POST",
        format!(
            "{base}/api/v1/accounts/{}/contacts",
            acme["id"].as_str().unwrap()
        ),
        Some(&admin),
        Some(json!({"name": "Anna Finance", "emails": ["anna@acme.example"]})),
    )
    .await;
    assert_eq!(status, 201);

    // The MTA delivers a batch; the server dies a third of the way in.
    let all: Vec<usize> = (0..N).collect();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = std::sync::Arc::new(std::sync::Mutex::new(server));
    let (a, s) = (acked.clone(), server.clone());
    let finished = tokio::task::spawn_blocking(move || {
        lmtp_batch(lmtp, &all, |i| {
            let mut a = a.lock().unwrap();
            a.push(i);
            if a.len() == N / 3 {
                s.lock().unwrap().signal("KILL");
            }
        })
    })
    .await
    .unwrap();
    assert!(!finished, "the batch was cut by the kill");
    let acked: Vec<usize> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= N / 3 && acked.len() < N,
        "{} acknowledged",
        acked.len()
    );
    server.lock().unwrap().wait_exit(Duration::from_secs(10));

    // Restarted, the MTA retries what it has no 250 for (and, as a
    // lost answer would make it, the last acknowledged one too).
    let mut again = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let base = format!("http://{}", again.wait_ready(Duration::from_secs(60)));
    let lmtp = again.lmtp_addr().expect("LMTP listening");
    let mut retry: Vec<usize> = (0..N).filter(|i| !acked.contains(i)).collect();
    retry.push(*acked.last().unwrap());
    let all_ok = tokio::task::spawn_blocking(move || lmtp_batch(lmtp, &retry, |_| {}))
        .await
        .unwrap();
    assert!(all_ok);

    // Every message is there exactly once: one received row, one case.
    let (_, inbound) = call(
        &client,
        "GET",
        format!("{base}/api/v1/mail/inbound?limit=200"),
        Some(&admin),
        None,
    )
    .await;
    let rows = inbound["items"].as_array().unwrap();
    assert_eq!(rows.len(), N, "one row per message");
    assert!(rows.iter().all(|r| r["status"] == "threaded"), "{inbound}");
    let mut cursor: Option<String> = None;
    let mut subjects: Vec<String> = Vec::new();
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/cases?limit=200&cursor={c}"),
            None => format!("{base}/api/v1/cases?limit=200"),
        };
        let (_, page) = call(&client, "GET", url, Some(&admin), None).await;
        subjects.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["subject"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for i in 0..N {
        let want = format!("Order question {i}");
        assert_eq!(subjects.iter().filter(|s| **s == want).count(), 1, "{want}");
    }
    again.signal("TERM");
    again.wait_exit(Duration::from_secs(20));
}

e2e_test!(mail_import_reads_files_maildir_and_mbox_once);
async fn mail_import_reads_files_maildir_and_mbox_once(db: &TestDatabase) {
    use rapport_tests::{rapport_bin, run_rapport, seed};
    // An account whose domain places the senders.
    let store = seed::store(db);
    rapport_store::account::insert(
        &mut store.conn().unwrap(),
        &rapport_store::account::AccountFields {
            name: "Acme Manufacturing".into(),
            domains: vec![rapport_domain::Domain::parse("acme.example").unwrap()],
            tier: "standard".into(),
            lifecycle: rapport_domain::LifecycleStage::Customer,
            team_id: None,
            owner_id: None,
            notes: String::new(),
            custom_fields: serde_json::Map::new(),
            external_id: None,
            parent_id: None,
            team_inherited: false,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let msg = |i: usize| {
        format!(
            "From: Anna Finance <anna@acme.example>\nTo: support@rapport.localhost\nSubject: Imported question {i}\nMessage-ID: <import-{i}@acme.example>\n\nBody of question {i}.\n"
        )
    };
    let eml = dir.path().join("eml");
    std::fs::create_dir(&eml).unwrap();
    std::fs::write(eml.join("1.eml"), msg(1)).unwrap();
    std::fs::write(eml.join("2.eml"), msg(2)).unwrap();
    let maildir = dir.path().join("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("new/1700000000.M1P1.host"), msg(3)).unwrap();
    std::fs::write(maildir.join("cur/1700000001.M2P2.host:2,S"), msg(4)).unwrap();
    let mbox = dir.path().join("archive.mbox");
    std::fs::write(&mbox, format!("From anna@acme.example Mon Nov 23 09:00:00 2026\n{}\nFrom anna@acme.example Mon Nov 23 09:05:00 2026\n{}\n", msg(5), msg(6))).unwrap();

    let import = |path: &std::path::Path| {
        run_rapport(
            rapport_bin!(),
            &[
                "--data-dir",
                db.data_dir().to_str().unwrap(),
                "--database-url",
                &db.url,
                "mail",
                "import",
                path.to_str().unwrap(),
            ],
            &[],
        )
    };
    for (path, want) in [
        (&eml, "2 threaded"),
        (&maildir, "2 threaded"),
        (&mbox, "2 threaded"),
    ] {
        let out = import(path);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(want), "{}: {text}", path.display());
    }
    // Importing again stores nothing new.
    let out = import(&mbox);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 threaded, 2 already imported"));
    let count: i64 = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT COUNT(*) AS n FROM cases")
            .get_result::<N>(&mut *store.conn().unwrap())
            .unwrap()
            .n
    };
    assert_eq!(count, 6);
    // A path that is not there is a clear error.
    let out = import(&dir.path().join("missing"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

e2e_test!(oversized_mail_is_refused_at_every_door);
async fn oversized_mail_is_refused_at_every_door(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| {
        s.mail.max_message_bytes = 4_096;
        s.mail.lmtp_bind = "127.0.0.1:0".into();
    })
    .await;
    let d = desk(&app, db).await;
    let mut big = first_mail("Huge scan", "huge@acme.example");
    big.extend(std::iter::repeat_n(b'x', 8_000));
    big.extend_from_slice(b"\r\n");
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            big.clone(),
            Some(&d.admin),
        )
        .await;
    res.assert_problem(413, "payload_too_large");
    let refused = lmtp_send(
        app.lmtp_addr.unwrap(),
        "anna@acme.example",
        &["support@rapport.localhost"],
        big,
    )
    .await
    .unwrap_err();
    assert!(refused.starts_with("552"), "{refused}");
    let inbound = app.get_as(&d.admin, "/api/v1/mail/inbound").await.json();
    assert!(
        inbound["items"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
    // The listener is still there for the next message.
    lmtp_send(
        app.lmtp_addr.unwrap(),
        "anna@acme.example",
        &["support@rapport.localhost"],
        first_mail("Small", "small@acme.example"),
    )
    .await
    .unwrap();
}

/// Two server processes on one PostgreSQL send from one outbox: every
/// message leaves exactly once.
#[actix_web::test]
async fn two_nodes_never_send_the_same_message_twice() {
    use rapport_tests::http::call;
    use rapport_tests::{Backend, RapportProcess, rapport_bin, seed};
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let sink = SmtpSink::start();
    let port = sink.addr.port().to_string();
    let env = [
        ("RAPPORT_MAIL__TRANSPORT", "smtp"),
        ("RAPPORT_MAIL__SMTP_HOST", "127.0.0.1"),
        ("RAPPORT_MAIL__SMTP_PORT", port.as_str()),
        ("RAPPORT_MAIL__SMTP_SECURITY", "none"),
        ("RAPPORT_MAIL__POLL_INTERVAL_MS", "50"),
    ];
    let mut a = RapportProcess::serve(rapport_bin!(), &db, &[], &env);
    let base_a = format!(
        "http://{}",
        a.wait_ready(std::time::Duration::from_secs(60))
    );
    let mut b = RapportProcess::serve(rapport_bin!(), &db, &[], &env);
    let base_b = format!(
        "http://{}",
        b.wait_ready(std::time::Duration::from_secs(60))
    );
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let (email, password) = seed::staff(&db, "admin");
    let (_, t) = call(
        &client,
        "POST",
        format!("{base_a}/api/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    let admin = t["access_token"].as_str().unwrap().to_owned();
    let (_, acme) = call(
        &client,
        "POST",
        format!("{base_a}/api/v1/accounts"),
        Some(&admin),
        Some(json!({"name": "Acme Manufacturing", "domains": ["acme.example"]})),
    )
    .await;
    let acme = acme["id"].as_str().unwrap().to_owned();
    let (_, anna) = call(
        &client,
        "POST",
        format!("{base_a}/api/v1/accounts/{acme}/contacts"),
        Some(&admin),
        Some(json!({"name": "Anna Finance", "emails": ["anna@acme.example"]})),
    )
    .await;
    let (status, opened) = call(&client, "POST", format!("{base_a}/api/v1/cases"), Some(&admin), Some(json!({"account_id": acme, "subject": "Monthly statements", "body": "Statements follow by email.", "participant_ids": [anna["id"]], "email_contacts": false}))).await;
    assert_eq!(status, 201, "{opened}");
    let case = opened["case"]["id"].as_str().unwrap().to_owned();
    const N: usize = 40;
    for i in 0..N {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let (status, body) = call(
            &client,
            "POST",
            format!("{base}/api/v1/cases/{case}/entries"),
            Some(&admin),
            Some(json!({"kind": "email_out", "body": format!("Statement {i}")})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    sink.wait_for(N).await;
    // Once both nodes have stopped nothing is in flight: the sink holds
    // everything that was ever sent.
    a.signal("TERM");
    b.signal("TERM");
    a.wait_exit(std::time::Duration::from_secs(20));
    b.wait_exit(std::time::Duration::from_secs(20));
    assert_eq!(sink.messages().len(), N, "each message exactly once");
    let ids: std::collections::HashSet<String> = sink
        .messages()
        .iter()
        .map(|m| rapport_mail::parse(&m.raw).unwrap().message_id.unwrap())
        .collect();
    assert_eq!(ids.len(), N);
}

e2e_test!(imported_mail_is_acknowledged_only_when_recent_and_never_with_no_ack);
async fn imported_mail_is_acknowledged_only_when_recent_and_never_with_no_ack(db: &TestDatabase) {
    use rapport_tests::{rapport_bin, run_rapport};
    let app = TestApp::spawn(db).await;
    let w = crate::directory::world(&app, db).await;
    let dir = tempfile::tempdir().unwrap();
    let mail = |i: usize, from: &str, date: &str| {
        format!(
            "From: {from}\nTo: support@rapport.localhost\nSubject: Archived question {i}\nMessage-ID: <archive-{i}@acme.example>\nDate: {date}\n\nBody of question {i}.\n"
        )
    };
    let recent = chrono::Utc::now().to_rfc2822();
    let old = "Mon, 24 Nov 2025 09:00:00 +0000";
    let import = |files: &[(&str, String)], extra: &[&str]| {
        let sub = dir.path().join(format!("batch-{}", files[0].0));
        std::fs::create_dir(&sub).unwrap();
        for (name, text) in files {
            std::fs::write(sub.join(format!("{name}.eml")), text).unwrap();
        }
        let mut args = vec![
            "--data-dir",
            db.data_dir().to_str().unwrap(),
            "--database-url",
            &db.url,
            "mail",
            "import",
        ];
        args.extend_from_slice(extra);
        let path = sub.to_str().unwrap().to_owned();
        let out = run_rapport(rapport_bin!(), &[args, vec![path.as_str()]].concat(), &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // A year-old archive: cases, and no acknowledgment at all.
    let text = import(
        &[
            ("a1", mail(1, "anna@acme.example", old)),
            ("a2", mail(2, "anna@acme.example", old)),
            ("a3", mail(3, "anna@acme.example", "not a date")),
        ],
        &[],
    );
    assert!(
        text.contains("3 threaded") && text.contains("0 acknowledgments queued"),
        "{text}"
    );
    // Mail of today is acknowledged, unless the import says --no-ack.
    let text = import(&[("b1", mail(4, "anna@acme.example", &recent))], &[]);
    assert!(text.contains("1 acknowledgments queued"), "{text}");
    let text = import(
        &[("c1", mail(5, "anna@acme.example", &recent))],
        &["--no-ack"],
    );
    assert!(
        text.contains("1 threaded") && text.contains("0 acknowledgments queued"),
        "{text}"
    );
    let outbox = app.get_as(&w.admin, "/api/v1/mail/outbox").await.json();
    let acks = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "acknowledgment")
        .count();
    assert_eq!(acks, 1, "{outbox}");
    let quarantine = app
        .get_as(&w.admin, "/api/v1/mail/inbound?limit=50")
        .await
        .json();
    let outcomes: Vec<String> = quarantine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["outcome"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|o| o.contains("imported mail older than a day")),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.contains("imported with --no-ack")),
        "{outcomes:?}"
    );

    // Addresses never seen before at a client's domain: acknowledged per
    // domain at most `acknowledgments_per_hour` times, whatever the address.
    let strangers: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("d{i}"),
                mail(100 + i, &format!("person{i}@acme.example"), &recent),
            )
        })
        .collect();
    let refs: Vec<(&str, String)> = strangers
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect();
    let text = import(&refs, &[]);
    assert!(text.contains("12 threaded"), "{text}");
    let outbox = app.get_as(&w.admin, "/api/v1/mail/outbox").await.json();
    let to_domain: usize = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["kind"] == "acknowledgment" && m["recipients"].to_string().contains("@acme.example")
        })
        .count();
    let limit = app.state.config.settings.mail.acknowledgments_per_hour as usize;
    assert_eq!(
        to_domain, limit,
        "at most {limit} acknowledgments an hour to acme.example once new addresses write"
    );
}

e2e_test!(automatic_mail_is_kept_but_reopens_nothing_and_opens_no_case);
async fn automatic_mail_is_kept_but_reopens_nothing_and_opens_no_case(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.mail.lmtp_bind = "127.0.0.1:0".into()).await;
    let w = crate::directory::world(&app, db).await;
    let ingest = |raw: String| ingest_as(&app, &w.admin, raw);
    let opened = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Credit note for order 4471\r\nMessage-ID: <q-4471@acme.example>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nWhere is the credit note?\r\n".into()).await;
    let case = opened["case_id"].as_str().unwrap().to_owned();
    ok(
        app.send(
            Method::PATCH,
            &format!("/api/v1/cases/{case}"),
            Some(json!({"status": "resolved"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let before = app
        .get_as(&w.admin, &format!("/api/v1/cases/{case}"))
        .await
        .json();

    // An out-of-office reply in the thread: stored, and nothing moves.
    let ooo = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Automatic reply: Credit note for order 4471\r\nMessage-ID: <ooo-1@acme.example>\r\nIn-Reply-To: <q-4471@acme.example>\r\nAuto-Submitted: auto-replied\r\n\r\nI am out of the office until Monday.\r\n".into()).await;
    assert_eq!(ooo["status"], "threaded", "{ooo}");
    let after = app
        .get_as(&w.admin, &format!("/api/v1/cases/{case}"))
        .await
        .json();
    assert_eq!(after["status"], "resolved");
    assert_eq!(after["reopen_count"], 0);
    assert_eq!(after["resolved_at"], before["resolved_at"]);
    assert_eq!(after["sla_due_at"], before["sla_due_at"]);
    let thread = thread_of(&app, &w.admin, &case).await;
    assert!(thread.iter().any(|e| {
        e["body"]
            .as_str()
            .unwrap_or("")
            .contains("out of the office")
    }));
    assert!(
        !thread
            .iter()
            .any(|e| e["body"].as_str().unwrap_or("").contains("Reopened"))
    );
    let report = app.get_as(&w.admin, "/api/v1/reports").await.json();
    assert_eq!(report["reopen"]["reopened"], 0, "{report}");

    // An automatic message that answers nothing opens no case.
    let stray = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Out of office\r\nMessage-ID: <ooo-2@acme.example>\r\nAuto-Submitted: auto-replied\r\n\r\nAway until Monday.\r\n".into()).await;
    assert_eq!(stray["status"], "quarantined");
    assert!(
        stray["outcome"]
            .as_str()
            .unwrap()
            .starts_with("automatic, unthreaded"),
        "{stray}"
    );

    // Mail with an empty envelope sender is automatic too.
    let lmtp = app.lmtp_addr.unwrap();
    let raw = b"From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Delivery report\r\nMessage-ID: <null-sender-1@acme.example>\r\n\r\nYour message was delivered.\r\n".to_vec();
    lmtp_send(lmtp, "", &["support@rapport.localhost"], raw)
        .await
        .unwrap();
    let held = app
        .get_as(&w.admin, "/api/v1/mail/inbound?status=quarantined")
        .await
        .json();
    let reason = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == "null-sender-1@acme.example")
        .expect("held")["outcome"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reason,
        "automatic, unthreaded: automatic message (empty envelope sender)"
    );
}

e2e_test!(a_long_email_is_shortened_in_the_thread_and_attached_whole);
async fn a_long_email_is_shortened_in_the_thread_and_attached_whole(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.cases.max_message_chars = 500).await;
    let w = crate::directory::world(&app, db).await;
    let text: String = (0..60)
        .map(|i| format!("Line {i} of the reconciliation notes.\r\n"))
        .collect();
    let raw = format!(
        "From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Reconciliation notes\r\nMessage-ID: <long-1@acme.example>\r\n\r\n{text}"
    );
    let got = received_over_http(&app, &w.admin, raw.into_bytes()).await;
    assert_eq!(got["status"], "threaded", "{got}");
    let entries = app
        .get_as(
            &w.admin,
            &format!("/api/v1/cases/{}/entries", got["case_id"].as_str().unwrap()),
        )
        .await
        .json();
    let first = &entries["items"][0];
    let body = first["body"].as_str().unwrap();
    assert!(
        body.chars().count() <= 500,
        "the thread keeps the limit: {} chars",
        body.chars().count()
    );
    assert!(
        body.starts_with("Line 0 of the reconciliation notes."),
        "{body}"
    );
    assert!(
        body.ends_with("[… shortened here: the whole email is attached as whole-email.txt]"),
        "{body}"
    );
    let files = first["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{first}");
    assert_eq!(files[0]["filename"], "whole-email.txt");
    let whole = app
        .get_as(&w.admin, files[0]["url"].as_str().unwrap())
        .await;
    assert_eq!(whole.status, 200);
    let whole = String::from_utf8(whole.body).unwrap();
    assert!(
        whole.contains("Line 0 of") && whole.contains("Line 59 of the reconciliation notes."),
        "{whole}"
    );
}

e2e_test!(outlook_replies_thread_by_thread_index_and_a_late_parent_joins_its_reply);
async fn outlook_replies_thread_by_thread_index_and_a_late_parent_joins_its_reply(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = crate::directory::world(&app, db).await;
    let ingest = |raw: String| ingest_as(&app, &w.admin, raw);
    let opened = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Dunning letter sent by mistake\r\nMessage-ID: <dun-1@acme.example>\r\n\r\nWe paid invoice 2026-0290 on time.\r\n".into()).await;
    let case = opened["case_id"].as_str().unwrap().to_owned();

    // Our reply starts an Outlook conversation index of its own.
    let mailbox = db.data_dir().join("mailbox");
    let before: Vec<_> = std::fs::read_dir(&mailbox)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "email_out", "body": "Sorry: the letter is withdrawn."}),
        )
        .await,
        201,
    )
    .await;
    let mut seen = before.clone();
    let sent = loop {
        let path = rapport_tests::http::wait_for_new_mail(&mailbox, &seen).await;
        let m = rapport_mail::parse(&std::fs::read(&path).unwrap()).unwrap();
        if m.text.contains("withdrawn") {
            break m;
        }
        seen.push(path);
    };
    let index = sent
        .header("thread-index")
        .expect("a Thread-Index")
        .to_owned();

    // Outlook answers with neither In-Reply-To nor References, a
    // subject without the tag, to the plain address; only the index,
    // grown by one reply, is left.
    use base64::Engine;
    let mut grown = base64::engine::general_purpose::STANDARD
        .decode(&index)
        .unwrap();
    grown.extend_from_slice(&[0x00, 0x00, 0x1f, 0x3a, 0x10]);
    let grown = base64::engine::general_purpose::STANDARD.encode(grown);
    let reply = ingest(format!("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: AW: Dunning letter\r\nMessage-ID: <dun-2@acme.example>\r\nThread-Index: {grown}\r\nThread-Topic: Dunning letter\r\n\r\nThank you, all clear.\r\n")).await;
    assert_eq!(reply["case_id"], case.as_str(), "{reply}");
    assert!(
        reply["outcome"].as_str().unwrap().contains("Thread-Index"),
        "{reply}"
    );
    // Someone else's index, or one of another account's case, threads nothing.
    let stranger = ingest(format!("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: New topic\r\nMessage-ID: <dun-3@acme.example>\r\nThread-Index: {}\r\n\r\nSomething else.\r\n", rapport_mail::thread_index::start(uuid::Uuid::now_v7(), chrono::Utc::now()))).await;
    assert_ne!(stranger["case_id"], case.as_str(), "{stranger}");
    let foreign = ingest(format!("From: Olga Other <olga@globex.example>\r\nTo: support@rapport.localhost\r\nSubject: AW: Dunning letter\r\nMessage-ID: <glx-1@globex.example>\r\nThread-Index: {grown}\r\n\r\nMay I see this?\r\n")).await;
    assert_ne!(
        foreign["case_id"],
        case.as_str(),
        "another account never joins by index: {foreign}"
    );
    // Outlook keeps the index on a forward: a colleague who sees only
    // their own cases does not join by it.
    let forwarded = ingest(format!("From: Carl Colleague <carl@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: WG: Dunning letter\r\nMessage-ID: <fw-1@acme.example>\r\nThread-Index: {grown}\r\n\r\nAnna forwarded this; same for our account?\r\n")).await;
    assert_ne!(forwarded["case_id"], case.as_str(), "{forwarded}");

    // Mail out of order: the follow-up arrives before the message it answers.
    let child = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Re: Pallet count for delivery 5531\r\nMessage-ID: <pal-2@acme.example>\r\nIn-Reply-To: <pal-1@acme.example>\r\nReferences: <pal-1@acme.example>\r\n\r\nCorrection: 14 pallets, not 12.\r\n".into()).await;
    let pallets = child["case_id"].as_str().unwrap().to_owned();
    let parent = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Pallet count for delivery 5531\r\nMessage-ID: <pal-1@acme.example>\r\n\r\nDelivery 5531 arrived with 12 pallets.\r\n".into()).await;
    assert_eq!(
        parent["case_id"],
        pallets.as_str(),
        "the late parent joins its reply's case: {parent}"
    );
    assert!(
        parent["outcome"]
            .as_str()
            .unwrap()
            .contains("a reply to it arrived first"),
        "{parent}"
    );
    let bodies: Vec<String> = thread_of(&app, &w.admin, &pallets)
        .await
        .iter()
        .filter(|e| e["kind"] == "email_in")
        .map(|e| e["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");

    // A parent is waited for 30 days; later it is old history and opens its own case.
    let child = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Re: Crate sizes\r\nMessage-ID: <crate-2@acme.example>\r\nIn-Reply-To: <crate-1@acme.example>\r\n\r\nAnd the crates were 80 cm, not 60.\r\n".into()).await;
    let upkeep = |days| {
        rapport_server::usecase::mail::forget_stale_awaited_parents(
            &app.state,
            chrono::Utc::now() + chrono::Duration::days(days),
        )
        .unwrap()
    };
    assert_eq!(upkeep(29), 0, "a wait younger than 30 days stays");
    assert_eq!(upkeep(31), 1, "an older one is forgotten");
    let parent = ingest("From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Crate sizes\r\nMessage-ID: <crate-1@acme.example>\r\n\r\nThe crates were 60 cm.\r\n".into()).await;
    assert_ne!(parent["case_id"], child["case_id"], "{parent}");
}

/// One raw message through the HTTP door; what became of it.
pub(crate) async fn ingest_as(app: &TestApp, token: &str, raw: String) -> Value {
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            raw.into_bytes(),
            Some(token),
        )
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

e2e_test!(rapport_mail_test_reports_what_the_relay_answered);
async fn rapport_mail_test_reports_what_the_relay_answered(db: &TestDatabase) {
    use rapport_tests::{rapport_bin, run_rapport};
    let sink = SmtpSink::start();
    let port = sink.addr.port().to_string();
    let data_dir = db.data_dir().to_str().unwrap().to_owned();
    let env = [
        ("RAPPORT_MAIL__TRANSPORT", "smtp"),
        ("RAPPORT_MAIL__SMTP_HOST", "127.0.0.1"),
        ("RAPPORT_MAIL__SMTP_PORT", port.as_str()),
        ("RAPPORT_MAIL__SMTP_SECURITY", "none"),
    ];
    let test = |to: &str| {
        run_rapport(
            rapport_bin!(),
            &[
                "--data-dir",
                &data_dir,
                "--database-url",
                &db.url,
                "mail",
                "test",
                "--to",
                to,
            ],
            &env,
        )
    };
    let sent = test("ops@support.example");
    let said = String::from_utf8_lossy(&sent.stdout).into_owned();
    assert!(
        sent.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(
        said.starts_with("sent to ops@support.example: 250"),
        "{said}"
    );
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].rcpt_to, ["ops@support.example"]);
    assert!(String::from_utf8_lossy(&got[0].raw).contains("test message"));
    // A relay that refuses: its answer, and a failing exit.
    sink.refuse_with(Some("550 5.7.1 Relaying denied"));
    let refused = test("ops@support.example");
    let said = String::from_utf8_lossy(&refused.stderr).into_owned()
        + &String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success());
    assert!(said.contains("Relaying denied"), "{said}");
    // A wrong address is named before anything is sent.
    let wrong = test("not an address");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--to not an address"));
}

/// Written at the top of the Postfix configuration this test owns.
const POSTFIX_MARK: &str = "# written by rapport's test suite";

/// Debian's Postfix, configured as docs/operations.md says, hands mail for
/// the support domain to Rapport's LMTP listener; delivered with Postfix's
/// own `sendmail`. One instance per machine, so SQLite only.
#[actix_web::test]
async fn postfix_hands_the_support_domain_to_rapport_over_lmtp() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let postfix = std::path::Path::new("/usr/sbin/postfix");
    if !postfix.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs Debian's postfix (.ci/run); it is missing"
        );
        rapport_tests::report_skip("no /usr/sbin/postfix (apt-get install postfix)");
        return;
    }
    let main_cf = std::path::Path::new("/etc/postfix/main.cf");
    if let Ok(existing) = std::fs::read_to_string(main_cf) {
        assert!(
            existing.starts_with(POSTFIX_MARK),
            "/etc/postfix/main.cf is this machine's own configuration: the test does not overwrite it"
        );
    }
    let db = TestDatabase::create(rapport_tests::Backend::Sqlite).expect("SQLite");
    let app = TestApp::spawn_with(&db, |s| {
        s.mail.lmtp_bind = "127.0.0.1:0".into();
        s.mail.address = "support@support.test".into();
    })
    .await;
    let lmtp = app.lmtp_addr.expect("the LMTP listener runs");
    let d = desk(&app, &db).await;

    // The lines of docs/operations.md, and services that need no chroot.
    std::fs::write(
        main_cf,
        format!(
            "{POSTFIX_MARK}\ncompatibility_level = 3.6\nmyhostname = mx.rapport-test.localdomain\n\
             mydestination =\ninet_interfaces = loopback-only\ninet_protocols = ipv4\n\
             maillog_file = /var/log/postfix-rapport-test.log\n\
             recipient_delimiter = +\nrelay_domains = support.test\n\
             transport_maps = texthash:/etc/postfix/transport\n"
        ),
    )
    .unwrap();
    std::fs::write(
        "/etc/postfix/transport",
        format!("support.test  lmtp:inet:{lmtp}\n"),
    )
    .unwrap();
    let services = [
        ("pickup", "unix", "n", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "300", "1", "qmgr"),
        ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "1", "verify"),
        ("flush", "unix", "n", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "-", "proxymap"),
        ("showq", "unix", "n", "-", "-", "showq"),
        ("error", "unix", "-", "-", "-", "error"),
        ("retry", "unix", "-", "-", "-", "error"),
        ("discard", "unix", "-", "-", "-", "discard"),
        ("lmtp", "unix", "-", "-", "-", "lmtp"),
        ("smtp", "unix", "-", "-", "-", "smtp"),
        ("anvil", "unix", "-", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
    ];
    let master: String = services
        .iter()
        .map(|(name, kind, private, wakeup, limit, command)| {
            format!("{name} {kind} {private} - n {wakeup} {limit} {command}\n")
        })
        .collect();
    std::fs::write(
        "/etc/postfix/master.cf",
        format!("{POSTFIX_MARK}\n{master}"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(postfix)
            .args(args)
            .output()
            .expect("postfix runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let _ = run(&["stop"]);
    let (ok_check, said) = run(&["check"]);
    assert!(ok_check, "postfix check: {said}");
    let (started, said) = run(&["start"]);
    assert!(started, "postfix start: {said}");

    let mut sendmail = Command::new("/usr/sbin/sendmail")
        .args(["-i", "-f", "anna@acme.example", "support@support.test"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sendmail runs");
    sendmail
        .stdin
        .take()
        .unwrap()
        .write_all(&first_mail(
            "Delivered by Postfix",
            "postfix-1@acme.example",
        ))
        .unwrap();
    assert!(sendmail.wait().unwrap().success());
    let _ = Command::new(postfix).arg("flush").status();

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let case = loop {
        let list = app
            .get_as(&d.agent, &format!("/api/v1/cases?account_id={}", d.acme))
            .await
            .json();
        if let Some(c) = list["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|c| c["subject"] == "Delivered by Postfix")
        }) {
            break c.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Postfix did not hand the message to Rapport; its log:\n{}",
            std::fs::read_to_string("/var/log/postfix-rapport-test.log").unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = run(&["stop"]);
    let thread = thread_of(&app, &d.agent, case["id"].as_str().unwrap()).await;
    assert!(
        thread[0]["body"]
            .as_str()
            .unwrap()
            .contains("19% VAT instead of 7%"),
        "{thread:?}"
    );
    let _ = d.admin;
}

e2e_test!(mail_whose_threading_fails_is_still_taken_and_threaded_once_later);
async fn mail_whose_threading_fails_is_still_taken_and_threaded_once_later(db: &TestDatabase) {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn(db).await;
    let d = desk(&app, db).await;
    // A real fault in the database: recording the email's details fails,
    // after the case was opened in the same transaction.
    let refuse: &[&str] = match db.backend {
        rapport_tests::Backend::Sqlite => &[
            "CREATE TRIGGER entry_emails_refused BEFORE INSERT ON entry_emails \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        rapport_tests::Backend::Postgres => &[
            "CREATE FUNCTION refuse_entry_email() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER entry_emails_refused BEFORE INSERT ON entry_emails \
             FOR EACH ROW EXECUTE FUNCTION refuse_entry_email()",
        ],
    };
    for sql in refuse {
        diesel::sql_query(*sql)
            .execute(&mut *app.state.store.conn().unwrap())
            .unwrap();
    }
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            first_mail("Credit note for order 4471", "fault-1@acme.example"),
            Some(&d.admin),
        )
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let taken = res.json();
    assert_eq!(taken["status"], "pending", "taken for the worker: {taken}");
    let pending = app
        .get_as(&d.admin, "/api/v1/mail/inbound?status=pending")
        .await
        .json();
    assert_eq!(pending["items"].as_array().unwrap().len(), 1, "{pending}");
    // Nothing of the failed threading stayed: no case, no entry.
    let cases = app.get_as(&d.agent, "/api/v1/cases").await.json();
    assert_eq!(
        cases["items"].as_array().unwrap().len(),
        0,
        "the half-done case rolled back: {cases}"
    );

    let fixed = match db.backend {
        rapport_tests::Backend::Sqlite => "DROP TRIGGER entry_emails_refused",
        rapport_tests::Backend::Postgres => "DROP TRIGGER entry_emails_refused ON entry_emails",
    };
    diesel::sql_query(fixed)
        .execute(&mut *app.state.store.conn().unwrap())
        .unwrap();
    // The worker threads it on its next round.
    let mut threaded = Value::Null;
    for _ in 0..100 {
        let page = app
            .get_as(&d.admin, "/api/v1/mail/inbound?status=threaded")
            .await
            .json();
        if let Some(row) = page["items"].as_array().and_then(|i| i.first()) {
            threaded = row.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        threaded["id"], taken["id"],
        "the same row, threaded: {threaded}"
    );
    let cases = app.get_as(&d.agent, "/api/v1/cases").await.json();
    let items = cases["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one case: {cases}");
    assert_eq!(items[0]["subject"], "Credit note for order 4471");
    let thread = thread_of(&app, &d.agent, items[0]["id"].as_str().unwrap()).await;
    let emails: Vec<&Value> = thread.iter().filter(|e| e["kind"] == "email_in").collect();
    assert_eq!(emails.len(), 1, "the email once: {thread:?}");
}

e2e_test!(two_copies_of_one_email_arriving_at_once_are_threaded_once);
async fn two_copies_of_one_email_arriving_at_once_are_threaded_once(db: &TestDatabase) {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn(db).await;
    let d = desk(&app, db).await;
    if db.backend == rapport_tests::Backend::Postgres {
        // Holds the first copy's transaction open after it recorded the
        // Message-ID, so that the second copy is threaded meanwhile (on
        // SQLite the single writer runs them one after the other).
        for sql in [
            "CREATE FUNCTION hold_first_copy() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.full_text LIKE '%(first copy)%' THEN PERFORM pg_sleep(1.5); END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER entry_emails_hold BEFORE INSERT ON entry_emails \
             FOR EACH ROW EXECUTE FUNCTION hold_first_copy()",
        ] {
            diesel::sql_query(sql)
                .execute(&mut *app.state.store.conn().unwrap())
                .unwrap();
        }
    }
    // The same email by two relays: the same Message-ID, other bytes.
    let copy = |tag: &str| {
        format!(
            "From: Anna Finance <anna@acme.example>\r\nTo: support@rapport.localhost\r\nSubject: Pallet count for order 5120\r\nMessage-ID: <copies-1@acme.example>\r\n\r\nWe received 11 pallets, not 12. ({tag})\r\n"
        )
        .into_bytes()
    };
    let deliver = |raw: Vec<u8>| {
        let (app, token) = (&app, d.admin.clone());
        async move {
            app.send_raw("/api/v1/inbound/email", "message/rfc822", raw, Some(&token))
                .await
                .status
        }
    };
    let later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        deliver(copy("second copy")).await
    };
    let (first, second) = futures_util::join!(deliver(copy("first copy")), later);
    assert_eq!((first, second), (202, 202), "both copies are taken");
    let mut rows = Vec::new();
    for _ in 0..100 {
        let page = app.get_as(&d.admin, "/api/v1/mail/inbound").await.json();
        rows = page["items"].as_array().unwrap().clone();
        if rows.len() == 2 && rows.iter().all(|r| r["status"] != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["ignored", "threaded"], "{rows:?}");
    let ignored = rows.iter().find(|r| r["status"] == "ignored").unwrap();
    assert!(
        ignored["outcome"]
            .as_str()
            .unwrap()
            .contains("duplicate of"),
        "{ignored}"
    );
    let cases = app.get_as(&d.agent, "/api/v1/cases").await.json();
    let opened: Vec<&Value> = cases["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subject"] == "Pallet count for order 5120")
        .collect();
    assert_eq!(opened.len(), 1, "one case: {cases}");
    let thread = thread_of(&app, &d.agent, opened[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        thread.iter().filter(|e| e["kind"] == "email_in").count(),
        1,
        "{thread:?}"
    );
}
