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

/// Where quoted history starts: attribution lines of common clients.
fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
    // Gmail and Apple Mail: "On <date>, <name> wrote:" (Gmail may wrap it
    // over two lines); German and French clients say the same.
    let attribution = |l: &str| {
        l.ends_with("wrote:")
            || l.ends_with("schrieb:")
            || l.ends_with("a écrit :")
            || l.ends_with("a écrit:")
    };
    if (line.starts_with("On ") || line.starts_with("Am ") || line.starts_with("Le "))
        && (attribution(line) || attribution(next))
    {
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

/// Splits a plain-text reply. Inline answers between quotes are kept
/// whole (only trailing history is collapsed), and a reply that would
/// become empty is shown in full.
pub fn split_reply(text: &str) -> Reply {
    let normalised = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalised.lines().collect();
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
    fn inline_answers_are_kept_and_empty_replies_shown_whole() {
        let inline = "> Which invoice?\nThe March one.\n> Which line?\nLine 4.";
        assert_eq!(split_reply(inline).visible, inline);
        assert!(!split_reply(inline).collapsed);
        let only_quote = "> quoted only";
        assert_eq!(split_reply(only_quote).visible, only_quote);
    }
}
