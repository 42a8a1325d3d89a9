//! Cases, their participants and their thread entries.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use rapport_domain::{
    AccountId, CaseId, CasePriority, CaseStatus, Channel, ContactId, EntryId, EntryKind, StaffId,
    TeamId,
};

use crate::cached::{Bind, Fixed};
use crate::column::{JsonText, OptText, OptUtcStamp, UtcStamp};
use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{case_entries, case_participants, cases};
use crate::time::now_micros;

/// A case as stored. The use cases change it and write it back whole.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = cases, treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Case {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: CaseId,
    pub number: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub account_id: AccountId,
    #[diesel(deserialize_as = OptText<ContactId>, serialize_as = OptText<ContactId>)]
    pub opened_by_contact_id: Option<ContactId>,
    #[diesel(deserialize_as = OptText<StaffId>, serialize_as = OptText<StaffId>)]
    pub opened_by_staff_id: Option<StaffId>,
    pub subject: String,
    #[diesel(deserialize_as = OptText<TeamId>, serialize_as = OptText<TeamId>)]
    pub team_id: Option<TeamId>,
    #[diesel(deserialize_as = OptText<StaffId>, serialize_as = OptText<StaffId>)]
    pub assignee_id: Option<StaffId>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: CaseStatus,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub priority: CasePriority,
    pub category: Option<String>,
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub tags: Vec<String>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub channel: Channel,
    #[diesel(deserialize_as = OptText<CaseId>, serialize_as = OptText<CaseId>)]
    pub merged_into_id: Option<CaseId>,
    #[diesel(deserialize_as = OptText<CaseId>, serialize_as = OptText<CaseId>)]
    pub follows_case_id: Option<CaseId>,
    pub reopen_count: i32,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub first_response_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub closed_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub last_activity_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub updated_at: DateTime<Utc>,
    /// Why the case went to its team and assignee (for staff).
    pub routing_note: Option<String>,
}

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("cases {id}: {what}"))
}

/// The next human case number. The counter row stays locked until the
/// transaction ends, so numbers are unique and never skipped by a
/// rollback of another case.
pub fn next_number(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let next = Fixed::new(
        "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value",
        &[Bind::Text("case_number")],
    )
    .returning::<BigInt>();
    Ok(on_backend!(conn, |c| next.get_result(c)?))
}

/// Inserts a new case. Until the write commits no one else sees it, so the
/// write holds its append lock.
pub fn insert(conn: &mut DbConnection, case: &Case) -> Result<(), StoreError> {
    diesel::insert_into(cases::table)
        .values(case.clone())
        .execute(conn)?;
    crate::write_scope::note_append_lock(case.id.to_string());
    Ok(())
}

/// Writes every mutable field of `case` back.
pub fn save(conn: &mut DbConnection, case: &Case) -> Result<(), StoreError> {
    let mut row = case.clone();
    row.updated_at = now_micros().and_utc();
    diesel::update(cases::table.find(case.id.to_string()))
        .set(row)
        .execute(conn)?;
    Ok(())
}

/// Writes `after` back, knowing it was `before`: when only its activity
/// and first-response times moved (a message on an open case, the common
/// write), only those are set, so none of the case's indexes is rewritten;
/// when a message also moved its status (the first answer, a client's
/// reply to a waiting case), only the status's indexes are. Both are
/// statements prepared once per connection; the full row's update is not.
pub fn save_from(conn: &mut DbConnection, before: &Case, after: &Case) -> Result<(), StoreError> {
    if after == before {
        // Nothing moved (a case opened with its first entry): no write.
        return Ok(());
    }
    let untouched = Case {
        last_activity_at: before.last_activity_at,
        first_response_at: before.first_response_at,
        updated_at: before.updated_at,
        status: before.status,
        ..after.clone()
    } == *before;
    if !untouched {
        return save(conn, after);
    }
    let id = after.id.to_string();
    let last_activity = Bind::Stamp(after.last_activity_at.naive_utc());
    let first_response = Bind::OptStamp(after.first_response_at.map(|t| t.naive_utc()));
    let updated = Bind::Stamp(now_micros());
    if after.status == before.status {
        let binds = [last_activity, first_response, updated, Bind::Text(&id)];
        let times = Fixed::new(
            "UPDATE cases SET last_activity_at = ?, first_response_at = ?, updated_at = ? WHERE id = ?",
            &binds,
        );
        on_backend!(conn, |c| times.execute(c)?);
    } else {
        let binds = [
            Bind::Text(after.status.as_str()),
            last_activity,
            first_response,
            updated,
            Bind::Text(&id),
        ];
        let moved = Fixed::new(
            "UPDATE cases SET status = ?, last_activity_at = ?, first_response_at = ?, updated_at = ? WHERE id = ?",
            &binds,
        );
        on_backend!(conn, |c| moved.execute(c)?);
    }
    Ok(())
}

