//! Signing in and out (staff and contacts), refreshing, magic links, and
//! changing one's password.

use std::time::Instant;

use chrono::Utc;
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{AccountId, ContactId, EmailAddress, Principal, SessionFamilyId, StaffId};
use rapport_store::contact::{self, Contact};
use rapport_store::session::{self, SubjectKind};
use rapport_store::staff::{self, Staff};
use rapport_store::{DbConnection, StoreError};
use serde_json::json;

use super::staff::stream as staff_stream;
use super::{UseCaseError, record};
use crate::auth::RequestContext;
use crate::auth::password;
use crate::auth::token::{Restrictions, new_opaque_token, opaque_token_hash};
use crate::changes::Change;
use crate::state::AppState;

/// Minutes a magic link stays valid.
const MAGIC_LINK_MINUTES: i64 = 15;

/// What a successful sign-in or refresh hands to the client.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub password_change_required: bool,
    /// The role requires a second factor not yet set up: only setting it
    /// up is allowed until then.
    pub totp_enrolment_required: bool,
}

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub(super) enum Subject {
    Staff(Staff),
    Contact(Contact),
}

impl Subject {
    fn principal(&self) -> Principal {
        match self {
            Subject::Staff(s) => Principal::Staff {
                id: s.id,
                role: s.role,
            },
            Subject::Contact(c) => super::access::contact_principal(c),
        }
    }

    fn kind(&self) -> SubjectKind {
        match self {
            Subject::Staff(_) => SubjectKind::Staff,
            Subject::Contact(_) => SubjectKind::Contact,
        }
    }

    fn id(&self) -> String {
        match self {
            Subject::Staff(s) => s.id.to_string(),
            Subject::Contact(c) => c.id.to_string(),
        }
    }

    /// Staff sign-ins go to their own stream; a contact's to their account's.
    fn stream(&self) -> StreamName {
        match self {
            Subject::Staff(s) => staff_stream(s.id),
            Subject::Contact(c) => StreamName::account(c.account_id),
        }
    }

    fn subject_kind(&self) -> &'static str {
        match self {
            Subject::Staff(_) => "staff",
            Subject::Contact(_) => "contact",
        }
    }

    pub(super) fn actor(&self) -> Result<Actor, StoreError> {
        Ok(match self {
            Subject::Staff(s) => Actor::new(ActorKind::Staff, s.id)?,
            Subject::Contact(c) => Actor::new(ActorKind::Contact, c.id)?,
        })
    }

    pub(super) fn may_sign_in(&self) -> bool {
        match self {
            Subject::Staff(s) => s.active,
            Subject::Contact(c) => c.active && c.portal_access,
        }
    }

    fn password_hash(&self) -> Option<&str> {
        match self {
            Subject::Staff(s) => Some(&s.password_hash),
            Subject::Contact(c) => c.password_hash.as_deref(),
        }
    }

    fn password_change_required(&self) -> bool {
        matches!(self, Subject::Staff(s) if s.password_change_required)
    }

    fn load(
        conn: &mut DbConnection,
        kind: SubjectKind,
        id: &str,
    ) -> Result<Option<Subject>, StoreError> {
        let bad = || StoreError::Corrupt("session subject id".into());
        Ok(match kind {
            SubjectKind::Staff => {
                staff::find(conn, id.parse::<StaffId>().map_err(|_| bad())?)?.map(Subject::Staff)
            }
            SubjectKind::Contact => {
                contact::find(conn, id.parse::<ContactId>().map_err(|_| bad())?)?
                    .map(Subject::Contact)
            }
        })
    }

    /// Who an address may sign in as: a staff member, or each company's
    /// contact of a person of several accounts (`preferred`'s first).
    fn candidates(
        conn: &mut DbConnection,
        kind: SubjectKind,
        email: &EmailAddress,
        preferred: Option<AccountId>,
    ) -> Result<Vec<Subject>, UseCaseError> {
        Ok(match kind {
            SubjectKind::Staff => staff::find_by_email(conn, email)?
                .map(Subject::Staff)
                .into_iter()
                .collect(),
            SubjectKind::Contact => super::memberships::of_address(conn, email, preferred)?
                .into_iter()
                .map(Subject::Contact)
                .collect(),
        })
    }

    pub(super) fn record(
        &self,
        conn: &mut DbConnection,
        actor: Actor,
        action: &str,
        data: serde_json::Value,
    ) -> Result<(), StoreError> {
        let id = self.id();
        record(
            conn,
            self.stream(),
            actor,
            action,
            (self.subject_kind(), Some(&id)),
            data,
        )
    }
}

