//! Full-text search over case subjects and thread entries. The one module
//! where SQL differs by backend: FTS5 `MATCH` with `snippet()` on SQLite,
//! `tsvector @@ tsquery` with `ts_headline()` on PostgreSQL. Both index
//! without stemming, so a word finds the same documents on either.

/// Around each matched word in a snippet: characters of Unicode's private
/// use area, which text people write does not contain (unlike brackets).
pub const MATCH_START: char = '\u{e000}';
pub const MATCH_END: char = '\u{e001}';

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use rapport_domain::{AccountId, CaseId};

use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::raw::RawQuery;

/// Where a search may look.
#[derive(Debug, Clone, Default)]
pub struct SearchScope {
    /// Only these accounts (`None`: all).
    pub accounts: Option<Vec<AccountId>>,
    /// Only the accounts these teams serve (an agent's view).
    pub served_by: Option<Vec<rapport_domain::TeamId>>,
    /// Only the cases a contact opened, takes part in or sees by category
    /// (`None`: all of the accounts).
    pub involving: Option<crate::case::Involving>,
    /// Whether internal notes may match.
    pub include_notes: bool,
}

/// One match: a case subject or a thread entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The entry id, or the case id for a subject.
    pub doc_id: String,
    pub case_id: CaseId,
    /// `subject` or the entry kind.
    pub kind: String,
    /// The matching passage, matches between [`MATCH_START`] and [`MATCH_END`].
    pub snippet: String,
    pub created_at: DateTime<Utc>,
}

/// A hit as the backend-specific SQL returns it; raw queries load by name,
/// which converts infallibly, so the case id is parsed here.
#[derive(Debug, QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    doc_id: String,
    #[diesel(sql_type = Text)]
    case_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    snippet: String,
    #[diesel(sql_type = Timestamp, deserialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
}

/// The words of a query: letters and digits only, so no user input is
/// ever read as search syntax.
pub fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .take(16)
        .collect()
}

/// Documents matching every word of `query`, newest first, before `before`.
pub fn search(
    conn: &mut DbConnection,
    query: &str,
    scope: &SearchScope,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<SearchHit>, StoreError> {
    let words = words(query);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = RawQuery::new(conn);
    let mut sql = if q.is_postgres() {
        let terms = q.bind(words.join(" & "));
        format!(
            "SELECT doc_id, case_id, kind, \
             ts_headline('simple', text, to_tsquery('simple', {terms}), 'StartSel=\u{e000}, StopSel=\u{e001}, MaxWords=24, MinWords=8') AS snippet, \
             created_at FROM search_documents WHERE tsv @@ to_tsquery('simple', {terms})"
        )
    } else {
        // Each word quoted: FTS5 reads it as a plain term.
        let terms = q.bind(
            words
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" "),
        );
        format!(
            "SELECT doc_id, case_id, kind, snippet(search_fts, 0, '\u{e000}', '\u{e001}', '…', 16) AS snippet, created_at \
             FROM search_fts WHERE search_fts MATCH {terms}"
        )
    };
    if let Some(accounts) = &scope.accounts {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let list = q.list(accounts.iter().map(ToString::to_string));
        sql.push_str(&format!(" AND account_id IN {list}"));
    }
    if let Some(teams) = &scope.served_by {
        if teams.is_empty() {
            return Ok(Vec::new());
        }
        let list = q.list(teams.iter().map(ToString::to_string));
        sql.push_str(&format!(
            " AND account_id IN (SELECT id FROM accounts WHERE team_id IN {list})"
        ));
    }
    if let Some(i) = &scope.involving {
        let contact = q.bind(i.contact.to_string());
        let participant = q.bind(i.contact.to_string());
        let mut theirs = format!(
            "opened_by_contact_id = {contact} OR id IN (SELECT case_id FROM case_participants WHERE contact_id = {participant})"
        );
        if !i.or_categories.is_empty() {
            let list = q.list(i.or_categories.iter().cloned());
            theirs.push_str(&format!(" OR category IN {list}"));
        }
        sql.push_str(&format!(
            " AND case_id IN (SELECT id FROM cases WHERE {theirs})"
        ));
    }
    if !scope.include_notes {
        sql.push_str(" AND kind <> 'note'");
    }
    if let Some(before) = before {
        sql.push_str(&format!(" AND doc_id < {}", q.bind(before)));
    }
    sql.push_str(" ORDER BY doc_id DESC");
    q.sql = sql;
    let rows: Vec<HitRow> = q.load(conn, limit)?;
    rows.into_iter()
        .map(|r| {
            Ok(SearchHit {
                case_id: CaseId::try_from(r.case_id)?,
                doc_id: r.doc_id,
                kind: r.kind,
                snippet: r.snippet,
                created_at: r.created_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn search_syntax_in_a_query_is_just_text() {
        assert_eq!(
            words("invoice \"OR\" NEAR(po* 7781) -x"),
            ["invoice", "or", "near", "po", "7781", "x"]
        );
        assert!(words("***").is_empty());
    }
}
