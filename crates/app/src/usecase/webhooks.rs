//! Outgoing webhooks (Standard Webhooks): admins register endpoints and the
//! events they want; every committed change an endpoint subscribes to
//! becomes one delivery, signed with the endpoint's secret and retried with
//! growing waits for more than a day. An endpoint that keeps failing is
//! disabled and the admins are told.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{EntryKind, Principal, StaffId, StaffRole};
use rapport_store::DbConnection;
use rapport_store::changes::ChangeRow;
use rapport_store::webhook::{self as store, Attempt, Delivery, Endpoint};
use serde_json::{Value, json};
use sha2::Sha256;

use super::UseCaseError;
use super::input::invalid;
use crate::changes::{Change, Cursor};
use crate::state::AppState;

/// The name webhooks read the change log under.
pub const CONSUMER: &str = "webhooks";

/// Every event an endpoint can receive.
pub const EVENTS: &[&str] = &[
    "case.opened",
    "entry.added",
    "case.status_changed",
    "case.assignee_changed",
    "case.priority_changed",
    "satisfaction.received",
    "sla.breached",
    "account.created",
    "account.updated",
    "contact.created",
    "contact.updated",
];

/// Waits before each retry after the first attempt (Standard Webhooks'
/// schedule): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, over 27 hours in
/// all. After the last, the delivery failed.
pub const RETRY_AFTER_SECS: &[i64] = &[5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// How long one attempt may take before another node may try.
pub const ATTEMPT_LEASE_SECS: i64 = 60;

/// What a receiver's answer is kept of, in the delivery log.
const RESPONSE_KEPT: usize = 2_000;

pub(super) fn admin_of(who: &Principal) -> Result<StaffId, UseCaseError> {
    match who {
        Principal::Staff {
            id,
            role: StaffRole::Admin,
        } => Ok(*id),
        _ => Err(UseCaseError::Forbidden),
    }
}

/// What registering an endpoint asks.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub include_notes: bool,
}

/// A registered endpoint and its signing secret, shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub endpoint: Endpoint,
    pub secret: String,
}

pub(super) fn check_url(raw: &str) -> Result<String, UseCaseError> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                "url",
                "must start with https:// (or http:// on a private network)",
            )
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) || url.len() > 2_000 {
        return Err(invalid(
            "url",
            "must name a host, without spaces, in at most 2000 characters",
        ));
    }
    Ok(url.to_owned())
}