/// How a person names a case: by its number (`1042`) or its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseRef {
    Number(i64),
    Id(CaseId),
}

impl CaseRef {
    /// `None` when the text is neither a number nor an id.
    pub fn parse(text: &str) -> Option<CaseRef> {
        match text.parse::<i64>() {
            Ok(n) => Some(CaseRef::Number(n)),
            Err(_) => text.parse().ok().map(CaseRef::Id),
        }
    }
}

/// The case a reference names.
pub fn find_by_ref(conn: &mut DbConnection, r: CaseRef) -> Result<Option<Case>, StoreError> {
    match r {
        CaseRef::Number(n) => find_by_number(conn, n),
        CaseRef::Id(id) => find(conn, id),
    }
}

pub fn find_by_number(conn: &mut DbConnection, number: i64) -> Result<Option<Case>, StoreError> {
    Ok(cases::table
        .filter(cases::number.eq(number))
        .select(Case::as_select())
        .first(conn)
        .optional()?)
}

pub fn find(conn: &mut DbConnection, id: CaseId) -> Result<Option<Case>, StoreError> {
    Ok(cases::table
        .find(id.to_string())
        .select(Case::as_select())
        .first(conn)
        .optional()?)
}

/// How a contact's reading of their company's cases is narrowed: the
/// cases they opened or take part in, and those of these categories. Kept
/// as a condition for the database rather than a list of case ids, which
/// would grow with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Involving {
    pub contact: ContactId,
    pub or_categories: Vec<String>,
}

/// Which cases a list returns.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Restrict to these accounts (what the caller may read).
    pub accounts: Option<Vec<AccountId>>,
    /// Restrict to the accounts these teams serve (an agent's view),
    /// resolved by the database rather than loaded first.
    pub served_by: Option<Vec<TeamId>>,
    /// Restrict to the cases a contact opened, takes part in or sees by
    /// category.
    pub involving: Option<Involving>,
    pub account: Option<AccountId>,
    pub status: Option<CaseStatus>,
    pub assignee: Option<StaffId>,
    pub team: Option<TeamId>,
    /// Cases owned by any of these teams.
    pub teams: Option<Vec<TeamId>>,
    /// Only cases nobody is assigned to.
    pub unassigned: bool,
    /// Only cases still being worked (not resolved, not closed).
    pub open_only: bool,
    /// Only cases with a running service-level clock past its target.
    pub breached: bool,
    /// Only cases with this label.
    pub tag: Option<String>,
}

type Backend = <DbConnection as diesel::Connection>::Backend;