pub(super) fn context_data(ctx: &RequestContext) -> serde_json::Value {
    json!({"ip": ctx.ip, "user_agent": ctx.user_agent, "request_id": ctx.request_id})
}

fn randomness(e: getrandom::Error) -> UseCaseError {
    UseCaseError::Internal(format!("no randomness: {e}"))
}

/// Issues an access token and a new refresh token of `family`. `address`:
/// what a contact's sign-in was proven with (the companies they may act
/// for are those whose contact has it); None for staff.
pub(super) fn issue(
    conn: &mut DbConnection,
    state: &AppState,
    subject: &Subject,
    family: &str,
    address: Option<&str>,
) -> Result<SessionTokens, UseCaseError> {
    let address = match subject {
        Subject::Contact(_) => address,
        Subject::Staff(_) => None,
    };
    let refresh = new_opaque_token().map_err(randomness)?;
    let days = i64::from(state.config.settings.auth.refresh_token_days);
    session::insert(
        conn,
        &opaque_token_hash(&refresh),
        family,
        subject.kind(),
        &subject.id(),
        Utc::now() + chrono::Duration::days(days),
        address,
    )?;
    let restrictions = Restrictions {
        password_change: subject.password_change_required(),
        second_factor_enrolment: match subject {
            Subject::Staff(s) => {
                super::second_factor::required_for(conn, state, s.role)?
                    && rapport_store::totp::find(conn, s.id)?
                        .is_none_or(|t| t.confirmed_at.is_none())
            }
            Subject::Contact(_) => false,
        },
    };
    let access = state
        .tokens
        .issue_with_address(&subject.principal(), restrictions, address)
        .map_err(|e| UseCaseError::Internal(e.to_string()))?;
    Ok(SessionTokens {
        access_token: access,
        expires_in: state.tokens.lifetime_secs(),
        refresh_token: refresh,
        password_change_required: restrictions.password_change,
        totp_enrolment_required: restrictions.second_factor_enrolment,
    })
}

/// The throttle keys of a sign-in attempt: the address typed together with
/// the client address (the usual limit), and the client address alone,
/// shared by everyone behind it (an office, a proxy) and so given a higher
/// limit. Never the typed address alone: failures from elsewhere must not
/// lock its owner out, whose correct password from an address without
/// failures always works.
fn throttle_keys(
    kind: SubjectKind,
    typed_email: &str,
    ip: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let prefix = match kind {
        SubjectKind::Staff => "staff",
        SubjectKind::Contact => "contact",
    };
    let ip = ip.unwrap_or("unknown");
    let personal = vec![format!(
        "{prefix}:{}|ip:{ip}",
        typed_email.chars().take(254).collect::<String>()
    )];
    (personal, vec![format!("ip:{ip}")])
}

/// Refuses an attempt while the person's or the address's throttle holds.
fn check_throttles(
    state: &AppState,
    keys: &[String],
    shared: &[String],
    now: Instant,
) -> Result<(), UseCaseError> {
    state
        .throttle
        .check(keys, now)
        .map_err(UseCaseError::RateLimited)?;
    state
        .shared_throttle
        .check(shared, now)
        .map_err(UseCaseError::RateLimited)
}

/// What [`match_password`] found.
struct PasswordCheck {
    /// Who signs in, or whom the failure concerns.
    found: Option<Subject>,
    failure: Option<&'static str>,
    /// The hash the password was checked against.
    checked: Option<String>,
}

/// Whom a password signs in, and otherwise why nobody. Exactly one hash
/// is checked per attempt, whoever the address belongs to, so the time
/// taken tells nothing: the first stored among the contacts allowed to
/// sign in (`preferred`'s company first). A password signs in only a
/// contact whose own password it is, of a company that does not require
/// its own identity provider.
fn match_password(
    state: &AppState,
    candidates: &[Subject],
    password: &str,
) -> Result<PasswordCheck, UseCaseError> {
    let allowed: Vec<&Subject> = candidates.iter().filter(|s| s.may_sign_in()).collect();
    let hash = allowed
        .iter()
        .find_map(|s| s.password_hash())
        .map(str::to_owned);
    let matched = match &hash {
        Some(h) => password::verify(password, h),
        None => {
            password::verify_against_nothing(password);
            false
        }
    };
    let reason = if candidates.is_empty() {
        "unknown_email"
    } else if allowed.is_empty() {
        "not_allowed"
    } else if hash.is_none() {
        "no_password"
    } else if !matched {
        "wrong_password"
    } else {
        for subject in allowed
            .iter()
            .filter(|s| s.password_hash() == hash.as_deref())
        {
            if let Subject::Contact(c) = subject
                && super::sso::required_for(&mut *state.store.conn()?, c.account_id)?
            {
                continue;
            }
            return Ok(PasswordCheck {
                found: Some((*subject).clone()),
                failure: None,
                checked: hash,
            });
        }
        "sso_required"
    };
    Ok(PasswordCheck {
        found: candidates.first().cloned(),
        failure: Some(reason),
        checked: hash,
    })
}

