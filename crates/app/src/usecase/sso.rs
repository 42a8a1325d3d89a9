//! Single sign-on through OpenID Connect: staff through the organisation's
//! provider (`auth.oidc`), a client company's contacts through the
//! provider the account names. The server talks to the provider; these use
//! cases keep the attempt, decide who the verified ID token signs in, and
//! hand the browser a one-time code it redeems for a session.

use chrono::Duration;
use rapport_audit::{Actor, StreamName};
use rapport_domain::{AccountId, EmailAddress, Principal, SessionFamilyId, StaffRole};
use rapport_store::session::SubjectKind;
use rapport_store::sso::{self, AccountProvider, Attempt, Audience};
use rapport_store::{DbConnection, contact, staff};
use serde_json::json;

use super::input::invalid;
use super::session::{SessionTokens, Subject, context_data, issue};
use super::{UseCaseError, record};
use crate::auth::RequestContext;
use crate::auth::oidc::{self, IdClaims, Pkce};
use crate::auth::token::opaque_token_hash;
use crate::changes::Change;
use crate::state::AppState;

/// How long a person may take at the provider.
const ATTEMPT_MINUTES: i64 = 10;
/// How long the browser has to redeem the code the callback hands it.
const HANDOFF_SECS: i64 = 120;
/// The purpose account providers' client secrets are sealed for.
const SEALED_AS: &str = "account sso";

/// A provider as the server needs it to send people there and back.
#[derive(Debug, Clone)]
pub struct Provider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// "Sign in with …".
    pub label: String,
    /// An account's people may sign in only this way.
    pub required: bool,
}

/// The organisation's provider for staff, when single sign-on is on.
pub fn staff_provider(state: &AppState) -> Option<Provider> {
    use secrecy::ExposeSecret;
    let o = &state.config.settings.auth.oidc;
    Some(Provider {
        issuer: o.issuer.clone()?,
        client_id: o.client_id.clone(),
        client_secret: o.client_secret.as_ref()?.expose_secret().to_owned(),
        label: o.label.clone(),
        required: false,
    })
}

/// The provider of the account whose domain `email` is at, if it names one.
pub fn contact_provider(
    state: &AppState,
    email: &str,
) -> Result<Option<(AccountId, Provider)>, UseCaseError> {
    let Ok(address) = EmailAddress::parse(email) else {
        return Ok(None);
    };
    let mut conn = state.store.conn()?;
    let Some(account) = rapport_store::account::find_by_domain(&mut conn, address.domain())? else {
        return Ok(None);
    };
    sso::provider_of(&mut conn, account)?
        .map(|p| provider_from(state, &p).map(|provider| (account, provider)))
        .transpose()
}

fn provider_from(state: &AppState, p: &AccountProvider) -> Result<Provider, UseCaseError> {
    let secret = state
        .secrets
        .unseal(SEALED_AS, &p.account_id.to_string(), &p.sealed_secret)
        .and_then(|s| String::from_utf8(s).ok())
        .ok_or_else(|| {
            UseCaseError::Internal(format!(
                "the client secret of account {}'s identity provider does not open",
                p.account_id
            ))
        })?;
    Ok(Provider {
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        client_secret: secret,
        label: p.label.clone(),
        required: p.required,
    })
}

/// A sign-in about to be sent to the provider.
#[derive(Debug, Clone)]
pub struct Started {
    pub state: String,
    pub nonce: String,
    pub challenge: String,
}

/// The pages a sign-in may return to: the product's own pages only (never
/// another site, never an endpoint that would carry the code elsewhere).
pub fn safe_return(path: &str) -> Option<&str> {
    const PAGES: [&str; 4] = ["/console", "/portal", "/admin", "/auditor"];
    let clean = path.len() <= 512
        && !path.contains('\\')
        && !path.contains("//")
        && !path.chars().any(|c| c.is_control() || c.is_whitespace());
    let page = PAGES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    });
    (clean && page && !path.contains('#')).then_some(path)
}