/// `query` narrowed to what `f` selects (merged cases never).
fn filtered<'a, ST: 'a>(
    mut q: cases::BoxedQuery<'a, Backend, ST>,
    f: &CaseFilter,
) -> cases::BoxedQuery<'a, Backend, ST> {
    q = q.filter(cases::merged_into_id.is_null());
    if let Some(accounts) = &f.accounts {
        q = q.filter(
            cases::account_id.eq_any(accounts.iter().map(|a| a.to_string()).collect::<Vec<_>>()),
        );
    }
    if let Some(teams) = &f.served_by {
        let served = crate::schema::accounts::table
            .filter(
                crate::schema::accounts::team_id
                    .eq_any(teams.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
            )
            .select(crate::schema::accounts::id);
        q = q.filter(cases::account_id.eq_any(served));
    }
    if let Some(i) = &f.involving {
        q = q.filter(
            cases::opened_by_contact_id
                .eq(i.contact.to_string())
                .or(cases::id.eq_any(
                    case_participants::table
                        .filter(case_participants::contact_id.eq(i.contact.to_string()))
                        .select(case_participants::case_id),
                ))
                .or(cases::category.eq_any(i.or_categories.clone())),
        );
    }
    if let Some(a) = f.account {
        q = q.filter(cases::account_id.eq(a.to_string()));
    }
    if let Some(s) = f.status {
        q = q.filter(cases::status.eq(s.as_str()));
    }
    if let Some(a) = f.assignee {
        q = q.filter(cases::assignee_id.eq(a.to_string()));
    }
    if let Some(t) = f.team {
        q = q.filter(cases::team_id.eq(t.to_string()));
    }
    if let Some(teams) = &f.teams {
        q = q
            .filter(cases::team_id.eq_any(teams.iter().map(|t| t.to_string()).collect::<Vec<_>>()));
    }
    if f.unassigned {
        q = q.filter(cases::assignee_id.is_null());
    }
    if f.open_only {
        q = q.filter(cases::status.ne_all(vec!["resolved", "closed"]));
    }
    if f.breached {
        use crate::schema::sla_clocks;
        let late = sla_clocks::table
            .filter(sla_clocks::stopped_at.is_null())
            .filter(sla_clocks::paused_at.is_null())
            .filter(
                sla_clocks::breached_at
                    .is_not_null()
                    .or(sla_clocks::due_at.lt(now_micros())),
            )
            .select(sla_clocks::case_id);
        q = q.filter(cases::id.eq_any(late));
    }
    if let Some(tag) = &f.tag {
        // Labels are stored as a JSON array of plain lowercase words.
        let quoted = format!("%{}%", serde_json::Value::String(tag.clone()));
        q = q.filter(cases::tags.like(quoted));
    }
    q
}

/// A page of cases, newest first, before `before`.
pub fn list(
    conn: &mut DbConnection,
    f: &CaseFilter,
    before: Option<CaseId>,
    limit: i64,
) -> Result<Vec<Case>, StoreError> {
    let mut q = filtered(cases::table.select(Case::as_select()).into_boxed(), f);
    if let Some(b) = before {
        q = q.filter(cases::id.lt(b.to_string()));
    }
    Ok(q.order(cases::id.desc()).limit(limit).load::<Case>(conn)?)
}

/// How many cases `f` selects.
pub fn count(conn: &mut DbConnection, f: &CaseFilter) -> Result<i64, StoreError> {
    Ok(filtered(
        cases::table.select(diesel::dsl::count_star()).into_boxed(),
        f,
    )
    .first(conn)?)
}

pub fn participants(conn: &mut DbConnection, case: CaseId) -> Result<Vec<ContactId>, StoreError> {
    case_participants::table
        .filter(case_participants::case_id.eq(case.to_string()))
        .select(case_participants::contact_id)
        .load::<String>(conn)?
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| corrupt(&case.to_string(), "participant"))
        })
        .collect()
}

pub fn remove_participant(
    conn: &mut DbConnection,
    case: CaseId,
    contact: ContactId,
) -> Result<(), StoreError> {
    diesel::delete(case_participants::table.find((case.to_string(), contact.to_string())))
        .execute(conn)?;
    Ok(())
}

