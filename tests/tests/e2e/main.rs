//! End-to-end tests: the real server over real HTTP, on SQLite and on
//! PostgreSQL. One test binary, one module per area.

#![allow(clippy::unwrap_used)]

mod access;
mod appointments;
mod attachments;
mod audit;
mod audit_checkpoints;
mod audit_http;
mod auth;
mod backup;
mod canned;
mod care_access;
mod cases;
mod chat;
mod chat_nodes;
mod chat_resume;
mod cli;
mod contact_functions;
mod customer_cards;
mod defences;
mod directory;
mod durability;
mod evidence;
mod first_run;
mod health;
mod knowledge;
mod mail;
mod migrations;
mod outreach;
mod packaging;
mod problems;
mod reports;
mod satisfaction;
mod schema_parity;
mod second_factor;
mod several_accounts;
mod sla;
mod stored_values;
mod ui;
mod ui_accessibility;
mod ui_care;
mod ui_first_run;
mod ui_functions;
mod ui_sso;
mod ui_workspace;
mod webhooks;
