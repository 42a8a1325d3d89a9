//! Golden tests for inbound mail: every `tests/data/mail/<name>.eml` at the
//! repository root is parsed ([`rapport_mail::parse`]), its text split
//! ([`rapport_mail::split_reply`]) and classified ([`rapport_mail::noise`]),
//! and the result, as a [`MailView`], must equal `<name>.json` beside it.
//! Each message is parsed twice, as stored (CRLF, as SMTP and LMTP deliver
//! it) and with bare LF line endings (as mbox and Maildir imports hold it);
//! both must give the same result, but for the attachment bytes that
//! [`TOLERATE_TRANSPORT_CRLF_IN_TEXT`] describes.
//!
//! To add a case, save the message as `tests/data/mail/<name>.eml` with CRLF
//! line endings (the directory's `.gitattributes` keeps git from converting
//! them), then run `RAPPORT_BLESS=1 cargo test -p rapport-mail --test golden`
//! to write `<name>.json`. Read the new JSON before committing it: a blessed
//! file records what the parser does, not what it should do. After a
//! deliberate parser change, bless again and review the diff of the `.json`
//! files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rapport_mail::{Bounce, InboundAttachment, InboundMail, Mailbox, ParseError, Reply};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The domain of our own Message-IDs, as the server is configured in tests.
const OWN_DOMAIN: &str = "rapport.localhost";

const BLESS_VAR: &str = "RAPPORT_BLESS";

/// What a golden file records for one message.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Parsed(Box<MailView>),
    Refused { error: String },
}

/// An `InboundMail` with its reply split and its noise classified. Built by
/// destructuring `InboundMail` and its parts completely, so that a new field
/// there fails to compile here until someone decides whether it belongs in
/// the goldens.
#[derive(Serialize)]
struct MailView {
    from: MailboxView,
    reply_to: Option<MailboxView>,
    to: Vec<MailboxView>,
    cc: Vec<MailboxView>,
    subject: String,
    /// RFC 3339, in UTC.
    date: Option<String>,
    message_id: Option<String>,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    /// The headers kept for classification, as `[name, value]`.
    headers: Vec<(String, String)>,
    noise: Option<NoiseView>,
    bounce: Option<BounceView>,
    text: String,
    reply: ReplyView,
    html: Option<String>,
    attachments: Vec<AttachmentView>,
}

#[derive(Serialize)]
struct MailboxView {
    name: Option<String>,
    address: String,
}

#[derive(Serialize)]
struct NoiseView {
    description: String,
    automatic: bool,
}

#[derive(Serialize)]
struct BounceView {
    original_message_id: Option<String>,
    recipient: Option<String>,
    status: Option<String>,
    diagnostic: Option<String>,
}

#[derive(Serialize)]
struct ReplyView {
    visible: String,
    collapsed: bool,
}

#[derive(Serialize)]
struct AttachmentView {
    filename: String,
    content_type: String,
    content_id: Option<String>,
    inline: bool,
    size: usize,
    /// Of the decoded bytes: a decoding change shows even at equal size.
    sha256: String,
}

impl From<Mailbox> for MailboxView {
    fn from(m: Mailbox) -> Self {
        let Mailbox { name, address } = m;
        MailboxView { name, address }
    }
}

impl From<InboundAttachment> for AttachmentView {
    fn from(a: InboundAttachment) -> Self {
        let InboundAttachment {
            filename,
            content_type,
            content_id,
            inline,
            data,
        } = a;
        AttachmentView {
            filename,
            content_type,
            content_id,
            inline,
            size: data.len(),
            sha256: hex::encode(Sha256::digest(&data)),
        }
    }
}

impl From<Bounce> for BounceView {
    fn from(b: Bounce) -> Self {
        let Bounce {
            original_message_id,
            recipient,
            status,
            diagnostic,
        } = b;
        BounceView {
            original_message_id,
            recipient,
            status,
            diagnostic,
        }
    }
}

