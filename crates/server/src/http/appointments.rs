//! Appointments on cases over HTTP.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{AccountId, AppointmentId, CaseId};
use rapport_store::appointment::{Appointment, Slot};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::page::path_id;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::appointment::{self, Proposal};

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy)]
pub struct SlotView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub case_id: String,
    pub title: String,
    pub note: String,
    /// The proposed times, earliest first; book one by its index.
    pub slots: Vec<SlotView>,
    /// `staff` or `contact`: the other side books.
    pub proposed_by_kind: String,
    #[schema(format = Uuid)]
    pub proposed_by_id: String,
    /// `proposed`, `booked` or `cancelled`.
    pub status: String,
    pub booked: Option<SlotView>,
    pub booked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Appointment> for AppointmentView {
    fn from(a: &Appointment) -> Self {
        let view = |s: &Slot| SlotView {
            start: s.start,
            end: s.end,
        };
        AppointmentView {
            id: a.id.to_string(),
            case_id: a.case_id.to_string(),
            title: a.title.clone(),
            note: a.note.clone(),
            slots: a.slots.iter().map(view).collect(),
            proposed_by_kind: a.proposed_by.0.clone(),
            proposed_by_id: a.proposed_by.1.clone(),
            status: a.status.clone(),
            booked: a.booked.as_ref().map(view),
            booked_at: a.booked_at,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    pub title: String,
    pub note: Option<String>,
    /// 1 to 10 future slots of 5 minutes to 8 hours (RFC 3339 times).
    pub slots: Vec<SlotView>,
    /// Your id for this request: a retry with the same id returns the
    /// first proposal (200) instead of making another.
    pub client_request_id: Option<String>,
}

/// A case's appointments, oldest first.
#[utoipa::path(get, path = "/api/v1/cases/{id}/appointments", tag = "appointments", security(("bearer" = [])),
    responses((status = 200, description = "Appointments", body = [AppointmentView])))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path_id(&id, "case")?;
    let app = state.into_inner();
    let list = blocking::run(move || appointment::list(&app, &who.principal, case)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(AppointmentView::from).collect::<Vec<_>>()))
}

/// Propose times on a case (a contact of it, or staff who work it).
#[utoipa::path(post, path = "/api/v1/cases/{id}/appointments", tag = "appointments", request_body = ProposeBody, security(("bearer" = [])),
    responses((status = 201, description = "Proposed", body = AppointmentView),
        (status = 200, description = "Proposed before with this `client_request_id`", body = AppointmentView)))]
pub async fn propose(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<ProposeBody>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path_id(&id, "case")?;
    let b = body.into_inner();
    let p = Proposal {
        title: b.title,
        note: b.note,
        slots: b
            .slots
            .iter()
            .map(|s| Slot {
                start: s.start,
                end: s.end,
            })
            .collect(),
        client_request_id: b.client_request_id,
    };
    let app = state.into_inner();
    let step = blocking::run(move || appointment::propose(&app, &who.principal, case, &p)).await?;
    let view = AppointmentView::from(&step.appointment);
    Ok(match step.event {
        Some(_) => HttpResponse::Created().json(view),
        None => HttpResponse::Ok().json(view),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    /// The index of the chosen slot.
    pub slot: usize,
}

fn ids(path: &(String, String)) -> Result<(CaseId, AppointmentId), ApiError> {
    Ok((path_id(&path.0, "case")?, path_id(&path.1, "appointment")?))
}

/// Book one of the proposed times (the other side); both sides get an
/// email with an iCalendar invitation.
#[utoipa::path(post, path = "/api/v1/cases/{id}/appointments/{appointment_id}/book", tag = "appointments", request_body = BookBody, security(("bearer" = [])),
    responses((status = 200, description = "Booked", body = AppointmentView)))]
pub async fn book(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<BookBody>,
) -> Result<HttpResponse, ApiError> {
    let (case, id) = ids(&path)?;
    let slot = body.slot;
    let app = state.into_inner();
    let step =
        blocking::run(move || appointment::book(&app, &who.principal, case, id, slot)).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(&step.appointment)))
}

/// Cancel a proposal or a booking (either side).
#[utoipa::path(post, path = "/api/v1/cases/{id}/appointments/{appointment_id}/cancel", tag = "appointments", security(("bearer" = [])),
    responses((status = 200, description = "Cancelled", body = AppointmentView)))]
pub async fn cancel(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (case, id) = ids(&path)?;
    let app = state.into_inner();
    let step = blocking::run(move || appointment::cancel(&app, &who.principal, case, id)).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(&step.appointment)))
}

/// A booked appointment as an iCalendar file, to add to a calendar.
#[utoipa::path(get, path = "/api/v1/cases/{id}/appointments/{appointment_id}/ics", tag = "appointments", security(("bearer" = [])),
    responses((status = 200, description = "text/calendar")))]
pub async fn ics(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (case, id) = ids(&path)?;
    let app = state.into_inner();
    let body =
        blocking::run(move || appointment::calendar_file(&app, &who.principal, case, id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"appointment.ics\"",
        ))
        .body(body))
}

/// An account's booked appointments, soonest first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/appointments", tag = "appointments", security(("bearer" = [])),
    responses((status = 200, description = "Booked appointments", body = [AppointmentView])))]
pub async fn for_account(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path_id(&id, "account")?;
    let app = state.into_inner();
    let list =
        blocking::run(move || appointment::for_account(&app, &who.principal, account)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(AppointmentView::from).collect::<Vec<_>>()))
}