/// Signs a staff member or contact in with email and password. Unknown
/// addresses, wrong passwords and accounts that may not sign in answer
/// alike and take the same time; every attempt is audited; repeated
/// failures per address and per IP are slowed down.
pub fn login(
    state: &AppState,
    kind: SubjectKind,
    email: &str,
    password: &str,
    second: &super::second_factor::Presented,
    preferred: Option<AccountId>,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let typed = email.trim().to_lowercase();
    let parsed = EmailAddress::parse(email).ok();
    let (keys, shared) = throttle_keys(kind, &typed, ctx.ip.as_deref());
    let now = Instant::now();
    check_throttles(state, &keys, &shared, now)?;
    let candidates = match &parsed {
        Some(address) => Subject::candidates(&mut *state.store.conn()?, kind, address, preferred)?,
        None => Vec::new(),
    };
    let PasswordCheck {
        found,
        mut failure,
        checked,
    } = match_password(state, &candidates, password)?;
    // The password matched, but some staff sign in only through the
    // organisation's identity provider.
    if failure.is_none()
        && let Some(Subject::Staff(s)) = &found
        && state
            .config
            .settings
            .auth
            .password_disabled_roles
            .iter()
            .any(|r| r == s.role.as_str())
    {
        failure = Some("password_disabled");
    }
    // The password matched: a second factor, when enabled, must too. A
    // missing code is no failure (the form asks for it next); a wrong one is.
    let mut method = "password";
    if failure.is_none()
        && let Some(Subject::Staff(s)) = &found
    {
        match state
            .store
            .write(|conn| super::second_factor::check_at_sign_in(conn, state, s.id, second))
        {
            Ok(used) => method = used.unwrap_or("password"),
            Err(UseCaseError::InvalidTotp) => failure = Some("wrong_second_factor"),
            Err(e) => return Err(e),
        }
    }
    if let Some(reason) = failure {
        state.throttle.record_failure(&keys, Instant::now());
        state
            .shared_throttle
            .record_failure(&shared, Instant::now());
        let mut data = context_data(ctx);
        data["email"] = json!(typed.chars().take(254).collect::<String>());
        data["reason"] = json!(reason);
        state.store.write(|conn| match &found {
            Some(subject) => subject.record(conn, Actor::system(), "auth.login_failed", data),
            None => record(
                conn,
                StreamName::system(),
                Actor::system(),
                "auth.login_failed",
                ("email", None),
                data,
            ),
        })?;
        return Err(match reason {
            "wrong_second_factor" => UseCaseError::InvalidTotp,
            "password_disabled" => UseCaseError::PasswordSignInDisabled,
            "sso_required" => UseCaseError::SingleSignOnRequired,
            _ => UseCaseError::InvalidCredentials,
        });
    }
    let Some(subject) = found else {
        return Err(UseCaseError::InvalidCredentials);
    };
    state.throttle.record_success(&keys[0]);
    let checked = checked.unwrap_or_default();
    let rehash = if password::needs_rehash(&checked) {
        Some(password::hash(password).map_err(|e| UseCaseError::Internal(e.to_string()))?)
    } else {
        None
    };
    // The password proves the address, and so every company of the
    // person, only when it is the password of each of the address's
    // contacts (set together, from a sign-in that had proven the address).
    // A contact elsewhere that lists the address with a password of its
    // own, or one not given the password yet, keeps this sign-in to the
    // contact whose password it is.
    let whole = candidates
        .iter()
        .all(|c| c.password_hash() == Some(checked.as_str()));
    let address = parsed.as_ref().map(EmailAddress::as_str).filter(|_| whole);
    state.store.write(|conn| {
        if let Some(hash) = &rehash {
            if whole {
                for other in &candidates {
                    store_rehash(conn, other, &checked, hash)?;
                }
            } else {
                store_rehash(conn, &subject, &checked, hash)?;
            }
        }
        let family = SessionFamilyId::new().to_string();
        let tokens = issue(conn, state, &subject, &family, address)?;
        let mut data = context_data(ctx);
        data["session"] = json!(family);
        data["method"] = json!(method);
        data["password_rehashed"] = json!(rehash.is_some());
        subject.record(conn, subject.actor()?, "auth.login_succeeded", data)?;
        Ok(tokens)
    })
}

