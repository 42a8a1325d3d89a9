//! The use cases: every change to Rapport's state goes through a function
//! here, whichever channel asked for it (HTTP, websocket, LMTP, CLI,
//! worker). Each checks what it must, writes the change and its audit event
//! in one transaction, and returns what happened.

mod access;
pub mod account;
pub mod api_token;
pub mod appointment;
pub mod audit;
pub mod audit_tree;
pub mod canned;
pub mod cards;
pub mod case;
pub mod categories;
pub mod chat;
pub mod contact;
pub mod directory_csv;
pub mod evidence;
mod greeting;
mod input;
pub mod knowledge;
pub mod mail;
pub mod mail_accounts;
pub mod memberships;
pub mod notices;
pub mod participants;
pub mod report;
pub mod satisfaction;
pub mod second_factor;
pub mod session;
pub mod sla;
pub mod sso;
pub mod staff;
pub mod system;
pub mod team;
pub mod webhooks;

use std::time::Duration;

use rapport_audit::{Action, Actor, NewEvent, StreamName, Subject};
use rapport_store::{DbConnection, StoreError};
use serde_json::{Map, Value};

use crate::changes::Change;
use crate::state::AppState;

/// Why a use case did not happen, in the product's words. Each channel
/// maps every variant in one exhaustive match: HTTP in the server's
/// `http::problem`, websocket frames in `chat::session`, LMTP replies in
/// `mail::lmtp_door`.
#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    #[error("{field} {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("your role does not allow this")]
    Forbidden,
    #[error("the email address or password is wrong")]
    InvalidCredentials,
    #[error(
        "this account signs in with a code from its authenticator app too: give `totp_code` (or a `recovery_code`)"
    )]
    TotpRequired,
    #[error("the authenticator code or recovery code is wrong, expired or already used")]
    InvalidTotp,
    #[error("too many failed sign-ins; retry in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    #[error("the refresh token is invalid, expired or revoked; sign in again")]
    InvalidRefreshToken,
    #[error("the sign-in link is invalid, used or expired; ask for a new one")]
    InvalidMagicLink,
    #[error("this role signs in through the organisation's identity provider, not with a password")]
    PasswordSignInDisabled,
    #[error("this company signs its people in through its own identity provider; use its sign-in")]
    SingleSignOnRequired,
    #[error("single sign-on refused: {0}")]
    SingleSignOnRefused(&'static str),
    #[error("the identity provider's answer could not be used: {0}")]
    SingleSignOnFailed(String),
    #[error("this single sign-on code is invalid, used or expired; sign in again")]
    InvalidSingleSignOnCode,
    #[error(
        "this refresh token was already used; every session of its sign-in is revoked, sign in again"
    )]
    RefreshTokenReused,
    #[error(transparent)]
    Store(StoreError),
    #[error("this sign-in code is wrong, used or expired; ask for a new email")]
    InvalidSignInCode,
    #[error(
        "this link is unknown, expired, or another of its links was followed first: the message was filed already or is too old"
    )]
    InvalidMailChoice,
    #[error("this invitation link is invalid, used or expired; ask an administrator for a new one")]
    InvalidInvitation,
    #[error("this rating link is invalid, expired, or for another case")]
    InvalidRatingLink,
    #[error("this content was redacted on {0}")]
    Redacted(String),
    #[error(
        "you already have {0} chat connections open; close one (another tab or device) and retry"
    )]
    TooManyConnections(usize),
    #[error("storage is full: {0}")]
    StorageFull(String),
    #[error("{0}")]
    Internal(String),
}

impl UseCaseError {
    /// A failed file write: a full disk is `StorageFull` (retry later),
    /// anything else internal.
    pub fn file(context: &str, e: &std::io::Error) -> UseCaseError {
        if is_disk_full(e) {
            UseCaseError::StorageFull(format!("{context}: {e}"))
        } else {
            UseCaseError::Internal(format!("{context}: {e}"))
        }
    }
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

impl From<StoreError> for UseCaseError {
    /// A uniqueness conflict is the caller's to resolve, not a storage fault.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => UseCaseError::Conflict(what),
            StoreError::StorageFull(message) => UseCaseError::StorageFull(message),
            other => UseCaseError::Store(other),
        }
    }
}

impl From<crate::mail::original::OriginalError> for UseCaseError {
    fn from(e: crate::mail::original::OriginalError) -> Self {
        match e {
            crate::mail::original::OriginalError::Store(e) => e.into(),
            crate::mail::original::OriginalError::File(e) => {
                UseCaseError::file("cannot read a received message", &e)
            }
        }
    }
}

/// The fields that differ between two snapshots, as the `data` of an
/// update event: `{"before": {...}, "after": {...}}`; `None` when nothing
/// changed.
pub(crate) fn changes(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return None;
    };
    let (mut b, mut a) = (Map::new(), Map::new());
    for (key, new) in after {
        let old = before.get(key).cloned().unwrap_or(Value::Null);
        if old != *new {
            b.insert(key.clone(), old);
            a.insert(key.clone(), new.clone());
        }
    }
    (!a.is_empty()).then(|| serde_json::json!({"before": b, "after": a}))
}

impl From<rapport_store::QueryError> for UseCaseError {
    fn from(e: rapport_store::QueryError) -> Self {
        UseCaseError::Store(e.into())
    }
}

impl From<rapport_audit::EventError> for UseCaseError {
    fn from(e: rapport_audit::EventError) -> Self {
        UseCaseError::Store(e.into())
    }
}

/// Appends one audit event in the caller's transaction.
pub(crate) fn record(
    conn: &mut DbConnection,
    stream: StreamName,
    actor: Actor,
    action: &str,
    subject: (&str, Option<&str>),
    data: Value,
) -> Result<(), StoreError> {
    append_audit(conn, stream, actor, action, subject, data, None)
}

/// Appends one audit event in the caller's transaction, linked to an
/// account when it belongs to one (so the account's export includes it).
/// Data that is not a JSON object is recorded as an empty object.
pub(crate) fn append_audit(
    conn: &mut DbConnection,
    stream: StreamName,
    actor: Actor,
    action: &str,
    subject: (&str, Option<&str>),
    data: Value,
    account: Option<&str>,
) -> Result<(), StoreError> {
    let data = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let event = NewEvent::new(
        stream,
        actor,
        Action::parse(action)?,
        Subject::new(subject.0, subject.1)?,
        data,
    )?;
    rapport_store::audit::append(conn, event, account).map(|_| ())
}

/// Runs one write transaction that notes what it changes in `changes`:
/// they are recorded in the change log in the same transaction and, once
/// committed, delivered to this node's consumers and announced to the
/// others. Nothing is delivered for a transaction that rolled back.
pub(crate) fn commit<T>(
    state: &AppState,
    f: impl FnOnce(&mut DbConnection, &mut Vec<Change>) -> Result<T, UseCaseError>,
) -> Result<T, UseCaseError> {
    let mut changes = Vec::new();
    let out = state.store.write(|conn| {
        let out = f(conn, &mut changes)?;
        crate::changes::record(conn, state, &changes)?;
        Ok::<_, UseCaseError>(out)
    })?;
    crate::changes::committed(state, &changes);
    Ok(out)
}
