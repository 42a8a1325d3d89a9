//! The knowledge base: articles written by staff, read by whom their
//! visibility allows, searched, and suggested to contacts while they type
//! a new case's subject. Every revision is an audit event of the
//! article's stream holding the whole text: the history is the log.

use chrono::Utc;
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{
    AccountId, ArticleAudience, ArticleId, ArticleStatus, ArticleVisibility, CaseId, Permission,
    Principal, SuggestionId, authorize, can_read_article,
};
use rapport_store::DbConnection;
use rapport_store::kb::{self, Article, ArticleFilter, ArticleHit, Match, Readership, Suggestion};
use serde_json::json;

use super::input::{invalid, optional_text, text};
use super::{UseCaseError, record};
use crate::state::AppState;

/// Longest article body, in characters.
pub const MAX_BODY_CHARS: usize = 200_000;
/// Most articles suggested for one subject.
const SUGGESTIONS: i64 = 5;
/// An undecided suggestion younger than this is refined, not repeated.
const REFINE_MINUTES: i64 = 30;

/// An article as written; on update, every field is replaced (and
/// `visibility` and `status` must be given).
#[derive(Debug, Clone, Default)]
pub struct ArticleInput {
    pub title: String,
    pub body: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub visibility: Option<ArticleVisibility>,
    pub audience_tiers: Vec<String>,
    pub audience_accounts: Vec<AccountId>,
    pub status: Option<ArticleStatus>,
}

fn stream(id: ArticleId) -> StreamName {
    StreamName::parse(&format!("article:{id}")).unwrap_or_else(|_| StreamName::system())
}

fn writer(who: &Principal) -> Result<(rapport_domain::StaffId, Actor), UseCaseError> {
    authorize(who, Permission::WriteKnowledge).map_err(|_| UseCaseError::Forbidden)?;
    match who {
        Principal::Staff { id, .. } => Ok((*id, Actor::new(ActorKind::Staff, id)?)),
        _ => Err(UseCaseError::Forbidden),
    }
}

/// The readers `who` stands for; a contact's account tier decides which
/// restricted articles they see.
fn readership(
    conn: &mut DbConnection,
    who: Option<&Principal>,
) -> Result<Readership, UseCaseError> {
    Ok(match who {
        None => Readership::Public,
        Some(Principal::Staff { .. }) => Readership::Staff,
        Some(Principal::ApiToken { .. }) => return Err(UseCaseError::Forbidden),
        Some(Principal::Contact { account, .. }) => {
            let tier = rapport_store::account::find(conn, *account)?
                .map(|a| a.tier)
                .ok_or(UseCaseError::NotFound("account"))?;
            Readership::Contact {
                account: *account,
                tier,
            }
        }
    })
}

fn may_read(readers: &Readership, who: Option<&Principal>, a: &Article) -> bool {
    let tier = match readers {
        Readership::Contact { tier, .. } => Some(tier.as_str()),
        _ => None,
    };
    can_read_article(who, tier, a.status, a.visibility, &a.audience)
}

fn check(
    state: &AppState,
    conn: &mut DbConnection,
    input: &ArticleInput,
    staff: rapport_domain::StaffId,
) -> Result<Article, UseCaseError> {
    let title = text("title", &input.title, 200)?;
    let body = optional_text("body", Some(&input.body), MAX_BODY_CHARS, true)?
        .ok_or_else(|| invalid("body", "must not be empty"))?;
    let category = optional_text("category", input.category.as_deref(), 60, false)?;
    let mut tags = Vec::new();
    for t in &input.tags {
        let t = t.trim().to_lowercase();
        if t.is_empty()
            || t.len() > 40
            || !t
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "tags",
                "each tag is 1 to 40 letters, digits, '-' or '_'",
            ));
        }
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > 20 {
        return Err(invalid("tags", "at most 20 tags"));
    }
    let visibility = input.visibility.unwrap_or(ArticleVisibility::Contacts);
    let known = &state.config.settings.accounts.tiers;
    for t in &input.audience_tiers {
        if !known.contains(t) {
            return Err(invalid(
                "audience_tiers",
                format!("must be tiers of this installation: {}", known.join(", ")),
            ));
        }
    }
    for a in &input.audience_accounts {
        if rapport_store::account::find(conn, *a)?.is_none() {
            return Err(invalid("audience_accounts", format!("no account {a}")));
        }
    }
    let restricted = visibility == ArticleVisibility::Restricted;
    let has_audience = !input.audience_tiers.is_empty() || !input.audience_accounts.is_empty();
    if restricted && !has_audience {
        return Err(invalid(
            "audience_tiers",
            "a restricted article names at least one tier or account",
        ));
    }
    if !restricted && has_audience {
        return Err(invalid(
            "visibility",
            "tiers and accounts only apply to `restricted` articles",
        ));
    }
    let now = Utc::now();
    Ok(Article {
        id: ArticleId::new(),
        title,
        body,
        category,
        tags,
        visibility,
        audience: ArticleAudience {
            tiers: input.audience_tiers.clone(),
            accounts: input.audience_accounts.clone(),
        },
        status: input.status.unwrap_or(ArticleStatus::Draft),
        revision: 1,
        created_by: staff,
        updated_by: staff,
        created_at: now,
        updated_at: now,
        published_at: None,
    })
}