/// Sets a password the person chose: a one-time password is spent.
fn store_password(
    conn: &mut DbConnection,
    subject: &Subject,
    hash: &str,
) -> Result<(), StoreError> {
    match subject {
        Subject::Staff(s) => staff::set_password_hash(conn, s.id, hash),
        Subject::Contact(c) => contact::set_password_hash(conn, c.id, hash),
    }
}

/// Stores the same password hashed with current parameters in place of
/// `old`, the hash it was checked against. A password changed since that
/// check stays as it is, and a one-time password stays one to change.
fn store_rehash(
    conn: &mut DbConnection,
    subject: &Subject,
    old: &str,
    hash: &str,
) -> Result<(), StoreError> {
    match subject {
        Subject::Staff(s) => staff::rehash_password(conn, s.id, old, hash),
        Subject::Contact(c) => contact::rehash_password(conn, c.id, old, hash),
    }
    .map(|_| ())
}

/// A staff member's row changed (their password): `/me` on every node
/// reads it again.
fn staff_changed(fresh: &Subject, committed: &mut Vec<Change>) {
    if let Subject::Staff(s) = fresh {
        committed.push(Change::StaffChanged(s.clone()));
    }
}

/// A presented refresh token, once looked at.
enum Presented {
    /// Live: its holder may have new tokens (the token is not spent yet).
    Live(Box<(session::RefreshToken, Subject)>),
    Invalid,
    /// Used before: its whole sign-in is now revoked.
    Reused,
}

/// Locks and checks a presented refresh token. Revocations are made here
/// and must commit even though the caller answers with an error, so the
/// outcome is returned rather than failed with.
fn present(
    conn: &mut DbConnection,
    hash: &str,
    ctx: &RequestContext,
) -> Result<Presented, UseCaseError> {
    let Some(token) = session::lock(conn, hash)? else {
        return Ok(Presented::Invalid);
    };
    if token.revoked {
        return Ok(Presented::Invalid);
    }
    let subject = Subject::load(conn, token.subject_kind, &token.subject_id)?;
    if token.spent {
        let revoked = session::revoke_family(conn, &token.family_id)?;
        if let Some(subject) = &subject {
            let mut data = context_data(ctx);
            data["session"] = json!(token.family_id);
            data["revoked_tokens"] = json!(revoked);
            subject.record(conn, Actor::system(), "auth.refresh_token_reused", data)?;
        }
        return Ok(Presented::Reused);
    }
    if token.expires_at <= Utc::now() {
        return Ok(Presented::Invalid);
    }
    let Some(subject) = subject.filter(Subject::may_sign_in) else {
        session::revoke_family(conn, &token.family_id)?;
        return Ok(Presented::Invalid);
    };
    Ok(Presented::Live(Box::new((token, subject))))
}

fn issued(outcome: Result<SessionTokens, Presented>) -> Result<SessionTokens, UseCaseError> {
    match outcome {
        Ok(tokens) => Ok(tokens),
        Err(Presented::Reused) => Err(UseCaseError::RefreshTokenReused),
        Err(_) => Err(UseCaseError::InvalidRefreshToken),
    }
}

/// Exchanges a refresh token for new tokens. The presented token is spent;
/// presenting a spent token again revokes its whole family, because one of
/// the two presenters is not the user.
pub fn refresh(
    state: &AppState,
    presented: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let hash = opaque_token_hash(presented);
    issued(state.store.write(|conn| {
        let (token, subject) = match present(conn, &hash, ctx)? {
            Presented::Live(live) => *live,
            other => return Ok(Err(other)),
        };
        session::mark_spent(conn, &hash)?;
        Ok::<_, UseCaseError>(Ok(issue(
            conn,
            state,
            &subject,
            &token.family_id,
            token.address.as_deref(),
        )?))
    })?)
}

