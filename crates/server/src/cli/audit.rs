//! `rapport audit ...`: the signing key, exports and offline verification.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_audit::{AuditPublicKey, VerifyReport, verify_export};

use crate::audit_export::{self, ExportRequest};
use crate::config::Config;
use crate::output;
use crate::secrets::Secrets;
use crate::server;
use crate::usecase::audit_tree;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print this installation's audit public key (`ed25519:<base64>`),
    /// which auditors use to verify exports.
    PublicKey,
    /// Export audit events with a signed manifest.
    Export(ExportArgs),
    /// Verify an export or an evidence bundle offline: every hash, link
    /// and seq, every file of a bundle, the manifests and their signatures.
    /// Exit 0 when intact, 1 at the first problem.
    Verify(VerifyArgs),
    /// Write an evidence bundle (ZIP): a case's or an account's threads as
    /// HTML and text, original emails, attachments, the audit log and a
    /// signed manifest over SHA256SUMS.
    Bundle(BundleArgs),
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// A case, by number (e.g. 1042) or id.
    #[arg(long, conflicts_with = "account", required_unless_present = "account")]
    case: Option<String>,
    /// An account by id: every one of its cases.
    #[arg(long)]
    account: Option<String>,
    /// The ZIP file to write; it appears only once complete.
    #[arg(long, short = 'o', value_name = "FILE.zip")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// One stream, e.g. `system` or `case:<id>`.
    #[arg(long, conflicts_with_all = ["case", "account"])]
    stream: Option<String>,
    /// One case's stream.
    #[arg(long, conflicts_with = "account")]
    case: Option<String>,
    /// An account's stream and the streams of all its cases.
    #[arg(long)]
    account: Option<String>,
    /// Events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    from: Option<String>,
    /// Events before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// `jsonl` (default) or `csv`.
    #[arg(long)]
    format: Option<String>,
    /// File to write; it appears only once complete.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The export file (JSON Lines or CSV) or evidence bundle (ZIP).
    #[arg(required_unless_present = "witness")]
    file: Option<PathBuf>,
    /// An earlier export: every event of it must be in FILE unchanged
    /// (nothing exported before was rewritten, removed or reordered), and
    /// FILE's checkpoint must extend its checkpoint (proved from this
    /// installation's database).
    #[arg(long, value_name = "OLDER")]
    against: Option<PathBuf>,
    /// A witness file (`checkpoints.log` kept outside the database, or
    /// what witnesses received): the events in the database must still
    /// give every checkpoint in it.
    #[arg(long, value_name = "FILE")]
    witness: Option<PathBuf>,
    /// Public key the manifest must be signed with: `ed25519:<base64>` or
    /// a file holding it. Defaults to this installation's key.
    #[arg(long, value_name = "KEY|FILE")]
    public_key: Option<String>,
}

pub fn run(command: AuditCommand, config: &Config) -> ExitCode {
    let result = match command {
        AuditCommand::PublicKey => public_key(config),
        AuditCommand::Export(args) => export(config, &args),
        AuditCommand::Verify(args) => return verify(config, &args),
        AuditCommand::Bundle(args) => bundle(config, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            output::error(&message);
            ExitCode::FAILURE
        }
    }
}

fn public_key(config: &Config) -> Result<(), String> {
    let secrets = Secrets::resolve(config).map_err(|e| e.to_string())?;
    let key = secrets.audit.public_key();
    output::line(&format!("ed25519:{}", key.to_base64()));
    eprintln!("key id: {}", key.key_id());
    Ok(())
}

