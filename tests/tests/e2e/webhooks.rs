//! Outgoing webhooks against a real HTTP receiver: signed deliveries of
//! the events an endpoint asked for, retries on the schedule, disabling
//! after persistent failure with word to the admins, redelivery.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use rapport_tests::{TestApp, TestDatabase, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) body: String,
}

/// A receiver on loopback that answers with `status`.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Receiver::answering(None, Duration::ZERO)
    }

    /// A receiver that answers every request with `json` (when given, with
    /// 200; else an empty answer with the status) after `delay`: a system
    /// Rapport asks, such as a customer card source.
    pub(crate) fn answering(json: Option<Value>, delay: Duration) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(204));
        let (g, s) = (got.clone(), status.clone());
        let server = HttpServer::new(move || {
            let (g, s, json) = (g.clone(), s.clone(), json.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (g, s, json) = (g.clone(), s.clone(), json.clone());
                async move {
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    g.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    tokio::time::sleep(delay).await;
                    if let Some(json) = json {
                        return HttpResponse::Ok().json(json);
                    }
                    let code = s.load(Ordering::SeqCst);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                        .body(format!("receiver answered {code}"))
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        Receiver {
            url: format!("http://{addr}/hooks"),
            got,
            status,
        }
    }

    /// Waits until a request with this event type arrived.
    async fn wait_for(&self, event: &str) -> Received {
        self.wait_for_nth(event, 1).await
    }

    /// Waits until the `n`th request with this event type arrived.
    async fn wait_for_nth(&self, event: &str, n: usize) -> Received {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(r) = self
                .got
                .lock()
                .unwrap()
                .iter()
                .filter(|r| {
                    serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["type"] == event)
                })
                .nth(n - 1)
            {
                return r.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {event} delivery arrived; got {:?}",
                self.got.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn count(&self, event: &str) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["type"] == event))
            .count()
    }
}

/// An endpoint's delivery log, newest first.
async fn deliveries(app: &TestApp, admin: &str, endpoint: &str) -> Value {
    ok(
        app.get_as(admin, &format!("/api/v1/webhooks/{endpoint}/deliveries"))
            .await,
        200,
    )
    .await
}

/// Checks a delivery as a receiver following Standard Webhooks would.
pub(crate) fn verify(secret: &str, r: &Received) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let signed = format!("{}.{}.{}", r.id, r.timestamp, r.body);
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(r.signature, want, "the signature verifies");
    let ts: i64 = r.timestamp.parse().expect("unix seconds");
    assert!(
        (chrono::Utc::now().timestamp() - ts).abs() < 300,
        "a fresh timestamp"
    );
}

