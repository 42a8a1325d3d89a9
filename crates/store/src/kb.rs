//! Knowledge base articles, who may read them, their full-text search,
//! and the suggestions shown to contacts before they open a case.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use rapport_domain::{
    AccountId, ArticleAudience, ArticleId, ArticleStatus, ArticleVisibility, CaseId, ContactId,
    StaffId, SuggestionId,
};

use crate::column::{JsonText, OptText, OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::raw::RawQuery;
use crate::schema::{article_audiences, articles, kb_suggestions};

/// An article without its audience, which has a table of its own.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = articles)]
#[diesel(treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct ArticleRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: ArticleId,
    title: String,
    body: String,
    category: Option<String>,
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    tags: Vec<String>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    visibility: ArticleVisibility,
    #[diesel(deserialize_as = String, serialize_as = String)]
    status: ArticleStatus,
    revision: i32,
    #[diesel(deserialize_as = String, serialize_as = String)]
    created_by: StaffId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    updated_by: StaffId,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    updated_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub id: ArticleId,
    pub title: String,
    /// Markdown, as written.
    pub body: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub visibility: ArticleVisibility,
    pub audience: ArticleAudience,
    pub status: ArticleStatus,
    /// 1 for the first version, +1 per change.
    pub revision: i32,
    pub created_by: StaffId,
    pub updated_by: StaffId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// Whose eyes a listing or a search is for: decides which articles exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readership {
    /// Staff: every article, drafts and archived ones included.
    Staff,
    /// Someone not signed in: published public articles.
    Public,
    /// A contact: published articles for all contacts, and restricted ones
    /// naming their account or its tier.
    Contact { account: AccountId, tier: String },
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("articles: {what}"))
}

fn to_row(a: &Article) -> ArticleRow {
    ArticleRow {
        id: a.id,
        title: a.title.clone(),
        body: a.body.clone(),
        category: a.category.clone(),
        tags: a.tags.clone(),
        visibility: a.visibility,
        status: a.status,
        revision: a.revision,
        created_by: a.created_by,
        updated_by: a.updated_by,
        created_at: a.created_at,
        updated_at: a.updated_at,
        published_at: a.published_at,
    }
}

fn assemble(row: ArticleRow, audience: ArticleAudience) -> Article {
    Article {
        id: row.id,
        title: row.title,
        body: row.body,
        category: row.category,
        tags: row.tags,
        visibility: row.visibility,
        audience,
        status: row.status,
        revision: row.revision,
        created_by: row.created_by,
        updated_by: row.updated_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        published_at: row.published_at,
    }
}