fn export(config: &Config, args: &ExportArgs) -> Result<(), String> {
    let request = ExportRequest::parse(
        args.stream.as_deref(),
        args.case.as_deref(),
        args.account.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
        args.format.as_deref(),
    )
    .map_err(|e| format!("invalid export: {e}"))?;
    let secrets = Secrets::resolve(config).map_err(|e| e.to_string())?;
    let store = server::open_store(config).map_err(|e| e.to_string())?;
    let mut conn = store.conn().map_err(|e| e.to_string())?;
    let instance = rapport_store::instance::ensure(&mut conn)
        .map_err(|e| e.to_string())?
        .id
        .to_string();

    let partial = partial_path(&args.out);
    let file =
        File::create(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {human_pos} events exported ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let result = audit_export::run(
        &mut conn,
        &request,
        &secrets.audit,
        &instance,
        BufWriter::with_capacity(1 << 20, file),
        |written| bar.set_position(written),
    );
    bar.finish_and_clear();
    let manifest = land(result, &partial, &args.out, "export")?;
    output::line(&format!(
        "exported {} events in {} streams to {}",
        manifest["event_count"],
        manifest["streams"].as_array().map_or(0, Vec::len),
        args.out.display()
    ));
    Ok(())
}

fn bundle(config: &Config, args: &BundleArgs) -> Result<(), String> {
    crate::telemetry::init(&config.settings.log);
    let secrets = Secrets::resolve(config).map_err(|e| e.to_string())?;
    let store = server::open_store(config).map_err(|e| e.to_string())?;
    let mut conn = store.conn().map_err(|e| e.to_string())?;
    let instance = rapport_store::instance::ensure(&mut conn)
        .map_err(|e| e.to_string())?
        .id
        .to_string();
    let selection = match (&args.case, &args.account) {
        (Some(c), _) => {
            let reference = rapport_store::case::CaseRef::parse(c)
                .ok_or_else(|| format!("--case {c}: give a case number or id"))?;
            let found = rapport_store::case::find_by_ref(&mut conn, reference)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no case {c}"))?;
            crate::bundle::Selection::Case(found.id)
        }
        (None, Some(a)) => crate::bundle::Selection::Account(
            a.parse()
                .map_err(|_| format!("--account {a} is not an account id"))?,
        ),
        (None, None) => return Err("give --case or --account".into()),
    };
    let partial = partial_path(&args.out);
    let file =
        File::create(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {human_pos} entries written ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let result = crate::bundle::write(
        &mut conn,
        &config.settings.data_dir,
        selection,
        &secrets.audit,
        &instance,
        BufWriter::with_capacity(1 << 20, file),
        |n| bar.set_position(n),
    );
    bar.finish_and_clear();
    let summary = land(result, &partial, &args.out, "bundle")?;
    crate::usecase::audit::record_bundle(&store, None, selection, &summary)
        .map_err(|e| e.to_string())?;
    output::line(&format!(
        "wrote {}: {} case(s), {} entries, {} files ({} bytes), {} audit events",
        args.out.display(),
        summary.cases,
        summary.entries,
        summary.files,
        summary.bytes,
        summary.audit_events
    ));
    Ok(())
}

/// Puts a written `partial` file in place as `out` once it is on disk, or
/// removes it when writing failed: a reader never finds half a file.
fn land<T, E: std::fmt::Display>(
    written: Result<(BufWriter<File>, T), E>,
    partial: &Path,
    out: &Path,
    what: &str,
) -> Result<T, String> {
    let (writer, done) = written.map_err(|e| {
        let _ = std::fs::remove_file(partial);
        format!("{what} failed: {e}")
    })?;
    let file = writer
        .into_inner()
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    file.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(partial, out)
        .map_err(|e| format!("cannot move the {what} to {}: {e}", out.display()))?;
    Ok(done)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn verify(config: &Config, args: &VerifyArgs) -> ExitCode {
    let key = match resolve_public_key(config, args.public_key.as_deref()) {
        Ok(key) => key,
        Err(message) => {
            output::error(&message);
            return ExitCode::from(2);
        }
    };
    if let Some(witness) = &args.witness {
        let outcome = check_witness(config, &key, witness);
        if outcome != ExitCode::SUCCESS || args.file.is_none() {
            return outcome;
        }
    }
    let Some(path) = &args.file else {
        return ExitCode::SUCCESS;
    };
    if let Some(older) = &args.against {
        return verify_against(config, &key, path, older);
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            output::error(&format!("cannot open {}: {e}", path.display()));
            return ExitCode::from(2);
        }
    };
    let mut magic = [0u8; 4];
    let is_zip = {
        use std::io::{Seek, SeekFrom};
        let mut f = &file;
        let n = f.read(&mut magic).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(0));
        n == 4 && &magic == b"PK\x03\x04"
    };
    if is_zip {
        return outcome(
            crate::bundle::verify(&file, &key)
                .map(|report| {
                    format!(
                        "OK: evidence bundle of case(s) {:?}: {} files match SHA256SUMS, the signed manifest and its audit log of {} events verified (signed by {})",
                        report.cases, report.files, report.audit_events, report.key_id
                    )
                })
                .map_err(|failure| failure.to_string()),
        );
    }
    outcome(
        verify_with_progress(file, &key)
            .map(|report| {
                format!(
                    "OK: {} events in {} streams verified ({}, signed by {}, exported {})",
                    report.events,
                    report.streams,
                    report.format.as_str(),
                    report.key_id,
                    report.exported_at
                )
            })
            .map_err(|failure| failure.to_string()),
    )
}

/// Verifies an export, showing how far it got.
fn verify_with_progress(
    file: File,
    key: &AuditPublicKey,
) -> Result<VerifyReport, rapport_audit::VerifyFailure> {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{bar:30} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}) {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = verify_export(bar.wrap_read(file), key);
    bar.finish_and_clear();
    result
}