e2e_test!(an_endpoint_gets_the_events_it_asked_for_signed);
async fn an_endpoint_gets_the_events_it_asked_for_signed(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let receiver = Receiver::start();
    // Only admins register, with known events and a URL.
    app.post_as(
        &w.agent_in,
        "/api/v1/webhooks",
        &json!({"url": receiver.url, "events": ["case.opened"]}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post_as(
        &w.admin,
        "/api/v1/webhooks",
        &json!({"url": receiver.url, "events": ["case.exploded"]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post_as(
        &w.admin,
        "/api/v1/webhooks",
        &json!({"url": "ftp://x", "events": ["case.opened"]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let registered = ok(
        app.post_as(
            &w.admin,
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "events": ["case.opened", "entry.added", "case.status_changed"]}),
        )
        .await,
        201,
    )
    .await;
    let secret = registered["secret"].as_str().unwrap().to_owned();
    let endpoint = registered["id"].as_str().unwrap().to_owned();
    let listed = ok(app.get_as(&w.admin, "/api/v1/webhooks").await, 200).await;
    assert!(listed.to_string().contains(&endpoint));
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );

    // A contact opens a case: case.opened and its first entry.
    let opened = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Duplicate charge on invoice 88", "body": "We were charged twice."}),
        )
        .await,
        201,
    )
    .await;
    let case = opened["case"]["id"].as_str().unwrap().to_owned();
    let got = receiver.wait_for("case.opened").await;
    verify(&secret, &got);
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["data"]["case"]["id"], case.as_str());
    assert!(body["timestamp"].is_string());
    let entry = receiver.wait_for("entry.added").await;
    verify(&secret, &entry);
    assert_ne!(entry.id, got.id, "each event has its own webhook-id");

    // A note stays internal (this endpoint did not ask for notes); a status change is sent.
    ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "note", "body": "Refund approved internally"}),
        )
        .await,
        201,
    )
    .await;
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/cases/{case}"),
            Some(json!({"status": "pending_client"}).to_string()),
            Some(&w.agent_in),
        )
        .await,
        200,
    )
    .await;
    let changed = receiver.wait_for("case.status_changed").await;
    verify(&secret, &changed);
    let changed: Value = serde_json::from_str(&changed.body).unwrap();
    assert_eq!(changed["data"]["case"]["status"], "pending_client");
    assert!(
        receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .all(|r| !r.body.contains("Refund approved internally")),
        "notes are not sent"
    );

    // The delivery log shows each with the receiver's answer, recorded
    // once the answer is back (the receiver may see the request first).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let log = ok(
            app.get_as(&w.admin, &format!("/api/v1/webhooks/{endpoint}/deliveries"))
                .await,
            200,
        )
        .await;
        let done = log
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered" && d["last_status"] == 204);
        if done || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let log = log.as_array().unwrap();
    assert!(log.len() >= 3, "{log:?}");
    assert!(
        log.iter()
            .all(|d| d["status"] == "delivered" && d["last_status"] == 204),
        "{log:?}"
    );
    assert_eq!(receiver.count("case.opened"), 1, "sent once");
}

