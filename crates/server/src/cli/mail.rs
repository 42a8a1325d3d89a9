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

/// Raw messages, read lazily; an error names what could not be read.
type Messages = Box<dyn Iterator<Item = Result<Vec<u8>, String>>>;

/// Every message under `path`, as raw bytes, lazily.
fn messages(path: &Path) -> Result<Messages, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_dir() {
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            let iter = mail_parser::mailbox::maildir::MessageIterator::new(path)
                .map_err(|e| format!("cannot read the maildir {}: {e}", path.display()))?;
            return Ok(Box::new(iter.map(|m| {
                m.map(|m| m.unwrap_contents())
                    .map_err(|e| format!("maildir: {e}"))
            })));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")))
            .collect();
        files.sort();
        return Ok(Box::new(files.into_iter().map(|f| {
            std::fs::read(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))
        })));
    }
    let head = {
        use std::io::Read;
        let mut buf = [0u8; 5];
        let mut f = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let n = f.read(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    };
    if head.starts_with(b"From ") {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let iter = mail_parser::mailbox::mbox::MessageIterator::new(std::io::BufReader::new(file));
        return Ok(Box::new(iter.map(|m| {
            m.map(|m| m.unwrap_contents())
                .map_err(|_| "mbox: a message could not be read".to_owned())
        })));
    }
    let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Box::new(std::iter::once(Ok(raw))))
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
    for raw in messages(path)? {
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