/// The whole revision, as the audit event keeps it.
fn revision(a: &Article) -> serde_json::Value {
    json!({
        "revision": a.revision,
        "title": a.title,
        "body": a.body,
        "category": a.category,
        "tags": a.tags,
        "visibility": a.visibility.as_str(),
        "audience_tiers": a.audience.tiers,
        "audience_accounts": a.audience.accounts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "status": a.status.as_str(),
    })
}

fn same_content(a: &Article, b: &Article) -> bool {
    let (mut x, mut y) = (revision(a), revision(b));
    x["revision"] = json!(0);
    y["revision"] = json!(0);
    x == y
}

/// An agent restricts articles to the accounts their teams serve only, and
/// cannot re-scope one restricted to an account they do not serve: who a
/// client's articles are for is that client's team's decision.
fn may_address(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    accounts: &[AccountId],
) -> Result<(), UseCaseError> {
    let teams = super::access::agent_teams(conn, who)?;
    if !matches!(
        who,
        Principal::Staff {
            role: rapport_domain::StaffRole::Agent,
            ..
        }
    ) || state.config.settings.accounts.agents_see_all
    {
        return Ok(());
    }
    for id in accounts {
        let serves = rapport_store::account::find(conn, *id)?
            .and_then(|a| a.team_id)
            .is_some_and(|t| teams.contains(&t));
        if !serves {
            return Err(UseCaseError::Forbidden);
        }
    }
    Ok(())
}

pub fn create(
    state: &AppState,
    who: &Principal,
    input: &ArticleInput,
) -> Result<Article, UseCaseError> {
    let (staff, actor) = writer(who)?;
    state.store.write(|conn| {
        let mut article = check(state, conn, input, staff)?;
        may_address(conn, state, who, &article.audience.accounts)?;
        if article.status == ArticleStatus::Published {
            article.published_at = Some(article.created_at);
        }
        kb::insert(conn, &article)?;
        record(
            conn,
            stream(article.id),
            actor,
            "article.created",
            ("article", Some(&article.id.to_string())),
            revision(&article),
        )?;
        Ok(article)
    })
}

pub fn update(
    state: &AppState,
    who: &Principal,
    id: ArticleId,
    input: &ArticleInput,
) -> Result<Article, UseCaseError> {
    let (staff, actor) = writer(who)?;
    // PUT replaces the whole article: a missing visibility must not quietly
    // become the default and publish a restricted article to every client.
    for (field, missing) in [
        ("visibility", input.visibility.is_none()),
        ("status", input.status.is_none()),
    ] {
        if missing {
            return Err(invalid(
                field,
                "is required: an update replaces the whole article, so send every field",
            ));
        }
    }
    state.store.write(|conn| {
        let before = kb::find(conn, id)?.ok_or(UseCaseError::NotFound("article"))?;
        let checked = check(state, conn, input, staff)?;
        if (before.visibility, &before.audience) != (checked.visibility, &checked.audience) {
            let mut touched = before.audience.accounts.clone();
            touched.extend(checked.audience.accounts.iter().copied());
            may_address(conn, state, who, &touched)?;
        }
        let status = input.status.unwrap_or(before.status);
        let after = Article {
            id,
            created_by: before.created_by,
            created_at: before.created_at,
            updated_at: Utc::now(),
            revision: before.revision + 1,
            status,
            published_at: match (before.published_at, status) {
                (None, ArticleStatus::Published) => Some(Utc::now()),
                (kept, _) => kept,
            },
            ..checked
        };
        if same_content(&before, &after) {
            return Ok(before);
        }
        kb::save(conn, &after)?;
        let action = match (before.status, after.status) {
            (b, ArticleStatus::Published) if b != ArticleStatus::Published => "article.published",
            (_, ArticleStatus::Archived) if before.status != ArticleStatus::Archived => {
                "article.archived"
            }
            _ => "article.updated",
        };
        record(
            conn,
            stream(id),
            actor,
            action,
            ("article", Some(&id.to_string())),
            revision(&after),
        )?;
        Ok(after)
    })
}