impl MailView {
    fn of(mail: InboundMail) -> MailView {
        let noise = rapport_mail::noise(&mail, OWN_DOMAIN).map(|n| NoiseView {
            description: n.describe(),
            automatic: n.is_automatic(),
        });
        let Reply { visible, collapsed } = rapport_mail::split_reply(&mail.text);
        let InboundMail {
            message_id,
            in_reply_to,
            references,
            subject,
            from,
            reply_to,
            to,
            cc,
            date,
            text,
            html,
            attachments,
            headers,
            bounce,
        } = mail;
        MailView {
            from: from.into(),
            reply_to: reply_to.map(Into::into),
            to: to.into_iter().map(Into::into).collect(),
            cc: cc.into_iter().map(Into::into).collect(),
            subject,
            date: date.map(|d| d.to_rfc3339()),
            message_id,
            in_reply_to,
            references,
            headers,
            noise,
            bounce: bounce.map(Into::into),
            text,
            reply: ReplyView { visible, collapsed },
            html,
            attachments: attachments.into_iter().map(Into::into).collect(),
        }
    }
}

/// Textual attachments that are not base64-encoded (a delivery report's
/// `message/delivery-status`, a `.txt` sent as 8bit) are kept byte for
/// byte as they arrived, line ends included, so a message stored with bare
/// LF gives other attachment bytes than the same message over LMTP. (The
/// message `text` itself is normalised to LF.) While this is `true`, the
/// LF result must equal the CRLF result with CRLF turned into LF in
/// exactly those places; any other difference fails, and the test fails
/// if no message needs it any more.
const TOLERATE_TRANSPORT_CRLF_IN_TEXT: bool = true;

/// Every CRLF turned into a bare LF; a lone CR stays.
fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes.iter().peekable();
    while let Some(&b) = rest.next() {
        if b == b'\r' && rest.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// What the CRLF result would be without the tolerated defect.
fn without_transport_crlf(mut mail: InboundMail) -> InboundMail {
    mail.text = mail.text.replace("\r\n", "\n");
    for a in &mut mail.attachments {
        if a.content_type.starts_with("text/") || a.content_type.starts_with("message/") {
            a.data = crlf_to_lf(&a.data);
        }
    }
    mail
}

/// A parse result as the golden file holds it: pretty JSON in the order of
/// the view's fields (easy to read), and as a value (to compare field by
/// field, whatever the key order of the file).
struct Rendered {
    value: Value,
    pretty: String,
}

fn outcome(parsed: Result<InboundMail, ParseError>) -> Rendered {
    let outcome = match parsed {
        Ok(mail) => Outcome::Parsed(Box::new(MailView::of(mail))),
        Err(e) => Outcome::Refused {
            error: e.to_string(),
        },
    };
    let pretty = serde_json::to_string_pretty(&outcome)
        .expect("a view of strings, numbers and lists serialises")
        + "\n";
    let value = serde_json::from_str(&pretty).expect("serde_json reads what it wrote");
    Rendered { value, pretty }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/mail")
}

fn files_with_extension(dir: &Path, ext: &str) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the mail corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry of the corpus").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// Where two JSON values differ, one line per field: `path: expected …, got …`.
fn differences(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for k in keys {
                let sub = format!("{path}.{k}");
                match (e.get(k), a.get(k)) {
                    (Some(ev), Some(av)) => differences(&sub, ev, av, out),
                    (Some(ev), None) => out.push(format!("{sub}: expected {ev}, field missing")),
                    (None, Some(av)) => out.push(format!("{sub}: unexpected field, got {av}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let sub = format!("{path}[{i}]");
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => differences(&sub, ev, av, out),
                    (Some(ev), None) => out.push(format!("{sub}: expected {ev}, missing")),
                    (None, Some(av)) => out.push(format!("{sub}: unexpected, got {av}")),
                    (None, None) => {}
                }
            }
        }
        (e, a) if e != a => out.push(format!("{path}: expected {e}, got {a}")),
        _ => {}
    }
}

/// What checking one message found.
#[derive(Default)]
struct Checked {
    /// What is wrong, if anything.
    failure: Option<String>,
    /// Whether the LF result matched only thanks to
    /// [`TOLERATE_TRANSPORT_CRLF_IN_TEXT`].
    needed_tolerance: bool,
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Compares the CRLF and bare-LF results, and the CRLF one with the golden
/// file (or writes it when blessing).
fn check(eml: &Path, bless: bool) -> Checked {
    let name = file_name(eml);
    let raw = std::fs::read(eml).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
    let parsed_crlf = rapport_mail::parse(&raw);
    let crlf = outcome(parsed_crlf.clone());
    let lf = outcome(rapport_mail::parse(&crlf_to_lf(&raw)));
    let mut checked = Checked::default();
    let mut diff = Vec::new();
    differences("$", &crlf.value, &lf.value, &mut diff);
    if !diff.is_empty() {
        let mut tolerated = Vec::new();
        if TOLERATE_TRANSPORT_CRLF_IN_TEXT {
            let normalised = outcome(parsed_crlf.map(without_transport_crlf));
            differences("$", &normalised.value, &lf.value, &mut tolerated);
        }
        if TOLERATE_TRANSPORT_CRLF_IN_TEXT && tolerated.is_empty() {
            checked.needed_tolerance = true;
        } else {
            checked.failure = Some(format!(
                "{name}: parsing with bare LF line endings gives another result than with CRLF \
                 (expected = CRLF, got = LF):\n  {}",
                diff.join("\n  ")
            ));
            return checked;
        }
    }
    let golden = eml.with_extension("json");
    let golden_name = file_name(&golden);
    if bless {
        std::fs::write(&golden, &crlf.pretty)
            .unwrap_or_else(|e| panic!("cannot write {golden_name}: {e}"));
        return checked;
    }
    let expected = match std::fs::read_to_string(&golden) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            checked.failure = Some(format!(
                "{name}: no golden file {golden_name}; write it with \
                 `{BLESS_VAR}=1 cargo test -p rapport-mail --test golden` and review it"
            ));
            return checked;
        }
        Err(e) => panic!("cannot read {golden_name}: {e}"),
    };
    let expected: Value = match serde_json::from_str(&expected) {
        Ok(v) => v,
        Err(e) => {
            checked.failure = Some(format!("{golden_name}: not valid JSON: {e}"));
            return checked;
        }
    };
    let mut diff = Vec::new();
    differences("$", &expected, &crlf.value, &mut diff);
    if !diff.is_empty() {
        checked.failure = Some(format!(
            "{name}: differs from {golden_name} (expected = golden, got = parser):\n  {}",
            diff.join("\n  ")
        ));
    }
    checked
}

