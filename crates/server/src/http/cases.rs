//! Cases, their threads and the account timeline over HTTP.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{
    AccountId, CaseId, CasePriority, CaseStatus, Channel, ContactId, EntryId, EntryKind, StaffId,
    TeamId,
};
use rapport_store::attachment::Attachment;
use rapport_store::case::{Author, Case, CaseFilter, Entry};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::directory::{parse_enum, parse_required, ref_id};
use super::page::{Page, PageParams, double_option, id_field, path_id};
use crate::attachment_files::{self, Receiving, Upload};
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::UseCaseError;
use crate::usecase::case as cases;

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    #[schema(format = Uuid)]
    pub id: String,
    pub number: i64,
    /// `#1042`: the reference clients quote.
    pub reference: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub channel: String,
    #[schema(format = Uuid)]
    pub team_id: Option<String>,
    #[schema(format = Uuid)]
    pub assignee_id: Option<String>,
    #[schema(format = Uuid)]
    pub opened_by_contact_id: Option<String>,
    /// The name of the contact who opened the case (for colleagues who see
    /// their company's cases: who asked).
    pub opened_by_name: Option<String>,
    /// Staff only: that contact's function at the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_by_function: Option<String>,
    /// Staff only: the account's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// Staff only: why the case went to its team and assignee ("Routed to
    /// Ana in Key Accounts: billing skill; handled 3 of this account's
    /// last 4 billing cases.").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_note: Option<String>,
    /// Set when this case was merged into another.
    #[schema(format = Uuid)]
    pub merged_into_id: Option<String>,
    /// Set when this case was opened by a reply to a case closed long ago.
    #[schema(format = Uuid)]
    pub follows_case_id: Option<String>,
    pub reopen_count: i32,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Staff only: when the next service-level target of a running clock
    /// falls due (first response, next response or resolution).
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Staff only: a running clock is past its target.
    pub sla_breached: bool,
}

impl CaseView {
    /// A case as listed: who opened it and, for staff, the account, the
    /// opener's function and the service-level fields.
    fn listed(c: &Case, clocks: &Clocks, people: &People) -> Self {
        CaseView::from(c)
            .with_sla(clocks.get(&c.id).map_or(&[], Vec::as_slice))
            .with_people(c, people)
    }

    fn with_people(mut self, c: &Case, people: &People) -> Self {
        let opener = c
            .opened_by_contact_id
            .and_then(|id| people.contacts.get(&id));
        self.opened_by_name = opener.map(|(name, _)| name.clone());
        if people.staff {
            self.opened_by_function = opener.map(|(_, function)| function.clone());
            self.account_name = people.accounts.get(&c.account_id).cloned();
            self.routing_note = c.routing_note.clone();
        }
        self
    }

    /// Fills the service-level fields from the case's clocks.
    fn with_sla(mut self, clocks: &[rapport_store::sla::Clock]) -> Self {
        let running = clocks
            .iter()
            .filter(|k| k.stopped_at.is_none() && k.paused_at.is_none());
        for k in running {
            self.sla_due_at = Some(self.sla_due_at.map_or(k.due_at, |d| d.min(k.due_at)));
            if k.breached_at.is_some() || k.due_at <= Utc::now() {
                self.sla_breached = true;
            }
        }
        self
    }
}

/// Service-level clocks by case.
type Clocks = std::collections::HashMap<CaseId, Vec<rapport_store::sla::Clock>>;

/// The clocks of these cases, for staff (clients do not see targets).
async fn clocks_for(
    store: &rapport_store::Store,
    who: &rapport_domain::Principal,
    ids: Vec<CaseId>,
) -> Result<Clocks, ApiError> {
    if !matches!(who, rapport_domain::Principal::Staff { .. }) {
        return Ok(Clocks::new());
    }
    let clocks =
        blocking::with_conn(store, move |conn| rapport_store::sla::for_cases(conn, &ids)).await?;
    let mut by_case = Clocks::new();
    for k in clocks {
        by_case.entry(k.case_id).or_default().push(k);
    }
    Ok(by_case)
}