/// One article; `NotFound` when the reader may not see it, so that ids of
/// restricted articles reveal nothing.
pub fn get(
    state: &AppState,
    who: Option<&Principal>,
    id: ArticleId,
) -> Result<Article, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    let readers = readership(conn, who)?;
    let article = kb::find(conn, id)?.ok_or(UseCaseError::NotFound("article"))?;
    if may_read(&readers, who, &article) {
        Ok(article)
    } else {
        Err(UseCaseError::NotFound("article"))
    }
}

pub fn list(
    state: &AppState,
    who: Option<&Principal>,
    filter: &ArticleFilter,
    limit: i64,
) -> Result<Vec<Article>, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    let readers = readership(conn, who)?;
    let found = kb::list(conn, &readers, filter, limit)?;
    // The query already selects by readership; the rule is checked again
    // here so that the two can never disagree unnoticed.
    Ok(found
        .into_iter()
        .filter(|a| may_read(&readers, who, a))
        .collect())
}

/// Articles matching every word of `query`.
pub fn search(
    state: &AppState,
    who: Option<&Principal>,
    query: &str,
    limit: i64,
) -> Result<Vec<ArticleHit>, UseCaseError> {
    let words = rapport_store::search::words(query);
    let conn = &mut *state.store.conn()?;
    let readers = readership(conn, who)?;
    let hits = kb::search(conn, &readers, &words, Match::All, limit)?;
    Ok(hits
        .into_iter()
        .filter(|h| may_read(&readers, who, &h.article))
        .collect())
}

/// Words that say nothing about what a subject is about.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "with", "our", "your", "you", "are", "was", "were", "have", "has", "not",
    "but", "can", "cannot", "from", "this", "that", "there", "what", "when", "how", "why", "who",
    "please", "help", "hello", "need", "issue", "problem", "question", "une", "les", "des", "der",
    "die", "das", "und", "ist",
];