fn local_path(return_to: &str) -> Result<&str, UseCaseError> {
    safe_return(return_to).ok_or_else(|| {
        invalid(
            "return_to",
            "must be a page of this server: /console, /portal, /admin or /auditor",
        )
    })
}

/// Records a new attempt and returns what the authorization request carries.
pub fn start(
    state: &AppState,
    audience: Audience,
    account: Option<AccountId>,
    return_to: &str,
    browser: &str,
) -> Result<Started, UseCaseError> {
    let failed = |e: oidc::OidcError| UseCaseError::Internal(e.to_string());
    let pkce = Pkce::new().map_err(failed)?;
    let attempt = Attempt {
        state: oidc::random().map_err(failed)?,
        audience,
        account_id: account,
        nonce: oidc::random().map_err(failed)?,
        verifier: pkce.verifier,
        return_to: local_path(return_to)?.to_owned(),
        browser_hash: opaque_token_hash(browser),
        created_at: rapport_store::now_micros().and_utc(),
        subject_id: None,
        handoff_hash: None,
        completed_at: None,
        redeemed_at: None,
    };
    state.store.write(|conn| sso::begin(conn, &attempt))?;
    Ok(Started {
        state: attempt.state,
        nonce: attempt.nonce,
        challenge: pkce.challenge,
    })
}

/// The attempt the provider's answer names, taken once, when the browser
/// holding it is the one that started it; with its provider. `None`: no
/// such attempt (a forged or replayed answer: nothing to record).
pub fn take(
    state: &AppState,
    state_param: &str,
    browser: Option<&str>,
) -> Result<Option<(Attempt, Provider)>, UseCaseError> {
    let Some(attempt) = state
        .store
        .write(|conn| sso::take(conn, state_param, Duration::minutes(ATTEMPT_MINUTES)))?
    else {
        return Ok(None);
    };
    if browser.map(opaque_token_hash) != Some(attempt.browser_hash.clone()) {
        return Err(UseCaseError::SingleSignOnRefused(
            "this sign-in was started in another browser; start it again here",
        ));
    }
    let provider = match attempt.audience {
        Audience::Staff => staff_provider(state)
            .ok_or(UseCaseError::SingleSignOnRefused("single sign-on is off"))?,
        Audience::Contact => {
            let account = attempt.account_id.ok_or_else(|| {
                UseCaseError::Internal("a contact sign-in without account".into())
            })?;
            let found = sso::provider_of(&mut *state.store.conn()?, account)?.ok_or(
                UseCaseError::SingleSignOnRefused("the account no longer names a provider"),
            )?;
            provider_from(state, &found)?
        }
    };
    Ok(Some((attempt, provider)))
}

/// Decides who the verified ID token signs in and returns the one-time
/// code the browser redeems ([`redeem`]). Staff are matched by verified
/// email (created first when allowed); contacts must be contacts of the
/// attempt's account at one of its domains.
pub fn complete(
    state: &AppState,
    attempt: &Attempt,
    claims: &IdClaims,
    ctx: &RequestContext,
) -> Result<String, UseCaseError> {
    let refused = |why: &'static str| UseCaseError::SingleSignOnRefused(why);
    let email = claims
        .verified_email()
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or(refused("the provider did not vouch for an email address"))?;
    let subject_id = match attempt.audience {
        Audience::Staff => staff_for(state, &email, claims, ctx)?,
        Audience::Contact => {
            let account = attempt.account_id.ok_or(refused("no account"))?;
            let mut conn = state.store.conn()?;
            let acc = rapport_store::account::find(&mut conn, account)?
                .ok_or(refused("the account no longer exists"))?;
            if !acc.domains.iter().any(|d| d.as_str() == email.domain()) {
                return Err(refused(
                    "this address is not at one of the company's domains",
                ));
            }
            let found = contact::find_by_email_in(&mut conn, &email, account)?.ok_or(refused(
                "you are not yet a contact of this company here; ask your supplier to add you",
            ))?;
            if !(found.active && found.portal_access) {
                return Err(refused("your portal access is switched off"));
            }
            found.id.to_string()
        }
    };
    let code = crate::auth::token::new_opaque_token()
        .map_err(|e| UseCaseError::Internal(format!("no randomness: {e}")))?;
    state.store.write(|conn| {
        sso::complete(conn, &attempt.state, &subject_id, &opaque_token_hash(&code))
    })?;
    Ok(code)
}

