//! Staff, teams, accounts and contacts over HTTP: parse, call the use
//! case, shape the answer. Every decision about access is in the use cases.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{
    AccountId, CaseNotices, ContactFunction, ContactId, ContactVisibility, LifecycleStage,
    PreferredChannel, Principal, StaffId, StaffRole, TeamId, TeamRole,
};
use rapport_store::account::{Account, AccountFilter};
use rapport_store::contact::Contact;
use rapport_store::staff::Staff;
use rapport_store::team::Team;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::me::Avatar;
use super::page::{Page, PageParams, double_option, path_id};
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::{account as accounts, contact as contacts, staff as staff_uc, team as teams};

/// An optional enum field of a request body, checked against its choices.
pub(super) fn parse_enum<T>(
    field: &'static str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    choices: String,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| parse_required(field, v, parse, choices))
        .transpose()
}

/// A required text enum, or 422 naming the choices.
pub(super) fn parse_required<T>(
    field: &'static str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    choices: String,
) -> Result<T, ApiError> {
    parse(value).ok_or_else(|| {
        ApiError::UseCase(crate::usecase::UseCaseError::Validation {
            field,
            message: format!("must be one of: {choices}"),
        })
    })
}

// ---------- staff ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    #[schema(format = Uuid)]
    pub id: String,
    pub email: String,
    pub name: String,
    pub display_name: String,
    pub avatar: Avatar,
    /// `admin`, `agent` or `auditor`.
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Staff> for StaffView {
    fn from(s: &Staff) -> Self {
        StaffView {
            id: s.id.to_string(),
            email: s.email.to_string(),
            name: s.name.as_str().to_owned(),
            display_name: s.display_name.as_str().to_owned(),
            avatar: Avatar::of(&s.id.to_string(), &s.display_name, s.avatar_url.clone()),
            role: s.role.as_str().to_owned(),
            active: s.active,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffInvited {
    pub staff: StaffView,
    /// Where the invitation went: the staff member's address.
    pub invitation_sent_to: String,
    /// Until when its link works (once).
    pub invitation_expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffCreate {
    pub email: String,
    pub name: String,
    pub display_name: Option<String>,
    /// `admin`, `agent` or `auditor`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub avatar_url: Option<Option<String>>,
    pub role: Option<String>,
    /// false deactivates: sign-in stops, sessions end at the next refresh.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Part of a name or email address, case-insensitive.
    pub q: Option<String>,
}

fn role(value: &str) -> Result<StaffRole, ApiError> {
    parse_enum(
        "role",
        Some(value),
        StaffRole::parse,
        "admin, agent, auditor".into(),
    )?
    .ok_or(ApiError::Internal("role".into()))
}

/// Staff directory (any staff member).
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(SearchParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of staff", body = Page<StaffView>),
              (status = 403, description = "`forbidden` for contacts", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list_staff(
    state: web::Data<AppState>,
    who: Authenticated,
    search: web::Query<SearchParams>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor::<StaffId>()?);
    let q = search.into_inner().q;
    let store = state.store.clone();
    let items =
        blocking::run(move || staff_uc::list(&store, &who.principal, q.as_deref(), after, limit))
            .await?;
    let items: Vec<StaffView> = items.iter().map(StaffView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |s| s.id.clone())))
}

/// Add a staff member (admins). They are emailed an invitation: a link,
/// good once and for 72 hours, to choose their own password.
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = StaffCreate, security(("bearer" = [])),
    responses((status = 201, description = "Created and invited", body = StaffInvited),
              (status = 409, description = "`conflict`: email in use", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create_staff(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<StaffCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = staff_uc::CreateStaff {
        email: body.email,
        name: body.name,
        display_name: body.display_name,
        role: role(&body.role)?,
    };
    let app = state.into_inner();
    let (staff, expires) =
        blocking::run(move || staff_uc::invite(&app, &who.principal, input)).await?;
    Ok(HttpResponse::Created().json(StaffInvited {
        invitation_sent_to: staff.email.to_string(),
        staff: StaffView::from(&staff),
        invitation_expires_at: expires,
    }))
}

/// Send a staff member a new invitation (admins): a new link to choose a
/// password; earlier links stop working.
#[utoipa::path(post, path = "/api/v1/staff/{id}/invitation", tag = "staff", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "Invited again", body = StaffInvited),
              (status = 422, description = "`validation_failed`: the staff member is deactivated", body = super::Problem, content_type = "application/problem+json")))]
pub async fn reinvite_staff(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: StaffId = path_id(&id, "staff member")?;
    let app = state.into_inner();
    let (staff, expires) =
        blocking::run(move || staff_uc::reinvite(&app, &who.principal, id)).await?;
    Ok(HttpResponse::Ok().json(StaffInvited {
        invitation_sent_to: staff.email.to_string(),
        staff: StaffView::from(&staff),
        invitation_expires_at: expires,
    }))
}

/// One staff member (any staff member).
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "staff", security(("bearer" = [])),
    responses((status = 200, description = "The staff member", body = StaffView)))]
