//! Satisfaction: when a case is first resolved its contacts are asked to
//! rate it 1 to 5, once, in the portal, in the chat, or through a signed
//! link in an email. Ratings are credited to the agent and team that
//! resolved the case.

use base64::Engine;
use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use rapport_audit::{Actor, ActorKind};
use rapport_domain::{CaseId, Principal, can_reply_case};
use rapport_store::DbConnection;
use rapport_store::case::Case;
use rapport_store::csat::{self, Survey};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::Sha256;

use super::UseCaseError;
use super::input::{invalid, optional_text};
use crate::state::AppState;

/// How long a survey stays open.
const OPEN_DAYS: i64 = 30;
/// Longest comment.
const MAX_COMMENT: usize = 2_000;

/// A MAC over survey ids under a key of its own, derived from the
/// session-signing secret (a rating link reveals nothing about it).
fn signer(state: &AppState, survey: &str) -> Option<Hmac<Sha256>> {
    let mut derive =
        Hmac::<Sha256>::new_from_slice(state.secrets.jwt.expose_secret().as_bytes()).ok()?;
    derive.update(b"rapport satisfaction links v1");
    let mut mac = Hmac::<Sha256>::new_from_slice(&derive.finalize().into_bytes()).ok()?;
    mac.update(survey.as_bytes());
    Some(mac)
}

/// The token of a rating link: the survey id and its signature.
pub fn token(state: &AppState, survey: &str) -> String {
    let sig = signer(state, survey)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    format!("{survey}.{sig}")
}

/// The survey a token names, if its signature holds (compared in
/// constant time).
fn survey_of_token(state: &AppState, token: &str) -> Option<String> {
    let (survey, sig) = token.split_once('.')?;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .ok()?;
    signer(state, survey)?.verify_slice(&sig).ok()?;
    Some(survey.to_owned())
}

/// Inside the transaction that resolves `case`: asks its contacts for a
/// rating, unless they were asked before. Returns the new survey.
pub(super) fn ask(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
) -> Result<Option<Survey>, UseCaseError> {
    if csat::for_case(conn, case.id)?.is_some() {
        return Ok(None);
    }
    let has_contacts = case.opened_by_contact_id.is_some()
        || !rapport_store::case::participants(conn, case.id)?.is_empty();
    if !has_contacts {
        return Ok(None);
    }
    let now = Utc::now();
    let survey = Survey {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: case.id,
        account_id: case.account_id,
        team_id: case.team_id,
        agent_id: case.assignee_id,
        requested_at: now,
        expires_at: now + Duration::days(OPEN_DAYS),
        rating: None,
        comment: None,
        answered_at: None,
        answered_by: None,
        answered_via: None,
    };
    csat::insert(conn, &survey)?;
    super::case::audit(
        conn,
        case,
        Actor::system(),
        "satisfaction.requested",
        json!({"survey_id": survey.id, "agent_id": survey.agent_id.map(|a| a.to_string()), "team_id": survey.team_id.map(|t| t.to_string())}),
    )?;
    let to = super::mail::case_recipients(conn, case)?;
    if !to.is_empty() {
        let link = format!(
            "{}/rate?case={}&token={}",
            state.public_url(),
            case.id,
            token(state, &survey.id)
        );
        let text = format!(
            "Your case {} \"{}\" is resolved.\n\nHow did we do? Rate it from 1 (poor) to 5 (excellent), once, here:\n{link}\n\nThe link stays valid for {OPEN_DAYS} days. If the problem is not solved, simply reply to this email and the case reopens.\n",
            rapport_mail::subject_tag(case.number),
            case.subject
        );
        super::mail::enqueue(
            conn,
            state,
            &super::mail::Queued {
                kind: "satisfaction",
                case: Some(case),
                entry: None,
                to,
                subject: format!(
                    "{} How did we do? {}",
                    rapport_mail::subject_tag(case.number),
                    case.subject
                ),
                text,
                automatic: true,
                in_reply_to: None,
                attachments: Vec::new(),
                html: None,
            },
        )?;
    }
    Ok(Some(survey))
}