/// Moves the sign-in of a person of several companies to their contact of
/// `account`. The refresh token is spent as by a refresh; the new tokens
/// belong to the same sign-in and act for that company alone, with the
/// function and visibility the person has there.
pub fn switch_account(
    state: &AppState,
    presented: &str,
    account: AccountId,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let hash = opaque_token_hash(presented);
    issued(state.store.write(|conn| {
        let (token, subject) = match present(conn, &hash, ctx)? {
            Presented::Live(live) => *live,
            other => return Ok(Err(other)),
        };
        let Subject::Contact(from) = &subject else {
            return Err(UseCaseError::Forbidden);
        };
        let target = if from.account_id == account {
            from.clone()
        } else {
            // Only a company whose contact has the address this sign-in
            // was proven with: not one sharing some other address.
            let target = match token.address.as_deref().map(EmailAddress::parse) {
                Some(Ok(address)) => super::memberships::contact_in(conn, &address, account)?,
                _ => None,
            }
            .ok_or(UseCaseError::NotFound("your membership of that account"))?;
            if super::sso::required_for(conn, target.account_id)? {
                return Err(UseCaseError::SingleSignOnRequired);
            }
            target
        };
        session::mark_spent(conn, &hash)?;
        let target = Subject::Contact(target);
        let tokens = issue(
            conn,
            state,
            &target,
            &token.family_id,
            token.address.as_deref(),
        )?;
        if from.account_id != account {
            let mut data = context_data(ctx);
            data["session"] = json!(token.family_id);
            data["from_account"] = json!(from.account_id.to_string());
            data["from_contact"] = json!(from.id.to_string());
            target.record(conn, target.actor()?, "auth.account_switched", data)?;
        }
        Ok(Ok(tokens))
    })?)
}

/// Ends the sign-in the refresh token belongs to. Unknown tokens are
/// ignored: signing out twice is not an error.
pub fn logout(state: &AppState, presented: &str, ctx: &RequestContext) -> Result<(), UseCaseError> {
    let hash = opaque_token_hash(presented);
    state.store.write(|conn| {
        let Some(token) = session::lock(conn, &hash)? else {
            return Ok(());
        };
        if token.revoked {
            return Ok(());
        }
        session::revoke_family(conn, &token.family_id)?;
        if let Some(subject) = Subject::load(conn, token.subject_kind, &token.subject_id)? {
            let mut data = context_data(ctx);
            data["session"] = json!(token.family_id);
            subject.record(conn, subject.actor()?, "auth.logout", data)?;
        }
        Ok::<_, UseCaseError>(())
    })
}

fn load_principal(state: &AppState, principal: &Principal) -> Result<Subject, UseCaseError> {
    let (kind, id) = match principal {
        Principal::Staff { id, .. } => (SubjectKind::Staff, id.to_string()),
        Principal::Contact { id, .. } => (SubjectKind::Contact, id.to_string()),
        Principal::ApiToken { .. } => return Err(UseCaseError::Forbidden),
    };
    Subject::load(&mut *state.store.conn()?, kind, &id)?
        .filter(Subject::may_sign_in)
        .ok_or(UseCaseError::NotFound("signed-in person"))
}

/// A new staff member chooses their password with the invitation link an
/// admin had mailed; they are signed in at once. A used, replaced or
/// expired link answers `InvalidInvitation`, whoever asks.
pub fn accept_invitation(
    state: &AppState,
    token: &str,
    new_password: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    password::check_new(new_password).map_err(|message| UseCaseError::Validation {
        field: "password",
        message,
    })?;
    let hash = password::hash(new_password).map_err(|e| UseCaseError::Internal(e.to_string()))?;
    let hashed_token = opaque_token_hash(token);
    super::commit(state, |conn, committed| {
        let staff_id = rapport_store::staff_invitation::redeem(conn, &hashed_token)?
            .ok_or(UseCaseError::InvalidInvitation)?;
        let subject = Subject::load(conn, SubjectKind::Staff, &staff_id.to_string())?
            .filter(Subject::may_sign_in)
            .ok_or(UseCaseError::InvalidInvitation)?;
        store_password(conn, &subject, &hash)?;
        session::revoke_subject(conn, subject.kind(), &subject.id())?;
        let fresh = Subject::load(conn, subject.kind(), &subject.id())?
            .ok_or(UseCaseError::InvalidInvitation)?;
        staff_changed(&fresh, committed);
        let family = SessionFamilyId::new().to_string();
        let tokens = issue(conn, state, &fresh, &family, None)?;
        let mut data = context_data(ctx);
        data["session"] = json!(family);
        data["method"] = json!("invitation");
        subject.record(conn, subject.actor()?, "auth.invitation_accepted", data)?;
        Ok(tokens)
    })
}