pub async fn get_staff(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: StaffId = path_id(&id, "staff member")?;
    let store = state.store.clone();
    let staff = blocking::run(move || staff_uc::get(&store, &who.principal, id)).await?;
    Ok(HttpResponse::Ok().json(StaffView::from(&staff)))
}

/// Change a staff member (admins).
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "staff", request_body = StaffPatch, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = StaffView)))]
pub async fn patch_staff(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<StaffPatch>,
) -> Result<HttpResponse, ApiError> {
    let id: StaffId = path_id(&id, "staff member")?;
    let body = body.into_inner();
    let changes = staff_uc::StaffChanges {
        name: body.name,
        display_name: body.display_name,
        avatar_url: body.avatar_url,
        role: body.role.as_deref().map(role).transpose()?,
        active: body.active,
    };
    let app = state.app.clone();
    let staff = blocking::run(move || staff_uc::update(&app, &who.principal, id, changes)).await?;
    Ok(HttpResponse::Ok().json(StaffView::from(&staff)))
}

// ---------- teams ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamMemberView {
    #[schema(format = Uuid)]
    pub staff_id: String,
    /// `lead` or `member`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub members: Vec<TeamMemberView>,
    pub created_at: DateTime<Utc>,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        TeamView {
            id: t.id.to_string(),
            name: t.name.clone(),
            members: t
                .members
                .iter()
                .map(|m| TeamMemberView {
                    staff_id: m.staff_id.to_string(),
                    role: m.role.as_str().to_owned(),
                })
                .collect(),
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// `lead` or `member`.
    pub role: String,
}

/// All teams with their members (any staff member).
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", security(("bearer" = [])),
    responses((status = 200, description = "Teams by name", body = [TeamView])))]
pub async fn list_teams(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let list = blocking::run(move || teams::list(&store, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(TeamView::from).collect::<Vec<_>>()))
}

/// Create a team (admins).
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = TeamBody, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = TeamView)))]
pub async fn create_team(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<TeamBody>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let team = blocking::run(move || teams::create(&store, &who.principal, &body.name)).await?;
    Ok(HttpResponse::Created().json(TeamView::from(&team)))
}

/// One team (any staff member).
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams", security(("bearer" = [])),
    responses((status = 200, description = "The team", body = TeamView)))]
pub async fn get_team(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TeamId = path_id(&id, "team")?;
    let store = state.store.clone();
    let team = blocking::run(move || teams::get(&store, &who.principal, id)).await?;
    Ok(HttpResponse::Ok().json(TeamView::from(&team)))
}

/// Rename a team (admins).
#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "teams", request_body = TeamBody, security(("bearer" = [])),
    responses((status = 200, description = "Renamed", body = TeamView)))]
pub async fn patch_team(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<TeamBody>,
) -> Result<HttpResponse, ApiError> {
    let id: TeamId = path_id(&id, "team")?;
    let store = state.store.clone();
    let team = blocking::run(move || teams::rename(&store, &who.principal, id, &body.name)).await?;
    Ok(HttpResponse::Ok().json(TeamView::from(&team)))
}

