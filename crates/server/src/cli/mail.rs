//! `rapport mail import PATH`: `.eml` files, maildir folders and mbox
//! files into the same pipeline as the LMTP listener, with progress.
//! Importing the same messages twice stores nothing new.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::output;
use crate::server;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Import messages: an .eml file, a directory of them, a maildir
    /// (cur/ and new/) or an mbox file. Each goes through the inbound
    /// pipeline (threading, dedupe, quarantine). A new case opened by mail
    /// older than a day (by its Date header; none: old) is never
    /// acknowledged; --no-ack acknowledges none at all.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// File or directory to import.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Send no acknowledgment for any case the import opens.
    #[arg(long)]
    no_ack: bool,
}

pub fn run(command: MailCommand, config: Config) -> ExitCode {
    crate::telemetry::init(&config.settings.log);
    let result = match command {
        MailCommand::Import(args) => import(config, &args.path, !args.no_ack),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            output::error(&message);
            ExitCode::FAILURE
        }
    }
}

fn import(config: Config, path: &Path, acknowledge: bool) -> Result<(), String> {
    let config = Arc::new(config);
    let store = server::open_store(&config).map_err(|e| e.to_string())?;
    let state = server::state_for(config, store).map_err(|e| e.to_string())?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template(
            "{spinner} {human_pos} messages imported ({per_sec}) {elapsed} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let (mut threaded, mut duplicates, mut other, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut acknowledged = 0u64;
    let acknowledge = if acknowledge {
        crate::usecase::mail::Acknowledge::AsConfigured
    } else {
        crate::usecase::mail::Acknowledge::Never
    };
    for raw in rapport_mail::archive::messages(path)? {
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                bar.println(format!("skipped: {e}"));
                continue;
            }
        };
        match crate::usecase::mail::ingest_with(&state, "import", None, &[], &raw, acknowledge) {
            Ok((_, false)) => duplicates += 1,
            Ok((row, true)) if row.status == "threaded" => {
                threaded += 1;
                if row
                    .outcome
                    .as_deref()
                    .is_some_and(|o| o.contains("; acknowledged"))
                {
                    acknowledged += 1;
                }
            }
            Ok((row, true)) => {
                other += 1;
                bar.println(format!(
                    "{}: {}",
                    row.status,
                    row.outcome.as_deref().unwrap_or("")
                ));
            }
            Err(e) => {
                failed += 1;
                bar.println(format!("not imported: {e}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Acknowledgments the import queued leave with the server's worker.
    output::line(&format!(
        "{threaded} threaded, {duplicates} already imported, {other} quarantined/ignored/bounces, {failed} failed; {acknowledged} acknowledgments queued"
    ));
    if failed > 0 {
        return Err(format!("{failed} messages could not be imported"));
    }
    Ok(())
}