fn write_audience(conn: &mut DbConnection, a: &Article) -> Result<(), StoreError> {
    let id = a.id.to_string();
    diesel::delete(article_audiences::table.filter(article_audiences::article_id.eq(&id)))
        .execute(conn)?;
    let rows = a.audience.tiers.iter().map(|t| ("tier", t.clone())).chain(
        a.audience
            .accounts
            .iter()
            .map(|x| ("account", x.to_string())),
    );
    // One statement per row: batch inserts do not cross both backends.
    for (kind, value) in rows {
        diesel::insert_into(article_audiences::table)
            .values((
                article_audiences::article_id.eq(id.clone()),
                article_audiences::kind.eq(kind),
                article_audiences::value.eq(value),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConnection, a: &Article) -> Result<(), StoreError> {
    diesel::insert_into(articles::table)
        .values(to_row(a))
        .execute(conn)?;
    write_audience(conn, a)
}

pub fn save(conn: &mut DbConnection, a: &Article) -> Result<(), StoreError> {
    diesel::update(articles::table.find(a.id.to_string()))
        .set(to_row(a))
        .execute(conn)?;
    write_audience(conn, a)
}

/// Loads articles by id, in the order given (missing ones left out).
pub fn find_many(conn: &mut DbConnection, ids: &[ArticleId]) -> Result<Vec<Article>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows: Vec<ArticleRow> = articles::table
        .filter(articles::id.eq_any(&keys))
        .select(ArticleRow::as_select())
        .load(conn)?;
    let audiences: Vec<(String, String, String)> = article_audiences::table
        .filter(article_audiences::article_id.eq_any(&keys))
        .select((
            article_audiences::article_id,
            article_audiences::kind,
            article_audiences::value,
        ))
        .load(conn)?;
    let mut by_id = std::collections::HashMap::new();
    for row in rows {
        let id = row.id.to_string();
        let mut audience = ArticleAudience::default();
        for (_, kind, value) in audiences.iter().filter(|(a, _, _)| *a == id) {
            match kind.as_str() {
                "tier" => audience.tiers.push(value.clone()),
                _ => audience.accounts.push(AccountId::try_from(value.clone())?),
            }
        }
        by_id.insert(id, assemble(row, audience));
    }
    Ok(keys.iter().filter_map(|k| by_id.remove(k)).collect())
}

pub fn find(conn: &mut DbConnection, id: ArticleId) -> Result<Option<Article>, StoreError> {
    Ok(find_many(conn, &[id])?.pop())
}

/// The condition that keeps the articles `readers` may see, for a query
/// whose articles table is named `a`.
fn readable(q: &mut RawQuery, readers: &Readership) -> String {
    match readers {
        Readership::Staff => "1 = 1".to_owned(),
        Readership::Public => "a.status = 'published' AND a.visibility = 'public'".to_owned(),
        Readership::Contact { account, tier } => {
            let tier = q.bind(tier.clone());
            let account = q.bind(account.to_string());
            format!(
                "a.status = 'published' AND (a.visibility IN ('public', 'contacts') \
                 OR (a.visibility = 'restricted' AND EXISTS (SELECT 1 FROM article_audiences x \
                 WHERE x.article_id = a.id AND ((x.kind = 'tier' AND x.value = {tier}) \
                 OR (x.kind = 'account' AND x.value = {account})))))"
            )
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub category: Option<String>,
    pub status: Option<ArticleStatus>,
    pub tag: Option<String>,
}

#[derive(Debug, QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(Debug, QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    snippet: String,
}

fn ids(rows: impl IntoIterator<Item = String>) -> Result<Vec<ArticleId>, StoreError> {
    rows.into_iter()
        .map(|id| Ok(ArticleId::try_from(id)?))
        .collect()
}

/// Articles `readers` may see, most recently changed first.
pub fn list(
    conn: &mut DbConnection,
    readers: &Readership,
    filter: &ArticleFilter,
    limit: i64,
) -> Result<Vec<Article>, StoreError> {
    let mut q = RawQuery::new(conn);
    let scope = readable(&mut q, readers);
    let mut sql = format!("SELECT a.id AS id FROM articles a WHERE {scope}");
    if let Some(c) = &filter.category {
        sql.push_str(&format!(" AND a.category = {}", q.bind(c.clone())));
    }
    if let Some(s) = filter.status {
        sql.push_str(&format!(" AND a.status = {}", q.bind(s.as_str())));
    }
    if let Some(t) = &filter.tag {
        // Tags are stored as a JSON array of validated words; `_` would be
        // a LIKE wildcard, so it is escaped.
        let escaped = t
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        sql.push_str(&format!(
            " AND a.tags LIKE {} ESCAPE '\\'",
            q.bind(format!("%\"{escaped}\"%"))
        ));
    }
    sql.push_str(" ORDER BY a.updated_at DESC, a.id DESC");
    q.sql = sql;
    let rows: Vec<IdRow> = q.load(conn, limit)?;
    find_many(conn, &ids(rows.into_iter().map(|r| r.id))?)
}

/// How the words of a search combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Every word must occur (a search box).
    All,
    /// Any word may occur, the last one as a prefix, best match first (a
    /// subject being typed).
    Any,
}

/// One search result: the article and its matching passage, matches
/// between `[` and `]`.
#[derive(Debug, Clone)]
pub struct ArticleHit {
    pub article: Article,
    pub snippet: String,
}

/// Articles `readers` may see whose title or body match `words` (letters
/// and digits only: the caller made them so), best first.
pub fn search(
    conn: &mut DbConnection,
    readers: &Readership,
    words: &[String],
    mode: Match,
    limit: i64,
) -> Result<Vec<ArticleHit>, StoreError> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = RawQuery::new(conn);
    let last = words.len() - 1;
    if q.is_postgres() {
        let terms: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if mode == Match::Any && i == last {
                    format!("{w}:*")
                } else {
                    w.clone()
                }
            })
            .collect();
        let joined = terms.join(if mode == Match::All { " & " } else { " | " });
        let query = q.bind(joined);
        let scope = readable(&mut q, readers);
        q.sql = format!(
            "SELECT a.id AS id, ts_headline('simple', a.body, to_tsquery('simple', {query}), \
             'StartSel=\u{e000}, StopSel=\u{e001}, MaxWords=24, MinWords=8') AS snippet \
             FROM articles a WHERE a.tsv @@ to_tsquery('simple', {query}) AND {scope} \
             ORDER BY ts_rank(a.tsv, to_tsquery('simple', {query})) DESC, a.id"
        );
    } else {
        let terms: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if mode == Match::Any && i == last {
                    format!("\"{w}\"*")
                } else {
                    format!("\"{w}\"")
                }
            })
            .collect();
        let joined = terms.join(if mode == Match::All { " " } else { " OR " });
        let query = q.bind(joined);
        let scope = readable(&mut q, readers);
        // Title matches weigh five times body matches.
        q.sql = format!(
            "SELECT a.id AS id, snippet(articles_fts, 1, '\u{e000}', '\u{e001}', '…', 16) AS snippet \
             FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid \
             WHERE articles_fts MATCH {query} AND {scope} \
             ORDER BY bm25(articles_fts, 5.0, 1.0), a.id"
        );
    }
    let rows: Vec<HitRow> = q.load(conn, limit)?;
    let mut found: std::collections::HashMap<ArticleId, Article> =
        find_many(conn, &ids(rows.iter().map(|r| r.id.clone()))?)?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
    // By id: an article deleted between the two reads drops out with its
    // own snippet, never shifting the others' onto the wrong article.
    rows.into_iter()
        .map(|row| {
            let id: ArticleId = row.id.parse().map_err(|_| corrupt("article id"))?;
            Ok(found.remove(&id).map(|article| ArticleHit {
                article,
                snippet: row.snippet,
            }))
        })
        .filter_map(Result::transpose)
        .collect()
}