impl From<&Case> for CaseView {
    fn from(c: &Case) -> Self {
        CaseView {
            id: c.id.to_string(),
            number: c.number,
            reference: format!("#{}", c.number),
            account_id: c.account_id.to_string(),
            subject: c.subject.clone(),
            status: c.status.as_str().into(),
            priority: c.priority.as_str().into(),
            category: c.category.clone(),
            tags: c.tags.clone(),
            channel: c.channel.as_str().into(),
            team_id: c.team_id.map(|t| t.to_string()),
            assignee_id: c.assignee_id.map(|a| a.to_string()),
            opened_by_contact_id: c.opened_by_contact_id.map(|o| o.to_string()),
            opened_by_name: None,
            opened_by_function: None,
            account_name: None,
            routing_note: None,
            merged_into_id: c.merged_into_id.map(|m| m.to_string()),
            follows_case_id: c.follows_case_id.map(|f| f.to_string()),
            reopen_count: c.reopen_count,
            first_response_at: c.first_response_at,
            resolved_at: c.resolved_at,
            closed_at: c.closed_at,
            last_activity_at: c.last_activity_at,
            created_at: c.created_at,
            sla_due_at: None,
            sla_breached: false,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetailView {
    #[serde(flatten)]
    pub case: CaseView,
    #[schema(value_type = Vec<String>)]
    pub participant_ids: Vec<String>,
    /// Staff only: the knowledge base articles the contact was shown
    /// before opening the case (empty otherwise).
    pub articles_shown: Vec<ArticleRef>,
}

/// An article named by id and title.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleRef {
    #[schema(format = Uuid)]
    pub id: String,
    pub title: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub case_id: String,
    /// `chat`, `email_in`, `email_out`, `portal`, `note` (staff only) or `event`.
    pub kind: String,
    /// `staff`, `contact` or `system`.
    pub author_kind: String,
    #[schema(format = Uuid)]
    pub author_id: Option<String>,
    pub body: String,
    pub client_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The entry's place in its thread: 1, 2, 3… in commit order (internal
    /// notes take places too).
    pub seq: i64,
    /// Files of this entry (listed in case threads; absent in the timeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentView>>,
    /// For received email (in case threads): addresses, subject, the
    /// sanitised HTML and the whole text when quoted history was collapsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailView>,
    /// 1 until edited; staff see every version at `.../versions`.
    pub version: i32,
    /// When it was last edited ("edited" in the thread).
    pub edited_at: Option<DateTime<Utc>>,
    /// Present when an admin removed the content: who, when and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<TombstoneView>,
}

/// What stays of redacted content.
#[derive(Debug, Serialize, ToSchema)]
pub struct TombstoneView {
    #[schema(format = Uuid)]
    pub redacted_by: String,
    pub redacted_at: DateTime<Utc>,
    pub reason: String,
    /// SHA-256 of every removed content (also in the audit log).
    pub removed_sha256: Vec<String>,
}

impl From<&rapport_store::evidence::Redaction> for TombstoneView {
    fn from(r: &rapport_store::evidence::Redaction) -> Self {
        TombstoneView {
            redacted_by: r.redacted_by.clone(),
            redacted_at: r.redacted_at,
            reason: r.reason.clone(),
            removed_sha256: r.removed_sha256.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailView {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// Sanitised: no scripts, event handlers or remote images.
    pub html: Option<String>,
    /// True when quoted history or a signature was collapsed from `body`.
    pub collapsed: bool,
    /// The whole text as received (present when `collapsed`).
    pub full_text: Option<String>,
}

impl From<&rapport_store::mail::EntryEmail> for EmailView {
    fn from(e: &rapport_store::mail::EntryEmail) -> Self {
        EmailView {
            message_id: e.message_id.clone(),
            from: e.from_address.clone(),
            to: e.to_addresses.clone(),
            cc: e.cc_addresses.clone(),
            subject: e.subject.clone(),
            html: e.html.clone(),
            collapsed: e.collapsed,
            full_text: e.collapsed.then(|| e.full_text.clone()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    #[schema(format = Uuid)]
    pub id: String,
    pub filename: String,
    pub size: i64,
    /// Sniffed from the content.
    pub content_type: String,
    /// Where to download it (with the same authorization).
    pub url: String,
    /// Present when an admin removed the file (downloads answer 410).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<TombstoneView>,
}

impl From<&Attachment> for AttachmentView {
    fn from(a: &Attachment) -> Self {
        AttachmentView {
            id: a.id.clone(),
            filename: a.filename.clone(),
            size: a.size,
            content_type: a.content_type.clone(),
            url: format!("/api/v1/attachments/{}", a.id),
            redaction: None,
        }
    }
}

impl EntryView {
    pub(super) fn with_files(e: &Entry, files: &[Attachment]) -> Self {
        let mut view = EntryView::from(e);
        view.attachments = Some(files.iter().map(AttachmentView::from).collect());
        view
    }
}

impl From<&Entry> for EntryView {
    fn from(e: &Entry) -> Self {
        let (author_kind, author_id) = match e.author {
            Author::Staff(id) => ("staff", Some(id.to_string())),
            Author::Contact(id) => ("contact", Some(id.to_string())),
            Author::System => ("system", None),
        };
        EntryView {
            id: e.id.to_string(),
            case_id: e.case_id.to_string(),
            kind: e.kind.as_str().into(),
            author_kind: author_kind.into(),
            author_id,
            body: e.body.clone(),
            client_message_id: e.client_message_id.clone(),
            created_at: e.created_at,
            seq: e.seq,
            attachments: None,
            email: None,
            version: e.version,
            edited_at: e.edited_at,
            redaction: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenedView {
    pub case: CaseView,
    pub entry: EntryView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostedView {
    /// The case holding the entry (a new, linked case when the reply came
    /// long after the old one closed).
    pub case: CaseView,
    pub entry: EntryView,
    /// True when this client message id was already posted: nothing new stored.
    pub duplicate: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseBody {
    /// Staff only: the account (contacts open cases for their own).
    #[schema(format = Uuid)]
    pub account_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub category: Option<String>,
    /// `low`, `normal` (default), `high`, `urgent`.
    pub priority: Option<String>,
    /// `portal` (default), `chat`, `email`, `phone`, `api`.
    pub channel: Option<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub participant_ids: Option<Vec<String>>,
    /// Your id for this message: a retry with the same id opens nothing new.
    pub client_message_id: Option<String>,
    /// Contacts: the `suggestion_id` of the knowledge base suggestion shown
    /// while typing the subject; the case records the articles seen.
    #[schema(format = Uuid)]
    pub kb_suggestion_id: Option<String>,
    /// Staff opening a case to contacts (outreach): also email them the
    /// first message (default true).
    pub email_contacts: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostBody {
    /// `portal` or `chat` (a message the client sees) or, for staff,
    /// `note` (internal) or `email_out` (an email to the case's contacts).
    pub kind: String,
    pub body: String,
    pub client_message_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    pub subject: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(format = Uuid)]
    pub team_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(format = Uuid)]
    pub assignee_id: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The case that survives.
    #[schema(format = Uuid)]
    pub into: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    pub status: Option<String>,
    pub account_id: Option<String>,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    /// A workspace view (staff): `mine`, `team`, `unassigned`, `breaching`,
    /// `waiting` or `open`; the other filters narrow it further.
    pub view: Option<String>,
    /// Only cases with this label.
    pub tag: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ViewCount {
    /// `mine`, `team`, `unassigned`, `breaching`, `waiting` or `open`.
    pub key: &'static str,
    pub label: &'static str,
    pub count: i64,
}

/// The workspace views with how many cases each holds now (staff).
#[utoipa::path(get, path = "/api/v1/cases/views", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "Each view and its count", body = Vec<ViewCount>),
              (status = 403, description = "`forbidden` for everyone but staff", body = super::Problem, content_type = "application/problem+json")))]
pub async fn views(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let app = state.into_inner();
    let counts = blocking::run(move || cases::view_counts(&app, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(
        counts
            .into_iter()
            .map(|(view, count)| ViewCount {
                key: view.key(),
                label: view.label(),
                count,
            })
            .collect::<Vec<_>>(),
    ))
}

/// Open a case: a contact for their company; staff proactively for an account.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = OpenCaseBody, security(("bearer" = [])),
    responses((status = 201, description = "Opened, routed to the account's team", body = OpenedView)))]
pub async fn open(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<OpenCaseBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if matches!(who.principal, rapport_domain::Principal::Contact { .. }) {
        // How urgent a case is and how it arrived are the support team's to
        // record; the channel of a contact's request is the door it used.
        for (field, given) in [
            ("priority", b.priority.is_some()),
            ("channel", b.channel.is_some()),
            ("email_contacts", b.email_contacts.is_some()),
        ] {
            if given {
                return Err(cases::staff_only_field(field).into());
            }
        }
    }
    let input = cases::OpenCase {
        account_id: b
            .account_id
            .as_deref()
            .map(|a| id_field::<AccountId>("account_id", a))
            .transpose()?,
        subject: b.subject,
        body: b.body,
        category: b.category,
        priority: parse_enum(
            "priority",
            b.priority.as_deref(),
            CasePriority::parse,
            CasePriority::choices(),
        )?,
        channel: parse_enum(
            "channel",
            b.channel.as_deref(),
            Channel::parse,
            Channel::choices(),
        )?,
        participants: b
            .participant_ids
            .unwrap_or_default()
            .iter()
            .map(|p| id_field::<ContactId>("participant_ids", p))
            .collect::<Result<_, _>>()?,
        client_message_id: b.client_message_id,
        kb_suggestion: b
            .kb_suggestion_id
            .as_deref()
            .map(|s| id_field("kb_suggestion_id", s))
            .transpose()?,
        email_contacts: b.email_contacts,
    };
    let app = state.into_inner();
    let (case, entry) = blocking::run(move || cases::open(&app, &who.principal, input)).await?;
    Ok(HttpResponse::Created().json(OpenedView {
        case: CaseView::from(&case),
        entry: EntryView::from(&entry),
    }))
}

/// Cases the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseListParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of cases", body = Page<CaseView>)))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<CaseListParams>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let (limit, before) = (page.limit()?, page.cursor::<CaseId>()?);
    let p = params.into_inner();
    let bad = |name: &str| ApiError::InvalidQuery(format!("{name} is not valid"));
    let filter = CaseFilter {
        status: p
            .status
            .as_deref()
            .map(|s| CaseStatus::parse(s).ok_or_else(|| bad("status")))
            .transpose()?,
        account: p
            .account_id
            .as_deref()
            .map(|a| a.parse::<AccountId>().map_err(|_| bad("account_id")))
            .transpose()?,
        assignee: p
            .assignee_id
            .as_deref()
            .map(|a| a.parse::<StaffId>().map_err(|_| bad("assignee_id")))
            .transpose()?,
        team: p
            .team_id
            .as_deref()
            .map(|t| t.parse::<TeamId>().map_err(|_| bad("team_id")))
            .transpose()?,
        tag: p
            .tag
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty()),
        ..CaseFilter::default()
    };
    let view = p
        .view
        .as_deref()
        .map(|v| {
            cases::View::parse(v).ok_or_else(|| {
                ApiError::InvalidQuery(format!(
                    "view `{v}` is not one of: mine, team, unassigned, breaching, waiting, open"
                ))
            })
        })
        .transpose()?;
    let app = state.into_inner();
    let store = app.store.clone();
    let principal = who.principal;
    let items = blocking::run(move || match view {
        Some(view) => cases::list_view(&app, &principal, view, filter, before, limit),
        None => cases::list(&app, &principal, filter, before, limit),
    })
    .await?;
    let clocks = clocks_for(&store, &principal, items.iter().map(|c| c.id).collect()).await?;
    let names = opener_names(&store, &principal, &items).await?;
    let items: Vec<CaseView> = items
        .iter()
        .map(|c| CaseView::listed(c, &clocks, &names))
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |c| c.id.clone())))
}

/// Who a page of cases concerns: the contacts who opened them (name and
/// function) and, for staff, the accounts' names.
#[derive(Debug, Default)]
struct People {
    staff: bool,
    contacts: std::collections::HashMap<ContactId, (String, String)>,
    accounts: std::collections::HashMap<AccountId, String>,
}

/// [`People`] of `cases` (already readable by the caller).
async fn opener_names(
    store: &rapport_store::Store,
    principal: &rapport_domain::Principal,
    cases: &[Case],
) -> Result<People, ApiError> {
    let staff = matches!(principal, rapport_domain::Principal::Staff { .. });
    let mut ids: Vec<ContactId> = cases
        .iter()
        .filter_map(|c| c.opened_by_contact_id)
        .collect();
    ids.sort();
    ids.dedup();
    let mut accounts: Vec<AccountId> = if staff {
        cases.iter().map(|c| c.account_id).collect()
    } else {
        Vec::new()
    };
    accounts.sort();
    accounts.dedup();
    blocking::with_conn(store, move |conn| {
        let mut people = People {
            staff,
            ..People::default()
        };
        for id in ids {
            if let Some(c) = rapport_store::contact::find(conn, id)? {
                people.contacts.insert(
                    id,
                    (c.name.as_str().to_owned(), c.function.as_str().to_owned()),
                );
            }
        }
        for id in accounts {
            if let Some(a) = rapport_store::account::find(conn, id)? {
                people.accounts.insert(id, a.name);
            }
        }
        Ok(people)
    })
    .await
}

/// One case.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "The case", body = CaseDetailView)))]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = state.into_inner();
    let store = app.store.clone();
    let principal = who.principal;
    // A case by its id or by its number (`/api/v1/cases/1042`), as people
    // quote it and as the console's addresses show it.
    let id: CaseId = match id.parse::<i64>() {
        Ok(number) => blocking::with_conn(&store, move |conn| {
            rapport_store::case::find_by_number(conn, number)
        })
        .await?
        .map(|c| c.id)
        .ok_or(ApiError::UseCase(UseCaseError::NotFound("case")))?,
        Err(_) => path_id(&id, "case")?,
    };
    let detail = blocking::run(move || cases::get(&app, &principal, id)).await?;
    let clocks = clocks_for(&store, &principal, vec![detail.case.id]).await?;
    let names = opener_names(&store, &principal, std::slice::from_ref(&detail.case)).await?;
    Ok(HttpResponse::Ok().json(CaseDetailView {
        case: CaseView::listed(&detail.case, &clocks, &names),
        participant_ids: detail
            .participants
            .iter()
            .map(ToString::to_string)
            .collect(),
        articles_shown: detail
            .articles_shown
            .iter()
            .map(|(id, title)| ArticleRef {
                id: id.to_string(),
                title: title.clone(),
            })
            .collect(),
    }))
}

/// Work a case: status, priority, category, tags, team, assignee (admins and the account's agents).
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases", request_body = CasePatch, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = CaseView)))]
pub async fn patch(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<CasePatch>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path_id(&id, "case")?;
    let b = body.into_inner();
    let changes = cases::CaseChanges {
        subject: b.subject,
        status: parse_enum(
            "status",
            b.status.as_deref(),
            CaseStatus::parse,
            CaseStatus::choices(),
        )?,
        priority: parse_enum(
            "priority",
            b.priority.as_deref(),
            CasePriority::parse,
            CasePriority::choices(),
        )?,
        category: b.category,
        tags: b.tags,
        team_id: ref_id("team_id", b.team_id)?,
        assignee_id: ref_id("assignee_id", b.assignee_id)?,
    };
    let app = state.into_inner();
    let case = blocking::run(move || cases::update(&app, &who.principal, id, changes)).await?;
    Ok(HttpResponse::Ok().json(CaseView::from(&case)))
}

/// The thread, oldest first (notes only for staff).
#[utoipa::path(get, path = "/api/v1/cases/{id}/entries", tag = "cases", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of entries", body = Page<EntryView>)))]
pub async fn entries(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path_id(&id, "case")?;
    let (limit, after) = (page.limit()?, page.cursor::<EntryId>()?);
    let app = state.into_inner();
    let app_store = app.store.clone();
    let items =
        blocking::run(move || cases::entries(&app, &who.principal, id, after, limit)).await?;
    let ids: Vec<EntryId> = items
        .iter()
        .filter(|(e, _)| e.kind == EntryKind::EmailIn)
        .map(|(e, _)| e.id)
        .collect();
    let mut redacted: Vec<String> = items
        .iter()
        .filter(|(e, _)| e.redacted_at.is_some())
        .map(|(e, _)| e.id.to_string())
        .collect();
    redacted.extend(
        items
            .iter()
            .flat_map(|(_, files)| files.iter())
            .filter(|a| a.redacted_at.is_some())
            .map(|a| a.id.clone()),
    );
    let (emails, tombstones) = if ids.is_empty() && redacted.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        blocking::with_conn(&app_store, move |conn| {
            Ok((
                rapport_store::mail::entry_emails_for(conn, &ids)?,
                rapport_store::evidence::redactions_for(conn, &redacted)?,
            ))
        })
        .await?
    };
    let items: Vec<EntryView> = items
        .iter()
        .map(|(e, files)| {
            let mut view = EntryView::with_files(e, files);
            view.email = emails
                .iter()
                .find(|m| m.entry_id.to_string() == view.id)
                .map(EmailView::from);
            view.redaction = tombstones
                .iter()
                .find(|t| t.target_id == view.id)
                .map(TombstoneView::from);
            if let Some(files) = view.attachments.as_mut() {
                for f in files {
                    f.redaction = tombstones
                        .iter()
                        .find(|t| t.target_id == f.id)
                        .map(TombstoneView::from);
                }
            }
            view
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |e| e.id.clone())))
}

/// Post to the thread. 201 for a new entry, 200 for a repeated client message id.
#[utoipa::path(post, path = "/api/v1/cases/{id}/entries", tag = "cases", request_body = PostBody, security(("bearer" = [])),
    responses((status = 201, description = "Posted", body = PostedView), (status = 200, description = "Already posted with this client message id", body = PostedView)))]
