//! Raw RFC 5322 bytes to an owned, decoded message: addresses, threading
//! headers, text (charsets decoded), sanitised HTML, attachments, and the
//! delivery report of a bounce.

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

/// A person's address as written in a header; `address` is lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    pub filename: String,
    pub content_type: String,
    /// For inline images referenced by `cid:` in the HTML.
    pub content_id: Option<String>,
    pub inline: bool,
    pub data: Vec<u8>,
}

/// A delivery status notification (RFC 3464) about a message we sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bounce {
    /// The Message-ID of the message that could not be delivered.
    pub original_message_id: Option<String>,
    pub recipient: Option<String>,
    /// `5.1.1` and the like.
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// An inbound message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub date: Option<DateTime<Utc>>,
    /// The plain-text body (from the HTML part when there is no text part).
    pub text: String,
    /// The HTML body, sanitised for display (scripts, styles, event
    /// handlers and remote content removed).
    pub html: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    /// Headers that tell automatic and list mail apart, lowercased names.
    pub headers: Vec<(String, String)>,
    pub bounce: Option<Bounce>,
}

impl InboundMail {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every address the message was sent to (To and Cc).
    pub fn recipients(&self) -> impl Iterator<Item = &Mailbox> {
        self.to.iter().chain(self.cc.iter())
    }
}

/// Why a message cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("not an email message (no header section could be read)")]
    NotAMessage,
    #[error("the message has no sender address (From)")]
    NoSender,
}

/// Headers kept for classification (loops, lists, automatic replies).
const KEPT_HEADERS: &[&str] = &[
    "auto-submitted",
    "precedence",
    "x-auto-response-suppress",
    "list-id",
    "list-unsubscribe",
    "x-autoreply",
    "x-autorespond",
    "return-path",
    "delivered-to",
    "x-original-to",
    "thread-index",
];

fn mailboxes(a: Option<&Address<'_>>) -> Vec<Mailbox> {
    a.map(|a| {
        a.iter()
            .filter_map(|m| {
                let address = m.address()?.trim().to_ascii_lowercase();
                (!address.is_empty()).then(|| Mailbox {
                    name: m
                        .name()
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty()),
                    address,
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.trim().to_owned()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.trim().to_owned()).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|s| s.trim_matches(|c| c == '<' || c == '>').to_owned())
    .filter(|s| !s.is_empty())
    .collect()
}

/// Sanitises HTML for display: no scripts, styles, forms or event
/// handlers; links open safely; images only from the message itself
/// (`cid:`), so no remote content (tracking pixels) loads.
/// HTML as plain text: blocks and line breaks become new lines, cells and
/// the end of a link a space, scripts and styles nothing; entities decoded.
pub fn html_text(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "blockquote",
        "hr",
        "ul",
        "ol",
        "pre",
        "section",
        "article",
        "header",
        "footer",
    ];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skipping: Option<String> = None;
    while let Some(open) = rest.find('<') {
        if skipping.is_none() {
            out.push_str(&decode_entities(&rest[..open]));
        }
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if closing && *skipped == name {
                skipping = None;
            }
            continue;
        }
        match name.as_str() {
            "script" | "style" | "head" | "title" if !closing => skipping = Some(name),
            n if BLOCKS.contains(&n) => out.push('\n'),
            "td" | "th" => out.push(' '),
            "a" if closing => out.push(' '),
            _ => {}
        }
    }
    if skipping.is_none() {
        out.push_str(&decode_entities(rest));
    }
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    // At most one empty line between paragraphs.
    let mut text = String::new();
    let mut blank = 0;
    for l in lines {
        if l.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(&l);
        text.push('\n');
    }
    text.trim().to_owned()
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

pub fn sanitise_html(html: &str) -> String {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(["http", "https", "mailto", "cid"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" && !value.starts_with("cid:") {
                None
            } else {
                Some(value.into())
            }
        });
    builder.clean(html).to_string()
}

/// Parses raw bytes. Lenient: a damaged MIME tree still yields whatever
/// text it holds; only a message without headers or sender is refused.
pub fn parse(raw: &[u8]) -> Result<InboundMail, ParseError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotAMessage)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NotAMessage);
    }
    let from = mailboxes(msg.from())
        .into_iter()
        .next()
        .or_else(|| mailboxes(msg.sender()).into_iter().next())
        .ok_or(ParseError::NoSender)?;
    // Mail with only an HTML body: its text keeps the breaks between
    // words that tags made (mail-parser's conversion runs "click</a>Thanks"
    // together).
    // Line ends as written, whichever door the mail came through (LMTP
    // carries CRLF, mbox and maildir files bare LF).
    let text = match msg.text_bodies().next().map(|p| &p.body) {
        Some(PartType::Html(h)) => html_text(h),
        _ => match msg.body_text(0) {
            Some(t) => t.into_owned(),
            None => String::new(),
        },
    }
    .replace("\r\n", "\n");
    let html = msg
        .html_bodies()
        .next()
        .and_then(|p| match &p.body {
            PartType::Html(h) => Some(sanitise_html(h)),
            _ => None,
        })
        .filter(|h| !h.trim().is_empty());
    let mut attachments = Vec::new();
    for part in msg.attachments() {
        if matches!(part.body, PartType::Message(_)) {
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let content_id = part
            .content_id()
            .map(|c| c.trim_matches(|x| x == '<' || x == '>').to_owned());
        let inline = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"))
            || content_id.is_some();
        let filename =
            part.attachment_name()
                .map(str::to_owned)
                .unwrap_or_else(|| match &content_id {
                    Some(cid) => format!("inline-{cid}"),
                    None => "attachment".to_owned(),
                });
        attachments.push(InboundAttachment {
            filename,
            content_type,
            content_id,
            inline,
            data: part.contents().to_vec(),
        });
    }
    let mut headers = Vec::new();
    for (name, value) in msg.headers_raw() {
        let lower = name.to_ascii_lowercase();
        if KEPT_HEADERS.contains(&lower.as_str()) {
            headers.push((lower, value.trim().to_owned()));
        }
    }
    let bounce = bounce_of(&msg);
    Ok(InboundMail {
        message_id: msg
            .message_id()
            .map(|m| m.trim_matches(|c| c == '<' || c == '>').to_owned())
            .filter(|m| !m.is_empty()),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        subject: msg.subject().unwrap_or("").trim().to_owned(),
        reply_to: mailboxes(msg.reply_to()).into_iter().next(),
        to: mailboxes(msg.to()),
        cc: mailboxes(msg.cc()),
        date: msg
            .date()
            .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok())
            .map(|d| d.with_timezone(&Utc)),
        from,
        text,
        html,
        attachments,
        headers,
        bounce,
    })
}

