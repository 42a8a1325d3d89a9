//! The HTTP surface: routes, the problem+json error mapping, middleware.

mod api_tokens;
mod appointments;
mod audit;
mod auth;
mod canned;
mod cards;
mod cases;
mod categories;
mod chat;
pub mod client_address;
mod directory;
mod directory_csv;
mod evidence;
mod health;
mod instance;
mod knowledge;
mod mail;
mod mail_choices;
mod me;
mod middleware;
mod notifications;
pub mod openapi;
mod page;
mod problem;
mod reports;
mod satisfaction;
mod snippet;
mod sso;
mod ui;
mod webhooks;

pub use problem::{ApiError, Problem};

use actix_web::web;

use crate::state::AppState;

/// Registers every route and the extractor limits on one app. The server
/// and the tests build their apps with this same function.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let json_limit = state.config.settings.server.max_json_body_bytes;
        cfg.app_data(web::Data::new(state))
            .app_data(problem::json_config(json_limit))
            .app_data(problem::query_config())
            .app_data(problem::path_config())
            .app_data(web::PayloadConfig::new(json_limit))
            .service(get("/").route(web::get().to(ui::index)))
            .service(get("/portal").route(web::get().to(ui::portal)))
            // Where the sign-in links that contacts receive point.
            .service(get("/portal/sign-in").route(web::get().to(ui::portal)))
            .service(get("/console").route(web::get().to(ui::console)))
            // Every case, account and view of the console has its address.
            .service(get("/console/{path:.*}").route(web::get().to(ui::console)))
            // Where staff invitations point.
            .service(get("/welcome").route(web::get().to(ui::welcome)))
            .service(get("/ui/{path:.*}").route(web::get().to(ui::asset)))
            .service(get("/healthz").route(web::get().to(health::healthz)))
            .service(get("/readyz").route(web::get().to(health::readyz)))
            .service(get("/api/openapi.json").route(web::get().to(openapi::openapi_json)))
            .service(get("/api/v1/instance").route(web::get().to(instance::get_instance)))
            .service(post("/api/v1/auth/login").route(web::post().to(auth::login)))
            .service(post("/api/v1/auth/contact/login").route(web::post().to(auth::contact_login)))
            .service(
                post("/api/v1/auth/contact/magic-link")
                    .route(web::post().to(auth::request_magic_link)),
            )
            .service(
                post("/api/v1/auth/contact/magic-link/redeem")
                    .route(web::post().to(auth::redeem_magic_link)),
            )
            .service(
                post("/api/v1/auth/contact/code").route(web::post().to(auth::redeem_sign_in_code)),
            )
            .service(post("/api/v1/auth/invitation").route(web::post().to(auth::accept_invitation)))
            .service(get("/auth/sso/staff").route(web::get().to(sso::start_staff)))
            .service(get("/auth/sso/contact").route(web::get().to(sso::start_contact)))
            .service(get("/auth/sso/callback").route(web::get().to(sso::callback)))
            .service(
                resource("/api/v1/customer-cards", "GET, POST")
                    .route(web::get().to(cards::list))
                    .route(web::post().to(cards::register)),
            )
            .service(
                resource("/api/v1/customer-cards/{id}", "DELETE")
                    .route(web::delete().to(cards::remove)),
            )
            .service(get("/api/v1/cases/{id}/cards").route(web::get().to(cards::of_case)))
            .service(get("/api/v1/case-categories").route(web::get().to(categories::list)))
            .service(
                resource("/api/v1/case-categories/{name}", "PUT")
                    .route(web::put().to(categories::put)),
            )
            .service(get("/api/v1/skills").route(web::get().to(categories::skills)))
            .service(
                resource("/api/v1/staff/{id}/skills", "PUT")
                    .route(web::put().to(categories::put_skills)),
            )
            .service(
                get("/api/v1/security/second-factor")
                    .route(web::get().to(auth::second_factor_policies)),
            )
            .service(
                resource("/api/v1/security/second-factor/{role}", "PUT")
                    .route(web::put().to(auth::set_second_factor_policy)),
            )
            .service(get("/api/v1/auth/sso").route(web::get().to(sso::offer)))
            .service(get("/api/v1/auth/sso/contact").route(web::get().to(sso::contact_offer)))
            .service(post("/api/v1/auth/sso/redeem").route(web::post().to(sso::redeem)))
            .service(
                resource("/api/v1/accounts/{id}/sso", "GET, PUT, DELETE")
                    .route(web::get().to(sso::get_account_sso))
                    .route(web::put().to(sso::put_account_sso))
                    .route(web::delete().to(sso::delete_account_sso)),
            )
            .service(post("/api/v1/auth/refresh").route(web::post().to(auth::refresh)))
            .service(
                post("/api/v1/auth/contact/switch").route(web::post().to(auth::switch_account)),
            )
            .service(post("/api/v1/auth/logout").route(web::post().to(auth::logout)))
            .service(get("/api/v1/me").route(web::get().to(me::me)))
            .service(post("/api/v1/me/password").route(web::post().to(auth::change_password)))
            .service(
                resource("/api/v1/me/case-notices", "PUT")
                    .route(web::put().to(me::put_case_notices)),
            )
            .service(
                resource("/api/v1/me/totp", "GET, POST")
                    .route(web::get().to(auth::totp_status))
                    .route(web::post().to(auth::totp_begin)),
            )
            .service(post("/api/v1/me/totp/confirm").route(web::post().to(auth::totp_confirm)))
            .service(
                resource("/api/v1/webhooks", "GET, POST")
                    .route(web::get().to(webhooks::list))
                    .route(web::post().to(webhooks::register)),
            )
            .service(
                resource("/api/v1/webhooks/{id}", "DELETE")
                    .route(web::delete().to(webhooks::remove)),
            )
            .service(post("/api/v1/webhooks/{id}/enable").route(web::post().to(webhooks::enable)))
            .service(
                resource("/api/v1/webhooks/{id}/deliveries", "GET")
                    .route(web::get().to(webhooks::deliveries)),
            )
            .service(
                post("/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver")
                    .route(web::post().to(webhooks::redeliver)),
            )
            .service(
                resource("/api/v1/staff/{id}/totp", "DELETE")
                    .route(web::delete().to(auth::totp_remove)),
            )
            .service(
                resource("/api/v1/staff", "GET, POST")
                    .route(web::get().to(directory::list_staff))
                    .route(web::post().to(directory::create_staff)),
            )
            .service(
                resource("/api/v1/staff/{id}", "GET, PATCH")
                    .route(web::get().to(directory::get_staff))
                    .route(web::patch().to(directory::patch_staff)),
            )
            .service(
                post("/api/v1/staff/{id}/invitation")
                    .route(web::post().to(directory::reinvite_staff)),
            )
            .service(post("/api/v1/directory/import").route(web::post().to(directory_csv::import)))
            .service(
                get("/api/v1/directory/accounts.csv")
                    .route(web::get().to(directory_csv::export_accounts)),
            )
            .service(
                get("/api/v1/directory/contacts.csv")
                    .route(web::get().to(directory_csv::export_contacts)),
            )
            .service(
                resource("/api/v1/teams", "GET, POST")
                    .route(web::get().to(directory::list_teams))
                    .route(web::post().to(directory::create_team)),
            )
            .service(
                resource("/api/v1/teams/{id}", "GET, PATCH")
                    .route(web::get().to(directory::get_team))
                    .route(web::patch().to(directory::patch_team)),
            )
            .service(
                resource("/api/v1/teams/{id}/members/{staff_id}", "PUT, DELETE")
                    .route(web::put().to(directory::put_member))
                    .route(web::delete().to(directory::delete_member)),
            )
            .service(
                resource("/api/v1/accounts", "GET, POST")
                    .route(web::get().to(directory::list_accounts))
                    .route(web::post().to(directory::create_account)),
            )
            .service(
                resource("/api/v1/accounts/{id}", "GET, PATCH")
                    .route(web::get().to(directory::get_account))
                    .route(web::patch().to(directory::patch_account)),
            )
            .service(
                resource("/api/v1/accounts/{id}/contacts", "GET, POST")
                    .route(web::get().to(directory::list_contacts))
                    .route(web::post().to(directory::create_contact)),
            )
            .service(get("/api/v1/contacts").route(web::get().to(directory::search_contacts)))
            .service(
                resource("/api/v1/contacts/{id}", "GET, PATCH")
                    .route(web::get().to(directory::get_contact))
                    .route(web::patch().to(directory::patch_contact)),
            )
            .service(
                resource("/api/v1/api-tokens", "GET, POST")
                    .route(web::get().to(api_tokens::list))
                    .route(web::post().to(api_tokens::create)),
            )
            .service(
                resource("/api/v1/api-tokens/{id}", "DELETE")
                    .route(web::delete().to(api_tokens::revoke)),
            )
            .service(
                resource("/api/v1/cases", "GET, POST")
                    .route(web::get().to(cases::list))
                    .route(web::post().to(cases::open)),
            )
            .service(get("/api/v1/cases/views").route(web::get().to(cases::views)))
            .service(post("/api/v1/markdown").route(web::post().to(knowledge::preview_markdown)))
            .service(post("/api/v1/cases/with-files").route(web::post().to(cases::open_with_files)))
            .service(
                resource("/api/v1/cases/{id}", "GET, PATCH")
                    .route(web::get().to(cases::get))
                    .route(web::patch().to(cases::patch)),
            )
            .service(
                resource("/api/v1/cases/{id}/entries", "GET, POST")
                    .route(web::get().to(cases::entries))
                    .route(web::post().to(cases::post)),
            )
            .service(post("/api/v1/cases/{id}/merge").route(web::post().to(cases::merge)))
            .service(
                resource("/api/v1/cases/{id}/participants", "GET, POST")
                    .route(web::get().to(cases::participants))
                    .route(web::post().to(cases::add_participant)),
            )
            .service(
                resource("/api/v1/cases/{id}/participants/{contact_id}", "DELETE")
                    .route(web::delete().to(cases::remove_participant)),
            )
            .service(
                post("/api/v1/cases/{id}/attachments").route(web::post().to(cases::post_files)),
            )
            .service(get("/api/v1/attachments/{id}").route(web::get().to(cases::download)))
            .service(
                post("/api/v1/attachments/{id}/redact")
                    .route(web::post().to(evidence::redact_attachment)),
            )
            .service(
                resource("/api/v1/cases/{id}/entries/{entry_id}", "PATCH")
                    .route(web::patch().to(evidence::edit)),
            )
            .service(
                get("/api/v1/cases/{id}/entries/{entry_id}/versions")
                    .route(web::get().to(evidence::versions)),
            )
            .service(
                post("/api/v1/cases/{id}/entries/{entry_id}/redact")
                    .route(web::post().to(evidence::redact_entry)),
            )
            .service(
                get("/api/v1/notifications/stream").route(web::get().to(notifications::stream)),
            )
            .service(post("/api/v1/chat/ticket").route(web::post().to(chat::ticket)))
            .service(post("/api/v1/inbound/email").route(web::post().to(mail::inbound)))
            .service(get("/api/v1/mail/inbound").route(web::get().to(mail::list_inbound)))
            .service(get("/api/v1/mail/inbound/{id}/raw").route(web::get().to(mail::inbound_raw)))
            .service(post("/api/v1/mail/inbound/{id}/retry").route(web::post().to(mail::retry)))
            .service(get("/api/v1/mail/outbox").route(web::get().to(mail::outbox)))
            .service(get("/ws").route(web::get().to(chat::websocket)))
            .service(get("/api/v1/search").route(web::get().to(cases::search)))
            .service(get("/api/v1/accounts/{id}/sla").route(web::get().to(cases::sla_report)))
            .service(get("/api/v1/sla/policies").route(web::get().to(cases::sla_policies)))
            .service(get("/api/v1/accounts/{id}/timeline").route(web::get().to(cases::timeline)))
            .service(get("/api/v1/audit/public-key").route(web::get().to(audit::public_key)))
            .service(get("/api/v1/audit/export").route(web::get().to(audit::export)))
            .service(
                get("/api/v1/audit/checkpoints/latest")
                    .route(web::get().to(audit::latest_checkpoint)),
            )
            .service(
                get("/api/v1/audit/checkpoints/{size}")
                    .route(web::get().to(audit::checkpoint_of_size)),
            )
            .service(get("/api/v1/audit/consistency").route(web::get().to(audit::consistency)))
            .service(get("/api/v1/audit/bundle").route(web::get().to(evidence::bundle)))
            .service(post("/api/v1/audit/verify").route(web::post().to(evidence::verify)))
            .service(
                resource("/api/v1/kb/articles", "GET, POST")
                    .route(web::get().to(knowledge::list))
                    .route(web::post().to(knowledge::create)),
            )
            .service(
                resource("/api/v1/kb/articles/{id}", "GET, PUT")
                    .route(web::get().to(knowledge::get))
                    .route(web::put().to(knowledge::update)),
            )
            .service(
                get("/api/v1/kb/articles/{id}/revisions")
                    .route(web::get().to(knowledge::revisions)),
            )
            .service(get("/api/v1/kb/search").route(web::get().to(knowledge::search)))
            .service(get("/api/v1/kb/suggest").route(web::get().to(knowledge::suggest)))
            .service(
                post("/api/v1/kb/suggestions/{id}/deflect")
                    .route(web::post().to(knowledge::deflect)),
            )
            .service(
                resource("/api/v1/canned-responses", "GET, POST")
                    .route(web::get().to(canned::list))
                    .route(web::post().to(canned::create)),
            )
            .service(
                resource("/api/v1/canned-responses/{id}", "PUT, DELETE")
                    .route(web::put().to(canned::update))
                    .route(web::delete().to(canned::delete)),
            )
            .service(
                post("/api/v1/canned-responses/{id}/render").route(web::post().to(canned::render)),
            )
            .service(
                resource("/api/v1/cases/{id}/satisfaction", "GET, POST")
                    .route(web::get().to(satisfaction::get))
                    .route(web::post().to(satisfaction::rate)),
            )
            .service(
                resource("/api/v1/cases/{id}/appointments", "GET, POST")
                    .route(web::get().to(appointments::list))
                    .route(web::post().to(appointments::propose)),
            )
            .service(
                post("/api/v1/cases/{id}/appointments/{appointment_id}/book")
                    .route(web::post().to(appointments::book)),
            )
            .service(
                post("/api/v1/cases/{id}/appointments/{appointment_id}/cancel")
                    .route(web::post().to(appointments::cancel)),
            )
            .service(
                get("/api/v1/cases/{id}/appointments/{appointment_id}/ics")
                    .route(web::get().to(appointments::ics)),
            )
            .service(
                get("/api/v1/accounts/{id}/appointments")
                    .route(web::get().to(appointments::for_account)),
            )
            .service(get("/api/v1/reports").route(web::get().to(reports::get)))
            .service(get("/api/v1/reports/health").route(web::get().to(reports::portfolio)))
            .service(get("/api/v1/accounts/{id}/health").route(web::get().to(reports::health)))
            .service(get("/rate").route(web::get().to(ui::rate)))
            .service(get("/mail/choose").route(web::get().to(ui::mail_choice)))
            .service(post("/api/v1/mail/choices/offer").route(web::post().to(mail_choices::offer)))
            .service(post("/api/v1/mail/choices/file").route(web::post().to(mail_choices::choose)))
            .service(get("/help").route(web::get().to(ui::help)))
            .service(get("/favicon.ico").route(web::get().to(ui::favicon)))
            .service(get("/auditor").route(web::get().to(ui::auditor)))
            .service(get("/admin").route(web::get().to(ui::admin)))
            .service(get("/widget").route(web::get().to(ui::widget)))
            .service(get("/widget.js").route(web::get().to(ui::widget_script)))
            .default_service(web::to(problem::route_not_found));
    }
}

/// A resource whose only method is GET; other methods get a 405 problem
/// naming the allowed one, instead of falling through to "no route".
fn get(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(problem::method_not_allowed("GET")))
}

/// A resource whose only method is POST.
fn post(path: &str) -> actix_web::Resource {
    resource(path, "POST")
}

/// A resource answering the methods listed in `allow`; others get a 405
/// problem that names them.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(problem::method_not_allowed(allow)))
}

pub use middleware::{
    error_bodies_as_problems, request_log_and_id, security_headers, wait_for_schema, watch_storage,
};
