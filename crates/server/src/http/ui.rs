//! The web interface, embedded in the binary: HTML shells, one stylesheet
//! and small JavaScript modules that use the JSON API and the chat
//! websocket. No front-end server, nothing fetched from elsewhere.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// Scripts and styles only from this server, no inline code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'; object-src 'none'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// A script module under `ui/js/`.
macro_rules! script {
    ($name:literal) => {
        Asset {
            path: concat!("js/", $name),
            content_type: "text/javascript; charset=utf-8",
            body: include_str!(concat!("../../ui/js/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../ui/app.css"),
    },
    script!("api.js"),
    script!("live.js"),
    script!("thread.js"),
    script!("composer.js"),
    script!("workspace.js"),
    script!("casepage.js"),
    script!("notifications.js"),
    script!("portal.js"),
    script!("console.js"),
    script!("auditor.js"),
    script!("admin.js"),
    script!("widget.js"),
    script!("rating.js"),
    script!("rate.js"),
    script!("mailchoice.js"),
    script!("welcome.js"),
    script!("knowledge.js"),
    script!("appointments.js"),
    script!("authoring.js"),
    script!("reports.js"),
    script!("help.js"),
];

fn page(body: &'static str) -> HttpResponse {
    page_with(body, CSP.to_owned())
}

fn page_with(body: &'static str, csp: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    page(include_str!("../../ui/index.html"))
}

pub async fn portal() -> HttpResponse {
    page(include_str!("../../ui/portal.html"))
}

pub async fn welcome() -> HttpResponse {
    page(include_str!("../../ui/welcome.html"))
}

pub async fn console() -> HttpResponse {
    page(include_str!("../../ui/console.html"))
}

/// The chat inside the widget's frame: framed by this server and by the
/// sites in `server.widget_origins`, nobody else.
pub async fn widget(state: web::Data<crate::state::AppState>) -> HttpResponse {
    let mut ancestors = String::from("'self'");
    for origin in &state.config.settings.server.widget_origins {
        ancestors.push(' ');
        ancestors.push_str(origin.trim_end_matches('/'));
    }
    let csp = CSP.replace(
        "frame-ancestors 'none'",
        &format!("frame-ancestors {ancestors}"),
    );
    page_with(include_str!("../../ui/widget.html"), csp)
}

/// The script a client's site includes to show the chat button.
pub async fn widget_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(include_str!("../../ui/widget.js"))
}

/// The icon browsers ask every page for.
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/x-icon")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(&include_bytes!("../../ui/favicon.ico")[..])
}

/// The public knowledge base.
pub async fn help() -> HttpResponse {
    page(include_str!("../../ui/help.html"))
}

/// Where the links of the "which company is this about?" reply point.
pub async fn mail_choice() -> HttpResponse {
    page(include_str!("../../ui/mailchoice.html"))
}

/// Where the rating links emailed at resolution point.
pub async fn rate() -> HttpResponse {
    page(include_str!("../../ui/rate.html"))
}

pub async fn admin() -> HttpResponse {
    page(include_str!("../../ui/admin.html"))
}

pub async fn auditor() -> HttpResponse {
    page(include_str!("../../ui/auditor.html"))
}

/// `/ui/{path}`: the stylesheet and scripts.
pub async fn asset(path: web::Path<String>) -> Result<HttpResponse, super::ApiError> {
    let wanted = path.into_inner();
    let asset =
        ASSETS
            .iter()
            .find(|a| a.path == wanted)
            .ok_or_else(|| super::ApiError::RouteNotFound {
                method: "GET".into(),
                path: format!("/ui/{wanted}"),
            })?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body))
}
