//! The access matrices: every route of the API called as every kind of
//! principal, and a check that no route of the OpenAPI document is left out
//! of them, so a new route cannot forget its row.

use actix_web::http::Method;
use rapport_server::config::UnknownSenders;
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::{Value, json};

use super::attachments::{content_type, multipart};
use super::directory::{World, ok, world};

/// The callers of every matrix, in column order. Admin is last, so that
/// its changes do not alter what the others see.
pub(crate) const CALLERS: [&str; 11] = [
    "anonymous",
    "agent in the account's team",
    "agent outside it",
    "auditor",
    "contact of the account",
    "contact of another account",
    "token audit:read",
    "token directory:read",
    "token mail:ingest",
    "token with every scope",
    "admin",
];

/// Callers who may see nothing of the account's conversations: any answer
/// they get is checked for leaks.
const OUTSIDERS: [&str; 7] = [
    "anonymous",
    "agent outside it",
    "contact of another account",
    "token audit:read",
    "token directory:read",
    "token mail:ingest",
    "token with every scope",
];

/// One row of an access matrix: method, path, body (`{n}` replaced by a
/// number unique to each call; an object `{"$raw": text, "$type": content
/// type}` is sent as that text with that type) and the expected status for
/// each of [`CALLERS`], in order.
pub(crate) type MatrixRow = (Method, String, Option<Value>, [u16; 11]);

/// The API tokens of the matrices: one per scope and one with all of them.
pub(crate) struct Tokens {
    audit: String,
    directory: String,
    mail: String,
    every: String,
}

async fn token(app: &TestApp, admin: &str, scopes: &[&str]) -> String {
    let created = ok(
        app.post_as(
            admin,
            "/api/v1/api-tokens",
            &json!({"name": format!("Matrix {}", scopes.join(" ")), "scopes": scopes}),
        )
        .await,
        201,
    )
    .await;
    created["secret"].as_str().unwrap().to_owned()
}

pub(crate) async fn tokens(app: &TestApp, w: &World) -> Tokens {
    Tokens {
        audit: token(app, &w.admin, &["audit:read"]).await,
        directory: token(app, &w.admin, &["directory:read"]).await,
        mail: token(app, &w.admin, &["mail:ingest"]).await,
        every: token(
            app,
            &w.admin,
            &["audit:read", "directory:read", "mail:ingest"],
        )
        .await,
    }
}

/// Calls every row as each of [`CALLERS`] and checks the status. Answers
/// to outsiders must contain none of the strings `secrets(caller)` names,
/// except where a token's scope grants the row (audit:read reads the audit
/// log, which names what happened): then only failed answers are checked.
pub(crate) async fn check_matrix(
    app: &TestApp,
    w: &World,
    t: &Tokens,
    matrix: &[MatrixRow],
    secrets: impl Fn(&str) -> &'static [&'static str],
) {
    let bearers: [Option<&str>; 11] = [
        None,
        Some(&w.agent_in),
        Some(&w.agent_out),
        Some(&w.auditor),
        Some(&w.contact_in),
        Some(&w.contact_out),
        Some(&t.audit),
        Some(&t.directory),
        Some(&t.mail),
        Some(&t.every),
        Some(&w.admin),
    ];
    let mut n = 0;
    for (method, path, body, expected) in matrix {
        for ((who, token), status) in CALLERS.iter().zip(bearers).zip(expected) {
            n += 1;
            let res = match body {
                Some(Value::Object(raw)) if raw.contains_key("$raw") => {
                    let text = raw["$raw"].as_str().unwrap().replace("{n}", &n.to_string());
                    let kind = raw["$type"].as_str().unwrap();
                    app.send_raw(path, kind, text.into_bytes(), token).await
                }
                _ => {
                    let body = body
                        .as_ref()
                        .map(|b| b.to_string().replace("{n}", &n.to_string()));
                    app.send(method.clone(), path, body, token).await
                }
            };
            assert_eq!(
                res.status,
                *status,
                "{method} {path} as {who}: {}",
                String::from_utf8_lossy(&res.body)
            );
            let granted_audit_read =
                who.starts_with("token") && *status < 300 && path.starts_with("/api/v1/audit");
            if OUTSIDERS.contains(who) && !granted_audit_read {
                let text = String::from_utf8_lossy(&res.body);
                for secret in secrets(who) {
                    assert!(
                        !text.contains(secret),
                        "{method} {path} as {who} leaked {secret:?}: {text}"
                    );
                }
            }
        }
    }
}

/// Ids the conversation matrix needs besides the world's.
#[derive(Default)]
pub(crate) struct ConversationIds {
    attachment: String,
    entry: String,
    spare_case: String,
    held_mail: String,
    token_to_revoke: String,
    webhook: String,
    checkpoint_size: i64,
}