/// The staff member an ID token names: by verified address at an allowed
/// domain; created on first sign-in when allowed; the role kept in step
/// with the role claim.
fn staff_for(
    state: &AppState,
    email: &EmailAddress,
    claims: &IdClaims,
    ctx: &RequestContext,
) -> Result<String, UseCaseError> {
    let o = &state.config.settings.auth.oidc;
    if !o.allowed_domains.is_empty()
        && !o
            .allowed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(email.domain()))
    {
        return Err(UseCaseError::SingleSignOnRefused(
            "this address is not at one of the organisation's domains",
        ));
    }
    // The first value that names a role (a groups claim lists others too).
    let claimed_role = (!o.role_claim.is_empty())
        .then(|| {
            claims
                .text_claims(&o.role_claim)
                .into_iter()
                .find_map(StaffRole::parse)
        })
        .flatten();
    let found = staff::find_by_email(&mut *state.store.conn()?, email)?;
    let member = match found {
        Some(s) => s,
        None if o.create_unknown_staff => {
            let role = claimed_role
                .or_else(|| StaffRole::parse(&o.default_role))
                .unwrap_or(StaffRole::Agent);
            let name = claims
                .name
                .clone()
                .filter(|n| rapport_domain::PersonName::parse(n).is_ok())
                .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_owned());
            super::staff::insert_staff(
                &state.store,
                Actor::system(),
                super::staff::CreateStaff {
                    email: email.as_str().to_owned(),
                    name,
                    display_name: None,
                    role,
                },
                "single sign-on",
                &super::staff::one_time_password()?,
                false,
            )?
        }
        None => {
            return Err(UseCaseError::SingleSignOnRefused(
                "no staff member has this address; an administrator adds or invites you first",
            ));
        }
    };
    if !member.active {
        return Err(UseCaseError::SingleSignOnRefused(
            "this staff member is deactivated",
        ));
    }
    if let Some(role) = claimed_role.filter(|r| *r != member.role) {
        super::commit(state, |conn, committed| {
            let profile = staff::StaffProfile {
                name: member.name.clone(),
                display_name: member.display_name.clone(),
                avatar_url: member.avatar_url.clone(),
                role,
                active: member.active,
            };
            committed.push(Change::StaffChanged(staff::update_profile(
                conn, member.id, &profile,
            )?));
            rapport_store::session::revoke_subject(
                conn,
                SubjectKind::Staff,
                &member.id.to_string(),
            )?;
            let mut data = context_data(ctx);
            data["before"] = json!({"role": member.role.as_str()});
            data["after"] = json!({"role": role.as_str()});
            data["via"] = json!("single sign-on");
            record(
                conn,
                super::staff::stream(member.id),
                Actor::system(),
                "staff.updated",
                ("staff", Some(&member.id.to_string())),
                data,
            )?;
            Ok(())
        })?;
    }
    join_claimed_teams(state, &member, claims)?;
    Ok(member.id.to_string())
}

/// Adds the person to the teams the team claim names that exist and that
/// they are not in yet (auditors join no team).
fn join_claimed_teams(
    state: &AppState,
    member: &staff::Staff,
    claims: &IdClaims,
) -> Result<(), UseCaseError> {
    let claim = &state.config.settings.auth.oidc.team_claim;
    if claim.is_empty() || member.role == StaffRole::Auditor {
        return Ok(());
    }
    let names = claims.text_claims(claim);
    if names.is_empty() {
        return Ok(());
    }
    super::commit(state, |conn, committed| {
        for name in names.iter().take(50) {
            let Some(team) = rapport_store::team::find_by_name(conn, name)? else {
                continue;
            };
            if team.members.iter().any(|m| m.staff_id == member.id) {
                continue;
            }
            rapport_store::team::set_member(
                conn,
                team.id,
                member.id,
                rapport_domain::TeamRole::Member,
            )?;
            record(
                conn,
                super::team::stream(team.id),
                Actor::system(),
                "team.member_set",
                ("staff", Some(&member.id.to_string())),
                json!({"before": {"role": null}, "after": {"role": "member"}, "via": "single sign-on"}),
            )?;
            if committed.is_empty() {
                committed.push(Change::StaffChanged(member.clone()));
            }
        }
        Ok(())
    })
}