pub fn add_participant(
    conn: &mut DbConnection,
    case: CaseId,
    contact: ContactId,
) -> Result<(), StoreError> {
    let exists = case_participants::table
        .find((case.to_string(), contact.to_string()))
        .select(case_participants::case_id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !exists {
        diesel::insert_into(case_participants::table)
            .values((
                case_participants::case_id.eq(case.to_string()),
                case_participants::contact_id.eq(contact.to_string()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// How many open cases each of `staff` has assigned, in one query (those
/// with none are left out).
pub fn open_cases_by(
    conn: &mut DbConnection,
    staff: &[StaffId],
) -> Result<Vec<(StaffId, i64)>, StoreError> {
    if staff.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Option<String>, i64)> = cases::table
        .filter(cases::assignee_id.eq_any(staff.iter().map(ToString::to_string)))
        .filter(cases::status.ne_all(vec!["resolved", "closed"]))
        .group_by(cases::assignee_id)
        .select((cases::assignee_id, diesel::dsl::count_star()))
        .load(conn)?;
    rows.into_iter()
        .filter_map(|(id, n)| id.map(|id| Ok((id.parse()?, n))))
        .collect()
}

/// Who the account's latest cases of `category` were assigned to, newest
/// first (at most `limit`; unassigned ones count as `None`).
pub fn recent_assignees(
    conn: &mut DbConnection,
    account: AccountId,
    category: &str,
    limit: i64,
) -> Result<Vec<Option<StaffId>>, StoreError> {
    cases::table
        .filter(cases::account_id.eq(account.to_string()))
        .filter(cases::category.eq(category))
        .filter(cases::merged_into_id.is_null())
        .order(cases::number.desc())
        .limit(limit)
        .select(cases::assignee_id)
        .load::<Option<String>>(conn)?
        .into_iter()
        .map(|a| {
            a.map(|id| {
                id.parse()
                    .map_err(|_| StoreError::Corrupt(format!("cases assignee_id {id:?}")))
            })
            .transpose()
        })
        .collect()
}

// ---------- thread entries ----------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = case_entries)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct EntryRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: EntryId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    case_id: CaseId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    account_id: AccountId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    kind: EntryKind,
    author_kind: String,
    author_id: Option<String>,
    body: String,
    client_message_id: Option<String>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
    version: i32,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    edited_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    redacted_at: Option<DateTime<Utc>>,
    seq: i64,
}

/// Who wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Author {
    Staff(StaffId),
    Contact(ContactId),
    System,
}

/// A thread entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub case_id: CaseId,
    pub account_id: AccountId,
    pub kind: EntryKind,
    pub author: Author,
    pub body: String,
    pub client_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// 1 until edited; every version is kept (`entry_versions`).
    pub version: i32,
    pub edited_at: Option<DateTime<Utc>>,
    /// Set when an admin removed the content; the body is then empty.
    pub redacted_at: Option<DateTime<Utc>>,
    /// The entry's place in its thread: 1, 2, 3… in commit order, no gaps.
    pub seq: i64,
}

impl TryFrom<EntryRow> for Entry {
    type Error = StoreError;

    /// The author is two columns (kind and id), so it is the one field
    /// assembled here.
    fn try_from(r: EntryRow) -> Result<Entry, StoreError> {
        let bad = || StoreError::Corrupt(format!("case_entries {}: author", r.id));
        let author = match (r.author_kind.as_str(), &r.author_id) {
            ("staff", Some(id)) => Author::Staff(id.parse().map_err(|_| bad())?),
            ("contact", Some(id)) => Author::Contact(id.parse().map_err(|_| bad())?),
            ("system", _) => Author::System,
            _ => return Err(bad()),
        };
        Ok(Entry {
            id: r.id,
            case_id: r.case_id,
            account_id: r.account_id,
            kind: r.kind,
            author,
            body: r.body,
            client_message_id: r.client_message_id,
            created_at: r.created_at,
            version: r.version,
            edited_at: r.edited_at,
            redacted_at: r.redacted_at,
            seq: r.seq,
        })
    }
}

/// The entry this author already posted with this client message id.
pub fn find_by_client_message(
    conn: &mut DbConnection,
    author: &Author,
    client_message_id: &str,
) -> Result<Option<Entry>, StoreError> {
    let author_id = match author {
        Author::Staff(id) => id.to_string(),
        Author::Contact(id) => id.to_string(),
        Author::System => return Ok(None),
    };
    case_entries::table
        .filter(case_entries::author_id.eq(author_id))
        .filter(case_entries::client_message_id.eq(client_message_id))
        .select(EntryRow::as_select())
        .first(conn)
        .optional()?
        .map(Entry::try_from)
        .transpose()
}

/// Holds the case's row lock until the transaction ends, so appends to one
/// thread commit one after another (SQLite's write transactions already do).
/// A write that holds it already (it locked or inserted the case) does not
/// ask the database again.
pub fn lock_for_append(conn: &mut DbConnection, id: CaseId) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        let id = id.to_string();
        if crate::write_scope::holds_append_lock(&id) {
            return Ok(());
        }
        let locked = Fixed::new(
            "SELECT id FROM cases WHERE id = ? FOR UPDATE",
            &[Bind::Text(&id)],
        )
        .execute(pg)?;
        if locked == 1 {
            crate::write_scope::note_append_lock(id);
        }
    }
    Ok(())
}