e2e_test!(a_failing_endpoint_is_retried_for_a_day_then_disabled_and_admins_are_told);
async fn a_failing_endpoint_is_retried_for_a_day_then_disabled_and_admins_are_told(
    db: &TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let receiver = Receiver::start();
    receiver.status.store(503, Ordering::SeqCst);
    let registered = ok(
        app.post_as(
            &w.admin,
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "events": ["case.opened"]}),
        )
        .await,
        201,
    )
    .await;
    let endpoint = registered["id"].as_str().unwrap().to_owned();
    ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Pallets missing", "body": "Two pallets short."}),
        )
        .await,
        201,
    )
    .await;
    receiver.wait_for("case.opened").await;
    // The first attempt failed: the log says why and when the next one is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        let log = deliveries(&app, &w.admin, &endpoint).await;
        if log[0]["attempts"] == 1 {
            break log[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(first["status"], "pending");
    assert_eq!(first["last_status"], 503);
    assert!(
        first["last_response"]
            .as_str()
            .unwrap()
            .contains("receiver answered 503")
    );
    let delivery = first["id"].as_str().unwrap().to_owned();

    // Walk the schedule: each retry at its due time, for more than a day.
    let client = rapport_server::webhooks::client();
    let mut now = chrono::Utc::now();
    let mut waited = chrono::Duration::zero();
    for wait in rapport_server::usecase::webhooks::RETRY_AFTER_SECS {
        now += chrono::Duration::seconds(*wait + 1);
        waited += chrono::Duration::seconds(*wait);
        let round = app
            .state
            .webhooks
            .run_once(&app.state, &client, now)
            .await
            .unwrap();
        assert_eq!(round.sent, 1, "one retry due after {wait} s");
    }
    assert!(
        waited >= chrono::Duration::hours(24),
        "retried for more than a day"
    );
    let log = deliveries(&app, &w.admin, &endpoint).await;
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["attempts"], 8);
    assert_eq!(receiver.count("case.opened"), 8);

    // The endpoint is disabled, and the admins got an email saying so.
    let listed = ok(app.get_as(&w.admin, "/api/v1/webhooks").await, 200).await;
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == endpoint.as_str())
        .unwrap()
        .clone();
    assert!(ours["disabled_at"].is_string());
    assert!(
        ours["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("receiver answered 503")
    );
    let mailbox = db.data_dir().join("mailbox");
    let mut seen = Vec::new();
    loop {
        let path = rapport_tests::http::wait_for_new_mail(&mailbox, &seen).await;
        let mail = rapport_mail::parse(&std::fs::read(&path).unwrap()).unwrap();
        if mail.subject.contains("Webhook endpoint disabled") {
            assert!(mail.text.contains(&receiver.url));
            break;
        }
        seen.push(path);
    }

    // Fixed on the receiver's side: enabled again, the failed delivery is sent again, same id.
    receiver.status.store(200, Ordering::SeqCst);
    ok(
        app.post_as(
            &w.admin,
            &format!("/api/v1/webhooks/{endpoint}/enable"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    ok(
        app.post_as(
            &w.admin,
            &format!("/api/v1/webhooks/{endpoint}/deliveries/{delivery}/redeliver"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(&app, &w.admin, &endpoint).await;
        if log[0]["status"] == "delivered" {
            assert_eq!(log[0]["last_status"], 200);
            assert_eq!(log[0]["id"], delivery.as_str());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: Vec<String> = receiver
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert!(
        ids.iter().all(|i| *i == delivery),
        "every attempt carried the same webhook-id"
    );
}

e2e_test!(an_admin_adds_a_webhook_in_the_browser_and_reads_its_deliveries);
async fn an_admin_adds_a_webhook_in_the_browser_and_reads_its_deliveries(db: &TestDatabase) {
    let Some(driver) = rapport_tests::browser::Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // The receiver takes 2 s to answer, so the log is opened while the
    // delivery is in flight and shows its outcome only by refreshing.
    let receiver = Receiver::answering(None, Duration::from_secs(2));
    let (email, password) = rapport_tests::seed::staff(db, "admin");
    let b = driver.browser().await;
    b.goto(&format!("{}/admin", app.base_url)).await;
    super::ui::staff_sign_in(&b, &email, &password).await;
    b.click("#nav-webhooks").await;
    b.wait_text("#section", "No endpoint yet").await;
    b.type_into("#w-url", &receiver.url).await;
    b.click("#w-event-case-opened").await;
    b.click("#w-form-submit").await;
    b.wait_text("#section-status", "receives case.opened").await;
    b.wait_text("#w-secret-shown", "whsec_").await;
    let secret = b
        .script("return document.getElementById('w-secret-value').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // A client opens a case; the receiver gets it, signed with that secret.
    ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Customs papers for order 5512", "body": "Which forms do you need?"}),
        )
        .await,
        201,
    )
    .await;
    let got = receiver.wait_for("case.opened").await;
    verify(&secret, &got);

    // The admin reads the delivery log and sends it again.
    b.click("#w-list button[id^=w-log-]").await;
    b.wait_text("#w-deliveries", "delivered").await;
    b.wait_text("#w-deliveries", "case.opened").await;
    b.click("#w-deliveries button[id^=w-again-]").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while receiver.count("case.opened") < 2 {
        assert!(tokio::time::Instant::now() < deadline, "sent again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The open log follows the delivery it sent again to its outcome,
    // without a reload.
    b.wait_true(
        "const r = document.querySelector('#w-deliveries tbody tr'); \
         return !!r && r.cells[2].textContent === 'delivered' && r.cells[3].textContent === '2'",
        "the log shows the second attempt delivered",
    )
    .await;
    b.quit().await;
}

e2e_test!(a_crm_endpoint_hears_of_accounts_and_contacts_as_they_change);
async fn a_crm_endpoint_hears_of_accounts_and_contacts_as_they_change(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.mail.lmtp_bind = "127.0.0.1:0".into()).await;
    let w = world(&app, db).await;
    let receiver = Receiver::start();
    let registered = ok(
        app.post_as(
            &w.admin,
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "events": ["account.created", "account.updated", "contact.created", "contact.updated"]}),
        )
        .await,
        201,
    )
    .await;
    let secret = registered["secret"].as_str().unwrap().to_owned();

    let account = ok(
        app.post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Nordwind Logistics", "domains": ["nordwind.example"]}),
        )
        .await,
        201,
    )
    .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let created = receiver.wait_for("account.created").await;
    verify(&secret, &created);
    let body: Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!(body["data"]["account"]["id"], account_id.as_str());
    assert_eq!(body["data"]["account"]["domains"][0], "nordwind.example");

    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/accounts/{account_id}"),
            Some(json!({"tier": "strategic"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let updated = receiver.wait_for("account.updated").await;
    verify(&secret, &updated);
    let body: Value = serde_json::from_str(&updated.body).unwrap();
    assert_eq!(body["data"]["changed"], json!(["tier"]));
    assert_eq!(body["data"]["account"]["tier"], "strategic");

    // A contact added, then given a title; a password never travels.
    let contact = ok(
        app.post_as(
            &w.admin,
            &format!("/api/v1/accounts/{account_id}/contacts"),
            &json!({"name": "Jonas Berg", "emails": ["jonas@nordwind.example"], "function": "finance"}),
        )
        .await,
        201,
    )
    .await;
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    let added = receiver.wait_for("contact.created").await;
    let body: Value = serde_json::from_str(&added.body).unwrap();
    assert_eq!(body["data"]["contact"]["id"], contact_id.as_str());
    assert_eq!(body["data"]["contact"]["account_id"], account_id.as_str());
    assert_eq!(
        body["data"]["contact"]["emails"][0],
        "jonas@nordwind.example"
    );
    ok(
        app.send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/contacts/{contact_id}"),
            Some(json!({"title": "Chief Financial Officer"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    let retitled = receiver.wait_for("contact.updated").await;
    verify(&secret, &retitled);
    let body: Value = serde_json::from_str(&retitled.body).unwrap();
    assert_eq!(body["data"]["changed"], json!(["title"]));
    assert_eq!(body["data"]["contact"]["title"], "Chief Financial Officer");

    // An import: a dry run sends nothing; applied, an unchanged row sends
    // nothing and a new one sends its event.
    let csv = "account,name,emails,title\n\
               Nordwind Logistics,Jonas Berg,jonas@nordwind.example,Chief Financial Officer\n\
               Nordwind Logistics,Mia Lund,mia@nordwind.example,Operations Lead\n";
    for dry_run in [true, false] {
        let report = ok(
            app.send(
                actix_web::http::Method::POST,
                &format!("/api/v1/directory/import?kind=contacts&dry_run={dry_run}"),
                Some(csv.to_owned()),
                Some(&w.admin),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(report["created"], 1, "{report}");
        assert_eq!(report["unchanged"], 1, "{report}");
    }
    let imported = receiver.wait_for_nth("contact.created", 2).await;
    assert!(
        imported.body.contains("mia@nordwind.example"),
        "{}",
        imported.body
    );
    // Someone new at the client writes in: the contact made for them is
    // announced like any other.
    let raw = "From: Ola Nordmann <ola@nordwind.example>\r\nTo: support@rapport.localhost\r\nSubject: Freight invoice 7781\r\nMessage-ID: <ola-7781@nordwind.example>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\nThe freight invoice lists two pallets; we sent one.\r\n";
    crate::mail::lmtp_send(
        app.lmtp_addr.expect("an LMTP listener"),
        "ola@nordwind.example",
        &["support@rapport.localhost"],
        raw.as_bytes().to_vec(),
    )
    .await
    .expect("the message is accepted");
    let wrote_in = receiver.wait_for_nth("contact.created", 3).await;
    verify(&secret, &wrote_in);
    let body: Value = serde_json::from_str(&wrote_in.body).unwrap();
    assert_eq!(body["data"]["contact"]["emails"][0], "ola@nordwind.example");
    assert_eq!(body["data"]["contact"]["account_id"], account_id.as_str());
    for r in receiver.got.lock().unwrap().iter() {
        assert!(!r.body.contains("password"), "{}", r.body);
    }
    assert_eq!(receiver.count("contact.updated"), 1);
    assert_eq!(receiver.count("account.created"), 1);
}
