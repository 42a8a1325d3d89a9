//! Customer cards: what the supplier's own systems (CRM, ERP, billing)
//! know of a case's account and contact, shown beside the case. Admins
//! register sources; Rapport asks each one, signed the Standard Webhooks
//! way, and shows the answer (a title, rows, links) as it comes, or why it
//! did not. The server makes the calls; this module decides who may ask,
//! what is sent, and what of an answer is shown.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{CaseId, Principal};
use rapport_store::cards::{self, CardSource};
use serde_json::{Value, json};

use super::UseCaseError;
use super::input::invalid;
use super::webhooks::{admin_of, check_url, signature};
use crate::state::AppState;

const SEALED_AS: &str = "customer card secret";
/// The most rows and links a card shows.
const MAX_ROWS: usize = 20;
const MAX_LINKS: usize = 10;

/// A registered source and its signing secret, shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub source: CardSource,
    pub secret: String,
}

/// Registers a source (admins).
pub fn register(
    state: &AppState,
    who: &Principal,
    name: &str,
    url: &str,
) -> Result<Registered, UseCaseError> {
    let admin = admin_of(who)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(invalid("name", "must be 1 to 60 characters"));
    }
    let url = check_url(url)?;
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).map_err(|e| UseCaseError::Internal(format!("randomness: {e}")))?;
    let id = format!("card_{}", uuid::Uuid::now_v7().simple());
    let source = CardSource {
        sealed_secret: state
            .secrets
            .seal(SEALED_AS, &id, &key)
            .ok_or_else(|| UseCaseError::Internal("a card key could not be sealed".into()))?,
        id,
        name: name.to_owned(),
        url,
        created_by: admin,
        created_at: rapport_store::now_micros().and_utc(),
    };
    state.store.write(|conn| {
        cards::insert(conn, &source)?;
        super::record(
            conn,
            StreamName::system(),
            Actor::new(ActorKind::Staff, admin)?,
            "customer_card.registered",
            ("customer_card", Some(&source.id)),
            json!({"name": source.name, "url": source.url}),
        )?;
        Ok::<_, UseCaseError>(())
    })?;
    Ok(Registered {
        secret: format!("whsec_{}", STANDARD.encode(key)),
        source,
    })
}

/// Every source (admins).
pub fn list(state: &AppState, who: &Principal) -> Result<Vec<CardSource>, UseCaseError> {
    admin_of(who)?;
    Ok(cards::all(&mut *state.store.conn()?)?)
}

/// Removes a source (admins).
pub fn remove(state: &AppState, who: &Principal, id: &str) -> Result<(), UseCaseError> {
    let admin = admin_of(who)?;
    state.store.write(|conn| {
        if !cards::remove(conn, id)? {
            return Err(UseCaseError::NotFound("customer card"));
        }
        super::record(
            conn,
            StreamName::system(),
            Actor::new(ActorKind::Staff, admin)?,
            "customer_card.removed",
            ("customer_card", Some(id)),
            json!({}),
        )?;
        Ok(())
    })
}

/// One signed request to a source about a case.
#[derive(Debug, Clone)]
pub struct CardRequest {
    pub source_id: String,
    pub name: String,
    pub url: String,
    pub webhook_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    /// What the answer may be cached under: the source and what was asked.
    pub cache_key: String,
}