/// The case, with its append lock held until the transaction ends (see
/// [`lock_for_append`]): on PostgreSQL read and locked in one statement.
pub fn find_for_append(conn: &mut DbConnection, id: CaseId) -> Result<Option<Case>, StoreError> {
    let DbConnection::Postgres(pg) = conn else {
        return find(conn, id);
    };
    let key = id.to_string();
    if crate::write_scope::holds_append_lock(&key) {
        return find(conn, id);
    }
    let case = cases::table
        .find(&key)
        .select(Case::as_select())
        .for_update()
        .first(pg)
        .optional()?;
    if case.is_some() {
        crate::write_scope::note_append_lock(key);
    }
    Ok(case)
}

/// The next entry's id and place in the thread. UUIDv7 ids follow the
/// clock, and clocks of two nodes may disagree by a little: under the
/// append lock the id is kept greater than every id already in the thread,
/// so id order, `seq` order and commit order are one order.
fn next_entry_position(
    conn: &mut DbConnection,
    case: CaseId,
) -> Result<(EntryId, i64), StoreError> {
    let fresh = EntryId::new();
    let (last, seq): (Option<String>, Option<i64>) = case_entries::table
        .filter(case_entries::case_id.eq(case.to_string()))
        .select((
            diesel::dsl::max(case_entries::id),
            diesel::dsl::max(case_entries::seq),
        ))
        .first(conn)?;
    let next_seq = seq.unwrap_or(0) + 1;
    let Some(last) = last else {
        return Ok((fresh, next_seq));
    };
    let last: uuid::Uuid = last
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("case_entries of {case}: id {last}")))?;
    if fresh.as_uuid() > last {
        Ok((fresh, next_seq))
    } else {
        Ok((
            EntryId::from(uuid::Uuid::from_u128(last.as_u128() + 1)),
            next_seq,
        ))
    }
}

/// The place of the thread's newest entry (0 for an empty thread), notes
/// included.
pub fn last_seq(conn: &mut DbConnection, case: CaseId) -> Result<i64, StoreError> {
    let seq: Option<i64> = case_entries::table
        .filter(case_entries::case_id.eq(case.to_string()))
        .select(diesel::dsl::max(case_entries::seq))
        .first(conn)?;
    Ok(seq.unwrap_or(0))
}

/// Appends an entry to the thread. Takes the case's append lock unless the
/// write holds it already: two appends must never read the same last
/// position.
pub fn insert_entry(
    conn: &mut DbConnection,
    case: &Case,
    kind: EntryKind,
    author: Author,
    body: &str,
    client_message_id: Option<&str>,
) -> Result<Entry, StoreError> {
    lock_for_append(conn, case.id)?;
    let (id, seq) = next_entry_position(conn, case.id)?;
    let entry = NewEntry {
        kind,
        author,
        body,
        client_message_id,
    };
    insert_entry_row(conn, case, (id, seq, now_micros().and_utc()), entry)
}

/// What an entry says and who says it.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub kind: EntryKind,
    pub author: Author,
    pub body: &'a str,
    pub client_message_id: Option<&'a str>,
}