/// Verifies one export file on its own, with a progress bar.
fn verify_file(path: &Path, key: &AuditPublicKey) -> Result<VerifyReport, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    verify_with_progress(file, key).map_err(|f| format!("{}: {f}", path.display()))
}

/// An export compared with an earlier one: both verify, every earlier
/// event is in the newer export unchanged, and the newer checkpoint
/// extends the earlier one.
fn verify_against(config: &Config, key: &AuditPublicKey, newer: &Path, older: &Path) -> ExitCode {
    let result = (|| -> Result<String, String> {
        let old_report = verify_file(older, key)?;
        let new_report = verify_file(newer, key)?;
        let open =
            |p: &Path| File::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()));
        let compared = rapport_audit::compare_exports(open(older)?, open(newer)?)
            .map_err(|f| f.to_string())?;
        let store = server::open_store(config).map_err(|e| e.to_string())?;
        let mut conn = store.conn().map_err(|e| e.to_string())?;
        let checkpoints = match audit_tree::check_manifests_extend(
            &mut conn,
            key,
            old_report.checkpoint.as_ref(),
            new_report.checkpoint.as_ref(),
        )? {
            Some((m, n)) => format!(
                "; the log of {n} events extends the log of {m} events the older export was made under (consistency proof verified)"
            ),
            None => {
                "; no checkpoints to compare (an export made before the log had one)".to_owned()
            }
        };
        Ok(format!(
            "OK: {} events of the older export are unchanged in the newer one, {} events are new{checkpoints}",
            compared.unchanged, compared.added
        ))
    })();
    outcome(result)
}

/// Prints `OK: …` (exit 0) or `FAILED: …` (exit 1).
fn outcome(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(line) => {
            output::line(&line);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            output::line(&format!("FAILED: {failure}"));
            ExitCode::FAILURE
        }
    }
}

/// The database's events against every checkpoint of a witness file.
fn check_witness(config: &Config, key: &AuditPublicKey, path: &Path) -> ExitCode {
    let result = (|| -> Result<String, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let store = server::open_store(config).map_err(|e| e.to_string())?;
        let mut conn = store.conn().map_err(|e| e.to_string())?;
        let report = audit_tree::check_witness(&mut conn, key, &text)?;
        Ok(format!(
            "OK: the audit log in the database still gives all {} witnessed checkpoints (up to {} events)",
            report.checkpoints, report.newest_size
        ))
    })();
    outcome(result)
}

fn resolve_public_key(config: &Config, given: Option<&str>) -> Result<AuditPublicKey, String> {
    match given {
        Some(text) => {
            let path = Path::new(text);
            let text = if path.is_file() {
                let mut content = String::new();
                File::open(path)
                    .and_then(|mut f| f.read_to_string(&mut content))
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                content
            } else {
                text.to_owned()
            };
            AuditPublicKey::parse(&text).map_err(|e| format!("--public-key: {e}"))
        }
        None => Secrets::existing_audit_public_key(config)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                "no audit key on this machine: pass --public-key (from GET /api/v1/audit/public-key \
                 or `rapport audit public-key` on the server)"
                    .to_owned()
            }),
    }
}
