//! Collapsing quoted history and signatures in replies, so the thread
//! shows what the person wrote; the full original stays stored.

/// A reply split into what was written and what was collapsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The new text.
    pub visible: String,
    /// Whether quoted history or a signature was collapsed.
    pub collapsed: bool,
}

/// How mail clients say "wrote" in the languages clients write in.
const WROTE: &[&str] = &[
    "wrote",
    "schrieb",
    "a écrit",
    "escribió",
    "escreveu",
    "scrisse",
    "schreef",
    "skrev",
    "kirjoitti",
    "napisał",
    "napsal",
    "írta",
    "yazdı",
    "написал",
    "写道",
    "寫道",
];

/// An attribution line ("On Mon, 23 Nov 2026, Anna <a@b> wrote:", "Am 30.
/// Nov. 2026 schrieb Jonas <j@d>:", "30 нояб. 2026 г., в 10:00, Анна
/// написала:"): ends with a colon, says "wrote" in some language, and names
/// a date or an address, as attributions always do.
fn is_attribution(line: &str) -> bool {
    (line.ends_with(':') || line.ends_with('：'))
        && WROTE.iter().any(|w| line.contains(w))
        && line.chars().any(|c| c.is_ascii_digit() || c == '@')
}

/// Where quoted history starts: attribution lines of common clients.
fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
    // Gmail and Apple Mail: "On <date>, <name> wrote:" (Gmail may wrap it
    // over two lines), in any of the clients' languages.
    // A wrapped attribution starts with its date and does not end a sentence.
    let wrapped = line.chars().any(|c| c.is_ascii_digit())
        && !line.ends_with(':')
        && !line.ends_with('.')
        && !next.starts_with('>')
        && is_attribution(&format!("{line} {next}"));
    if is_attribution(line) || wrapped {
        return true;
    }
    // Outlook desktop.
    if line.starts_with("-----Original Message-----")
        || line.starts_with("----- Original Message -----")
        || line.starts_with("-----Ursprüngliche Nachricht-----")
    {
        return true;
    }
    // Outlook on the web: a rule line, then a header block.
    if line.starts_with("________________________________") && next.starts_with("From:") {
        return true;
    }
    // Outlook's header block without a rule: From / Sent / To.
    if line.starts_with("From:")
        && lines
            .iter()
            .skip(i + 1)
            .take(3)
            .any(|l| l.trim_start().starts_with("Sent:") || l.trim_start().starts_with("Date:"))
        && i > 0
    {
        return true;
    }
    // A block of `>` quotes that runs to the end (bottom quoting).
    if line.starts_with('>') {
        return lines[i..]
            .iter()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'));
    }
    false
}

/// Thunderbird's answer under the quote: an attribution, a `>` block, then
/// the answer. The answer is what was written.
fn answer_below_quote(lines: &[&str]) -> Option<Reply> {
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    let attribution = starts_history(lines, first) && !lines[first].trim_start().starts_with('>');
    let quote_from = if attribution {
        first + 1 + usize::from(!lines[first].trim().ends_with(':'))
    } else {
        first
    };
    let mut i = quote_from;
    while i < lines.len() && (lines[i].trim_start().starts_with('>') || lines[i].trim().is_empty())
    {
        i += 1;
    }
    let quoted = lines[quote_from..i]
        .iter()
        .any(|l| l.trim_start().starts_with('>'));
    if !quoted || i == lines.len() {
        return None;
    }
    // The rest must be the answer alone: no further quotes (those are
    // inline answers, kept whole).
    if lines[i..].iter().any(|l| l.trim_start().starts_with('>')) {
        return None;
    }
    let answer = split_reply(&lines[i..].join("\n"));
    Some(Reply {
        visible: answer.visible,
        collapsed: true,
    })
}