/// The articles one contact was shown while writing a subject, and what
/// they did next.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = kb_suggestions)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Suggestion {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: SuggestionId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub contact_id: ContactId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub account_id: AccountId,
    pub query: String,
    #[diesel(deserialize_as = JsonText<Vec<ArticleId>>, serialize_as = JsonText<Vec<ArticleId>>)]
    pub article_ids: Vec<ArticleId>,
    /// `shown`, `deflected` or `continued`.
    pub outcome: String,
    #[diesel(deserialize_as = OptText<ArticleId>, serialize_as = OptText<ArticleId>)]
    pub helpful_article_id: Option<ArticleId>,
    #[diesel(deserialize_as = OptText<CaseId>, serialize_as = OptText<CaseId>)]
    pub case_id: Option<CaseId>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub decided_at: Option<DateTime<Utc>>,
}

pub fn insert_suggestion(conn: &mut DbConnection, s: &Suggestion) -> Result<(), StoreError> {
    diesel::insert_into(kb_suggestions::table)
        .values(s.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_suggestion(
    conn: &mut DbConnection,
    id: SuggestionId,
) -> Result<Option<Suggestion>, StoreError> {
    Ok(kb_suggestions::table
        .find(id.to_string())
        .select(Suggestion::as_select())
        .first(conn)
        .optional()?)
}

/// The contact's newest undecided suggestion made since `since`: the one a
/// subject still being typed refines.
pub fn open_suggestion_of(
    conn: &mut DbConnection,
    contact: ContactId,
    since: NaiveDateTime,
) -> Result<Option<Suggestion>, StoreError> {
    Ok(kb_suggestions::table
        .filter(kb_suggestions::contact_id.eq(contact.to_string()))
        .filter(kb_suggestions::outcome.eq("shown"))
        .filter(kb_suggestions::created_at.ge(since))
        .order(kb_suggestions::created_at.desc())
        .select(Suggestion::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces what an undecided suggestion showed (the subject changed).
pub fn refine_suggestion(conn: &mut DbConnection, s: &Suggestion) -> Result<(), StoreError> {
    diesel::update(
        kb_suggestions::table
            .find(s.id.to_string())
            .filter(kb_suggestions::outcome.eq("shown")),
    )
    .set((
        kb_suggestions::query.eq(&s.query),
        kb_suggestions::article_ids.eq(JsonText::from(s.article_ids.clone())),
    ))
    .execute(conn)?;
    Ok(())
}

/// Records what the contact did after seeing the suggestion; only a
/// suggestion still `shown` changes. Returns whether it did.
pub fn decide_suggestion(
    conn: &mut DbConnection,
    id: SuggestionId,
    outcome: &str,
    helpful: Option<ArticleId>,
    case: Option<CaseId>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        kb_suggestions::table
            .find(id.to_string())
            .filter(kb_suggestions::outcome.eq("shown")),
    )
    .set((
        kb_suggestions::outcome.eq(outcome),
        kb_suggestions::helpful_article_id.eq(helpful.map(|a| a.to_string())),
        kb_suggestions::case_id.eq(case.map(|c| c.to_string())),
        kb_suggestions::decided_at.eq(crate::time::now_micros()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The suggestion a case was opened after, if any.
pub fn suggestion_of_case(
    conn: &mut DbConnection,
    case: CaseId,
) -> Result<Option<Suggestion>, StoreError> {
    Ok(kb_suggestions::table
        .filter(kb_suggestions::case_id.eq(case.to_string()))
        .select(Suggestion::as_select())
        .first(conn)
        .optional()?)
}
