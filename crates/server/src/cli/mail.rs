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
    /// Send a test message through the configured transport (the SMTP
    /// relay, or the mailbox directory) and print what the relay answered:
    /// the way to check mail set-up before clients depend on it.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Where the test message goes.
    #[arg(long, value_name = "ADDRESS")]
    to: String,
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

/// Sends one test message now, not through the outbox, and reports the
/// relay's answer (or why it refused).
fn test_message(config: &Config, to: &str) -> Result<(), String> {
    let to = rapport_domain::EmailAddress::parse(to).map_err(|e| format!("--to {to}: {e}"))?;
    let secrets = crate::secrets::Secrets::resolve(config).map_err(|e| e.to_string())?;
    let mail = rapport_app::mail::Mail::new(config, &secrets);
    let transport = rapport_app::mail::transport::Transport::from_config(config)?;
    let desk = &config.settings.instance.name;
    let text = format!(
        "This is a test message from {desk}, sent with `rapport mail test`.\n\n\
         It went through the transport the server uses ({}), from {}.\n",
        match config.settings.mail.transport {
            rapport_app::config::MailTransport::Smtp => format!(
                "SMTP relay {}:{}",
                config.settings.mail.smtp_host, config.settings.mail.smtp_port
            ),
            rapport_app::config::MailTransport::File => "the mailbox directory".to_owned(),
        },
        mail.address
    );
    let raw = rapport_mail::build(&rapport_mail::Outgoing {
        from: mail.from.clone(),
        reply_to: None,
        to: vec![rapport_mail::Mailbox {
            name: None,
            address: to.as_str().to_owned(),
        }],
        subject: format!("{desk}: test message"),
        html: rapport_mail::html_from_text(&text),
        text,
        message_id: rapport_mail::new_message_id(&mail.domain),
        in_reply_to: None,
        references: Vec::new(),
        thread_index: None,
        automatic: true,
        attachments: Vec::new(),
    })
    .map_err(|e| e.to_string())?;
    let said = transport
        .send_and_say(&mail.address, &[to.as_str().to_owned()], &raw)
        .map_err(|e| format!("the message was not sent: {e}"))?;
    output::line(&format!("sent to {to}: {said}"));
    Ok(())
}

pub fn run(command: MailCommand, config: Config) -> ExitCode {
    crate::telemetry::init(&config.settings.log);
    let result = match command {
        MailCommand::Import(args) => import(config, &args.path, !args.no_ack),
        MailCommand::Test(args) => test_message(&config, &args.to),
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