/// How a rating is given: signed in, or with the emailed link's token.
#[derive(Debug, Clone)]
pub enum Rater {
    /// A signed-in person, and where they rate (`portal` or `chat`).
    SignedIn(Principal, &'static str),
    /// The token of the emailed link.
    Link(String),
}

/// The case's survey as its rater sees it.
#[derive(Debug, Clone)]
pub struct SurveyState {
    pub case_number: i64,
    pub subject: String,
    pub survey: Option<Survey>,
}

/// The survey of `case`, checked for `rater`: a contact who may read the
/// case (or staff), or a link for this very case.
fn checked(
    conn: &mut DbConnection,
    state: &AppState,
    rater: &Rater,
    case: CaseId,
) -> Result<(Case, Option<Survey>), UseCaseError> {
    match rater {
        Rater::SignedIn(who, _) => {
            let who = *who;
            let loaded = super::case::load(conn, state, &who, case)?;
            let survey = csat::for_case(conn, case)?;
            Ok((loaded.case, survey))
        }
        Rater::Link(token) => {
            let id = survey_of_token(state, token).ok_or(UseCaseError::InvalidRatingLink)?;
            let survey = csat::for_case(conn, case)?
                .filter(|s| s.id == id)
                .ok_or(UseCaseError::InvalidRatingLink)?;
            let c =
                rapport_store::case::find(conn, case)?.ok_or(UseCaseError::InvalidRatingLink)?;
            Ok((c, Some(survey)))
        }
    }
}

pub fn status(state: &AppState, rater: &Rater, case: CaseId) -> Result<SurveyState, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    let (c, survey) = checked(conn, state, rater, case)?;
    Ok(SurveyState {
        case_number: c.number,
        subject: c.subject,
        survey,
    })
}

/// Records the rating, once.
pub fn rate(
    state: &AppState,
    rater: &Rater,
    case: CaseId,
    rating: i32,
    comment: Option<&str>,
) -> Result<Survey, UseCaseError> {
    if !(1..=5).contains(&rating) {
        return Err(invalid("rating", "must be 1 to 5"));
    }
    let comment = optional_text("comment", comment, MAX_COMMENT, true)?;
    super::commit(state, |conn, changes| {
        let (c, survey) = checked(conn, state, rater, case)?;
        // Who rates is settled first: staff never rate for the client.
        let (by, via, actor) = match rater {
            Rater::SignedIn(who, via) => {
                let Principal::Contact { id, .. } = who else {
                    return Err(UseCaseError::Forbidden);
                };
                let loaded = super::case::load(conn, state, who, case)?;
                if !can_reply_case(who, &loaded.access(who, state)) {
                    return Err(UseCaseError::Forbidden);
                }
                (id.to_string(), *via, Actor::new(ActorKind::Contact, id)?)
            }
            Rater::Link(_) => {
                // The link went to the case's contacts; credit the opener.
                let by = c
                    .opened_by_contact_id
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "email-link".into());
                let actor = match c.opened_by_contact_id {
                    Some(id) => Actor::new(ActorKind::Contact, id)?,
                    None => Actor::system(),
                };
                (by, "email", actor)
            }
        };
        let survey = survey.ok_or(UseCaseError::Conflict(
            "this case has not been resolved yet, so there is nothing to rate",
        ))?;
        if survey.answered_at.is_some() {
            return Err(UseCaseError::Conflict("this case was already rated"));
        }
        if survey.expires_at < Utc::now() {
            return Err(match rater {
                Rater::Link(_) => UseCaseError::InvalidRatingLink,
                Rater::SignedIn(..) => {
                    UseCaseError::Conflict("rating closed 30 days after resolution")
                }
            });
        }
        if !csat::answer(conn, &survey.id, rating, comment.as_deref(), &by, via)? {
            return Err(UseCaseError::Conflict("this case was already rated"));
        }
        super::case::audit(
            conn,
            &c,
            actor,
            "satisfaction.rated",
            json!({"survey_id": survey.id, "rating": rating, "comment": comment, "via": via}),
        )?;
        changes.push(crate::changes::Change::SatisfactionReceived {
            case: c.clone(),
            rating,
            comment: comment.clone(),
        });
        csat::for_case(conn, case)?.ok_or(UseCaseError::NotFound("survey"))
    })
}