/// Splits a plain-text reply. Inline answers between quotes are kept
/// whole (only trailing history is collapsed), an answer written under
/// the quote is what shows, and a reply that would become empty is shown
/// in full.
pub fn split_reply(text: &str) -> Reply {
    let normalised = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalised.lines().collect();
    if let Some(reply) = answer_below_quote(&lines) {
        return reply;
    }
    let mut cut = lines.len();
    for i in 0..lines.len() {
        let line = lines[i];
        if line == "-- " || line == "--" || starts_history(&lines, i) {
            cut = i;
            break;
        }
        let t = line.trim();
        if t == "Sent from my iPhone" || t == "Sent from my iPad" || t == "Get Outlook for iOS" {
            cut = i;
            break;
        }
    }
    let visible = lines[..cut].join("\n").trim().to_owned();
    if visible.is_empty() {
        return Reply {
            visible: normalised.trim().to_owned(),
            collapsed: false,
        };
    }
    Reply {
        collapsed: cut < lines.len() && lines[cut..].iter().any(|l| !l.trim().is_empty()),
        visible,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_history_collapses() {
        let r = split_reply(
            "Thanks, that works.\n\nOn Mon, 23 Nov 2026 at 10:00, Jonas Weber <support@desk.example> wrote:\n> Please try again.\n",
        );
        assert_eq!(r.visible, "Thanks, that works.");
        assert!(r.collapsed);
    }

    #[test]
    fn wrapped_gmail_attribution_collapses() {
        let r = split_reply(
            "Yes.\n\nOn Mon, 23 Nov 2026 at 10:00, Jonas Weber <\nsupport@desk.example> wrote:\n> x\n",
        );
        assert_eq!(r.visible, "Yes.");
    }

    #[test]
    fn outlook_history_and_signatures_collapse() {
        let r = split_reply(
            "See attached.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: x\n\nold",
        );
        assert_eq!(r.visible, "See attached.");
        let r = split_reply(
            "Done.\r\n\r\n________________________________\r\nFrom: Support <s@d.example>\r\nSent: Monday\r\n",
        );
        assert_eq!(r.visible, "Done.");
        let r = split_reply("Kind regards\n-- \nAnna Finance\nAcme Manufacturing");
        assert_eq!(r.visible, "Kind regards");
        assert!(r.collapsed);
    }

    #[test]
    fn attributions_in_other_languages_collapse() {
        for (text, visible) in [
            (
                "Спасибо, всё работает.\n\n30 нояб. 2026 г., в 10:00, Анна <anna@acme.example> написала:\n> Попробуйте ещё раз.\n",
                "Спасибо, всё работает.",
            ),
            (
                "Merci.\n\nLe lun. 30 nov. 2026 à 10:00, Jonas <support@desk.example> a écrit :\n> Essayez encore.\n",
                "Merci.",
            ),
            (
                "Danke.\n\nAm Mo., 30. Nov. 2026 um 10:00 Uhr schrieb Jonas <support@desk.example>:\n> Bitte erneut.\n",
                "Danke.",
            ),
            (
                "Gracias.\n\nEl lun, 30 nov 2026 a las 10:00, Jonas (<support@desk.example>) escribió:\n> Inténtelo.\n",
                "Gracias.",
            ),
        ] {
            let r = split_reply(text);
            assert_eq!(r.visible, visible, "{text}");
            assert!(r.collapsed);
        }
        // A sentence that merely ends in "wrote:" is not history.
        assert!(!split_reply("This is what she wrote:\nthe invoice is wrong.").collapsed);
    }

    #[test]
    fn an_answer_under_the_quote_is_what_shows() {
        let r = split_reply(
            "On 30/11/2026 10:00, Jonas Weber wrote:\n> Which invoice?\n> Please send the number.\n\nInvoice 2026-0318, thanks.\n\n-- \nAnna",
        );
        assert_eq!(r.visible, "Invoice 2026-0318, thanks.");
        assert!(r.collapsed);
    }

    #[test]
    fn inline_answers_are_kept_and_empty_replies_shown_whole() {
        let inline = "> Which invoice?\nThe March one.\n> Which line?\nLine 4.";
        assert_eq!(split_reply(inline).visible, inline);
        assert!(!split_reply(inline).collapsed);
        let only_quote = "> quoted only";
        assert_eq!(split_reply(only_quote).visible, only_quote);
    }
}
