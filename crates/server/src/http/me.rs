//! The signed-in person.

use actix_web::{HttpResponse, web};
use rapport_domain::StaffRole;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::AuthenticatedAnyPassword;
use crate::blocking;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Avatar {
    /// Shown when there is no picture: "Anna Berg" gives "AB".
    pub initials: String,
    pub url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub kind: &'static str,
    pub email: String,
    pub name: String,
    /// The name clients see.
    pub display_name: String,
    pub avatar: Avatar,
    #[schema(value_type = String, example = "agent")]
    pub role: StaffRole,
    pub password_change_required: bool,
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in staff member", body = Me),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `token_expired`", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(
    state: web::Data<AppState>,
    who: AuthenticatedAnyPassword,
) -> Result<HttpResponse, ApiError> {
    let id = who.user.staff_id;
    let staff = blocking::with_conn(&state.store, move |conn| {
        rapport_store::staff::find(conn, id)?
            .ok_or(rapport_store::StoreError::NotFound("staff member"))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Me {
        id: staff.id.to_string(),
        kind: "staff",
        email: staff.email.to_string(),
        name: staff.name.as_str().to_owned(),
        avatar: Avatar {
            initials: staff.display_name.initials(),
            url: staff.avatar_url.clone(),
        },
        display_name: staff.display_name.as_str().to_owned(),
        role: staff.role,
        password_change_required: staff.password_change_required,
    }))
}
