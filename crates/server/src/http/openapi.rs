//! The OpenAPI document, generated from the handlers themselves.

use actix_web::HttpResponse;
use utoipa::OpenApi;

#[derive(OpenApi, Debug)]
#[openapi(
    info(
        title = "Rapport API",
        description = "Account-centric B2B support. Every error is `application/problem+json` with a stable `code`.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::instance::get_instance,
        super::auth::login,
        super::auth::contact_login,
        super::auth::request_magic_link,
        super::auth::redeem_magic_link,
        super::auth::accept_invitation,
        super::auth::redeem_sign_in_code,
        super::auth::refresh,
        super::auth::switch_account,
        super::auth::logout,
        super::auth::change_password,
        super::me::put_case_notices,
        super::auth::totp_status,
        super::auth::totp_begin,
        super::auth::totp_confirm,
        super::auth::totp_remove,
        super::auth::second_factor_policies,
        super::auth::set_second_factor_policy,
        super::cases::participants,
        super::cases::add_participant,
        super::cases::remove_participant,
        super::categories::list,
        super::categories::put,
        super::categories::skills,
        super::categories::put_skills,
        super::cards::register,
        super::cards::list,
        super::cards::remove,
        super::cards::of_case,
        super::sso::offer,
        super::sso::contact_offer,
        super::sso::start_staff,
        super::sso::start_contact,
        super::sso::callback,
        super::sso::redeem,
        super::sso::get_account_sso,
        super::sso::put_account_sso,
        super::sso::delete_account_sso,
        super::webhooks::register,
        super::webhooks::list,
        super::webhooks::remove,
        super::webhooks::enable,
        super::webhooks::deliveries,
        super::webhooks::redeliver,
        super::me::me,
        super::directory::list_staff,
        super::directory::create_staff,
        super::directory::reinvite_staff,
        super::directory_csv::import,
        super::directory_csv::export_accounts,
        super::directory_csv::export_contacts,
        super::directory::get_staff,
        super::directory::patch_staff,
        super::directory::list_teams,
        super::directory::create_team,
        super::directory::get_team,
        super::directory::patch_team,
        super::directory::put_member,
        super::directory::delete_member,
        super::directory::list_accounts,
        super::directory::create_account,
        super::directory::get_account,
        super::directory::patch_account,
        super::directory::list_contacts,
        super::directory::create_contact,
        super::directory::search_contacts,
        super::directory::get_contact,
        super::directory::patch_contact,
        super::cases::open,
        super::cases::open_with_files,
        super::cases::views,
        super::knowledge::preview_markdown,
        super::cases::list,
        super::cases::get,
        super::cases::patch,
        super::cases::entries,
        super::cases::post,
        super::cases::merge,
        super::cases::timeline,
        super::cases::search,
        super::cases::sla_report,
        super::cases::sla_policies,
        super::notifications::stream,
        super::chat::ticket,
        super::chat::websocket,
        super::mail::inbound,
        super::mail::list_inbound,
        super::mail::inbound_raw,
        super::mail::retry,
        super::mail::outbox,
        super::cases::post_files,
        super::cases::download,
        super::evidence::edit,
        super::evidence::versions,
        super::evidence::redact_entry,
        super::evidence::redact_attachment,
        super::api_tokens::create,
        super::api_tokens::list,
        super::api_tokens::revoke,
        super::audit::public_key,
        super::audit::export,
        super::audit::latest_checkpoint,
        super::audit::checkpoint_of_size,
        super::audit::consistency,
        super::evidence::bundle,
        super::evidence::verify,
        super::knowledge::list,
        super::knowledge::create,
        super::knowledge::get,
        super::knowledge::update,
        super::knowledge::revisions,
        super::knowledge::search,
        super::knowledge::suggest,
        super::knowledge::deflect,
        super::canned::list,
        super::canned::create,
        super::canned::update,
        super::canned::delete,
        super::canned::render,
        super::satisfaction::get,
        super::satisfaction::rate,
        super::mail_choices::offer,
        super::mail_choices::choose,
        super::appointments::list,
        super::appointments::propose,
        super::appointments::book,
        super::appointments::cancel,
        super::appointments::ics,
        super::appointments::for_account,
        super::reports::get,
        super::reports::health,
        super::reports::portfolio,
    ),
    components(schemas(super::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "instance", description = "This installation"),
        (name = "auth", description = "Signing in, sessions, the signed-in person"),
        (name = "webhooks", description = "Signed outgoing events for integrations (Standard Webhooks)"),
        (name = "staff", description = "The support organisation's people"),
        (name = "teams", description = "Teams of agents dedicated to accounts"),
        (name = "accounts", description = "Client companies"),
        (name = "contacts", description = "People at client companies"),
        (name = "cases", description = "Cases as long-running threads, and the account timeline"),
        (name = "routing", description = "Case categories: the contact functions each concerns and the staff skill that answers it; staff skills"),
        (name = "chat", description = "Live chat: tickets and the websocket (protocol in docs/chat-protocol.md)"),
        (name = "mail", description = "Email: the inbound door for mail providers, the quarantine, the outbox"),
        (name = "api-tokens", description = "Tokens for integrations, scoped"),
        (name = "audit", description = "The audit log: public key and verifiable exports"),
        (name = "canned-responses", description = "Consistent answers agents insert in the composer, with placeholders"),
        (name = "satisfaction", description = "Rating resolved cases, once, signed in or by the emailed link"),
        (name = "appointments", description = "Meetings on a case: proposed slots, one booked, iCalendar invitations"),
        (name = "reports", description = "How accounts are served: times, SLA, reopens, backlog, satisfaction, volume; account health"),
        (name = "knowledge", description = "Knowledge base articles, search, and suggestions before a case is opened")
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that secured operations refer to.
#[derive(Debug)]
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as pretty JSON, as served and as checked into `docs/openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// This API's OpenAPI 3.1 description.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