/// Exchanges the callback's one-time code for a session; also returns the
/// page the sign-in started from.
pub fn redeem(
    state: &AppState,
    code: &str,
    browser: Option<&str>,
    ctx: &RequestContext,
) -> Result<(SessionTokens, String), UseCaseError> {
    state.store.write(|conn| {
        let attempt = sso::redeem(
            conn,
            &opaque_token_hash(code),
            Duration::seconds(HANDOFF_SECS),
        )?
        .ok_or(UseCaseError::InvalidSingleSignOnCode)?;
        // A code that leaked (a page, a log) is no use in another browser.
        if browser.map(opaque_token_hash) != Some(attempt.browser_hash.clone()) {
            return Err(UseCaseError::InvalidSingleSignOnCode);
        }
        let subject = subject_of(conn, &attempt)?
            .filter(Subject::may_sign_in)
            .ok_or(UseCaseError::InvalidSingleSignOnCode)?;
        let family = SessionFamilyId::new().to_string();
        // Which of a person's companies: only the one signed in to here.
        let tokens = issue(conn, state, &subject, &family, None)?;
        let mut data = context_data(ctx);
        data["session"] = json!(family);
        data["method"] = json!("single_sign_on");
        subject.record(conn, subject.actor()?, "auth.login_succeeded", data)?;
        Ok((tokens, attempt.return_to))
    })
}

fn subject_of(conn: &mut DbConnection, attempt: &Attempt) -> Result<Option<Subject>, UseCaseError> {
    let Some(id) = &attempt.subject_id else {
        return Ok(None);
    };
    Ok(match attempt.audience {
        Audience::Staff => staff::find(
            conn,
            id.parse()
                .map_err(|_| UseCaseError::InvalidSingleSignOnCode)?,
        )?
        .map(Subject::Staff),
        Audience::Contact => contact::find(
            conn,
            id.parse()
                .map_err(|_| UseCaseError::InvalidSingleSignOnCode)?,
        )?
        .map(Subject::Contact),
    })
}

