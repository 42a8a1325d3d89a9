//! Evidence bundles: one ZIP with a case's (or an account's) threads in
//! readable form, the original emails, the attachments, the audit log
//! export, a `SHA256SUMS` of all of it and a manifest signed with the
//! installation's audit key that covers `SHA256SUMS`. Written in constant
//! memory (pages of entries, files copied through), and verifiable offline
//! with `rapport audit verify` or standard tools (docs/audit-format.md).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Read, Seek, Write};

use chrono::Utc;
use rapport_audit::{AuditPublicKey, AuditSigner, canonical};
use rapport_domain::{AccountId, CaseId, EntryKind};
use rapport_store::DbConnection;
use rapport_store::case::{self as store_case, Author, Case, Entry};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::audit_export::ExportRequest;

/// Bundle format name and version, in the manifest.
pub const FORMAT: &str = "rapport-evidence-bundle";
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SUMS: &str = "SHA256SUMS";
const AUDIT_LOG: &str = "audit/log.jsonl";
const PAGE: i64 = 500;

/// What a bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Case(CaseId),
    Account(AccountId),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error(transparent)]
    Store(#[from] rapport_store::StoreError),
    #[error("cannot write the bundle: {0}")]
    Io(#[from] io::Error),
    #[error("cannot write the bundle: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("cannot export the audit log: {0}")]
    Audit(String),
    #[error("{0} not found")]
    NotFound(&'static str),
}

impl From<crate::mail::original::OriginalError> for BundleError {
    fn from(e: crate::mail::original::OriginalError) -> Self {
        match e {
            crate::mail::original::OriginalError::Store(e) => e.into(),
            crate::mail::original::OriginalError::File(e) => BundleError::Io(io::Error::new(
                e.kind(),
                format!("a received message's original cannot be read: {e}"),
            )),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    pub cases: usize,
    pub entries: u64,
    pub files: usize,
    pub bytes: u64,
    pub audit_events: u64,
}

/// Hashes what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Writer<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
    sums: BTreeMap<String, String>,
    bytes: u64,
}

impl<W: Write + Seek> Writer<W> {
    fn options() -> SimpleFileOptions {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true)
            .unix_permissions(0o644)
    }

    /// Adds a file written by `fill`, recording its SHA-256.
    fn file(
        &mut self,
        path: &str,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), BundleError> {
        self.file_with(path, Self::options(), fill)
    }

    /// Attachments are mostly compressed already (PDF, images, archives):
    /// stored as they are, they cost no CPU.
    fn stored(
        &mut self,
        path: &str,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), BundleError> {
        let options = Self::options().compression_method(zip::CompressionMethod::Stored);
        self.file_with(path, options, fill)
    }

    fn file_with(
        &mut self,
        path: &str,
        options: SimpleFileOptions,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), BundleError> {
        self.zip.start_file(path, options)?;
        let mut h = Hashing {
            inner: &mut self.zip,
            hasher: Sha256::new(),
            bytes: 0,
        };
        fill(&mut h)?;
        let (digest, n) = (hex::encode(h.hasher.finalize()), h.bytes);
        self.bytes += n;
        self.sums.insert(path.to_owned(), digest);
        Ok(())
    }
}

/// A file name safe inside the archive.
fn safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        format!("file{cleaned}")
    } else {
        cleaned
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn author_label(conn: &mut DbConnection, a: &Author) -> Result<String, BundleError> {
    Ok(match a {
        Author::Staff(id) => match rapport_store::staff::find(conn, *id)? {
            Some(s) => format!("{} (staff, {})", s.display_name.as_str(), s.email.as_str()),
            None => format!("staff {id}"),
        },
        Author::Contact(id) => match rapport_store::contact::find(conn, *id)? {
            Some(c) => format!(
                "{} (contact, {})",
                c.name.as_str(),
                c.emails.first().map(|e| e.as_str()).unwrap_or("")
            ),
            None => format!("contact {id}"),
        },
        Author::System => "system".to_owned(),
    })
}

/// Writes the bundle of `selection` into `out`.
pub fn write<W: Write + Seek>(
    conn: &mut DbConnection,
    data_dir: &std::path::Path,
    selection: Selection,
    signer: &AuditSigner,
    instance: &str,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<(W, BundleSummary), BundleError> {
    let (cases, label): (Vec<Case>, Value) = match selection {
        Selection::Case(id) => {
            let c = store_case::find(conn, id)?.ok_or(BundleError::NotFound("case"))?;
            let label = json!({"case": c.id.to_string(), "number": c.number});
            (vec![c], label)
        }
        Selection::Account(id) => {
            let a =
                rapport_store::account::find(conn, id)?.ok_or(BundleError::NotFound("account"))?;
            let mut all = Vec::new();
            let mut before = None;
            loop {
                let filter = store_case::CaseFilter {
                    accounts: Some(vec![id]),
                    ..store_case::CaseFilter::default()
                };
                let page = store_case::list(conn, &filter, before, 200)?;
                let done = page.len() < 200;
                before = page.last().map(|c| c.id);
                all.extend(page);
                if done {
                    break;
                }
            }
            all.sort_by_key(|c| c.number);
            (all, json!({"account": a.id.to_string(), "name": a.name}))
        }
    };
    let mut w = Writer {
        zip: zip::ZipWriter::new(out),
        sums: BTreeMap::new(),
        bytes: 0,
    };
    let mut entries_written = 0u64;
    for c in &cases {
        entries_written += write_case(conn, data_dir, &mut w, c, &mut progress, entries_written)?;
    }
    // The audit log of the same selection, with its own signed manifest.
    let request = match selection {
        Selection::Case(id) => {
            ExportRequest::parse(None, Some(&id.to_string()), None, None, None, Some("jsonl"))
        }
        Selection::Account(id) => {
            ExportRequest::parse(None, None, Some(&id.to_string()), None, None, Some("jsonl"))
        }
    }
    .map_err(|e| BundleError::Audit(e.to_string()))?;
    let mut audit_events = 0;
    let mut failure = None;
    w.file(AUDIT_LOG, |out| {
        match crate::audit_export::run(conn, &request, signer, instance, out, |_| {}) {
            Ok((_, manifest)) => audit_events = manifest["event_count"].as_u64().unwrap_or(0),
            Err(e) => failure = Some(e.to_string()),
        }
        Ok(())
    })?;
    if let Some(e) = failure {
        return Err(BundleError::Audit(e));
    }
    let readme = format!(
        "Rapport evidence bundle (format {FORMAT} {FORMAT_VERSION})\n\n\
         cases/<number>/thread.html and thread.txt   every entry with channel, author, time, versions and redactions\n\
         cases/<number>/emails/                      the original emails as received or sent (.eml)\n\
         cases/<number>/attachments/                 the files of the thread\n\
         {AUDIT_LOG}                            the audit log of these cases, hash-chained, with a signed manifest\n\
         {SUMS}                                  SHA-256 of every file above\n\
         {MANIFEST}                               signed by the installation's audit key; covers {SUMS}\n\n\
         Check: `sha256sum -c {SUMS}`, then the manifest signature (see docs/audit-format.md),\n\
         or all at once: `rapport audit verify <this file>`.\n"
    );
    w.file("README.txt", |out| out.write_all(readme.as_bytes()))?;
    let mut sums = String::new();
    for (path, digest) in &w.sums {
        let _ = writeln!(sums, "{digest}  {path}");
    }
    let files = w.sums.len();
    let sums_digest = hex::encode(Sha256::digest(sums.as_bytes()));
    w.zip.start_file(SUMS, Writer::<W>::options())?;
    w.zip.write_all(sums.as_bytes())?;
    let manifest = json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": rapport_audit::format_at(&Utc::now()),
        "instance": instance,
        "selection": label,
        "cases": cases.iter().map(|c| c.number).collect::<Vec<_>>(),
        "files": files,
        "sha256sums": sums_digest,
        "audit_log": {"path": AUDIT_LOG, "event_count": audit_events},
    });
    let canonical_manifest =
        canonical::to_canonical_string(&manifest).map_err(|e| BundleError::Audit(e.to_string()))?;
    let signed = json!({
        "manifest": manifest,
        "signature": signer.sign(canonical_manifest.as_bytes()),
        "key_id": signer.public_key().key_id(),
    });
    w.zip.start_file(MANIFEST, Writer::<W>::options())?;
    w.zip.write_all(
        serde_json::to_string_pretty(&signed)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let bytes = w.bytes;
    let out = w.zip.finish()?;
    Ok((
        out,
        BundleSummary {
            cases: cases.len(),
            entries: entries_written,
            files,
            bytes,
            audit_events,
        },
    ))
}

fn write_case<W: Write + Seek>(
    conn: &mut DbConnection,
    data_dir: &std::path::Path,
    w: &mut Writer<W>,
    c: &Case,
    progress: &mut impl FnMut(u64),
    done_before: u64,
) -> Result<u64, BundleError> {
    let dir = format!("cases/{}", c.number);
    let account = rapport_store::account::find(conn, c.account_id)?
        .map(|a| a.name)
        .unwrap_or_default();
    let title = format!("Case #{} — {}", c.number, c.subject);
    // Text and HTML are written side by side, page by page.
    let mut text = format!(
        "{title}\nAccount: {account}\nStatus: {}  Priority: {}  Channel: {}\nOpened: {}\n\n",
        c.status.as_str(),
        c.priority.as_str(),
        c.channel.as_str(),
        rapport_audit::format_at(&c.created_at)
    );
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:50rem;margin:2rem auto;line-height:1.4}}\
         .entry{{border-top:1px solid #ccc;padding:.5rem 0}}.meta{{color:#555;font-size:.9rem}}\
         .note{{background:#fff8dc}}.tomb{{color:#a00}}pre{{white-space:pre-wrap}}</style></head><body>\
         <h1>{t}</h1><p class=\"meta\">Account: {a} · Status: {s} · Priority: {p} · Channel: {ch} · Opened: {o}</p>",
        t = escape(&title),
        a = escape(&account),
        s = c.status.as_str(),
        p = c.priority.as_str(),
        ch = c.channel.as_str(),
        o = rapport_audit::format_at(&c.created_at),
    );
    let tombstones = rapport_store::evidence::redactions_of_case(conn, c.id)?;
    let mut after = None;
    let mut count = 0u64;
    let mut attachments_meta: Vec<rapport_store::attachment::Attachment> = Vec::new();
    let mut email_entries: Vec<(Entry, Option<String>)> = Vec::new();
    // A case has few authors and many entries: look each one up once.
    let mut authors: HashMap<Author, String> = HashMap::new();
    loop {
        let page = store_case::entries(conn, c.id, true, after, PAGE)?;
        let done = page.len() < PAGE as usize;
        after = page.last().map(|e| e.id);
        let ids: Vec<_> = page.iter().map(|e| e.id).collect();
        let files = rapport_store::attachment::for_entries(conn, &ids)?;
        let emails = rapport_store::mail::entry_emails_for(conn, &ids)?;
        for e in &page {
            let who = match authors.get(&e.author) {
                Some(who) => who.clone(),
                None => {
                    let who = author_label(conn, &e.author)?;
                    authors.insert(e.author, who.clone());
                    who
                }
            };
            let at = rapport_audit::format_at(&e.created_at);
            let kind = e.kind.as_str();
            let _ = writeln!(text, "--- {at}  [{kind}]  {who}");
            let _ = write!(
                html,
                "<div class=\"entry{}\" id=\"{}\"><p class=\"meta\">{at} · <b>{kind}</b> · {} · entry {}</p>",
                if e.kind == EntryKind::Note {
                    " note"
                } else {
                    ""
                },
                e.id,
                escape(&who),
                e.id
            );
            if let Some(t) = tombstones.iter().find(|t| t.target_id == e.id.to_string()) {
                let line = format!(
                    "REDACTED on {} by staff {}: {} (removed content SHA-256: {})",
                    rapport_audit::format_at(&t.redacted_at),
                    t.redacted_by,
                    t.reason,
                    serde_json::json!(t.removed_sha256)
                );
                let _ = writeln!(text, "{line}");
                let _ = write!(html, "<p class=\"tomb\">{}</p>", escape(&line));
            } else {
                let _ = writeln!(text, "{}", e.body);
                let _ = write!(html, "<pre>{}</pre>", escape(&e.body));
            }
            if e.version > 1 {
                for v in rapport_store::evidence::versions(conn, e)? {
                    let line = format!(
                        "version {} written {} by {} {} (SHA-256 {})",
                        v.version,
                        rapport_audit::format_at(&v.written_at),
                        v.written_by_kind,
                        v.written_by_id.clone().unwrap_or_default(),
                        v.body_sha256
                    );
                    let _ = writeln!(text, "    {line}\n    {}", v.body.replace('\n', "\n    "));
                    let _ = write!(
                        html,
                        "<details><summary>{}</summary><pre>{}</pre></details>",
                        escape(&line),
                        escape(&v.body)
                    );
                }
            }
            for a in files.iter().filter(|a| a.entry_id == e.id) {
                let line = match tombstones.iter().find(|t| t.target_id == a.id) {
                    Some(t) => format!(
                        "attachment {} REDACTED on {}: {}",
                        a.filename,
                        rapport_audit::format_at(&t.redacted_at),
                        t.reason
                    ),
                    None => format!(
                        "attachment {} ({} bytes, SHA-256 {}) in attachments/{}-{}",
                        a.filename,
                        a.size,
                        a.sha256,
                        a.id,
                        safe(&a.filename)
                    ),
                };
                let _ = writeln!(text, "    {line}");
                let _ = write!(html, "<p class=\"meta\">{}</p>", escape(&line));
            }
            let _ = writeln!(text);
            html.push_str("</div>");
            if matches!(e.kind, EntryKind::EmailIn | EntryKind::EmailOut) && e.redacted_at.is_none()
            {
                let inbound = emails
                    .iter()
                    .find(|m| m.entry_id == e.id)
                    .and_then(|m| m.inbound_id.clone());
                email_entries.push((e.clone(), inbound));
            }
        }
        attachments_meta.extend(files.into_iter().filter(|a| a.redacted_at.is_none()));
        count += page.len() as u64;
        progress(done_before + count);
        if done {
            break;
        }
    }
    html.push_str("</body></html>\n");
    w.file(&format!("{dir}/thread.txt"), |out| {
        out.write_all(text.as_bytes())
    })?;
    w.file(&format!("{dir}/thread.html"), |out| {
        out.write_all(html.as_bytes())
    })?;
    // Sent mail of the case, loaded once for all its email entries.
    let mut sent: Option<Vec<rapport_store::mail::Outbound>> = None;
    for (e, inbound) in &email_entries {
        let raw = match inbound {
            Some(id) => match rapport_store::mail::find_inbound(conn, id)? {
                Some(row) => crate::mail::original::read(conn, data_dir, &row.sha256)?,
                None => None,
            },
            None => {
                if sent.is_none() {
                    sent = Some(rapport_store::mail::list_outbound(
                        conn,
                        Some(c.id),
                        None,
                        500,
                    )?);
                }
                sent.iter()
                    .flatten()
                    .find(|m| m.entry_id == Some(e.id) && !m.raw.is_empty())
                    .map(|m| m.raw.clone())
            }
        };
        if let Some(raw) = raw {
            w.file(&format!("{dir}/emails/{}.eml", e.id), |out| {
                out.write_all(&raw)
            })?;
        }
    }
    for a in &attachments_meta {
        let path = crate::attachment_files::content_path(data_dir, &a.sha256);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, attachment = %a.id, "attachment content missing from the bundle");
                continue;
            }
        };
        w.stored(
            &format!("{dir}/attachments/{}-{}", a.id, safe(&a.filename)),
            |out| io::copy(&mut file, out).map(|_| ()),
        )?;
    }
    Ok(count)
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    pub files: usize,
    pub cases: Vec<i64>,
    pub audit_events: u64,
    pub key_id: String,
}

