//! The `rapport` command line.

mod admin;
mod audit;
mod mail;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, Overrides};
use crate::server::{self, StartupError};
use crate::{output, telemetry};

/// Rapport: account-centric support for companies whose customers are
/// companies.
///
/// Every setting can come from a TOML file (--config), from an environment
/// variable RAPPORT_<SECTION>__<KEY> (e.g. RAPPORT_LOG__FORMAT=json), or for
/// the three below from a flag. Later sources win: defaults, file,
/// environment, flags. `rapport check-config` shows the result.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, propagate_version = true)]
pub struct Cli {
    /// TOML config file (see config/default.toml for every key).
    #[arg(
        long,
        short = 'c',
        env = "RAPPORT_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Database: sqlite://PATH (embedded) or postgres://USER:PASSWORD@HOST/DB.
    /// [default: sqlite://<data-dir>/rapport.db]
    #[arg(
        long,
        env = "RAPPORT_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "RAPPORT_BIND", global = true, value_name = "ADDR")]
    pub bind: Option<String>,

    /// Directory for the SQLite database and generated secrets [default: ./data].
    #[arg(long, env = "RAPPORT_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (applies pending migrations first unless
    /// database.migrate_on_start = false). Stops gracefully on SIGTERM/SIGINT.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate {
        /// List the migrations that would run, and apply nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the configuration and print the effective settings (secrets hidden).
    CheckConfig,
    /// Print version information.
    Version,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Staff management for the first admin and recovery.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Audit log: public key, export, offline verification.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Copy everything a restore needs into a new directory, while the
    /// server runs: the database (SQLite copy or pg_dump), secrets,
    /// attachments, the mail spool and the audit checkpoints, with a
    /// manifest of SHA-256 sums.
    Backup {
        /// A new (or empty) directory to write the backup into.
        dest: std::path::PathBuf,
    },
    /// Restore a backup into an empty data directory and an empty
    /// database (checks every file against the manifest first).
    Restore {
        /// The directory `rapport backup` wrote.
        src: std::path::PathBuf,
    },
    /// Email: import messages from files, maildir or mbox.
    Mail {
        #[command(subcommand)]
        command: mail::MailCommand,
    },
}

/// Exit status: 0 success, 1 runtime failure, 2 bad configuration or usage.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            output::line(&format!(
                "rapport {}\ndatabases: sqlite (embedded), postgres",
                env!("CARGO_PKG_VERSION")
            ));
            return ExitCode::SUCCESS;
        }
        Command::Openapi => {
            output::line(&crate::http::openapi::document());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let overrides = Overrides::new(
        cli.database_url.clone(),
        cli.bind.clone(),
        cli.data_dir.clone(),
    );
    let config = match config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            output::error(&e.to_string());
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::CheckConfig => match crate::config_report::render(&config) {
            Ok(report) => {
                output::line(&report);
                ExitCode::SUCCESS
            }
            Err(e) => {
                output::error(&e);
                ExitCode::from(2)
            }
        },
        Command::Migrate { dry_run } => migrate(&config, dry_run),
        Command::Serve => serve(config),
        Command::Audit { command } => audit::run(command, &config),
        Command::Admin { command } => admin::run(command, &config),
        Command::Mail { command } => mail::run(command, config),
        Command::Backup { dest } => backup(&config, &dest),
        Command::Restore { src } => restore(&config, &src),
        Command::Version | Command::Openapi => ExitCode::SUCCESS,
    }
}