pub async fn post(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<PostBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path_id(&id, "case")?;
    let b = body.into_inner();
    let kind = parse_required(
        "kind",
        &b.kind,
        EntryKind::parse,
        "portal, chat, note, email_out".into(),
    )?;
    let app = state.into_inner();
    let posted = blocking::run(move || {
        cases::post(
            &app,
            &who.principal,
            id,
            kind,
            &b.body,
            b.client_message_id.as_deref(),
            Vec::new(),
        )
    })
    .await?;
    let view = PostedView {
        case: CaseView::from(&posted.case),
        entry: EntryView::with_files(&posted.entry, &posted.attachments),
        duplicate: posted.duplicate,
    };
    Ok(if posted.duplicate {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::Created().json(view)
    })
}

/// Merge this case into another of the same account.
#[utoipa::path(post, path = "/api/v1/cases/{id}/merge", tag = "cases", request_body = MergeBody, security(("bearer" = [])),
    responses((status = 200, description = "The surviving case", body = CaseView)))]
pub async fn merge(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path_id(&id, "case")?;
    let into: CaseId = id_field("into", &body.into)?;
    let app = state.into_inner();
    let kept = blocking::run(move || cases::merge(&app, &who.principal, id, into)).await?;
    Ok(HttpResponse::Ok().json(CaseView::from(&kept)))
}