fn check_events(events: &[String]) -> Result<Vec<String>, UseCaseError> {
    if events.is_empty() {
        return Err(invalid(
            "events",
            format!("name at least one of: {}", EVENTS.join(", ")),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !EVENTS.contains(&e.as_str()) {
            return Err(invalid(
                "events",
                format!("`{e}` is not an event; choose from: {}", EVENTS.join(", ")),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// The purpose signing keys are sealed for ([`crate::secrets::Secrets::seal`]).
const SEALED_AS: &str = "webhook secret";

/// The signing key of an endpoint (the bytes behind `whsec_…`).
fn signing_key(state: &AppState, e: &Endpoint) -> Result<Vec<u8>, UseCaseError> {
    state
        .secrets
        .unseal(SEALED_AS, &e.id, &e.sealed_secret)
        .ok_or_else(|| {
            UseCaseError::Internal(format!("webhook {}: sealed secret unreadable", e.id))
        })
}

/// `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`: the
/// `webhook-signature` header of the Standard Webhooks specification.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Registers an endpoint (admins); its secret is in the answer only.
pub fn register(
    state: &AppState,
    who: &Principal,
    input: &NewEndpoint,
) -> Result<Registered, UseCaseError> {
    let admin = admin_of(who)?;
    let url = check_url(&input.url)?;
    let events = check_events(&input.events)?;
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).map_err(|e| UseCaseError::Internal(format!("randomness: {e}")))?;
    let id = format!("wh_{}", uuid::Uuid::now_v7().simple());
    let endpoint = Endpoint {
        sealed_secret: state
            .secrets
            .seal(SEALED_AS, &id, &key)
            .ok_or_else(|| UseCaseError::Internal("a webhook key is too long to seal".into()))?,
        id,
        url,
        events,
        include_notes: input.include_notes,
        created_by: admin.to_string(),
        created_at: rapport_store::now_micros().and_utc(),
        disabled_at: None,
        disabled_reason: None,
    };
    state.store.write(|conn| {
        store::insert_endpoint(conn, &endpoint)?;
        audit(
            conn,
            admin,
            &endpoint.id,
            "webhook.registered",
            json!({"url": endpoint.url, "events": endpoint.events}),
        )
    })?;
    Ok(Registered {
        secret: format!("whsec_{}", STANDARD.encode(key)),
        endpoint,
    })
}

fn audit(
    conn: &mut DbConnection,
    admin: StaffId,
    endpoint: &str,
    action: &str,
    data: Value,
) -> Result<(), UseCaseError> {
    super::record(
        conn,
        StreamName::system(),
        Actor::new(ActorKind::Staff, admin)?,
        action,
        ("webhook", Some(endpoint)),
        data,
    )?;
    Ok(())
}

pub fn list(state: &AppState, who: &Principal) -> Result<Vec<Endpoint>, UseCaseError> {
    admin_of(who)?;
    Ok(store::endpoints(&mut *state.store.conn()?)?)
}

fn endpoint(conn: &mut DbConnection, id: &str) -> Result<Endpoint, UseCaseError> {
    store::find_endpoint(conn, id)?.ok_or(UseCaseError::NotFound("webhook endpoint"))
}

/// Removes an endpoint and its delivery log (admins).
pub fn remove(state: &AppState, who: &Principal, id: &str) -> Result<(), UseCaseError> {
    let admin = admin_of(who)?;
    state.store.write(|conn| {
        let e = endpoint(conn, id)?;
        store::delete_endpoint(conn, id)?;
        audit(conn, admin, id, "webhook.removed", json!({"url": e.url}))
    })
}

/// Enables an endpoint that was disabled after failing (admins): what
/// waited is sent again.
pub fn enable(state: &AppState, who: &Principal, id: &str) -> Result<Endpoint, UseCaseError> {
    let admin = admin_of(who)?;
    state.store.write(|conn| {
        endpoint(conn, id)?;
        store::set_disabled(conn, id, None)?;
        audit(conn, admin, id, "webhook.enabled", json!({}))?;
        endpoint(conn, id)
    })
}

/// An endpoint's deliveries, newest first (admins).
pub fn deliveries(
    state: &AppState,
    who: &Principal,
    id: &str,
    limit: i64,
) -> Result<Vec<Delivery>, UseCaseError> {
    admin_of(who)?;
    let mut conn = state.store.conn()?;
    endpoint(&mut conn, id)?;
    Ok(store::deliveries(&mut conn, id, limit.clamp(1, 200))?)
}

/// Sends a delivery again now, with the same `webhook-id` (admins).
pub fn redeliver(
    state: &AppState,
    who: &Principal,
    endpoint_id: &str,
    delivery: &str,
) -> Result<Delivery, UseCaseError> {
    let admin = admin_of(who)?;
    state.store.write(|conn| {
        let d = store::find_delivery(conn, delivery)?
            .filter(|d| d.endpoint_id == endpoint_id)
            .ok_or(UseCaseError::NotFound("delivery"))?;
        store::redeliver(conn, &d.id)?;
        audit(
            conn,
            admin,
            endpoint_id,
            "webhook.redelivery_requested",
            json!({"delivery": d.id}),
        )?;
        store::find_delivery(conn, delivery)?.ok_or(UseCaseError::NotFound("delivery"))
    })
}

/// The events a committed change is, with their `data`.
fn events_of(
    state: &AppState,
    conn: &mut DbConnection,
    change: &Change,
) -> Result<Vec<(&'static str, Value, bool)>, UseCaseError> {
    let summary =
        |conn: &mut DbConnection, c: &rapport_store::case::Case| -> Result<Value, UseCaseError> {
            serde_json::to_value(state.chat.summary(conn, c)?)
                .map_err(|e| UseCaseError::Internal(e.to_string()))
        };
    Ok(match change {
        Change::CaseOpened(c) => vec![("case.opened", json!({"case": summary(conn, c)?}), false)],
        Change::EntryAdded(e) => {
            let view = serde_json::to_value(state.chat.entry_view(conn, e)?)
                .map_err(|e| UseCaseError::Internal(e.to_string()))?;
            vec![(
                "entry.added",
                json!({"entry": view}),
                e.kind == EntryKind::Note,
            )]
        }
        Change::CaseChanged { case, fields } => {
            let mut out = Vec::new();
            for (field, event) in [
                ("status", "case.status_changed"),
                ("assignee_id", "case.assignee_changed"),
                ("priority", "case.priority_changed"),
            ] {
                if fields.iter().any(|f| f == field) {
                    out.push((
                        event,
                        json!({"case": summary(conn, case)?, "changed": fields}),
                        false,
                    ));
                }
            }
            out
        }
        Change::SatisfactionReceived {
            case,
            rating,
            comment,
        } => vec![(
            "satisfaction.received",
            json!({"case": summary(conn, case)?, "rating": rating, "comment": comment}),
            false,
        )],
        Change::StaffNotice(n) if n.kind == "sla_breached" => vec![(
            "sla.breached",
            json!({"case_id": n.case_id, "case_number": n.case_number, "account_id": n.account_id, "text": n.text}),
            false,
        )],
        Change::AccountAdded(a) => vec![("account.created", json!({"account": account(a)}), false)],
        Change::AccountChanged { account: a, fields } => vec![(
            "account.updated",
            json!({"account": account(a), "changed": fields}),
            false,
        )],
        Change::ContactAdded(c) => vec![("contact.created", json!({"contact": contact(c)}), false)],
        Change::ContactChanged { contact: c, fields } => vec![(
            "contact.updated",
            json!({"contact": contact(c), "changed": fields}),
            false,
        )],
        Change::StaffNotice(_) | Change::EntryUpdated(_) | Change::StaffChanged(_) => Vec::new(),
    })
}

/// An account as integrations see it (a CRM matches it by id or domain).
fn account(a: &rapport_store::account::Account) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "domains": a.domains.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "tier": a.tier,
        "lifecycle": a.lifecycle,
        "team_id": a.team_id,
        "owner_id": a.owner_id,
        "parent_id": a.parent_id,
        "external_id": a.external_id,
        "custom_fields": a.custom_fields,
    })
}

/// A contact as integrations see it (never a password hash).
fn contact(c: &rapport_store::contact::Contact) -> Value {
    json!({
        "id": c.id,
        "account_id": c.account_id,
        "name": c.name.as_str(),
        "emails": c.emails.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "phone": c.phone,
        "function": c.function,
        "visibility": c.visibility,
        "title": c.title,
        "is_primary": c.is_primary,
        "active": c.active,
    })
}

/// The body of a delivery: `type`, `timestamp` and `data`.
fn payload(event: &str, at: DateTime<Utc>, data: Value) -> String {
    json!({"type": event, "timestamp": rapport_audit::format_at(&at), "data": data}).to_string()
}

/// Turns committed changes after `cursor` into deliveries for the
/// endpoints that want them. Idempotent (a delivery's id is made of the
/// change's and the endpoint's), so nodes doing it at once, or a retry
/// after a crash, never send an event twice. Returns how many were queued.
pub fn dispatch(state: &AppState, cursor: &mut Cursor) -> Result<usize, UseCaseError> {
    let endpoints: Vec<Endpoint> = store::endpoints(&mut *state.store.conn()?)?;
    let mut queued = 0;
    crate::changes::read_log(state, CONSUMER, cursor, |conn, row| {
        if !endpoints.is_empty() {
            queued += queue_change(state, conn, &endpoints, row)?;
        }
        Ok(())
    })?;
    Ok(queued)
}

fn queue_change(
    state: &AppState,
    conn: &mut DbConnection,
    endpoints: &[Endpoint],
    row: &ChangeRow,
) -> Result<usize, UseCaseError> {
    // An endpoint hears of what was committed after it was registered.
    let endpoints: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.created_at <= row.created_at)
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let Some(change) = crate::changes::load(conn, row)? else {
        return Ok(0);
    };
    let at = Utc::now();
    let mut queued = 0;
    for (event, data, is_note) in events_of(state, conn, &change)? {
        let body = payload(event, at, data);
        for e in endpoints
            .iter()
            .copied()
            .filter(|e| e.events.iter().any(|x| x == event))
        {
            if is_note && !e.include_notes {
                continue;
            }
            let id = format!("msg_{}_{}_{}", row.id, event.replace('.', "_"), e.id);
            if store::find_delivery(conn, &id)?.is_some() {
                continue;
            }
            let d = Delivery {
                id,
                endpoint_id: e.id.clone(),
                event_type: event.to_owned(),
                payload: body.clone(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: rapport_store::now_micros().and_utc(),
                last_attempt_at: None,
                last_status: None,
                last_response: None,
                created_at: rapport_store::now_micros().and_utc(),
                delivered_at: None,
            };
            // Another node may queue the same delivery at the same moment.
            match rapport_store::savepoint(conn, |c| store::insert_delivery(c, &d)) {
                Ok(()) => queued += 1,
                Err(e) if e.is_unique_violation() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(queued)
}

/// A delivery due now, taken for one attempt, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: Delivery,
    pub url: String,
    /// The three Standard Webhooks headers.
    pub webhook_id: String,
    pub webhook_timestamp: i64,
    pub webhook_signature: String,
}

/// Takes the deliveries due at `now` whose endpoint is enabled, for one
/// attempt each (no other node sends them during the lease).
pub fn take_due(
    state: &AppState,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Outgoing>, UseCaseError> {
    let mut conn = state.store.conn()?;
    let lease = now + chrono::Duration::seconds(ATTEMPT_LEASE_SECS);
    let due = store::due(&mut conn, now, limit)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    // Only enabled endpoints have due deliveries; their keys once per round.
    let endpoints: std::collections::HashMap<String, (String, Vec<u8>)> =
        store::endpoints(&mut conn)?
            .into_iter()
            .filter(|e| e.disabled_at.is_none())
            .map(|e| Ok((e.id.clone(), (e.url.clone(), signing_key(state, &e)?))))
            .collect::<Result<_, UseCaseError>>()?;
    let mut out = Vec::new();
    for d in due {
        let Some((url, key)) = endpoints.get(&d.endpoint_id) else {
            continue;
        };
        if !state
            .store
            .write(|conn| Ok::<_, UseCaseError>(store::claim(conn, &d, lease)?))?
        {
            continue;
        }
        let timestamp = now.timestamp();
        out.push(Outgoing {
            webhook_signature: signature(key, &d.id, timestamp, &d.payload),
            webhook_id: d.id.clone(),
            webhook_timestamp: timestamp,
            url: url.clone(),
            delivery: d,
        });
    }
    Ok(out)
}

/// What the receiver did with an attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It answered with this status and body.
    Answered { status: u16, body: String },
    /// It could not be reached (connection refused, timeout…).
    Unreachable(String),
}

/// Records an attempt: delivered on a 2xx, else retried on the schedule,
/// and failed after the last retry, which disables the endpoint and tells
/// the admins. Returns the delivery's status.
pub fn attempted(
    state: &AppState,
    d: &Delivery,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<&'static str, UseCaseError> {
    let (http_status, response, ok) = match outcome {
        Outcome::Answered { status, body } => (
            Some(i32::from(*status)),
            body.chars().take(RESPONSE_KEPT).collect::<String>(),
            (200..300).contains(status),
        ),
        Outcome::Unreachable(why) => (None, why.chars().take(RESPONSE_KEPT).collect(), false),
    };
    let attempts = usize::try_from(d.attempts).unwrap_or(0);
    let (status, next) = if ok {
        ("delivered", now)
    } else {
        match RETRY_AFTER_SECS.get(attempts) {
            Some(wait) => ("pending", now + chrono::Duration::seconds(*wait)),
            None => ("failed", now),
        }
    };
    let at = rapport_audit::to_micros(now);
    state.store.write(|conn| {
        store::record_attempt(
            conn,
            &d.id,
            &Attempt {
                status,
                at,
                next_attempt_at: rapport_audit::to_micros(next),
                http_status,
                response: &response,
            },
        )?;
        if status == "failed" {
            disable_after_failure(conn, state, d, &response)?;
        }
        Ok::<_, UseCaseError>(())
    })?;
    Ok(status)
}

fn disable_after_failure(
    conn: &mut DbConnection,
    state: &AppState,
    d: &Delivery,
    last: &str,
) -> Result<(), UseCaseError> {
    let Some(e) = store::find_endpoint(conn, &d.endpoint_id)? else {
        return Ok(());
    };
    if e.disabled_at.is_some() {
        return Ok(());
    }
    let reason = format!(
        "delivery {} failed after {} attempts over more than a day; last answer: {last}",
        d.id,
        RETRY_AFTER_SECS.len() + 1
    );
    store::set_disabled(conn, &e.id, Some(&reason))?;
    super::record(
        conn,
        StreamName::system(),
        Actor::system(),
        "webhook.disabled",
        ("webhook", Some(&e.id)),
        json!({"url": e.url, "reason": reason}),
    )?;
    super::mail::alert_admins(
        conn,
        state,
        &format!("Webhook endpoint disabled: {}", e.url),
        &format!(
            "Deliveries to {} kept failing, so it was disabled: {reason}\n\nEvents for it wait; enable it again on the admin page (Webhooks) once the receiver works.\n",
            e.url
        ),
    )?;
    Ok(())
}