/// Sets a new password. The current one must be given when one exists (a
/// contact who signed in by magic link may set a first password without),
/// except right after signing in with a one-time password, which that
/// sign-in just proved. A contact's password is the person's: it is set
/// for each company's contact with the address their sign-in was proven
/// with (a sign-in link or code, or a password all of them share).
/// Every other sign-in of this person is revoked; a fresh session is returned.
pub fn change_password(
    state: &AppState,
    principal: &Principal,
    address: Option<&str>,
    current: Option<&str>,
    new: &str,
    ctx: &RequestContext,
    one_time_session: bool,
) -> Result<SessionTokens, UseCaseError> {
    let subject = load_principal(state, principal)?;
    let others: Vec<Contact> = match (&subject, address.map(EmailAddress::parse)) {
        (Subject::Contact(me), Some(Ok(address))) => {
            contact::find_all_by_email(&mut *state.store.conn()?, &address)?
                .into_iter()
                .filter(|c| c.id != me.id)
                .collect()
        }
        _ => Vec::new(),
    };
    if one_time_session && current.is_none() {
        // The sign-in that made this session checked the one-time password.
    } else if let Some(hash) = subject.password_hash() {
        let key = vec![format!("password:{}", subject.id())];
        state
            .throttle
            .check(&key, Instant::now())
            .map_err(UseCaseError::RateLimited)?;
        let Some(current) = current else {
            return Err(UseCaseError::Validation {
                field: "current_password",
                message: "is required".into(),
            });
        };
        if !password::verify(current, hash) {
            state.throttle.record_failure(&key, Instant::now());
            return Err(UseCaseError::Validation {
                field: "current_password",
                message: "is wrong".into(),
            });
        }
        if new == current {
            return Err(UseCaseError::Validation {
                field: "new_password",
                message: "must differ from the current password".into(),
            });
        }
    }
    password::check_new(new).map_err(|message| UseCaseError::Validation {
        field: "new_password",
        message,
    })?;
    let hash = password::hash(new).map_err(|e| UseCaseError::Internal(e.to_string()))?;
    super::commit(state, |conn, committed| {
        store_password(conn, &subject, &hash)?;
        let revoked = session::revoke_subject(conn, subject.kind(), &subject.id())?;
        // Their contacts of other companies take it too, and their
        // sign-ins there end as well, each in its company's log.
        for other in others.into_iter().map(Subject::Contact) {
            store_password(conn, &other, &hash)?;
            let mut data = context_data(ctx);
            data["revoked_tokens"] =
                json!(session::revoke_subject(conn, other.kind(), &other.id())?);
            data["changed_by_contact"] = json!(subject.id());
            other.record(conn, subject.actor()?, "auth.password_changed", data)?;
        }
        let fresh = Subject::load(conn, subject.kind(), &subject.id())?
            .ok_or(UseCaseError::NotFound("signed-in person"))?;
        staff_changed(&fresh, committed);
        let tokens = issue(
            conn,
            state,
            &fresh,
            &SessionFamilyId::new().to_string(),
            address,
        )?;
        let mut data = context_data(ctx);
        data["revoked_tokens"] = json!(revoked);
        subject.record(conn, subject.actor()?, "auth.password_changed", data)?;
        Ok(tokens)
    })
}