/// What to ask every source about a case the caller may read. Staff only:
/// cards are the supplier's knowledge, never shown to the client.
pub fn requests_for_case(
    state: &AppState,
    who: &Principal,
    case: CaseId,
    now: DateTime<Utc>,
) -> Result<Vec<CardRequest>, UseCaseError> {
    if !matches!(who, Principal::Staff { .. }) {
        return Err(UseCaseError::Forbidden);
    }
    let detail = super::case::get(state, who, case)?;
    let mut conn = state.store.conn()?;
    let sources = cards::all(&mut conn)?;
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let c = &detail.case;
    let account = rapport_store::account::find(&mut conn, c.account_id)?
        .ok_or(UseCaseError::NotFound("case"))?;
    let contact = match c.opened_by_contact_id {
        Some(id) => rapport_store::contact::find(&mut conn, id)?,
        None => None,
    };
    let body = json!({
        "account": {
            "id": account.id,
            "external_id": account.external_id,
            "name": account.name,
            "domains": account.domains.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            "tier": account.tier,
        },
        "contact": contact.as_ref().map(|p| json!({
            "id": p.id,
            "external_id": p.external_id,
            "name": p.name.as_str(),
            "email": p.emails.first().map(|e| e.as_str()),
            "function": p.function,
        })),
        "case": {"id": c.id, "number": c.number, "subject": c.subject, "category": c.category},
    })
    .to_string();
    let timestamp = now.timestamp();
    sources
        .into_iter()
        .map(|s| {
            let key = state
                .secrets
                .unseal(SEALED_AS, &s.id, &s.sealed_secret)
                .ok_or_else(|| {
                    UseCaseError::Internal(format!("customer card {}: secret unreadable", s.id))
                })?;
            let webhook_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
            Ok(CardRequest {
                signature: signature(&key, &webhook_id, timestamp, &body),
                // The question names the case: an answer is for that case.
                cache_key: format!("{}|{}", s.id, c.id),
                source_id: s.id,
                name: s.name,
                url: s.url,
                webhook_id,
                timestamp,
                body: body.clone(),
            })
        })
        .collect()
}

/// A card as shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Card {
    pub title: String,
    pub rows: Vec<CardRow>,
    pub links: Vec<CardLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CardRow {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CardLink {
    pub label: String,
    pub url: String,
}

fn text(v: &Value, max: usize) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let clean: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    (!clean.trim().is_empty()).then_some(clean)
}

/// Reads a source's answer: `{"title", "rows": [{"label", "value"}],
/// "links": [{"label", "url"}]}`. Text is cut to size, control characters
/// dropped, and only http(s) links kept, so a source can never put script
/// or layout into the page.
pub fn parse_card(name: &str, body: &[u8]) -> Result<Card, String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "its answer is not JSON".to_owned())?;
    if !v.is_object() {
        return Err("its answer is not a JSON object".into());
    }
    let rows = v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    Some(CardRow {
                        label: text(&r["label"], 60)?,
                        value: text(&r["value"], 500)?,
                    })
                })
                .take(MAX_ROWS)
                .collect()
        })
        .unwrap_or_default();
    let links = v["links"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|l| {
                    let url = text(&l["url"], 2000)?;
                    let parsed = url::Url::parse(&url).ok()?;
                    matches!(parsed.scheme(), "https" | "http").then(|| CardLink {
                        label: text(&l["label"], 60).unwrap_or_else(|| url.clone()),
                        url,
                    })
                })
                .take(MAX_LINKS)
                .collect()
        })
        .unwrap_or_default();
    Ok(Card {
        title: text(&v["title"], 120).unwrap_or_else(|| name.to_owned()),
        rows,
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_keeps_only_what_is_safe_to_show() {
        let body = serde_json::json!({
            "title": "Billing \u{7}status",
            "rows": [{"label": "Open invoices", "value": 3}, {"label": "No value"}, {"label": "Overdue", "value": "EUR 1,240.00"}],
            "links": [{"label": "Open in ERP", "url": "https://erp.example/c/4711"}, {"label": "x", "url": "javascript:alert(1)"}]
        });
        let card = parse_card("ERP", body.to_string().as_bytes()).expect("a card");
        assert_eq!(card.title, "Billing status");
        assert_eq!(card.rows.len(), 2);
        assert_eq!(card.rows[0].value, "3");
        assert_eq!(card.links.len(), 1, "no javascript: link");
        assert_eq!(
            parse_card("ERP", b"{}").expect("empty is a card").title,
            "ERP"
        );
        assert!(parse_card("ERP", b"<html>").is_err());
        assert!(parse_card("ERP", b"[1]").is_err());
    }
}