fn migrate(config: &Config, dry_run: bool) -> ExitCode {
    telemetry::init(&config.settings.log);
    output::progress(&format!("connecting to {}", config.database_url));
    let store = match server::open_store(config) {
        Ok(s) => s,
        Err(e) => {
            output::error(&format!(
                "{e}; check database.url (--database-url, RAPPORT_DATABASE_URL)"
            ));
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = server::refuse_newer_schema(&store) {
        output::error(&e.to_string());
        return ExitCode::FAILURE;
    }
    if dry_run {
        return match store.pending_migrations() {
            Ok(pending) if pending.is_empty() => {
                output::line("database schema is current; no migrations would run");
                ExitCode::SUCCESS
            }
            Ok(pending) => {
                for version in &pending {
                    output::line(&format!("would apply migration {version}"));
                }
                output::line(&format!(
                    "{} migration(s) would run; nothing was changed",
                    pending.len()
                ));
                ExitCode::SUCCESS
            }
            Err(e) => {
                output::error(&e.to_string());
                ExitCode::FAILURE
            }
        };
    }
    let result = store.migrate().and_then(|report| {
        crate::usecase::system::record_schema_migrated(&store, &report.applied)?;
        Ok(report)
    });
    match result {
        Ok(report) if report.applied.is_empty() => {
            output::line("database schema is current; no migrations to apply");
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for version in &report.applied {
                output::line(&format!("applied migration {version}"));
            }
            output::line(&format!("applied {} migration(s)", report.applied.len()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            output::error(&format!(
                "{e}; check database.url (--database-url, RAPPORT_DATABASE_URL)"
            ));
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> ExitCode {
    telemetry::init(&config.settings.log);
    let json_logs = config.settings.log.format == config::LogFormat::Json;
    let result = actix_web::rt::System::new().block_on(serve_until_signal(config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Once: as a log record for collectors, else as a line for people.
        Err(e) if json_logs => {
            tracing::error!(error = %e, "rapport serve failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            output::error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

/// Blocking tasks at once on SQLite: enough to fill group-commit batches,
/// few enough not to thrash (12 and 64 were slower in the chat bench).
const SQLITE_BLOCKING_TASKS: usize = 32;

/// Serves until SIGTERM or SIGINT, then drains in-flight requests. The
/// handlers are installed before readiness is announced, so a signal sent
/// as soon as the server says it is ready still stops it gracefully.
async fn serve_until_signal(config: Config) -> Result<(), StartupError> {
    use tokio::signal::unix::{SignalKind, signal};
    let signal_error = |e: std::io::Error| StartupError::Task(format!("cannot watch signals: {e}"));
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;

    let running = server::start(config).await?;
    // The limit is the process's: set here, where the process is this one
    // server (servers started inside a test process share no limit). On
    // PostgreSQL the pool already bounds the work in flight, and holding
    // more tasks back lowered chat throughput in the bench.
    if running.state.store.backend() == rapport_store::Backend::Sqlite {
        crate::blocking::limit_running(SQLITE_BLOCKING_TASKS);
    }
    let handle = running.handle.clone();
    let chat = running.state.live.clone();
    let addr = running.addr;
    let mut server = actix_web::rt::spawn(running.run());
    tracing::info!(url = %format!("http://{addr}"), "Rapport is ready at http://{addr}");

    let finished_early = tokio::select! {
        _ = terminate.recv() => { tracing::info!("SIGTERM received, stopping"); None }
        _ = interrupt.recv() => { tracing::info!("SIGINT received, stopping"); None }
        result = &mut server => Some(result),
    };
    let result = match finished_early {
        Some(result) => result,
        None => {
            // Websockets would hold a graceful stop until its timeout.
            chat.hub.close_all(rapport_chat::close::GOING_AWAY);
            handle.stop(true).await;
            server.await
        }
    };
    result
        .map_err(|e| StartupError::Task(e.to_string()))?
        .map_err(|e| StartupError::Task(e.to_string()))?;
    tracing::info!("Rapport stopped");
    Ok(())
}

fn backup(config: &Config, dest: &std::path::Path) -> ExitCode {
    telemetry::init(&config.settings.log);
    let result = server::open_store(config)
        .map_err(|e| e.to_string())
        .and_then(|store| {
            rapport_app::backup::create(&store, &config.settings.data_dir, dest, |step| {
                output::progress(step)
            })
            .map_err(|e| e.to_string())
        });
    match result {
        Ok(m) => {
            let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
            output::line(&format!(
                "backup written to {}: {} files, {} bytes, database {} ({}); restore with `rapport restore {}`",
                dest.display(),
                m.files.len(),
                bytes,
                m.database,
                m.backend,
                dest.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            output::error(&format!("backup failed: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn restore(config: &Config, src: &std::path::Path) -> ExitCode {
    telemetry::init(&config.settings.log);
    match rapport_app::backup::restore(
        &config.database_url,
        &config.settings.data_dir,
        src,
        output::progress,
    ) {
        Ok(m) => {
            output::line(&format!(
                "restored {} files from {} (taken {}); start the server with the same configuration",
                m.files.len(),
                src.display(),
                m.created_at
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            output::error(&format!("restore failed: {e}"));
            ExitCode::FAILURE
        }
    }
}