const QUARANTINED: &str = "From: Stranger <someone@newclient.example>\r\nTo: support@rapport.localhost\r\nSubject: Offer request {n}\r\nMessage-ID: <matrix-{n}@newclient.example>\r\n\r\nPlease send us an offer.\r\n";

fn raw(text: &str, kind: &str) -> Option<Value> {
    Some(json!({"$raw": text, "$type": kind}))
}

/// Files, versions, redaction, merging, mail, chat, SLA, sign-in and the
/// probes: everything the directory and care matrices do not call.
#[rustfmt::skip]
pub(crate) fn conversation_rows(w: &World, ids: &ConversationIds) -> Vec<MatrixRow> {
    let (acme, case) = (&w.acme, &w.acme_case);
    let (file, entry, spare, held) = (&ids.attachment, &ids.entry, &ids.spare_case, &ids.held_mail);
    let upload = String::from_utf8(multipart(
        &[("body", "Another scan {n}")],
        &[("scan.txt", b"PO 7781 scan")],
    ))
    .unwrap();
    let opening = String::from_utf8(multipart(
        &[("account_id", acme), ("subject", "Scanned PO {n}"), ("body", "See the scan")],
        &[("scan.txt", b"PO scan")],
    ))
    .unwrap();
    vec![
        (Method::GET, "/healthz".into(), None, [200; 11]),
        (Method::GET, "/readyz".into(), None, [200; 11]),
        (Method::GET, "/api/v1/instance".into(), None, [200; 11]),
        (Method::POST, "/api/v1/auth/login".into(), Some(json!({"email": "nobody-{n}@support.example", "password": "not the password"})), [401; 11]),
        (Method::POST, "/api/v1/auth/contact/login".into(), Some(json!({"email": "nobody-{n}@acme.example", "password": "not the password"})), [401; 11]),
        (Method::POST, "/api/v1/auth/contact/magic-link".into(), Some(json!({"email": "nobody-{n}@acme.example"})), [202; 11]),
        (Method::POST, "/api/v1/auth/contact/magic-link/redeem".into(), Some(json!({"token": "forged-{n}"})), [401; 11]),
        (Method::POST, "/api/v1/auth/contact/code".into(), Some(json!({"email": "nobody-{n}@acme.example", "code": "ABCD-EFGH"})), [401; 11]),
        (Method::GET, "/api/v1/security/second-factor".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::PUT, "/api/v1/security/second-factor/agent".into(), Some(json!({"required": false})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/cases/{case}/participants"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{case}/participants"), Some(json!({"contact_id": w.anna})), [401, 200, 404, 403, 200, 404, 403, 403, 403, 403, 200]),
        (Method::DELETE, format!("/api/v1/cases/{case}/participants/{}", w.anna), None, [401, 404, 404, 403, 404, 404, 403, 403, 403, 403, 404]),
        (Method::PUT, "/api/v1/me/case-notices".into(), Some(json!({"case_notices": "digest"})), [401, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403]),
        (Method::GET, "/api/v1/case-categories".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::PUT, "/api/v1/case-categories/billing".into(), Some(json!({"functions": ["finance"], "skill": "billing"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/skills".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::PUT, format!("/api/v1/staff/{}/skills", w.spare_id), Some(json!({"skills": ["billing"]})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/auth/sso".into(), None, [200; 11]),
        (Method::GET, "/api/v1/auth/sso/contact?email=anna%40acme.example".into(), None, [200; 11]),
        (Method::POST, "/api/v1/auth/sso/redeem".into(), Some(json!({"code": "forged-{n}"})), [401; 11]),
        (Method::GET, format!("/api/v1/accounts/{acme}/sso"), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 404]),
        (Method::PUT, format!("/api/v1/accounts/{acme}/sso"), Some(json!({"issuer": "https://login.acme.example", "client_id": "rapport", "client_secret": "acme secret {n}", "label": "Acme sign-in"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::DELETE, format!("/api/v1/accounts/{acme}/sso"), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 204]),
        (Method::POST, "/api/v1/cases/with-files".into(), raw(&opening, &content_type()), [401, 201, 404, 403, 201, 404, 403, 403, 403, 403, 201]),
        (Method::POST, "/api/v1/auth/invitation".into(), Some(json!({"token": "forged-{n}", "password": "a long enough passphrase"})), [401; 11]),
        (Method::POST, "/api/v1/auth/refresh".into(), Some(json!({"refresh_token": "forged-{n}"})), [401; 11]),
        // Switching company takes the session's refresh token, whoever calls.
        (Method::POST, "/api/v1/auth/contact/switch".into(), Some(json!({"refresh_token": "forged-{n}", "account_id": acme})), [401; 11]),
        // The links of the "which company?" reply: the token is the permission.
        (Method::POST, "/api/v1/mail/choices/offer".into(), Some(json!({"token": "forged-{n}"})), [410; 11]),
        (Method::POST, "/api/v1/mail/choices/file".into(), Some(json!({"token": "forged-{n}"})), [410; 11]),
        (Method::POST, "/api/v1/auth/logout".into(), Some(json!({"refresh_token": "forged-{n}"})), [204; 11]),
        (Method::POST, "/api/v1/me/password".into(), Some(json!({"current_password": "wrong password {n}", "new_password": "short"})), [401, 422, 422, 422, 422, 422, 403, 403, 403, 403, 422]),
        (Method::GET, "/api/v1/me/totp".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/me/totp".into(), Some(json!({})), [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/me/totp/confirm".into(), Some(json!({"code": "not a code {n}"})), [401, 422, 422, 422, 403, 403, 403, 403, 403, 403, 422]),
        (Method::DELETE, format!("/api/v1/staff/{}/totp", w.spare_id), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 204]),
        (Method::GET, format!("/api/v1/cases/{case}/cards"), None, [401, 200, 404, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/customer-cards".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/customer-cards".into(), Some(json!({"name": "ERP {n}", "url": "https://erp.example/card/{n}"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::DELETE, "/api/v1/customer-cards/card_gone".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 404]),
        (Method::GET, "/api/v1/webhooks".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/webhooks".into(), Some(json!({"url": "https://erp.example/hooks/{n}", "events": ["case.opened"]})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/webhooks/{}/deliveries", ids.webhook), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/webhooks/{}/enable", ids.webhook), Some(json!({})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/webhooks/{}/deliveries/msg_none/redeliver", ids.webhook), Some(json!({})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 404]),
        (Method::DELETE, format!("/api/v1/webhooks/{}", ids.webhook), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 204]),
        (Method::GET, "/api/v1/sla/policies".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/accounts/{acme}/sla"), None, [401, 200, 404, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/chat/ticket".into(), Some(json!({})), [401, 201, 201, 201, 201, 201, 403, 403, 403, 403, 201]),
        (Method::POST, format!("/api/v1/cases/{case}/attachments"), raw(&upload, &content_type()), [401, 201, 404, 403, 201, 404, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/attachments/{file}"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::PATCH, format!("/api/v1/cases/{case}/entries/{entry}"), Some(json!({"body": "Corrected note {n}"})), [401, 200, 404, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/cases/{case}/entries/{entry}/versions"), None, [401, 200, 404, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/audit/bundle?case={case}"), None, [401, 403, 403, 200, 403, 403, 200, 403, 403, 200, 200]),
        (Method::GET, "/api/v1/audit/checkpoints/latest".into(), None, [401, 403, 403, 200, 403, 403, 200, 403, 403, 200, 200]),
        (Method::GET, format!("/api/v1/audit/checkpoints/{}", ids.checkpoint_size), None, [401, 403, 403, 200, 403, 403, 200, 403, 403, 200, 200]),
        (Method::GET, format!("/api/v1/audit/consistency?from=1&to={}", ids.checkpoint_size), None, [401, 403, 403, 200, 403, 403, 200, 403, 403, 200, 200]),
        (Method::POST, "/api/v1/audit/verify".into(), raw("not an export", "application/octet-stream"), [401, 403, 403, 200, 403, 403, 200, 403, 403, 200, 200]),
        (Method::POST, "/api/v1/inbound/email".into(), raw(QUARANTINED, "message/rfc822"), [401, 403, 403, 403, 403, 403, 403, 403, 202, 202, 202]),
        (Method::GET, "/api/v1/mail/inbound".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/mail/inbound/{held}/raw"), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/mail/inbound/{held}/retry"), Some(json!({})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/mail/outbox".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/mail/outbox?case_id={case}"), None, [401, 200, 404, 200, 403, 404, 403, 403, 403, 403, 200]),
        (Method::DELETE, format!("/api/v1/api-tokens/{}", ids.token_to_revoke), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 204]),
        (Method::POST, format!("/api/v1/attachments/{file}/redact"), Some(json!({"reason": "Personal data sent by mistake"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{case}/entries/{entry}/redact"), Some(json!({"reason": "Personal data sent by mistake"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{spare}/merge"), Some(json!({"into": case})), [401, 200, 404, 403, 403, 404, 403, 403, 403, 403, 422]),
    ]
}

e2e_test!(every_conversation_endpoint_answers_each_kind_of_caller_exactly_as_intended);
async fn every_conversation_endpoint_answers_each_kind_of_caller_exactly_as_intended(
    db: &TestDatabase,
) {
    // Every caller fails to sign in from one address: room for all of them.
    let app = TestApp::spawn_with(db, |s| {
        s.mail.unknown_senders = UnknownSenders::Quarantine;
        s.auth.login_free_attempts = 100;
    })
    .await;
    let w = world(&app, db).await;
    let t = tokens(&app, &w).await;
    let case = &w.acme_case;
    let uploaded = app
        .send_raw(
            &format!("/api/v1/cases/{case}/attachments"),
            &content_type(),
            multipart(
                &[("body", "The PO scan")],
                &[("PO 7781.txt", b"PO 7781 total 1,250.00")],
            ),
            Some(&w.contact_in),
        )
        .await;
    let uploaded = ok(uploaded, 201).await;
    let attachment = uploaded["entry"]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let note = ok(
        app.post_as(
            &w.agent_in,
            &format!("/api/v1/cases/{case}/entries"),
            &json!({"kind": "note", "body": "Internal check of PO 7781"}),
        )
        .await,
        201,
    )
    .await;
    let entry = note["entry"]["id"].as_str().unwrap().to_owned();
    let spare = ok(
        app.post_as(
            &w.contact_in,
            "/api/v1/cases",
            &json!({"subject": "Invoice 2026-114 again", "body": "Same question as before"}),
        )
        .await,
        201,
    )
    .await;
    let held = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            QUARANTINED.replace("{n}", "0").into_bytes(),
            Some(&t.mail),
        )
        .await;
    let held = ok(held, 202).await;
    assert_eq!(held["status"], "quarantined");
    let doomed = ok(
        app.post_as(
            &w.admin,
            "/api/v1/api-tokens",
            &json!({"name": "Doomed", "scopes": ["directory:read"]}),
        )
        .await,
        201,
    )
    .await;
    let hook = ok(
        app.post_as(
            &w.admin,
            "/api/v1/webhooks",
            &json!({"url": "https://erp.example/hooks", "events": ["case.opened"]}),
        )
        .await,
        201,
    )
    .await;
    let ids = ConversationIds {
        attachment,
        entry,
        spare_case: spare["case"]["id"].as_str().unwrap().to_owned(),
        held_mail: held["id"].as_str().unwrap().to_owned(),
        token_to_revoke: doomed["id"].as_str().unwrap().to_owned(),
        webhook: hook["id"].as_str().unwrap().to_owned(),
        checkpoint_size: rapport_server::usecase::audit_tree::checkpoint(
            &app.state,
            chrono::Utc::now(),
        )
        .unwrap()
        .map_or_else(
            || {
                rapport_server::usecase::audit_tree::get(&app.state, None)
                    .unwrap()
                    .0
                    .tree_size
            },
            |c| c.tree_size,
        ),
    };
    check_matrix(&app, &w, &t, &conversation_rows(&w, &ids), |_| {
        &["Invoice 2026-114", "PO 7781", "Internal check"]
    })
    .await;
}

/// Routes no matrix can call, each with the reason and where it is tested.
const NOT_IN_A_MATRIX: [(&str, &str, &str); 5] = [
    (
        "GET",
        "/auth/sso/staff",
        "a browser redirect to the identity provider, for no principal: ui_sso tests",
    ),
    (
        "GET",
        "/auth/sso/contact",
        "a browser redirect to the company's identity provider, for no principal: ui_sso tests",
    ),
    (
        "GET",
        "/auth/sso/callback",
        "the identity provider's answer, for no principal: ui_sso tests (forged and replayed answers too)",
    ),
    (
        "GET",
        "/ws",
        "a websocket upgrade answered with frames: chat tests (tickets are in the matrix)",
    ),
    (
        "GET",
        "/api/v1/notifications/stream",
        "an endless event stream: notifications tests",
    ),
];

/// Whether a concrete matrix path (query string aside) fits an OpenAPI path
/// template such as `/api/v1/cases/{id}/entries`.
fn fits(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

#[test]
fn every_route_of_the_api_is_in_an_access_matrix() {
    let w = World::placeholder();
    let mut rows = super::directory::directory_rows(&w);
    rows.extend(super::care_access::care_rows(&w, &Default::default()));
    rows.extend(conversation_rows(&w, &ConversationIds::default()));
    let spec: Value = serde_json::from_str(include_str!("../../../docs/openapi.json")).unwrap();
    let mut missing = Vec::new();
    for (template, operations) in spec["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let covered = rows
                .iter()
                .any(|(m, p, _, _)| m.as_str() == method && fits(template, p));
            let excused = NOT_IN_A_MATRIX
                .iter()
                .any(|(m, p, _)| *m == method && p == template);
            if !covered && !excused {
                missing.push(format!("{method} {template}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes with no row in an access matrix: {missing:#?}"
    );
}