/// Sends a contact a one-time sign-in link. Answers the same whether or
/// not the address belongs to a contact allowed to sign in.
pub fn request_magic_link(
    state: &AppState,
    email: &str,
    preferred: Option<AccountId>,
    ctx: &RequestContext,
) -> Result<(), UseCaseError> {
    let typed = email.trim().to_lowercase();
    let typed = typed.chars().take(254).collect::<String>();
    // Per address and client, and (with the higher limit) per address, to
    // spare its mailbox a flood. Every request counts: links are not free
    // to send. Throttled requests answer like the others and send nothing,
    // so the answer never tells whether, or why, a link went out.
    let keys = vec![format!(
        "magic:{typed}|ip:{}",
        ctx.ip.as_deref().unwrap_or("unknown")
    )];
    let mailbox = vec![format!("magic:{typed}")];
    let now = Instant::now();
    let throttled = state.throttle.check(&keys, now).is_err()
        || state.shared_throttle.check(&mailbox, now).is_err();
    state.throttle.record_failure(&keys, now);
    state.shared_throttle.record_failure(&mailbox, now);
    if throttled {
        tracing::info!("sign-in link request throttled");
        return Ok(());
    }
    let Ok(address) = EmailAddress::parse(email) else {
        return Ok(());
    };
    // A person of several companies signs in to the one they asked for,
    // else the first that takes a link rather than its own identity
    // provider; they switch once signed in.
    let mut usable = Vec::new();
    {
        let mut conn = state.store.conn()?;
        for subject in Subject::candidates(&mut conn, SubjectKind::Contact, &address, preferred)? {
            if let Subject::Contact(c) = &subject
                && subject.may_sign_in()
            {
                let sso = super::sso::required_for(&mut conn, c.account_id)?;
                usable.push((sso, subject));
            }
        }
    }
    let first_without_sso = usable.iter().position(|(sso, _)| !sso).unwrap_or(0);
    if usable.is_empty() {
        return Ok(());
    }
    let (_, subject) = usable.swap_remove(first_without_sso);
    let token = new_opaque_token().map_err(randomness)?;
    let code = SignInCode::new().map_err(randomness)?;
    let Subject::Contact(c) = &subject else {
        return Ok(());
    };
    let settings = &state.config.settings;
    let link = format!("{}/portal/sign-in?token={token}", state.public_url());
    let body = format!(
        "Hello {},\n\nSign in to {} with this link:\n\n{link}\n\nIn a chat window, enter this code instead:\n\n    {}\n\n\
         Each works once and for {MAGIC_LINK_MINUTES} minutes. If you did not ask for it, ignore this message.\n",
        c.name.as_str(),
        settings.instance.name,
        code.display(),
    );
    state.store.write(|conn| {
        let expires = Utc::now() + chrono::Duration::minutes(MAGIC_LINK_MINUTES);
        for hash in [opaque_token_hash(&token), code.hash(c.id)] {
            rapport_store::magic_link::insert(conn, &hash, c.id, address.as_str(), expires)?;
        }
        super::mail::enqueue_magic_link(
            conn,
            state,
            rapport_mail::Mailbox {
                name: Some(c.name.as_str().to_owned()),
                address: address.as_str().to_owned(),
            },
            &format!("Your sign-in link for {}", settings.instance.name),
            &body,
        )?;
        let mut data = context_data(ctx);
        data["email"] = json!(address.as_str());
        Ok::<_, UseCaseError>(subject.record(
            conn,
            Actor::system(),
            "auth.magic_link_sent",
            data,
        )?)
    })?;
    state.mail.wake();
    Ok(())
}

/// The short code of a sign-in email, typed into the chat widget: eight
/// characters from an alphabet without look-alikes. Short enough to type,
/// so it only works together with the address it was sent to, once, for
/// as long as the link, and failed attempts are throttled like passwords.
struct SignInCode(String);

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 8;

impl SignInCode {
    fn new() -> Result<SignInCode, getrandom::Error> {
        let mut bytes = [0u8; CODE_LENGTH];
        getrandom::fill(&mut bytes)?;
        // 256 is a multiple of the alphabet's 32 letters: no bias.
        Ok(SignInCode(
            bytes
                .iter()
                .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
                .collect(),
        ))
    }

    /// What a person typed: case, spaces and dashes do not matter.
    fn typed(text: &str) -> Option<SignInCode> {
        let code: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (code.len() == CODE_LENGTH && code.bytes().all(|b| CODE_ALPHABET.contains(&b)))
            .then_some(SignInCode(code))
    }

    /// As mailed: `ABCD-EFGH`.
    fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }

    /// Stored like a link's token, but bound to its contact.
    fn hash(&self, contact: rapport_domain::ContactId) -> String {
        opaque_token_hash(&format!("code:{contact}:{}", self.0))
    }
}