/// The first entry of a case this same write has just inserted
/// ([`insert`]): the first place in its thread, at the case's creation
/// time, so the case's activity time needs no update. Nothing else can
/// have entered the thread of a case not yet committed.
pub fn insert_first_entry(
    conn: &mut DbConnection,
    case: &Case,
    entry: NewEntry<'_>,
) -> Result<Entry, StoreError> {
    let place = (EntryId::new(), 1, case.created_at.trunc_subsecs(6));
    insert_entry_row(conn, case, place, entry)
}

fn insert_entry_row(
    conn: &mut DbConnection,
    case: &Case,
    (id, seq, created_at): (EntryId, i64, DateTime<Utc>),
    entry: NewEntry<'_>,
) -> Result<Entry, StoreError> {
    let (author_kind, author_id) = match entry.author {
        Author::Staff(id) => ("staff", Some(id.to_string())),
        Author::Contact(id) => ("contact", Some(id.to_string())),
        Author::System => ("system", None),
    };
    let row = EntryRow {
        id,
        case_id: case.id,
        account_id: case.account_id,
        kind: entry.kind,
        author_kind: author_kind.to_owned(),
        author_id,
        body: entry.body.to_owned(),
        client_message_id: entry.client_message_id.map(str::to_owned),
        created_at,
        version: 1,
        edited_at: None,
        redacted_at: None,
        seq,
    };
    diesel::insert_into(case_entries::table)
        .values(row.clone())
        .execute(conn)?;
    row.try_into()
}

/// Which end of a thread to read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadEnd {
    /// Oldest first, after an entry (or from the start).
    After(Option<EntryId>),
    /// Newest first.
    Latest,
}

/// A case's entries from one end; notes only when asked for.
pub fn thread(
    conn: &mut DbConnection,
    case: CaseId,
    include_notes: bool,
    from: ThreadEnd,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    let mut q = case_entries::table
        .filter(case_entries::case_id.eq(case.to_string()))
        .select(EntryRow::as_select())
        .into_boxed();
    if !include_notes {
        q = q.filter(case_entries::kind.ne(EntryKind::Note.as_str()));
    }
    q = match from {
        ThreadEnd::After(after) => {
            if let Some(a) = after {
                q = q.filter(case_entries::id.gt(a.to_string()));
            }
            q.order(case_entries::id.asc())
        }
        ThreadEnd::Latest => q.order(case_entries::id.desc()),
    };
    q.limit(limit)
        .load::<EntryRow>(conn)?
        .into_iter()
        .map(Entry::try_from)
        .collect()
}

/// The entry just before `entry` in its case's thread, if any.
pub fn entry_before(
    conn: &mut DbConnection,
    case: CaseId,
    entry: EntryId,
) -> Result<Option<EntryId>, StoreError> {
    let id: Option<String> = case_entries::table
        .filter(case_entries::case_id.eq(case.to_string()))
        .filter(case_entries::id.lt(entry.to_string()))
        .select(diesel::dsl::max(case_entries::id))
        .first(conn)?;
    id.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt(format!("case_entries of {case}: id {s}")))
    })
    .transpose()
}

/// A case's thread in order, after `after`; notes only when asked for.
pub fn entries(
    conn: &mut DbConnection,
    case: CaseId,
    include_notes: bool,
    after: Option<EntryId>,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    thread(conn, case, include_notes, ThreadEnd::After(after), limit)
}

