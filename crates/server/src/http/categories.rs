//! Case categories and staff skills: what each category concerns at the
//! client, which skill answers it, and who has which skill.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{ContactFunction, StaffId};
use rapport_store::category::CategoryMapping;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::page::path_id;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::UseCaseError;
use crate::usecase::categories;

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub name: String,
    /// The contact functions the category concerns: their contacts with
    /// `function_cases` see its cases and hear when one opens or resolves.
    pub functions: Vec<String>,
    /// The staff skill that answers it: its cases go to a member of the
    /// account's team with this skill.
    pub skill: Option<String>,
    /// Who among the staff has the skill.
    #[schema(value_type = Vec<String>)]
    pub skilled_staff_ids: Vec<String>,
    #[schema(format = Uuid)]
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

fn view(m: CategoryMapping, skills: &[(StaffId, Vec<String>)]) -> CategoryView {
    CategoryView {
        skilled_staff_ids: skills
            .iter()
            .filter(|(_, s)| m.skill.as_ref().is_some_and(|k| s.contains(k)))
            .map(|(id, _)| id.to_string())
            .collect(),
        name: m.name,
        functions: m.functions.iter().map(|f| f.as_str().to_owned()).collect(),
        skill: m.skill,
        updated_by: m.updated_by.map(|s| s.to_string()),
        updated_at: m.updated_at,
    }
}

/// The case categories with what each concerns and which skill answers it (staff).
#[utoipa::path(get, path = "/api/v1/case-categories", tag = "routing", security(("bearer" = [])),
    responses((status = 200, description = "Every configured category, in order", body = [CategoryView]),
              (status = 403, description = "`forbidden`: staff only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let app = state.into_inner();
    let (mappings, skills) = blocking::run(move || {
        Ok::<_, UseCaseError>((
            categories::list(&app, &who.principal)?,
            categories::skills(&app, &who.principal)?,
        ))
    })
    .await?;
    let views: Vec<CategoryView> = mappings.into_iter().map(|m| view(m, &skills)).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// Contact functions: `finance`, `operations`, `technical`,
    /// `executive`, `other`; may be empty.
    pub functions: Vec<String>,
    /// A skill such as `billing`; `null` or empty for none.
    pub skill: Option<String>,
}

/// Set what a category concerns and which skill answers it (admins).
#[utoipa::path(put, path = "/api/v1/case-categories/{name}", tag = "routing", request_body = CategoryBody, security(("bearer" = [])),
    responses((status = 200, description = "The category as now", body = CategoryView),
              (status = 404, description = "`not_found`: no such category in `cases.categories`", body = super::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`validation_failed`: an unknown function or a malformed skill", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn put(
    state: web::Data<AppState>,
    who: Authenticated,
    name: web::Path<String>,
    body: web::Json<CategoryBody>,
) -> Result<HttpResponse, ApiError> {
    // Who may, before what: others learn nothing from validation.
    rapport_domain::authorize(&who.principal, rapport_domain::Permission::ConfigureRouting)
        .map_err(|_| UseCaseError::Forbidden)?;
    let body = body.into_inner();
    if body.functions.len() > ContactFunction::ALL.len() {
        return Err(UseCaseError::Validation {
            field: "functions",
            message: format!("at most {} functions", ContactFunction::ALL.len()),
        }
        .into());
    }
    let functions = body
        .functions
        .iter()
        .map(|f| {
            ContactFunction::parse(f).ok_or_else(|| UseCaseError::Validation {
                field: "functions",
                message: format!("{f:?} is not one of: {}", ContactFunction::choices()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let app = state.into_inner();
    let name = name.into_inner();
    let (mapping, skills) = blocking::run(move || {
        let m = categories::set(
            &app,
            &who.principal,
            &name,
            functions,
            body.skill.as_deref(),
        )?;
        Ok::<_, UseCaseError>((m, categories::skills(&app, &who.principal)?))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view(mapping, &skills)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffSkillsView {
    #[schema(format = Uuid)]
    pub staff_id: String,
    pub skills: Vec<String>,
}

/// Every staff member's skills, for those who have any (staff).
#[utoipa::path(get, path = "/api/v1/skills", tag = "routing", security(("bearer" = [])),
    responses((status = 200, description = "Skills by staff member", body = [StaffSkillsView]),
              (status = 403, description = "`forbidden`: staff only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn skills(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let app = state.into_inner();
    let all = blocking::run(move || categories::skills(&app, &who.principal)).await?;
    let views: Vec<StaffSkillsView> = all
        .into_iter()
        .map(|(id, skills)| StaffSkillsView {
            staff_id: id.to_string(),
            skills,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillsBody {
    /// Up to 20 skills such as `billing`; an empty list removes them all.
    pub skills: Vec<String>,
}

/// Set a staff member's skills (admins).
#[utoipa::path(put, path = "/api/v1/staff/{id}/skills", tag = "routing", request_body = SkillsBody, security(("bearer" = [])),
    responses((status = 200, description = "The skills as now", body = StaffSkillsView),
              (status = 404, description = "`not_found`: no such staff member", body = super::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`validation_failed`: a malformed skill or too many", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn put_skills(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<SkillsBody>,
) -> Result<HttpResponse, ApiError> {
    let staff: StaffId = path_id(&id, "staff member")?;
    let app = state.into_inner();
    let skills = body.into_inner().skills;
    let skills =
        blocking::run(move || categories::set_skills(&app, &who.principal, staff, &skills)).await?;
    Ok(HttpResponse::Ok().json(StaffSkillsView {
        staff_id: staff.to_string(),
        skills,
    }))
}
