//! `rapport admin ...`: managing staff from the command line, for the
//! first admin of an installation and for recovery.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use rapport_audit::Actor;
use rapport_domain::StaffRole;

use crate::config::Config;
use crate::output;
use crate::server;
use crate::usecase::staff::{CreateStaff, create_with_one_time_password};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a staff member (an admin by default) and print a one-time
    /// password; the first sign-in must replace it.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Sign-in address (unique, case-insensitive).
    #[arg(long)]
    email: String,
    /// Full name.
    #[arg(long)]
    name: String,
    /// Name shown to clients [default: the full name].
    #[arg(long)]
    display_name: Option<String>,
    /// `admin`, `agent` or `auditor`.
    #[arg(long, default_value = "admin", value_parser = ["admin", "agent", "auditor"])]
    role: String,
}

pub fn run(command: AdminCommand, config: &Config) -> ExitCode {
    match command {
        AdminCommand::Create(args) => create(config, args),
    }
}

fn create(config: &Config, args: CreateArgs) -> ExitCode {
    let Some(role) = StaffRole::parse(&args.role) else {
        output::error("--role must be admin, agent or auditor");
        return ExitCode::from(2);
    };
    let store = match server::open_store(config).and_then(|store| {
        let report = store.migrate()?;
        crate::usecase::system::record_schema_migrated(&store, &report.applied)?;
        Ok(store)
    }) {
        Ok(store) => store,
        Err(e) => {
            output::error(&format!(
                "{e}; check database.url (--database-url, RAPPORT_DATABASE_URL)"
            ));
            return ExitCode::FAILURE;
        }
    };
    let input = CreateStaff {
        email: args.email,
        name: args.name,
        display_name: args.display_name,
        role,
    };
    match create_with_one_time_password(&store, Actor::system(), input, "cli") {
        Ok((staff, password)) => {
            output::line(&format!(
                "created {} {} <{}> (id {})",
                staff.role,
                staff.name.as_str(),
                staff.email,
                staff.id
            ));
            output::line(&format!("one-time password: {password}"));
            output::line(
                "Sign in with it once (POST /api/v1/auth/login); you will be asked to choose a new password.",
            );
            ExitCode::SUCCESS
        }
        Err(crate::usecase::UseCaseError::Validation { field, message }) => {
            output::error(&format!("--{} {message}", field.replace('_', "-")));
            ExitCode::from(2)
        }
        Err(e) => {
            output::error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
