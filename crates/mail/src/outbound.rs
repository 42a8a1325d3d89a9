//! Building outbound messages: Message-ID on our domain, threading
//! headers, signed Reply-To, text and HTML parts, `Auto-Submitted` on
//! automatic mail, attachments.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox as LettreMailbox, MultiPart, SinglePart};

use crate::parse::Mailbox;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub from: Mailbox,
    /// The signed reply address of the case, when there is one.
    pub reply_to: Option<String>,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Outlook's `Thread-Index`, so replies from Outlook thread even
    /// without `In-Reply-To` ([`crate::thread_index`]).
    pub thread_index: Option<String>,
    /// Acknowledgments, alerts, sign-in links: `Auto-Submitted: auto-generated`.
    pub automatic: bool,
    /// (file name, content type, bytes).
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("invalid address `{0}`")]
    Address(String),
    #[error("no recipient")]
    NoRecipient,
    #[error("cannot build the message: {0}")]
    Message(String),
}

/// A new Message-ID on our domain, without angle brackets.
pub fn new_message_id(domain: &str) -> String {
    format!("{}@{domain}", uuid::Uuid::now_v7().simple())
}

/// Plain text as simple HTML: escaped, paragraphs and line breaks kept,
/// web addresses made into links (sign-in links must be clickable).
pub fn html_from_text(text: &str) -> String {
    html_document(&html_paragraphs(text))
}

/// Plain text as HTML paragraphs, escaped, addresses linked.
pub fn html_paragraphs(text: &str) -> String {
    let escaped = linked(
        &text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;"),
    );
    escaped
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", p.trim().replace('\n', "<br>")))
        .collect()
}

/// A body of (already safe) HTML as the document of a mail's HTML part.
pub fn html_document(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><body style=\"font-family: sans-serif; line-height: 1.4\">{body}</body></html>"
    )
}

/// Wraps each `http://` or `https://` address of already escaped text in
/// a link. An address ends at white space or an escaped `<`, `>` or `"`;
/// closing punctuation after it stays text.
fn linked(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let mut end = tail.find(|c: char| c.is_whitespace()).unwrap_or(tail.len());
        for stop in ["&lt;", "&gt;", "&quot;"] {
            if let Some(i) = tail[..end].find(stop) {
                end = end.min(i);
            }
        }
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        if url.len() <= "https://".len() {
            out.push_str(&tail[..end]);
        } else {
            out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
            out.push_str(&tail[url.len()..end]);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn mailbox(m: &Mailbox) -> Result<LettreMailbox, BuildError> {
    let address = m
        .address
        .parse()
        .map_err(|_| BuildError::Address(m.address.clone()))?;
    Ok(LettreMailbox::new(m.name.clone(), address))
}

fn header(name: &str, value: String) -> Result<HeaderValue, BuildError> {
    let name = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|e| BuildError::Message(e.to_string()))?;
    Ok(HeaderValue::new(name, value))
}

/// The message as bytes, ready for SMTP or a file.
pub fn build(o: &Outgoing) -> Result<Vec<u8>, BuildError> {
    if o.to.is_empty() {
        return Err(BuildError::NoRecipient);
    }
    let mut b = lettre::Message::builder()
        .from(mailbox(&o.from)?)
        .subject(o.subject.replace(['\r', '\n'], " "))
        .message_id(Some(format!("<{}>", o.message_id)))
        .date_now();
    for to in &o.to {
        b = b.to(mailbox(to)?);
    }
    if let Some(r) = &o.reply_to {
        b = b.reply_to(mailbox(&Mailbox {
            name: o.from.name.clone(),
            address: r.clone(),
        })?);
    }
    if let Some(id) = &o.in_reply_to {
        b = b.in_reply_to(format!("<{id}>"));
    }
    if !o.references.is_empty() {
        let refs: Vec<String> = o.references.iter().map(|r| format!("<{r}>")).collect();
        b = b.references(refs.join(" "));
    }
    if let Some(index) = &o.thread_index {
        b = b.raw_header(header("Thread-Index", index.clone())?);
    }
    if o.automatic {
        b = b.raw_header(header("Auto-Submitted", "auto-generated".into())?);
        // Asks Exchange not to answer with out-of-office notices.
        b = b.raw_header(header("X-Auto-Response-Suppress", "All".into())?);
    }
    let body = MultiPart::alternative_plain_html(o.text.clone(), o.html.clone());
    let message = if o.attachments.is_empty() {
        b.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for (name, ctype, bytes) in &o.attachments {
            let ct = ContentType::parse(ctype).unwrap_or_else(|_| {
                ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN)
            });
            let part: SinglePart = Attachment::new(name.clone()).body(bytes.clone(), ct);
            mixed = mixed.singlepart(part);
        }
        b.multipart(mixed)
    }
    .map_err(|e| BuildError::Message(e.to_string()))?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn built_messages_carry_threading_headers_and_parse_back() {
        let conversation = uuid::Uuid::now_v7();
        let raw = build(&Outgoing {
            from: Mailbox {
                name: Some("Acme Support".into()),
                address: "support@desk.example".into(),
            },
            reply_to: Some("support+1042-0011223344556677@desk.example".into()),
            to: vec![Mailbox {
                name: Some("Anna Finance".into()),
                address: "anna@acme.example".into(),
            }],
            subject: "[#1042] Invoice".into(),
            text: "Hello Anna,\n\nfixed.".into(),
            html: html_from_text("Hello Anna,\n\nfixed <now>."),
            message_id: "m1@desk.example".into(),
            in_reply_to: Some("c1@acme.example".into()),
            references: vec!["c0@acme.example".into(), "c1@acme.example".into()],
            thread_index: Some(crate::thread_index::start(conversation, chrono::Utc::now())),
            automatic: true,
            attachments: vec![(
                "invite.ics".into(),
                "text/calendar".into(),
                b"BEGIN:VCALENDAR".to_vec(),
            )],
        })
        .expect("builds");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Auto-Submitted: auto-generated"));
        assert!(text.contains("Message-ID: <m1@desk.example>"));
        let back = parse(&raw).expect("parses");
        assert_eq!(back.message_id.as_deref(), Some("m1@desk.example"));
        assert_eq!(back.in_reply_to, vec!["c1@acme.example"]);
        assert_eq!(back.references.len(), 2);
        assert_eq!(
            back.header("thread-index")
                .and_then(crate::thread_index::conversation),
            Some(conversation)
        );
        assert_eq!(
            back.reply_to.map(|r| r.address),
            Some("support+1042-0011223344556677@desk.example".into())
        );
        assert!(
            back.html
                .as_deref()
                .is_some_and(|h| h.contains("&lt;now&gt;"))
        );
        assert_eq!(back.attachments.len(), 1);
    }

    #[test]
    fn web_addresses_in_text_become_links_and_nothing_else_does() {
        let html = html_from_text(
            "Sign in: http://127.0.0.1:18473/portal/sign-in?token=a1&x=2.\n(see https://help.example/a) <b>no</b>",
        );
        assert!(
            html.contains(r#"<a href="http://127.0.0.1:18473/portal/sign-in?token=a1&amp;x=2">http://127.0.0.1:18473/portal/sign-in?token=a1&amp;x=2</a>."#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="https://help.example/a">https://help.example/a</a>)"#),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;no&lt;/b&gt;"), "{html}");
        assert_eq!(linked("just http:// and text"), "just http:// and text");
    }
}