#[test]
fn every_corpus_message_parses_as_its_golden_file_says_with_crlf_and_with_lf() {
    let dir = corpus_dir();
    let bless = std::env::var_os(BLESS_VAR).is_some_and(|v| v == "1");
    let emls = files_with_extension(&dir, "eml");
    assert!(
        !emls.is_empty(),
        "no .eml files in {}: is the corpus path right?",
        dir.display()
    );
    let mut failures = Vec::new();
    let mut tolerance_needed = false;
    for eml in &emls {
        let checked = check(eml, bless);
        failures.extend(checked.failure);
        tolerance_needed |= checked.needed_tolerance;
    }
    for json in files_with_extension(&dir, "json") {
        if !emls.contains(&json.with_extension("eml")) {
            failures.push(format!(
                "{}: a golden file without its .eml; delete it or restore the message",
                file_name(&json)
            ));
        }
    }
    if TOLERATE_TRANSPORT_CRLF_IN_TEXT && !tolerance_needed {
        failures.push(
            "no message needs TOLERATE_TRANSPORT_CRLF_IN_TEXT any more: the parser \
             normalises line endings now, so set it to false in golden.rs"
                .to_owned(),
        );
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) in the mail corpus of {} messages{}:\n\n{}\n\n\
         If a parser change is intended, run \
         `{BLESS_VAR}=1 cargo test -p rapport-mail --test golden` and review the diff of the .json files.",
        failures.len(),
        emls.len(),
        if bless { " (while blessing)" } else { "" },
        failures.join("\n\n"),
    );
}

#[test]
fn bare_lf_conversion_leaves_lone_carriage_returns() {
    assert_eq!(crlf_to_lf(b"a\r\nb\rc\n\r\n"), b"a\nb\rc\n\n");
}