fn subject_words(subject: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    rapport_store::search::words(subject)
        .into_iter()
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// Articles for a subject being typed, best first. For a contact the
/// suggestion is recorded (what was shown) so that opening the case or
/// giving up can be told apart later.
pub fn suggest(
    state: &AppState,
    who: &Principal,
    subject: &str,
) -> Result<(Option<SuggestionId>, Vec<ArticleHit>), UseCaseError> {
    let subject = optional_text("q", Some(subject), 200, false)?.unwrap_or_default();
    let words = subject_words(&subject);
    let hits = {
        let conn = &mut *state.store.conn()?;
        let readers = readership(conn, Some(who))?;
        kb::search(conn, &readers, &words, Match::Any, SUGGESTIONS)?
            .into_iter()
            .filter(|h| may_read(&readers, Some(who), &h.article))
            .collect::<Vec<_>>()
    };
    let Principal::Contact { id, account, .. } = who else {
        return Ok((None, hits));
    };
    if hits.is_empty() {
        return Ok((None, hits));
    }
    let article_ids: Vec<ArticleId> = hits.iter().map(|h| h.article.id).collect();
    // One subject typed over several seconds is one suggestion, refined
    // as it grows, not one per pause in typing.
    let id = state
        .store
        .write(|conn| -> Result<SuggestionId, UseCaseError> {
            let since = (Utc::now() - chrono::Duration::minutes(REFINE_MINUTES)).naive_utc();
            if let Some(mut open) = kb::open_suggestion_of(conn, *id, since)? {
                open.query = subject.clone();
                open.article_ids = article_ids.clone();
                kb::refine_suggestion(conn, &open)?;
                return Ok(open.id);
            }
            let suggestion = Suggestion {
                id: SuggestionId::new(),
                contact_id: *id,
                account_id: *account,
                query: subject.clone(),
                article_ids: article_ids.clone(),
                outcome: "shown".into(),
                helpful_article_id: None,
                case_id: None,
                created_at: Utc::now(),
                decided_at: None,
            };
            kb::insert_suggestion(conn, &suggestion)?;
            Ok(suggestion.id)
        })?;
    Ok((Some(id), hits))
}

/// The contact's own suggestion, still undecided.
fn open_suggestion(
    conn: &mut DbConnection,
    who: &Principal,
    id: SuggestionId,
) -> Result<Suggestion, UseCaseError> {
    let Principal::Contact { id: contact, .. } = who else {
        return Err(UseCaseError::Forbidden);
    };
    let s = kb::find_suggestion(conn, id)?
        .filter(|s| s.contact_id == *contact)
        .ok_or(UseCaseError::NotFound("suggestion"))?;
    if s.outcome != "shown" {
        return Err(UseCaseError::Conflict(
            "this suggestion was already answered",
        ));
    }
    Ok(s)
}

/// The contact found their answer in the suggested articles and does not
/// open a case.
pub fn deflect(
    state: &AppState,
    who: &Principal,
    id: SuggestionId,
    helpful: Option<ArticleId>,
) -> Result<(), UseCaseError> {
    let (_, actor) = super::case::author_of(who)?;
    state.store.write(|conn| {
        let s = open_suggestion(conn, who, id)?;
        if let Some(a) = helpful
            && !s.article_ids.contains(&a)
        {
            return Err(invalid(
                "article_id",
                "must be one of the suggested articles",
            ));
        }
        kb::decide_suggestion(conn, id, "deflected", helpful, None)?;
        record(
            conn,
            StreamName::account(s.account_id),
            actor,
            "kb.deflected",
            ("suggestion", Some(&id.to_string())),
            json!({
                "query": s.query,
                "shown": s.article_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "helpful_article_id": helpful.map(|a| a.to_string()),
            }),
        )?;
        Ok(())
    })
}

/// Inside the transaction opening `case`: the contact went on past the
/// suggestion. Returns the articles shown, for the case's record.
pub(super) fn continued(
    conn: &mut DbConnection,
    who: &Principal,
    id: SuggestionId,
    case: CaseId,
) -> Result<Vec<ArticleId>, UseCaseError> {
    let s = open_suggestion(conn, who, id).map_err(|e| match e {
        UseCaseError::NotFound(_) | UseCaseError::Conflict(_) => invalid(
            "kb_suggestion_id",
            "must be an unanswered suggestion made to you",
        ),
        other => other,
    })?;
    kb::decide_suggestion(conn, id, "continued", None, Some(case))?;
    Ok(s.article_ids)
}

/// The articles shown before the case was opened, for staff.
pub fn shown_before(conn: &mut DbConnection, case: CaseId) -> Result<Vec<Article>, UseCaseError> {
    match kb::suggestion_of_case(conn, case)? {
        Some(s) => Ok(kb::find_many(conn, &s.article_ids)?),
        None => Ok(Vec::new()),
    }
}

/// One revision of an article, from its audit stream.
#[derive(Debug, Clone)]
pub struct Revision {
    pub at: chrono::DateTime<Utc>,
    pub action: String,
    pub staff_id: Option<String>,
    pub content: serde_json::Map<String, serde_json::Value>,
}

/// Every revision, oldest first (staff).
pub fn revisions(
    state: &AppState,
    who: &Principal,
    id: ArticleId,
) -> Result<Vec<Revision>, UseCaseError> {
    if !matches!(who, Principal::Staff { .. }) {
        return Err(UseCaseError::Forbidden);
    }
    let conn = &mut *state.store.conn()?;
    kb::find(conn, id)?.ok_or(UseCaseError::NotFound("article"))?;
    let events = rapport_store::audit::stream_events(conn, &stream(id), 10_000)?;
    Ok(events
        .into_iter()
        .map(|e| Revision {
            at: e.at,
            action: e.action.as_str().to_owned(),
            staff_id: e.actor.id.clone(),
            content: e.data,
        })
        .collect())
}

/// Markdown rendered to HTML that is safe to show: no scripts, no event
/// handlers, links opened without referrer.
pub fn render(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(
        markdown,
        pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH,
    );
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_without_anything_that_runs() {
        let html = render(
            "# Invoices\n\n<script>alert(1)</script>\n\n[pay](javascript:alert(1)) **now** <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Invoices</h1>"));
        assert!(html.contains("<strong>now</strong>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("onerror"));
    }

    #[test]
    fn subjects_lose_words_that_match_everything() {
        assert_eq!(
            subject_words("Help: the VAT number on our invoice is wrong"),
            ["vat", "number", "invoice", "wrong"]
        );
    }
}

#[cfg(test)]
mod subject_word_tests {
    use super::subject_words;

    #[test]
    fn each_word_counts_once_wherever_it_repeats() {
        assert_eq!(
            subject_words("Invoice late: the invoice for March, invoice 42"),
            ["invoice", "late", "march"]
        );
    }
}
