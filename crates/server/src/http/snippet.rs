//! Search snippets for clients: the passage as plain text, and the same
//! passage in parts that say which words matched, so a page can highlight
//! them without parsing markers out of text.

use rapport_store::search::{MATCH_END, MATCH_START};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SnippetPart {
    pub text: String,
    /// Whether these words matched the search.
    #[serde(rename = "match")]
    pub matched: bool,
}

/// The plain passage and its parts.
pub fn split(marked: &str) -> (String, Vec<SnippetPart>) {
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut matched = false;
    let mut current = String::new();
    for c in marked.chars() {
        let toggle = match c {
            MATCH_START => Some(true),
            MATCH_END => Some(false),
            _ => None,
        };
        match toggle {
            Some(next) => {
                if !current.is_empty() {
                    parts.push(SnippetPart {
                        text: std::mem::take(&mut current),
                        matched,
                    });
                }
                matched = next;
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        parts.push(SnippetPart {
            text: current,
            matched,
        });
    }
    (parts.iter().map(|p| p.text.as_str()).collect(), parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_become_parts_and_brackets_in_text_stay_text() {
        let (plain, parts) = split("the [draft] \u{e000}invoice\u{e001} of \u{e000}March\u{e001}");
        assert_eq!(plain, "the [draft] invoice of March");
        assert_eq!(
            parts
                .iter()
                .filter(|p| p.matched)
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>(),
            ["invoice", "March"]
        );
        assert_eq!(parts[0].text, "the [draft] ");
    }
}