/// Add a staff member to a team or change their role there (admins).
#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{staff_id}", tag = "teams", request_body = MemberBody, security(("bearer" = [])),
    responses((status = 200, description = "The team", body = TeamView)))]
pub async fn put_member(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let team: TeamId = path_id(&path.0, "team")?;
    let staff: StaffId = path_id(&path.1, "staff member")?;
    let role = parse_enum(
        "role",
        Some(&body.role),
        TeamRole::parse,
        TeamRole::choices(),
    )?
    .ok_or(ApiError::Internal("role".into()))?;
    let app = state.into_inner();
    let t =
        blocking::run(move || teams::set_member(&app, &who.principal, team, staff, role)).await?;
    Ok(HttpResponse::Ok().json(TeamView::from(&t)))
}

/// Remove a staff member from a team (admins).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{staff_id}", tag = "teams", security(("bearer" = [])),
    responses((status = 204, description = "Removed")))]
pub async fn delete_member(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let team: TeamId = path_id(&path.0, "team")?;
    let staff: StaffId = path_id(&path.1, "staff member")?;
    let app = state.into_inner();
    blocking::run(move || teams::remove_member(&app, &who.principal, team, staff)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------- accounts ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub tier: String,
    /// `prospect`, `onboarding`, `customer` or `churned`.
    pub lifecycle: String,
    #[schema(format = Uuid)]
    pub team_id: Option<String>,
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    pub notes: String,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    /// The account's id in your other systems (CRM, ERP), for matching.
    pub external_id: Option<String>,
    /// Its parent company: the group it belongs to.
    #[schema(format = Uuid)]
    pub parent_id: Option<String>,
    /// Its dedicated team follows the parent's.
    pub team_inherited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.to_string(),
            name: a.name.clone(),
            domains: a.domains.iter().map(|d| d.as_str().to_owned()).collect(),
            tier: a.tier.clone(),
            lifecycle: a.lifecycle.as_str().to_owned(),
            team_id: a.team_id.map(|t| t.to_string()),
            owner_id: a.owner_id.map(|o| o.to_string()),
            notes: a.notes.clone(),
            custom_fields: a.custom_fields.clone(),
            external_id: a.external_id.clone(),
            parent_id: a.parent_id.map(|p| p.to_string()),
            team_inherited: a.team_inherited,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Someone of the support team, as clients see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonCard {
    #[schema(format = Uuid)]
    pub id: String,
    pub display_name: String,
    pub avatar: Avatar,
}

impl From<&Staff> for PersonCard {
    fn from(s: &Staff) -> Self {
        PersonCard {
            id: s.id.to_string(),
            display_name: s.display_name.as_str().to_owned(),
            avatar: Avatar::of(&s.id.to_string(), &s.display_name, s.avatar_url.clone()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamCard {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub members: Vec<PersonCard>,
}

/// An account with its team, owner and contact count (staff view).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDetailView {
    #[serde(flatten)]
    pub account: AccountView,
    pub team: Option<TeamCard>,
    pub owner: Option<PersonCard>,
    pub contact_count: i64,
    /// The first 100 contacts; page through all with `/accounts/{id}/contacts`.
    pub contacts: Vec<ContactView>,
}

/// What a client contact sees of their own company's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientAccountView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// The dedicated team that helps them.
    pub team: Option<TeamCard>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    pub name: Option<String>,
    pub domains: Option<Vec<String>>,
    pub tier: Option<String>,
    pub lifecycle: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(format = Uuid)]
    pub team_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(format = Uuid)]
    pub owner_id: Option<Option<String>>,
    pub notes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
    /// The account's id in your other systems, unique; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub external_id: Option<Option<String>>,
    /// The parent company (the group); `null` detaches the account. At
    /// most 5 levels; a group cannot contain itself.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(format = Uuid)]
    pub parent_id: Option<Option<String>>,
    /// true: the dedicated team follows the parent's (now and when it
    /// changes); false: the account keeps its own. Setting `team_id`
    /// makes it the account's own.
    pub inherit_team: Option<bool>,
}

/// An optional, clearable id field of a PATCH body, checked.
pub(super) fn ref_id<T: std::str::FromStr>(
    field: &'static str,
    value: Option<Option<String>>,
) -> Result<Option<Option<T>>, ApiError> {
    value
        .map(|inner| {
            inner
                .map(|v| {
                    v.parse().map_err(|_| {
                        ApiError::UseCase(crate::usecase::UseCaseError::Validation {
                            field,
                            message: "is not an id".into(),
                        })
                    })
                })
                .transpose()
        })
        .transpose()
}

impl AccountBody {
    fn into_input(self) -> Result<accounts::AccountInput, ApiError> {
        Ok(accounts::AccountInput {
            lifecycle: parse_enum(
                "lifecycle",
                self.lifecycle.as_deref(),
                LifecycleStage::parse,
                LifecycleStage::choices(),
            )?,
            team_id: ref_id("team_id", self.team_id)?,
            owner_id: ref_id("owner_id", self.owner_id)?,
            parent_id: ref_id("parent_id", self.parent_id)?,
            inherit_team: self.inherit_team,
            name: self.name,
            domains: self.domains,
            tier: self.tier,
            notes: self.notes,
            custom_fields: self.custom_fields,
            external_id: self.external_id,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountListParams {
    /// Part of the name or of an email domain.
    pub q: Option<String>,
    pub tier: Option<String>,
    pub lifecycle: Option<String>,
    pub team_id: Option<String>,
    pub owner_id: Option<String>,
    /// The account with this id in your other systems.
    pub external_id: Option<String>,
    /// The subsidiaries of this account (its direct children).
    pub parent_id: Option<String>,
}

/// Accounts the caller may see (agents: their teams' accounts).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(AccountListParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of accounts", body = Page<AccountView>),
              (status = 403, description = "`forbidden` for contacts", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list_accounts(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<AccountListParams>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor::<AccountId>()?);
    let p = params.into_inner();
    let bad = |name: &str| ApiError::InvalidQuery(format!("{name} is not valid"));
    let filter = AccountFilter {
        external_id: p.external_id.filter(|e| !e.is_empty() && e.len() <= 200),
        search: p
            .q
            .filter(|q| !q.trim().is_empty())
            .map(|q| q.trim().chars().take(100).collect()),
        tier: p.tier,
        lifecycle: p
            .lifecycle
            .as_deref()
            .map(|l| LifecycleStage::parse(l).ok_or_else(|| bad("lifecycle")))
            .transpose()?,
        team_id: p
            .team_id
            .as_deref()
            .map(|t| t.parse().map_err(|_| bad("team_id")))
            .transpose()?,
        owner_id: p
            .owner_id
            .as_deref()
            .map(|o| o.parse().map_err(|_| bad("owner_id")))
            .transpose()?,
        parent_id: p
            .parent_id
            .as_deref()
            .map(|o| o.parse().map_err(|_| bad("parent_id")))
            .transpose()?,
        only_teams: None,
    };
    let app = state.into_inner();
    let page = match accounts::cached_page(&app, &who.principal, filter.clone(), after, limit) {
        Some(page) => page,
        None => {
            blocking::run(move || {
                accounts::list_page(&app, &who.principal, filter, after, limit, |items| {
                    let items: Vec<AccountView> = items.iter().map(AccountView::from).collect();
                    serde_json::to_vec(&Page::new(items, limit, |a| a.id.clone())).map_err(|e| {
                        crate::usecase::UseCaseError::Internal(format!("account list: {e}"))
                    })
                })
            })
            .await?
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(web::Bytes::from_owner(SharedPage(page))))
}

/// A rendered page shared with the cache: served without a copy.
struct SharedPage(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedPage {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Create an account (admins).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = AccountBody, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = AccountView),
              (status = 409, description = "`conflict`: a domain belongs to another account", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create_account(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<AccountBody>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input()?;
    let app = state.into_inner();
    let account = blocking::run(move || accounts::create(&app, &who.principal, input)).await?;
    Ok(HttpResponse::Created().json(AccountView::from(&account)))
}

/// An account: staff who may read it get the full record with team, owner
/// and contact count; a contact gets their company's name and team.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "Staff: `AccountDetailView`; contacts: `ClientAccountView`", body = AccountDetailView),
              (status = 404, description = "`not_found`, also for accounts the caller may not see", body = super::Problem, content_type = "application/problem+json")))]
pub async fn get_account(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: AccountId = path_id(&id, "account")?;
    let app = state.into_inner();
    let principal = who.principal;
    let detail = blocking::run(move || accounts::get(&app, &principal, id)).await?;
    let team = detail.team.as_ref().map(|t| TeamCard {
        id: t.id.to_string(),
        name: t.name.clone(),
        members: detail.team_members.iter().map(PersonCard::from).collect(),
    });
    Ok(match principal {
        Principal::Contact { .. } => HttpResponse::Ok().json(ClientAccountView {
            id: detail.account.id.to_string(),
            name: detail.account.name.clone(),
            team,
        }),
        Principal::Staff { .. } | Principal::ApiToken { .. } => {
            HttpResponse::Ok().json(AccountDetailView {
                account: AccountView::from(&detail.account),
                team,
                owner: detail.owner.as_ref().map(PersonCard::from),
                contact_count: detail.contact_count,
                contacts: detail.contacts.iter().map(ContactView::from).collect(),
            })
        }
    })
}

/// Change an account (admins).
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts", request_body = AccountBody, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = AccountView)))]
pub async fn patch_account(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<AccountBody>,
) -> Result<HttpResponse, ApiError> {
    let id: AccountId = path_id(&id, "account")?;
    let input = body.into_inner().into_input()?;
    let app = state.into_inner();
    let account = blocking::run(move || accounts::update(&app, &who.principal, id, input)).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(&account)))
}

// ---------- contacts ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    pub name: String,
    /// The first is the primary address.
    pub emails: Vec<String>,
    pub phone: Option<String>,
    /// `finance`, `operations`, `technical`, `executive` or `other`.
    pub function: String,
    pub title: Option<String>,
    pub is_primary: bool,
    pub portal_access: bool,
    /// `own_cases`, `all_account_cases` or `function_cases` (their own and
    /// every case of the account in a category that concerns their function).
    pub visibility: String,
    /// `email`, `chat`, `portal` or `phone`.
    pub preferred_channel: String,
    pub active: bool,
    /// The person's id in your other systems (CRM), for matching.
    pub external_id: Option<String>,
    /// How they hear of cases opened and resolved in the categories of
    /// their function: `each`, `digest` (daily) or `off`.
    pub case_notices: String,
    /// Whether the contact has set a password (else they sign in by link).
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        ContactView {
            id: c.id.to_string(),
            account_id: c.account_id.to_string(),
            name: c.name.as_str().to_owned(),
            emails: c.emails.iter().map(ToString::to_string).collect(),
            phone: c.phone.clone(),
            function: c.function.as_str().to_owned(),
            title: c.title.clone(),
            is_primary: c.is_primary,
            portal_access: c.portal_access,
            visibility: c.visibility.as_str().to_owned(),
            preferred_channel: c.preferred_channel.as_str().to_owned(),
            active: c.active,
            external_id: c.external_id.clone(),
            case_notices: c.case_notices.as_str().to_owned(),
            has_password: c.password_hash.is_some(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    pub name: Option<String>,
    /// 1 to 10 addresses, each unique within the account (one person may
    /// be a contact of several accounts with the same address).
    pub emails: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    pub function: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub title: Option<Option<String>>,
    pub is_primary: Option<bool>,
    pub portal_access: Option<bool>,
    pub visibility: Option<String>,
    pub preferred_channel: Option<String>,
    pub active: Option<bool>,
    /// The person's id in your other systems, unique; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub external_id: Option<Option<String>>,
    /// `each` (default), `digest` or `off`.
    pub case_notices: Option<String>,
}

impl ContactBody {
    fn into_input(self) -> Result<contacts::ContactInput, ApiError> {
        Ok(contacts::ContactInput {
            function: parse_enum(
                "function",
                self.function.as_deref(),
                ContactFunction::parse,
                ContactFunction::choices(),
            )?,
            visibility: parse_enum(
                "visibility",
                self.visibility.as_deref(),
                ContactVisibility::parse,
                ContactVisibility::choices(),
            )?,
            preferred_channel: parse_enum(
                "preferred_channel",
                self.preferred_channel.as_deref(),
                PreferredChannel::parse,
                PreferredChannel::choices(),
            )?,
            case_notices: parse_enum(
                "case_notices",
                self.case_notices.as_deref(),
                CaseNotices::parse,
                CaseNotices::choices(),
            )?,
            name: self.name,
            emails: self.emails,
            phone: self.phone,
            title: self.title,
            is_primary: self.is_primary,
            portal_access: self.portal_access,
            active: self.active,
            external_id: self.external_id,
        })
    }
}

/// An account's contacts (staff who may read the account).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/contacts", tag = "contacts", params(SearchParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of contacts", body = Page<ContactView>)))]
pub async fn list_contacts(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    search: web::Query<SearchParams>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path_id(&id, "account")?;
    let (limit, after) = (page.limit()?, page.cursor::<ContactId>()?);
    let q = search.into_inner().q.filter(|q| !q.trim().is_empty());
    let app = state.into_inner();
    let items = blocking::run(move || {
        contacts::list(&app, &who.principal, account, q.as_deref(), after, limit)
    })
    .await?;
    let items: Vec<ContactView> = items.iter().map(ContactView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |c| c.id.clone())))
}

/// Add a contact to an account (the account's team and admins).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/contacts", tag = "contacts", request_body = ContactBody, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = ContactView),
              (status = 409, description = "`conflict`: an address belongs to another contact of the account", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create_contact(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<ContactBody>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path_id(&id, "account")?;
    let input = body.into_inner().into_input()?;
    let app = state.into_inner();
    let contact =
        blocking::run(move || contacts::create(&app, &who.principal, account, input)).await?;
    Ok(HttpResponse::Created().json(ContactView::from(&contact)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactSearchParams {
    /// Part of a name or an email address (2 to 100 characters).
    pub q: String,
    /// At most this many (1 to 100, default 20).
    pub limit: Option<i64>,
}

/// Contacts of every account the caller may read whose name or address
/// contains `q` (staff; `directory:read` tokens).
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactSearchParams), security(("bearer" = [])),
    responses((status = 200, description = "Matching contacts, by name", body = Page<ContactView>)))]
pub async fn search_contacts(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<ContactSearchParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let limit = p.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::InvalidQuery("limit must be 1 to 100".into()));
    }
    let app = state.into_inner();
    let found = blocking::run(move || contacts::search(&app, &who.principal, &p.q, limit)).await?;
    let items: Vec<ContactView> = found.iter().map(ContactView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit + 1, |c| c.id.clone())))
}

/// One contact (staff who may read the account; the contact themself).
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, description = "The contact", body = ContactView)))]
pub async fn get_contact(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ContactId = path_id(&id, "contact")?;
    let app = state.into_inner();
    let contact = blocking::run(move || contacts::get(&app, &who.principal, id)).await?;
    Ok(HttpResponse::Ok().json(ContactView::from(&contact)))
}

/// Change a contact (the account's team and admins).
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", request_body = ContactBody, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = ContactView)))]
pub async fn patch_contact(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<ContactBody>,
) -> Result<HttpResponse, ApiError> {
    let id: ContactId = path_id(&id, "contact")?;
    let input = body.into_inner().into_input()?;
    let app = state.into_inner();
    let contact = blocking::run(move || contacts::update(&app, &who.principal, id, input)).await?;
    Ok(HttpResponse::Ok().json(ContactView::from(&contact)))
}