/// The account's shared history: every entry of its cases, newest first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/timeline", tag = "cases", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of entries, newest first", body = Page<EntryView>)))]
pub async fn timeline(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path_id(&id, "account")?;
    let (limit, before) = (page.limit()?, page.cursor::<EntryId>()?);
    let app = state.into_inner();
    let items =
        blocking::run(move || cases::timeline(&app, &who.principal, account, before, limit))
            .await?;
    let items: Vec<EntryView> = items.iter().map(EntryView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |e| e.id.clone())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitView {
    /// The entry id, or the case id when the subject matched.
    pub id: String,
    #[schema(format = Uuid)]
    pub case_id: String,
    /// `subject`, or the entry kind.
    pub kind: String,
    /// The matching passage, as plain text.
    pub snippet: String,
    /// The same passage in parts, the matched words marked.
    pub snippet_parts: Vec<super::snippet::SnippetPart>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find (all of them), 1 to 200 characters.
    pub q: String,
}

/// Full-text search over case subjects and thread entries the caller may
/// read, newest first.
#[utoipa::path(get, path = "/api/v1/search", tag = "cases", params(SearchParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of matches", body = Page<SearchHitView>)))]
pub async fn search(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<SearchParams>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let before = page.cursor.clone();
    if before.as_deref().is_some_and(|c| c.len() > 64) {
        return Err(ApiError::InvalidQuery(
            "cursor is not one this API returned".into(),
        ));
    }
    let q = params.into_inner().q;
    let app = state.into_inner();
    let hits =
        blocking::run(move || cases::search(&app, &who.principal, &q, before.as_deref(), limit))
            .await?;
    let items: Vec<SearchHitView> = hits
        .into_iter()
        .map(|h| {
            let (snippet, snippet_parts) = super::snippet::split(&h.snippet);
            SearchHitView {
                id: h.doc_id,
                case_id: h.case_id.to_string(),
                kind: h.kind,
                snippet,
                snippet_parts,
                created_at: h.created_at,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |h| h.id.clone())))
}

/// Reads a small text field of a multipart body.
async fn text_field(
    field: &mut actix_multipart::Field,
    name: &str,
    max: usize,
) -> Result<String, ApiError> {
    use futures_util::TryStreamExt;
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .try_next()
        .await
        .map_err(|e| ApiError::InvalidMultipart(e.to_string()))?
    {
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::InvalidMultipart(format!(
                "field {name} is longer than {max} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::InvalidMultipart(format!("field {name} is not UTF-8")))
}

/// Receives one more file of an entry, within `max_files`.
async fn add_file(
    field: &mut actix_multipart::Field,
    uploads: &mut Vec<Upload>,
    max_files: usize,
    data_dir: &std::path::Path,
    max_bytes: u64,
) -> Result<(), ApiError> {
    if uploads.len() == max_files {
        return Err(ApiError::InvalidMultipart(format!(
            "at most {max_files} files per entry"
        )));
    }
    uploads.push(file_field(field, data_dir, max_bytes).await?);
    Ok(())
}

/// Receives one file into a temporary file, hashing and counting as it comes.
async fn file_field(
    field: &mut actix_multipart::Field,
    data_dir: &std::path::Path,
    max: u64,
) -> Result<Upload, ApiError> {
    use futures_util::TryStreamExt;
    let filename = field
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .unwrap_or("attachment")
        .to_owned();
    let io = |e: std::io::Error| {
        ApiError::from(crate::usecase::UseCaseError::file(
            "cannot receive an attachment",
            &e,
        ))
    };
    let mut receiving = Receiving::start(data_dir).map_err(io)?;
    loop {
        let chunk = match field.try_next().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                receiving.abort();
                return Err(ApiError::InvalidMultipart(e.to_string()));
            }
        };
        if receiving.size() + chunk.len() as u64 > max {
            receiving.abort();
            return Err(ApiError::PayloadTooLarge {
                limit: usize::try_from(max).unwrap_or(usize::MAX),
            });
        }
        // Chunks land in the page cache; the one slow step, fsync, runs
        // on the blocking pool below.
        if let Err(e) = receiving.write(&chunk) {
            receiving.abort();
            return Err(io(e));
        }
    }
    crate::blocking::spawn(move || receiving.finish(&filename))
        .await?
        .map_err(io)
}

/// Open a case with files (`multipart/form-data`): the fields of the JSON
/// form (`subject`, `body`, `category`, `client_message_id`,
/// `kb_suggestion_id`; staff also `account_id`) and `file` (one or more),
/// all in the case's first message.
#[utoipa::path(post, path = "/api/v1/cases/with-files", tag = "cases", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "subject, body, category, client_message_id, kb_suggestion_id, account_id (staff), file (repeatable)"),
    responses(
        (status = 201, description = "Opened, the files in its first message", body = OpenedView),
        (status = 413, description = "`payload_too_large`: a file exceeds cases.max_attachment_bytes", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn open_with_files(
    state: web::Data<AppState>,
    who: Authenticated,
    mut payload: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    use futures_util::TryStreamExt;
    let settings = &state.config.settings;
    let (max_bytes, max_files, data_dir, max_chars) = (
        settings.cases.max_attachment_bytes,
        settings.cases.max_attachments_per_entry,
        settings.data_dir.clone(),
        settings.cases.max_message_chars,
    );
    let mut uploads: Vec<Upload> = Vec::new();
    let mut input = cases::OpenCase::default();
    let received: Result<(), ApiError> = async {
        while let Some(mut field) = payload
            .try_next()
            .await
            .map_err(|e| ApiError::InvalidMultipart(e.to_string()))?
        {
            match field.name().unwrap_or_default() {
                "file" => {
                    add_file(&mut field, &mut uploads, max_files, &data_dir, max_bytes).await?;
                }
                "subject" => input.subject = text_field(&mut field, "subject", 1_000).await?,
                "body" => input.body = text_field(&mut field, "body", 4 * max_chars).await?,
                "category" => {
                    input.category = Some(text_field(&mut field, "category", 100).await?)
                        .filter(|c| !c.is_empty())
                }
                "client_message_id" => {
                    input.client_message_id =
                        Some(text_field(&mut field, "client_message_id", 128).await?)
                }
                "kb_suggestion_id" => {
                    let id = text_field(&mut field, "kb_suggestion_id", 64).await?;
                    input.kb_suggestion = Some(id_field("kb_suggestion_id", &id)?);
                }
                "account_id" => {
                    let id = text_field(&mut field, "account_id", 64).await?;
                    input.account_id = Some(id_field::<AccountId>("account_id", &id)?);
                }
                other => {
                    return Err(ApiError::InvalidMultipart(format!(
                        "unknown field {:?}",
                        other.chars().take(40).collect::<String>()
                    )));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = received {
        uploads.iter().for_each(Upload::discard);
        return Err(e);
    }
    let app = state.into_inner();
    let (case, entry, files) =
        blocking::run(move || cases::open_with_files(&app, &who.principal, input, uploads)).await?;
    Ok(HttpResponse::Created().json(OpenedView {
        case: CaseView::from(&case),
        entry: EntryView::with_files(&entry, &files),
    }))
}

/// Post to the thread with files (`multipart/form-data`): fields `file`
/// (one or more), `kind` (`portal` or, for staff, `note`; default
/// `portal`), `body` (optional) and `client_message_id` (optional).
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", tag = "cases", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "file (repeatable), kind, body, client_message_id"),
    responses(
        (status = 201, description = "Posted with its files", body = PostedView),
        (status = 413, description = "`payload_too_large`: a file exceeds cases.max_attachment_bytes", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn post_files(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    mut payload: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    use futures_util::TryStreamExt;
    let id: CaseId = path_id(&id, "case")?;
    let settings = &state.config.settings;
    let (max_bytes, max_files, data_dir) = (
        settings.cases.max_attachment_bytes,
        settings.cases.max_attachments_per_entry,
        settings.data_dir.clone(),
    );
    let mut uploads: Vec<Upload> = Vec::new();
    let mut kind = "portal".to_owned();
    let mut body = String::new();
    let mut client_message_id = None;
    let received: Result<(), ApiError> = async {
        while let Some(mut field) = payload
            .try_next()
            .await
            .map_err(|e| ApiError::InvalidMultipart(e.to_string()))?
        {
            match field.name().unwrap_or_default() {
                "file" => {
                    add_file(&mut field, &mut uploads, max_files, &data_dir, max_bytes).await?;
                }
                "kind" => kind = text_field(&mut field, "kind", 16).await?,
                "body" => {
                    body = text_field(
                        &mut field,
                        "body",
                        4 * state.config.settings.cases.max_message_chars,
                    )
                    .await?
                }
                "client_message_id" => {
                    client_message_id =
                        Some(text_field(&mut field, "client_message_id", 128).await?)
                }
                other => {
                    return Err(ApiError::InvalidMultipart(format!(
                        "unknown field {:?}",
                        other.chars().take(40).collect::<String>()
                    )));
                }
            }
        }
        if uploads.is_empty() {
            return Err(ApiError::InvalidMultipart("no `file` field".into()));
        }
        Ok(())
    }
    .await;
    if let Err(e) = received {
        uploads.iter().for_each(Upload::discard);
        return Err(e);
    }
    let kind = match parse_enum(
        "kind",
        Some(&kind),
        EntryKind::parse,
        "portal, chat, note".into(),
    ) {
        Ok(Some(kind)) => kind,
        Ok(None) | Err(_) => {
            uploads.iter().for_each(Upload::discard);
            return Err(ApiError::UseCase(UseCaseError::Validation {
                field: "kind",
                message: "must be portal, chat, note or email_out".into(),
            }));
        }
    };
    let app = state.into_inner();
    let posted = blocking::run(move || {
        cases::post(
            &app,
            &who.principal,
            id,
            kind,
            &body,
            client_message_id.as_deref(),
            uploads,
        )
    })
    .await?;
    let view = PostedView {
        case: CaseView::from(&posted.case),
        entry: EntryView::with_files(&posted.entry, &posted.attachments),
        duplicate: posted.duplicate,
    };
    Ok(if posted.duplicate {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::Created().json(view)
    })
}

/// Download an attachment: always as a download, with the type sniffed
/// from its content; page-like types are sent as opaque bytes.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "The file"), (status = 404, description = "`not_found`, also for files the caller may not read", body = super::Problem, content_type = "application/problem+json")))]
pub async fn download(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if id.len() > 64 {
        return Err(ApiError::UseCase(UseCaseError::NotFound("attachment")));
    }
    let app = state.into_inner();
    let (attachment, path) =
        blocking::run(move || cases::attachment(&app, &who.principal, &id)).await?;
    // Opened before answering, so a missing file is a clean 500, not a cut stream.
    let file = blocking::spawn(move || std::fs::File::open(path))
        .await?
        .map_err(|e| ApiError::Internal(format!("attachment content missing: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(attachment_files::served_type(&attachment.content_type).to_owned())
        .insert_header(actix_web::http::header::ContentDisposition::attachment(
            attachment.filename.clone(),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(u64::try_from(attachment.size).unwrap_or(0))
        .streaming(file_chunks(file)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClockStatsView {
    /// Stopped in time.
    pub met: u64,
    /// Stopped late.
    pub missed: u64,
    /// Still running, not yet due.
    pub running: u64,
    /// Still running, already past due.
    pub running_breached: u64,
    /// met / (met + missed), in percent; null before anything finished.
    pub attainment_percent: Option<f64>,
}

impl From<&crate::usecase::sla::ClockStats> for ClockStatsView {
    fn from(s: &crate::usecase::sla::ClockStats) -> Self {
        let finished = s.met + s.missed;
        ClockStatsView {
            met: s.met,
            missed: s.missed,
            running: s.running,
            running_breached: s.running_breached,
            attainment_percent: (finished > 0)
                .then(|| (s.met as f64 * 1000.0 / finished as f64).round() / 10.0),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaTargetsView {
    pub first_response_minutes: u32,
    pub next_response_minutes: u32,
    pub resolution_minutes: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaReportView {
    pub tier: String,
    /// Business minutes of the tier's targets.
    pub targets: SlaTargetsView,
    pub first_response: ClockStatsView,
    pub next_response: ClockStatsView,
    pub resolution: ClockStatsView,
}

/// SLA attainment of an account (staff who may read it).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/sla", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "Attainment per clock", body = SlaReportView)))]
pub async fn sla_report(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path_id(&id, "account")?;
    let app = state.into_inner();
    let report =
        blocking::run(move || crate::usecase::sla::attainment(&app, &who.principal, account))
            .await?;
    let view = |kind: &str| {
        report
            .clocks
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| ClockStatsView::from(s))
            .unwrap_or_else(|| ClockStatsView::from(&Default::default()))
    };
    Ok(HttpResponse::Ok().json(SlaReportView {
        tier: report.tier.clone(),
        targets: SlaTargetsView {
            first_response_minutes: report.targets.first_response_minutes,
            next_response_minutes: report.targets.next_response_minutes,
            resolution_minutes: report.targets.resolution_minutes,
        },
        first_response: view(crate::usecase::sla::FIRST_RESPONSE),
        next_response: view(crate::usecase::sla::NEXT_RESPONSE),
        resolution: view(crate::usecase::sla::RESOLUTION),
    }))
}

/// A file as a stream of 64 KiB chunks read on the blocking pool: memory
/// stays flat however many downloads run at once.
fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<web::Bytes>> {
    use std::io::Read;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<web::Bytes>>(4);
    blocking::detach(move || {
        let mut file = file;
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            let sent = match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    tx.blocking_send(Ok(web::Bytes::from(buf)))
                }
                Err(e) => tx.blocking_send(Err(e)),
            };
            if sent.is_err() {
                return; // the client went away
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// The service-level policy in force (staff): working hours, holidays and
/// the targets of each tier, in business minutes. Set in the configuration
/// (`[sla]`).
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "The policy", body = Object),
              (status = 403, description = "`forbidden` for contacts and API tokens", body = super::Problem, content_type = "application/problem+json")))]
pub async fn sla_policies(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    who.staff()?;
    let sla = &state.config.settings.sla;
    let h = &sla.hours;
    let mut tiers = serde_json::Map::new();
    tiers.insert(
        "default".into(),
        serde_json::json!({"first_response_minutes": sla.first_response_minutes, "next_response_minutes": sla.next_response_minutes, "resolution_minutes": sla.resolution_minutes}),
    );
    for (tier, t) in &sla.tiers {
        tiers.insert(
            tier.clone(),
            serde_json::json!({"first_response_minutes": t.first_response_minutes, "next_response_minutes": t.next_response_minutes, "resolution_minutes": t.resolution_minutes}),
        );
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "time_zone": sla.time_zone,
        "hours": {"mon": h.mon, "tue": h.tue, "wed": h.wed, "thu": h.thu, "fri": h.fri, "sat": h.sat, "sun": h.sun},
        "holidays": sla.holidays,
        "warn_at_percent": sla.warn_at_percent,
        "tiers": tiers,
    })))
}

// ---------- participants ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    #[schema(format = Uuid)]
    pub contact_id: String,
    pub name: String,
    /// Staff, and the contact themself: where the case's replies go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub function: String,
}

fn participant_views(
    who: &rapport_domain::Principal,
    list: &[rapport_store::contact::Contact],
) -> Vec<ParticipantView> {
    list.iter()
        .map(|c| ParticipantView {
            contact_id: c.id.to_string(),
            name: c.name.as_str().to_owned(),
            email: match who {
                rapport_domain::Principal::Contact { id, .. } if *id != c.id => None,
                _ => c.emails.first().map(ToString::to_string),
            },
            function: c.function.as_str().to_owned(),
        })
        .collect()
}

/// The case's participants (CC): they receive its public replies by email.
#[utoipa::path(get, path = "/api/v1/cases/{id}/participants", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "The participants", body = [ParticipantView]),
              (status = 404, description = "`not_found`: no such case you may read", body = super::Problem, content_type = "application/problem+json")))]
pub async fn participants(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path_id(&id, "case")?;
    let app = state.into_inner();
    let principal = who.principal;
    let list =
        blocking::run(move || crate::usecase::participants::list(&app, &principal, id)).await?;
    Ok(HttpResponse::Ok().json(participant_views(&principal, &list)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantBody {
    /// A contact of the case's account (a contact may only give themself:
    /// following the case by email).
    #[schema(format = Uuid)]
    pub contact_id: Option<String>,
    /// Staff: an address instead; a new one becomes a contact of the
    /// case's account.
    pub email: Option<String>,
    /// The name for a new contact (else the address's local part).
    pub name: Option<String>,
    /// Required (true) for an address outside the account's contacts and
    /// domains; without it the answer is 422 on `confirm_outside`.
    pub confirm_outside: Option<bool>,
}

/// Add a participant (CC): staff who work the case, or a contact following it.
#[utoipa::path(post, path = "/api/v1/cases/{id}/participants", tag = "cases", request_body = ParticipantBody, security(("bearer" = [])),
    responses((status = 200, description = "The participants as now", body = [ParticipantView]),
              (status = 422, description = "`validation_failed`: not a contact of the case's account, or `confirm_outside` needed (an address outside its contacts and domains, another company's contact included)", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: neither working the case nor adding yourself", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`: no such case you may read", body = super::Problem, content_type = "application/problem+json")))]
pub async fn add_participant(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<ParticipantBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path_id(&id, "case")?;
    let b = body.into_inner();
    let whom = match (b.contact_id, b.email) {
        (Some(c), None) => crate::usecase::participants::Whom::Contact(id_field("contact_id", &c)?),
        (None, Some(email)) => crate::usecase::participants::Whom::Email {
            email,
            name: b.name,
            confirm_outside: b.confirm_outside.unwrap_or(false),
        },
        _ => {
            return Err(UseCaseError::Validation {
                field: "contact_id",
                message: "give either contact_id or email".into(),
            }
            .into());
        }
    };
    let app = state.into_inner();
    let principal = who.principal;
    let list = blocking::run(move || crate::usecase::participants::add(&app, &principal, id, whom))
        .await?;
    Ok(HttpResponse::Ok().json(participant_views(&principal, &list)))
}

/// Remove a participant: staff who work the case, or the contact themself.
#[utoipa::path(delete, path = "/api/v1/cases/{id}/participants/{contact_id}", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "The participants as now", body = [ParticipantView]),
              (status = 403, description = "`forbidden`: neither working the case nor removing yourself", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`: no such case you may read, or not a participant", body = super::Problem, content_type = "application/problem+json")))]
pub async fn remove_participant(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (case, contact) = path.into_inner();
    let id: CaseId = path_id(&case, "case")?;
    let contact: ContactId = path_id(&contact, "participant")?;
    let app = state.into_inner();
    let principal = who.principal;
    let list =
        blocking::run(move || crate::usecase::participants::remove(&app, &principal, id, contact))
            .await?;
    Ok(HttpResponse::Ok().json(participant_views(&principal, &list)))
}