/// Checks a bundle: the manifest's signature, `SHA256SUMS` against the
/// manifest, every file against `SHA256SUMS` (none missing, none added),
/// and the audit log's own chain and signature.
pub fn verify<R: Read + Seek>(reader: R, key: &AuditPublicKey) -> Result<BundleReport, String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a readable ZIP: {e}"))?;
    let read_all = |zip: &mut zip::ZipArchive<R>, name: &str| -> Result<Vec<u8>, String> {
        let mut f = zip
            .by_name(name)
            .map_err(|_| format!("{name} is missing"))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(buf)
    };
    let signed: Value = serde_json::from_slice(&read_all(&mut zip, MANIFEST)?)
        .map_err(|e| format!("{MANIFEST} is not JSON: {e}"))?;
    let manifest = signed
        .get("manifest")
        .ok_or(format!("{MANIFEST} has no manifest"))?;
    let signature = signed["signature"]
        .as_str()
        .ok_or(format!("{MANIFEST} has no signature"))?;
    let key_id = signed["key_id"].as_str().unwrap_or("").to_owned();
    if key_id != key.key_id() {
        return Err(format!(
            "the manifest is signed with key {key_id}, not {}",
            key.key_id()
        ));
    }
    let canonical_manifest = canonical::to_canonical_string(manifest).map_err(|e| e.to_string())?;
    if !key
        .verify(canonical_manifest.as_bytes(), signature)
        .map_err(|e| e.to_string())?
    {
        return Err("the manifest's signature does not verify".into());
    }
    if manifest["format"] != FORMAT {
        return Err(format!("not a {FORMAT}"));
    }
    let sums = read_all(&mut zip, SUMS)?;
    if hex::encode(Sha256::digest(&sums)) != manifest["sha256sums"].as_str().unwrap_or("") {
        return Err(format!("{SUMS} does not match the signed manifest"));
    }
    let sums = String::from_utf8(sums).map_err(|_| format!("{SUMS} is not text"))?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for line in sums.lines() {
        let (digest, path) = line
            .split_once("  ")
            .ok_or(format!("{SUMS}: bad line {line:?}"))?;
        listed.insert(path.to_owned(), digest.to_owned());
    }
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    for name in &names {
        if name == MANIFEST || name == SUMS {
            continue;
        }
        let want = listed
            .get(name)
            .ok_or(format!("{name} is in the bundle but not in {SUMS}"))?;
        let mut f = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let mut hasher = Sha256::new();
        io::copy(&mut f, &mut hasher).map_err(|e| format!("{name}: {e}"))?;
        if &hex::encode(hasher.finalize()) != want {
            return Err(format!(
                "{name} has changed: its SHA-256 differs from {SUMS}"
            ));
        }
    }
    for path in listed.keys() {
        if !names.contains(path) {
            return Err(format!("{path} is listed in {SUMS} but missing"));
        }
    }
    let log = zip
        .by_name(AUDIT_LOG)
        .map_err(|_| format!("{AUDIT_LOG} is missing"))?;
    let report = rapport_audit::verify_export(log, key).map_err(|e| format!("{AUDIT_LOG}: {e}"))?;
    Ok(BundleReport {
        files: listed.len(),
        cases: manifest["cases"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default(),
        audit_events: report.events,
        key_id,
    })
}