/// Signs a contact in with the code of a sign-in email and the address it
/// was sent to. Wrong codes count as failed sign-ins.
pub fn redeem_sign_in_code(
    state: &AppState,
    email: &str,
    code: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let typed = email.trim().to_lowercase();
    let (keys, shared) = throttle_keys(
        SubjectKind::Contact,
        &format!("code:{typed}"),
        ctx.ip.as_deref(),
    );
    let now = Instant::now();
    check_throttles(state, &keys, &shared, now)?;
    // The code is bound to the contact it was sent as: one of the address's.
    let address = EmailAddress::parse(email).ok();
    let found: Vec<(ContactId, String)> = match (&address, SignInCode::typed(code)) {
        (Some(address), Some(code)) => {
            contact::find_all_by_email(&mut *state.store.conn()?, address)?
                .into_iter()
                .map(|c| (c.id, code.hash(c.id)))
                .collect()
        }
        _ => Vec::new(),
    };
    let signed_in = match found.is_empty() {
        false => state.store.write(|conn| {
            let mut redeemed = None;
            for (contact_id, hash) in &found {
                if rapport_store::magic_link::redeem(conn, hash)?.map(|(c, _)| c)
                    == Some(*contact_id)
                {
                    redeemed = Some(*contact_id);
                    break;
                }
            }
            let Some(contact_id) = redeemed else {
                return Ok(None);
            };
            let Some(subject) = contact::find(conn, contact_id)?
                .map(Subject::Contact)
                .filter(Subject::may_sign_in)
            else {
                return Ok(None);
            };
            if let Subject::Contact(c) = &subject
                && super::sso::required_for(conn, c.account_id)?
            {
                return Err(UseCaseError::SingleSignOnRequired);
            }
            let family = SessionFamilyId::new().to_string();
            let tokens = issue(
                conn,
                state,
                &subject,
                &family,
                address.as_ref().map(EmailAddress::as_str),
            )?;
            let mut data = context_data(ctx);
            data["session"] = json!(family);
            data["method"] = json!("sign_in_code");
            subject.record(conn, subject.actor()?, "auth.login_succeeded", data)?;
            Ok::<_, UseCaseError>(Some(tokens))
        })?,
        true => None,
    };
    match signed_in {
        Some(tokens) => {
            state.throttle.record_success(&keys[0]);
            Ok(tokens)
        }
        None => {
            state.throttle.record_failure(&keys, Instant::now());
            state
                .shared_throttle
                .record_failure(&shared, Instant::now());
            Err(UseCaseError::InvalidSignInCode)
        }
    }
}

/// Signs a contact in with a magic link: valid once, for 15 minutes.
pub fn redeem_magic_link(
    state: &AppState,
    token: &str,
    ctx: &RequestContext,
) -> Result<SessionTokens, UseCaseError> {
    let hash = opaque_token_hash(token);
    state.store.write(|conn| {
        let Some((contact_id, address)) = rapport_store::magic_link::redeem(conn, &hash)? else {
            return Err(UseCaseError::InvalidMagicLink);
        };
        let subject = contact::find(conn, contact_id)?
            .map(Subject::Contact)
            .filter(Subject::may_sign_in)
            .ok_or(UseCaseError::InvalidMagicLink)?;
        if let Subject::Contact(c) = &subject
            && super::sso::required_for(conn, c.account_id)?
        {
            return Err(UseCaseError::SingleSignOnRequired);
        }
        let family = SessionFamilyId::new().to_string();
        let tokens = issue(conn, state, &subject, &family, address.as_deref())?;
        let mut data = context_data(ctx);
        data["session"] = json!(family);
        data["method"] = json!("magic_link");
        subject.record(conn, subject.actor()?, "auth.login_succeeded", data)?;
        Ok(tokens)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_codes_are_short_unambiguous_and_forgiving_when_typed() {
        let code = SignInCode::new().expect("randomness");
        assert_eq!(code.0.len(), 8);
        assert!(code.0.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let shown = code.display();
        assert_eq!(shown.len(), 9);
        let typed = SignInCode::typed(&format!(" {} ", shown.to_lowercase())).expect("parses");
        assert_eq!(typed.0, code.0);
        assert!(
            SignInCode::typed("ABCD-EFG0").is_none(),
            "0 is not in the alphabet"
        );
        assert!(SignInCode::typed("ABCDEFG").is_none());
        let contact = rapport_domain::ContactId::new();
        assert_ne!(
            code.hash(contact),
            code.hash(rapport_domain::ContactId::new())
        );
    }

    #[test]
    fn a_typed_address_is_throttled_only_together_with_its_client_address() {
        let (personal, shared) =
            throttle_keys(SubjectKind::Contact, "anna@acme.example", Some("10.0.0.1"));
        assert_eq!(personal, ["contact:anna@acme.example|ip:10.0.0.1"]);
        assert_eq!(shared, ["ip:10.0.0.1"]);
        let (elsewhere, _) =
            throttle_keys(SubjectKind::Contact, "anna@acme.example", Some("10.0.0.2"));
        assert_ne!(personal, elsewhere);
        let (staff, _) = throttle_keys(SubjectKind::Staff, "a@support.example", None);
        assert_eq!(staff, ["staff:a@support.example|ip:unknown"]);
    }
}
