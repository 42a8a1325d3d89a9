//! The console as an agent's workspace, in a real browser: views with
//! counts, a new chat arriving by itself, sorting and bulk changes, labels,
//! addresses that survive a reload and back/forward, one sign-in for every
//! staff page, drafts, the client's context beside the thread, the
//! composer's modes, readable changes, read markers, search and keys.

use rapport_tests::TestDatabase;
use std::time::{Duration, Instant};

use rapport_tests::browser::Browser;
use rapport_tests::browser::Driver;
use rapport_tests::{ChatClient, TestApp, e2e_test};
use serde_json::{Value, json};

use super::attachments::{content_type, multipart};
use super::directory::{ok, world};
use super::ui::{PNG, staff_sign_in, team_agent};

/// Presses `key` as the page's keyboard handler receives it.
async fn press(b: &Browser, key: &str) {
    b.script(&format!("document.dispatchEvent(new KeyboardEvent('keydown', {{ key: {key:?}, bubbles: true }})); return true")).await;
}

e2e_test!(an_agent_works_a_day_in_the_console);
async fn an_agent_works_a_day_in_the_console(db: &TestDatabase) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let (email, password, agent, agent_id) = team_agent(&app, db, &w).await;
    let agent_name = app.get_as(&agent, "/api/v1/me").await.json()["display_name"]
        .as_str()
        .unwrap()
        .to_owned();
    // A client's case with the screenshot they sent.
    let opened = app
        .send_raw(
            "/api/v1/cases/with-files",
            &content_type(),
            multipart(
                &[
                    ("subject", "Login page shows an error"),
                    ("body", "See the screenshot."),
                ],
                &[("login-error.png", PNG)],
            ),
            Some(&w.contact_in),
        )
        .await;
    let opened = ok(opened, 201).await;
    let number = opened["case"]["number"].as_i64().unwrap();
    assert_eq!(
        opened["entry"]["attachments"][0]["filename"],
        "login-error.png"
    );

    let b = driver.browser().await;
    b.goto(&format!("{}/console/views/team", app.base_url))
        .await;
    staff_sign_in(&b, &email, &password).await;
    b.wait_text("#case-list", "Login page shows an error").await;
    b.wait_text("#case-list", "Invoice 2026-114").await;
    b.wait_text("a[data-view=team] .count", "2").await;
    assert!(
        b.script("return document.querySelector('tr[data-case] ').classList.contains('unread')")
            .await
            == Value::Bool(true),
        "new cases are marked unread"
    );

    // Desktop notifications, once allowed, tell of new chats.
    b.set_permission("notifications", "granted").await;
    b.script("window.__notified = []; const Real = window.Notification; window.Notification = class extends Real { constructor(title, options) { super(title, options); window.__notified.push(title + ': ' + (options?.body || '')); } }; return true").await;
    b.click("#notify-toggle").await;
    b.wait_text("#notify-toggle", "Desktop notifications: on")
        .await;

    // A new chat reaches the list by itself, within moments.
    let (mut client, _) = ChatClient::connect(&app, &w.contact_in).await;
    let started = Instant::now();
    client.send(json!({"type": "start", "client_message_id": "ws-1", "body": "Is the March credit note ready?"})).await;
    client.next_of("ack").await;
    b.wait_text("#case-list", "Is the March credit note ready?")
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the chat took {took:?} to reach the list"
    );
    b.wait_text("a[data-view=team] .count", "3").await;
    b.wait_true("return window.__notified.some((n) => n.startsWith('New chat') && n.includes('March credit note'))", "a desktop notification of the new chat").await;
    b.screenshot("console-workspace").await;

    // Sorting by case number, both ways.
    b.click("button[data-sort=case]").await;
    b.wait_true("const rows = [...document.querySelectorAll('#case-list tbody tr[data-case]')].map((r) => r.querySelector('a[data-open]').textContent); return rows.length === 3 && rows[0].startsWith('#1001')", "ascending by number").await;
    b.click("button[data-sort=case]").await;
    b.wait_true("const first = document.querySelector('#case-list tbody tr[data-case] a[data-open]').textContent; return first.startsWith('#1003')", "descending by number").await;

    // Two cases at once: waiting on the client, labelled.
    let ids: Vec<String> = app.get_as(&agent, "/api/v1/cases?view=team").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subject"] != "Is the March credit note ready?")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        b.click(&format!("input[data-select=\"{id}\"]")).await;
    }
    b.wait_text("#bulk-count", "2 selected").await;
    b.choose("#bulk-status", "pending_client").await;
    b.click("#bulk-apply").await;
    b.wait_text("a[data-view=waiting] .count", "2").await;
    for id in &ids {
        assert_eq!(
            app.get_as(&agent, &format!("/api/v1/cases/{id}"))
                .await
                .json()["status"],
            "pending_client"
        );
        b.click(&format!("input[data-select=\"{id}\"]")).await;
    }
    b.type_into("#bulk-label", "vip").await;
    b.click("#bulk-add-label").await;
    b.wait_true(
        "return document.querySelectorAll('#case-list .label').length === 2",
        "two cases labelled",
    )
    .await;
    b.type_into("#f-tag", "vip\u{E007}").await;
    b.script("document.getElementById('f-tag').dispatchEvent(new Event('change')); return true")
        .await;
    b.wait_true(
        "return document.querySelectorAll('#case-list tbody tr[data-case]').length === 2",
        "the label filter",
    )
    .await;
    assert_eq!(
        app.get_as(&agent, "/api/v1/cases?tag=vip").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Labels are reportable: the report narrowed to one counts its cases.
    let labelled = app.get_as(&agent, "/api/v1/reports?tag=vip").await.json();
    let everything = app.get_as(&agent, "/api/v1/reports").await.json();
    assert_eq!(labelled["volume"]["created"], 2, "{labelled}");
    assert_eq!(everything["volume"]["created"], 3);

    // The keyboard opens the case; its address survives a reload.
    b.goto(&format!("{}/console/views/team", app.base_url))
        .await;
    b.wait_text("#case-list", "Login page shows an error").await;
    b.click("button[data-sort=case]").await;
    b.wait_true("return document.querySelector('#case-list tbody tr[data-case] a[data-open]').textContent.startsWith('#1001')", "sorted").await;
    press(&b, "j").await;
    press(&b, "Enter").await;
    b.wait_text("#case-h", "Login page shows an error").await;
    assert_eq!(
        b.script("return location.pathname").await,
        json!(format!("/console/cases/{number}"))
    );
    b.script("location.reload(); return true").await;
    b.wait_text("#case-h", "Login page shows an error").await;

    // The screenshot shows in the thread; the client's context beside it.
    b.wait_true("return [...document.querySelectorAll('.thread img.preview')].some((i) => i.complete && i.naturalWidth > 0)", "the screenshot preview").await;
    b.wait_text("#context", "Acme Manufacturing").await;
    b.wait_text("#context", "strategic").await;
    b.wait_text("#c-contact", "Anna Finance").await;
    b.wait_text("#c-contact", "finance").await;
    b.wait_text("#c-others", "Invoice 2026-114").await;

    // Who will read what; a note looks apart; a draft waits for a reload.
    b.choose("#c-mode", "email").await;
    b.wait_text(
        "#c-recipients",
        "Emailed to: Anna Finance <anna@acme.example>",
    )
    .await;
    press(&b, "n").await;
    b.wait_text("#c-recipients", "Only staff see internal notes")
        .await;
    assert_eq!(
        b.script("return document.querySelector('form.composer').classList.contains('note-mode')")
            .await,
        Value::Bool(true)
    );
    b.type_into("#c-reply", "Half-written: check the SSO settings")
        .await;
    b.script("location.reload(); return true").await;
    b.wait_text("#case-h", "Login page shows an error").await;
    b.wait_true("return document.getElementById('c-reply').value === 'Half-written: check the SSO settings' && document.getElementById('c-mode').value === 'note'", "the draft after a reload").await;
    // Files pasted from the clipboard and dropped on the box go with it.
    b.script("const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array([137,80,78,71])], 'pasted-shot.png', { type: 'image/png' })); document.getElementById('c-reply').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })); return true").await;
    b.script("const dt = new DataTransfer(); dt.items.add(new File(['order 4471'], 'dropped-order.txt', { type: 'text/plain' })); document.querySelector('form.composer').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); return true").await;
    b.wait_text(".pending-files", "pasted-shot.png").await;
    b.wait_text(".pending-files", "dropped-order.txt").await;
    // Ctrl+Enter sends; the mode goes back to replying.
    b.type_into("#c-reply", "\u{E009}\u{E007}\u{E000}").await;
    b.wait_text(".thread", "Half-written: check the SSO settings")
        .await;
    b.wait_text(".thread", "pasted-shot.png").await;
    b.wait_text(".thread", "dropped-order.txt").await;
    b.wait_true("return document.getElementById('c-mode').value === 'chat' && document.getElementById('c-reply').value === ''", "reply mode after sending").await;
    b.script("location.reload(); return true").await;
    b.wait_text("#case-h", "Login page shows an error").await;
    assert_eq!(
        b.script("return document.getElementById('c-reply').value")
            .await,
        json!(""),
        "a sent draft is gone"
    );

    // Changes read as sentences, naming who made them.
    b.choose("#c-priority", "urgent").await;
    b.wait_text(
        ".thread",
        &format!("Priority normal → urgent by {agent_name}"),
    )
    .await;
    let routed = app
        .get_as(&agent, &format!("/api/v1/cases/{number}"))
        .await
        .json()["assignee_id"]
        .as_str()
        .map(str::to_owned);
    let other = if routed.as_deref() == Some(agent_id.as_str()) {
        w.agent_in_id.clone()
    } else {
        agent_id.clone()
    };
    b.choose("#c-assignee", &other).await;
    b.wait_text(".thread", &format!("by {agent_name} (was "))
        .await;
    b.wait_text(".thread", "Assigned to ").await;

    // A macro: the canned answer fills the composer and changes the case.
    let canned = ok(app.post_as(&agent, "/api/v1/canned-responses", &json!({"team_id": w.team_in, "title": "Refund started", "body": "Hello {{contact.first_name}}, the **refund** is on its way.", "actions": {"status": "pending_client", "add_tags": ["refund"]}})).await, 201).await;
    b.script("location.reload(); return true").await;
    b.wait_text("#case-h", "Login page shows an error").await;
    b.choose("#c-mode", "email").await;
    b.choose("#c-canned", canned["id"].as_str().unwrap()).await;
    b.wait_true("return document.getElementById('c-reply').value.includes('Hello Anna, the **refund** is on its way.')", "the canned text").await;
    b.wait_text(".thread", &format!("Labels +refund by {agent_name}"))
        .await;
    assert_eq!(
        b.script("return document.getElementById('c-status').value")
            .await,
        json!("pending_client")
    );
    // Markdown, previewed, and sent as HTML in the email.
    b.click("#c-preview-toggle").await;
    b.wait_true(
        "return document.querySelector('#c-preview strong')?.textContent === 'refund'",
        "the Markdown preview",
    )
    .await;
    b.click("#c-reply-send").await;
    b.wait_text(".thread", "the **refund** is on its way").await;
    let (mail, _) =
        rapport_tests::http::wait_for_mail_matching(&db.data_dir().join("mailbox"), |m| {
            m.to.iter().any(|t| t.address == "anna@acme.example")
                && m.text.contains("the **refund** is on its way")
        })
        .await;
    assert!(
        mail.html.unwrap().contains("<strong>refund</strong>"),
        "the HTML part shows the Markdown formatted"
    );

    // The client read it.
    let case_id = opened["case"]["id"].as_str().unwrap().to_owned();
    let last = app
        .get_as(&agent, &format!("/api/v1/cases/{case_id}/entries"))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    client.join(&case_id, None).await;
    client
        .send(json!({"type": "read", "case_id": case_id, "entry_id": last}))
        .await;
    b.wait_text("#c-seen", "Seen by Anna Finance").await;
    b.screenshot("console-case-workspace").await;

    // Back and forward move between the list and the case.
    b.script("history.back(); return true").await;
    b.wait_text("#case-list", "Login page shows an error").await;
    b.script("history.forward(); return true").await;
    b.wait_text("#case-h", "Login page shows an error").await;

    // Search finds accounts, contacts and files by name.
    press(&b, "/").await;
    b.type_into("#q", "acme\u{E007}").await;
    b.wait_text("#found-accounts", "Acme Manufacturing").await;
    b.goto(&format!("{}/console/search?q=anna", app.base_url))
        .await;
    b.wait_text("#found-contacts", "Anna Finance").await;
    b.goto(&format!("{}/console/search?q=login-error", app.base_url))
        .await;
    b.wait_text("#results", "login-error.png").await;
    assert_eq!(
        b.script("return document.querySelector('#results mark')?.textContent")
            .await,
        json!("login-error")
    );
    press(&b, "?").await;
    b.wait_text("#shortcuts", "next / previous case").await;

    // One sign-in serves every staff page: the audit page knows who this is.
    b.goto(&format!("{}/auditor", app.base_url)).await;
    b.wait_text("main", "This page is for auditors and admins")
        .await;
    b.wait_text("main", &agent_name).await;
    b.goto(&format!("{}/console/cases/{number}", app.base_url))
        .await;
    b.wait_text("#case-h", "Login page shows an error").await;
    client.close().await;
    b.quit().await;
}
