//! Mail that must never get an automatic answer: automatic replies
//! (RFC 3834), bulk and list mail, mailer daemons, and our own messages
//! coming back. Such mail is still stored; it only never triggers one.

use crate::parse::InboundMail;

/// Why a message is automatic or bulk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noise {
    /// `Auto-Submitted` other than `no` (RFC 3834), or vendor equivalents.
    AutoSubmitted(String),
    /// `Precedence: bulk`, `junk` or `list`.
    Precedence(String),
    /// Outlook's `X-Auto-Response-Suppress` on automatic mail.
    AutoResponseSuppress(String),
    /// A mailing-list post (`List-Id`).
    MailingList(String),
    /// From a mailer daemon or postmaster, or with an empty return path.
    MailerDaemon,
    /// A Message-ID of our own domain: our outbound mail came back.
    OwnMessage,
    /// Delivered with an empty envelope sender (`MAIL FROM:<>`), as
    /// automatic mail is (RFC 5321 §4.5.5).
    EmptyEnvelopeSender,
}

impl Noise {
    /// Sent by a machine on its own (auto-replies, bounces), as opposed to
    /// bulk mail a person wrote for many, or a person asking not to be
    /// auto-answered (`X-Auto-Response-Suppress`): such mail never opens a
    /// case and never reopens one.
    pub fn is_automatic(&self) -> bool {
        matches!(
            self,
            Noise::AutoSubmitted(_) | Noise::MailerDaemon | Noise::EmptyEnvelopeSender
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Noise::AutoSubmitted(v) => format!("automatic message (Auto-Submitted: {v})"),
            Noise::Precedence(v) => format!("bulk mail (Precedence: {v})"),
            Noise::AutoResponseSuppress(v) => {
                format!("automatic message (X-Auto-Response-Suppress: {v})")
            }
            Noise::MailingList(v) => format!("mailing-list post ({v})"),
            Noise::MailerDaemon => "from a mailer daemon".to_owned(),
            Noise::OwnMessage => "our own message came back".to_owned(),
            Noise::EmptyEnvelopeSender => "automatic message (empty envelope sender)".to_owned(),
        }
    }
}

/// Classifies a message; `own_domain` is the domain of our Message-IDs.
pub fn noise(mail: &InboundMail, own_domain: &str) -> Option<Noise> {
    if let Some(id) = &mail.message_id
        && id
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(own_domain))
    {
        return Some(Noise::OwnMessage);
    }
    if let Some(v) = mail.header("auto-submitted")
        && !v.trim().eq_ignore_ascii_case("no")
    {
        return Some(Noise::AutoSubmitted(v.to_owned()));
    }
    for vendor in ["x-autoreply", "x-autorespond"] {
        if let Some(v) = mail.header(vendor) {
            return Some(Noise::AutoSubmitted(format!("{vendor}: {v}")));
        }
    }
    if let Some(v) = mail.header("list-id") {
        return Some(Noise::MailingList(v.to_owned()));
    }
    if let Some(v) = mail.header("precedence") {
        let p = v.trim().to_ascii_lowercase();
        if matches!(p.as_str(), "bulk" | "junk" | "list") {
            return Some(Noise::Precedence(p));
        }
    }
    if let Some(v) = mail.header("x-auto-response-suppress") {
        let v = v.to_ascii_lowercase();
        if ["all", "oof", "autoreply"].iter().any(|k| v.contains(k)) {
            return Some(Noise::AutoResponseSuppress(v));
        }
    }
    let local = mail.from.address.split('@').next().unwrap_or("");
    if matches!(
        local,
        "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
    ) || mail.header("return-path").is_some_and(|r| r.trim() == "<>")
    {
        return Some(Noise::MailerDaemon);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn with(headers: &str) -> InboundMail {
        parse(
            format!("From: a@b.example\r\nMessage-ID: <x@b.example>\r\n{headers}\r\nhi\r\n")
                .as_bytes(),
        )
        .expect("parses")
    }

    #[test]
    fn automatic_and_bulk_mail_is_recognised() {
        assert!(noise(&with(""), "desk.example").is_none());
        assert!(noise(&with("Auto-Submitted: no\r\n"), "desk.example").is_none());
        assert!(matches!(
            noise(&with("Auto-Submitted: auto-replied\r\n"), "desk.example"),
            Some(Noise::AutoSubmitted(_))
        ));
        assert!(matches!(
            noise(&with("Precedence: bulk\r\n"), "desk.example"),
            Some(Noise::Precedence(_))
        ));
        assert!(matches!(
            noise(&with("List-Id: <dev.lists.example>\r\n"), "desk.example"),
            Some(Noise::MailingList(_))
        ));
        assert!(matches!(
            noise(&with("X-Auto-Response-Suppress: All\r\n"), "desk.example"),
            Some(Noise::AutoResponseSuppress(_))
        ));
        assert_eq!(noise(&with(""), "b.example"), Some(Noise::OwnMessage));
        let daemon = parse(b"From: MAILER-DAEMON@mx.example\r\n\r\nx").expect("parses");
        assert_eq!(noise(&daemon, "desk.example"), Some(Noise::MailerDaemon));
    }
}