/// An account's history across all its cases, newest first, before
/// `before`; notes only when asked for; optionally limited to some cases.
pub fn timeline(
    conn: &mut DbConnection,
    account: AccountId,
    include_notes: bool,
    only: Option<&Involving>,
    before: Option<EntryId>,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    let mut q = case_entries::table
        .filter(case_entries::account_id.eq(account.to_string()))
        .select(EntryRow::as_select())
        .into_boxed();
    if !include_notes {
        q = q.filter(case_entries::kind.ne(EntryKind::Note.as_str()));
    }
    if let Some(i) = only {
        let theirs = cases::table
            .filter(
                cases::opened_by_contact_id
                    .eq(i.contact.to_string())
                    .or(cases::id.eq_any(
                        case_participants::table
                            .filter(case_participants::contact_id.eq(i.contact.to_string()))
                            .select(case_participants::case_id),
                    ))
                    .or(cases::category.eq_any(i.or_categories.clone())),
            )
            .select(cases::id);
        q = q.filter(case_entries::case_id.eq_any(theirs));
    }
    if let Some(b) = before {
        q = q.filter(case_entries::id.lt(b.to_string()));
    }
    q.order(case_entries::id.desc())
        .limit(limit)
        .load::<EntryRow>(conn)?
        .into_iter()
        .map(Entry::try_from)
        .collect()
}

/// Moves every entry of `from` into `into` (merge), after `into`'s newest
/// place in the thread, keeping their order; returns how many. The caller
/// holds both cases' append locks.
pub fn move_entries(
    conn: &mut DbConnection,
    from: CaseId,
    into: CaseId,
) -> Result<usize, StoreError> {
    let base = last_seq(conn, into)?;
    Ok(
        diesel::update(case_entries::table.filter(case_entries::case_id.eq(from.to_string())))
            .set((
                case_entries::case_id.eq(into.to_string()),
                case_entries::seq.eq(case_entries::seq + base),
            ))
            .execute(conn)?,
    )
}

/// The staff member who last wrote in any case of the account: the
/// familiar face a new case goes to.
pub fn last_staff_author(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Option<StaffId>, StoreError> {
    case_entries::table
        .filter(case_entries::account_id.eq(account.to_string()))
        .filter(case_entries::author_kind.eq("staff"))
        .filter(case_entries::kind.ne(EntryKind::Event.as_str()))
        .order(case_entries::id.desc())
        .select(case_entries::author_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten()
        .map(|id| {
            id.parse()
                .map_err(|_| StoreError::Corrupt("case_entries author".into()))
        })
        .transpose()
}

/// The ids of the cases of `accounts` a contact opened or takes part in,
/// or whose category is one of `or_categories`.
pub fn cases_involving(
    conn: &mut DbConnection,
    accounts: &[AccountId],
    i: &Involving,
) -> Result<Vec<CaseId>, StoreError> {
    cases::table
        .filter(
            cases::account_id.eq_any(accounts.iter().map(ToString::to_string).collect::<Vec<_>>()),
        )
        .filter(
            cases::opened_by_contact_id
                .eq(i.contact.to_string())
                .or(cases::id.eq_any(
                    case_participants::table
                        .filter(case_participants::contact_id.eq(i.contact.to_string()))
                        .select(case_participants::case_id),
                ))
                .or(cases::category.eq_any(i.or_categories.clone())),
        )
        .select(cases::id)
        .load::<String>(conn)?
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| StoreError::Corrupt("cases id".into()))
        })
        .collect()
}

/// The case each of `ids` belongs to now (an entry moves with a merge);
/// ids of no entry are left out.
pub fn entry_cases(
    conn: &mut DbConnection,
    ids: &[EntryId],
) -> Result<Vec<(EntryId, CaseId)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String)> = case_entries::table
        .filter(case_entries::id.eq_any(ids.iter().map(ToString::to_string)))
        .select((case_entries::id, case_entries::case_id))
        .load(conn)?;
    rows.into_iter()
        .map(|(entry, case)| match (entry.parse(), case.parse()) {
            (Ok(e), Ok(c)) => Ok((e, c)),
            _ => Err(StoreError::Corrupt(format!(
                "case_entries: entry {entry} of case {case}"
            ))),
        })
        .collect()
}

pub fn find_entry(conn: &mut DbConnection, id: EntryId) -> Result<Option<Entry>, StoreError> {
    case_entries::table
        .find(id.to_string())
        .select(EntryRow::as_select())
        .first(conn)
        .optional()?
        .map(Entry::try_from)
        .transpose()
}