/// The delivery report of a `multipart/report; report-type=delivery-status`.
fn bounce_of(msg: &mail_parser::Message<'_>) -> Option<Bounce> {
    let ct = msg.content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|r| r.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut bounce = Bounce::default();
    for part in msg.parts.iter() {
        let Some(pct) = part.content_type() else {
            continue;
        };
        let sub = pct.subtype().unwrap_or("").to_ascii_lowercase();
        match (pct.ctype().to_ascii_lowercase().as_str(), sub.as_str()) {
            ("message", "delivery-status") => {
                let text = String::from_utf8_lossy(part.contents()).into_owned();
                for line in text.lines() {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    let value = value.trim();
                    match name.trim().to_ascii_lowercase().as_str() {
                        "final-recipient" | "original-recipient" if bounce.recipient.is_none() => {
                            bounce.recipient = Some(
                                value
                                    .rsplit(';')
                                    .next()
                                    .unwrap_or(value)
                                    .trim()
                                    .to_ascii_lowercase(),
                            );
                        }
                        "status" => bounce.status = Some(value.to_owned()),
                        "diagnostic-code" => bounce.diagnostic = Some(value.to_owned()),
                        _ => {}
                    }
                }
            }
            ("message", "rfc822") | ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                if let PartType::Message(inner) = &part.body {
                    bounce.original_message_id = inner
                        .message_id()
                        .map(|m| m.trim_matches(|c| c == '<' || c == '>').to_owned());
                } else {
                    let text = String::from_utf8_lossy(part.contents()).into_owned();
                    bounce.original_message_id = text
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.trim()
                                .eq_ignore_ascii_case("message-id")
                                .then(|| v.trim().trim_matches(|c| c == '<' || c == '>').to_owned())
                        })
                        .filter(|m| !m.is_empty());
                }
            }
            _ => {}
        }
    }
    Some(bounce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_parses_with_its_threading_headers() {
        let raw = b"From: Anna Finance <Anna@Acme.Example>\r\nTo: support@desk.example\r\nCc: Bob <bob@acme.example>\r\nSubject: Re: [#1042] Invoice\r\nMessage-ID: <abc@mail.acme.example>\r\nIn-Reply-To: <out-1@desk.example>\r\nReferences: <out-0@desk.example> <out-1@desk.example>\r\n\r\nThanks!\r\n";
        let m = parse(raw).expect("parses");
        assert_eq!(m.from.address, "anna@acme.example");
        assert_eq!(m.from.name.as_deref(), Some("Anna Finance"));
        assert_eq!(m.message_id.as_deref(), Some("abc@mail.acme.example"));
        assert_eq!(m.in_reply_to, vec!["out-1@desk.example"]);
        assert_eq!(
            m.references,
            vec!["out-0@desk.example", "out-1@desk.example"]
        );
        assert_eq!(m.cc[0].address, "bob@acme.example");
        assert_eq!(m.text.trim(), "Thanks!");
        assert!(m.bounce.is_none());
    }

    #[test]
    fn html_only_mail_keeps_its_word_breaks() {
        assert_eq!(
            html_text(
                "<p>Please <a href=\"https://x.example\">click</a>Thanks &amp; regards</p><div>Anna</div><style>p{}</style><table><tr><td>A</td><td>B</td></tr></table>"
            ),
            "Please click Thanks & regards\n\nAnna\n\nA B"
        );
        let raw = b"From: a@acme.example\r\nTo: s@desk.example\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See the <a href=\"https://x\">link</a>Thanks</p>";
        assert_eq!(parse(raw).expect("parses").text, "See the link Thanks");
    }

    #[test]
    fn html_is_sanitised() {
        let clean = sanitise_html(
            r#"<p onclick="x()">Hi<script>alert(1)</script><img src="https://track.example/p.gif"><a href="javascript:alert(1)">x</a></p>"#,
        );
        assert!(!clean.contains("script"));
        assert!(!clean.contains("onclick"));
        assert!(!clean.contains("javascript"));
        assert!(
            !clean.contains("track.example"),
            "no remote images: {clean}"
        );
        assert!(clean.contains("Hi"));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse(b""), Err(ParseError::NotAMessage));
        assert_eq!(
            parse(b"Subject: no sender\r\n\r\nbody"),
            Err(ParseError::NoSender)
        );
    }
}