/// Forgets attempts older than a day (hourly upkeep); returns how many.
pub fn forget_old_attempts(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, UseCaseError> {
    Ok(state
        .store
        .write(|conn| sso::forget_before(conn, now - Duration::days(1)))?)
}

/// A refused or failed single sign-on, recorded for the audit trail.
pub fn record_failure(
    state: &AppState,
    audience: Audience,
    why: &str,
    ctx: &RequestContext,
) -> Result<(), UseCaseError> {
    let mut data = context_data(ctx);
    data["method"] = json!("single_sign_on");
    data["audience"] = json!(String::from(audience));
    data["reason"] = json!(why.chars().take(300).collect::<String>());
    state.store.write(|conn| {
        record(
            conn,
            StreamName::system(),
            Actor::system(),
            "auth.login_failed",
            ("sso", None),
            data,
        )
    })?;
    Ok(())
}

/// What an admin sets for an account's own identity provider.
#[derive(Debug, Clone)]
pub struct AccountProviderInput {
    pub issuer: String,
    pub client_id: String,
    /// `None` keeps the secret already stored.
    pub client_secret: Option<String>,
    pub label: String,
    pub required: bool,
}

/// An account's provider as shown to admins (never the secret).
#[derive(Debug, Clone)]
pub struct AccountProviderView {
    pub issuer: String,
    pub client_id: String,
    pub label: String,
    pub required: bool,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&AccountProvider> for AccountProviderView {
    fn from(p: &AccountProvider) -> Self {
        AccountProviderView {
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            label: p.label.clone(),
            required: p.required,
            updated_at: p.updated_at,
        }
    }
}

fn admin(who: &Principal) -> Result<(rapport_domain::StaffId, Actor), UseCaseError> {
    rapport_domain::authorize(who, rapport_domain::Permission::ManageStaff)
        .map_err(|_| UseCaseError::Forbidden)?;
    let Principal::Staff { id, .. } = who else {
        return Err(UseCaseError::Forbidden);
    };
    Ok((*id, Actor::new(rapport_audit::ActorKind::Staff, id)?))
}

/// The account's provider; admins only.
pub fn account_provider(
    state: &AppState,
    who: &Principal,
    account: AccountId,
) -> Result<Option<AccountProviderView>, UseCaseError> {
    admin(who)?;
    let mut conn = state.store.conn()?;
    rapport_store::account::find(&mut conn, account)?.ok_or(UseCaseError::NotFound("account"))?;
    Ok(sso::provider_of(&mut conn, account)?
        .as_ref()
        .map(AccountProviderView::from))
}

/// Sets the account's provider; admins only.
pub fn set_account_provider(
    state: &AppState,
    who: &Principal,
    account: AccountId,
    input: AccountProviderInput,
) -> Result<AccountProviderView, UseCaseError> {
    let (admin_id, actor) = admin(who)?;
    let issuer = input.issuer.trim();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        || url::Url::parse(issuer).is_err()
        || issuer.len() > 500
    {
        return Err(invalid(
            "issuer",
            "must be the provider's issuer URL (https://…)",
        ));
    }
    let client_id = input.client_id.trim();
    if client_id.is_empty() || client_id.len() > 200 {
        return Err(invalid("client_id", "is required (at most 200 characters)"));
    }
    let label = input.label.trim();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(invalid("label", "is required (at most 80 characters)"));
    }
    state.store.write(|conn| {
        rapport_store::account::find(conn, account)?.ok_or(UseCaseError::NotFound("account"))?;
        let existing = sso::provider_of(conn, account)?;
        let sealed_secret = match (&input.client_secret, &existing) {
            (Some(secret), _) if !secret.is_empty() && secret.len() <= 1024 => state
                .secrets
                .seal(SEALED_AS, &account.to_string(), secret.as_bytes())
                .ok_or_else(|| UseCaseError::Internal("the secret could not be sealed".into()))?,
            (Some(_), _) => {
                return Err(invalid("client_secret", "must be 1 to 1024 characters"));
            }
            (None, Some(e)) => e.sealed_secret.clone(),
            (None, None) => return Err(invalid("client_secret", "is required")),
        };
        let provider = AccountProvider {
            account_id: account,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            sealed_secret,
            label: label.to_owned(),
            required: input.required,
            updated_by: admin_id,
            updated_at: rapport_store::now_micros().and_utc(),
        };
        sso::set_provider(conn, &provider)?;
        record(
            conn,
            StreamName::account(account),
            actor,
            "account.sso_set",
            ("account", Some(&account.to_string())),
            json!({"issuer": provider.issuer, "client_id": provider.client_id, "label": provider.label,
                   "required": provider.required, "secret_changed": input.client_secret.is_some()}),
        )?;
        Ok(AccountProviderView::from(&provider))
    })
}

/// Removes the account's provider; admins only.
pub fn remove_account_provider(
    state: &AppState,
    who: &Principal,
    account: AccountId,
) -> Result<(), UseCaseError> {
    let (_, actor) = admin(who)?;
    state.store.write(|conn| {
        if !sso::remove_provider(conn, account)? {
            return Err(UseCaseError::NotFound("identity provider"));
        }
        record(
            conn,
            StreamName::account(account),
            actor,
            "account.sso_removed",
            ("account", Some(&account.to_string())),
            json!({}),
        )?;
        Ok(())
    })
}

/// Whether contacts of `account` must sign in through its provider.
pub(super) fn required_for(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<bool, UseCaseError> {
    Ok(sso::provider_of(conn, account)?.is_some_and(|p| p.required))
}
