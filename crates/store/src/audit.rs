//! The audit log in the database: appending within the caller's
//! transaction, and reading in export order page by page.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_audit::{
    Action, Actor, ActorKind, AuditEvent, ChainHead, EventHash, NewEvent, StreamName, Subject,
};
use serde_json::{Map, Value};

use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{audit_events, audit_streams};

#[derive(Debug, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = audit_streams)]
struct NewStreamRow<'a> {
    stream: &'a str,
    account_id: Option<&'a str>,
    head_seq: i64,
    head_hash: String,
    head_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_streams)]
struct HeadRow {
    head_seq: i64,
    head_hash: String,
    head_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = audit_events)]
struct EventRow {
    stream: String,
    seq: i64,
    id: String,
    at: NaiveDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    action: String,
    subject_kind: String,
    subject_id: Option<String>,
    data: String,
    prev: String,
    hash: String,
}

/// Records `event` at the end of its stream.
///
/// Call it inside the transaction that makes the change it records
/// ([`crate::Store::write`]), so both commit or neither does. Concurrent
/// appends to one stream queue on the stream's head row (PostgreSQL row
/// lock; SQLite's single writer), so the chain never forks or skips a seq.
/// Inside a `Store::write` the event is appended when the write's own
/// work is done, just before it commits: the head stays locked for those
/// last statements and the commit only, not for the whole write, so
/// concurrent writes to one account's streams overlap. A savepoint
/// ([`crate::savepoint`]) that rolls back drops the events recorded in it.
/// `account` links a new stream to the account whose export includes it.
pub fn append(
    conn: &mut DbConnection,
    event: NewEvent,
    account: Option<&str>,
) -> Result<(), StoreError> {
    let Some((event, account)) = crate::write_scope::defer_audit(event, account) else {
        return Ok(());
    };
    if in_transaction(conn)? {
        append_locked(conn, event, account.as_deref()).map(|_| ())
    } else {
        conn.transaction(|conn| append_locked(conn, event, account.as_deref()))
            .map(|_| ())
    }
}

/// Appends the events the current `Store::write` recorded, in order. An
/// event that follows another of the same stream chains onto the head that
/// one left: this transaction holds the head and just wrote it, so it is
/// not read again (opening a case records two events on its stream).
pub(crate) fn append_recorded(conn: &mut DbConnection) -> Result<(), StoreError> {
    let mut last: Option<AuditEvent> = None;
    for (event, account) in crate::write_scope::take_audit() {
        let head = match &last {
            Some(previous) if previous.stream == event.stream => previous.head(),
            _ => lock_head(conn, &event.stream, account.as_deref())?,
        };
        last = Some(insert_sealed(conn, event, &head)?);
    }
    Ok(())
}

/// The head row lock and the insert; the database advances the head itself
/// (trigger), so two round trips make an append.
fn append_locked(
    conn: &mut DbConnection,
    event: NewEvent,
    account: Option<&str>,
) -> Result<AuditEvent, StoreError> {
    let head = lock_head(conn, &event.stream, account)?;
    insert_sealed(conn, event, &head)
}

fn insert_sealed(
    conn: &mut DbConnection,
    event: NewEvent,
    head: &ChainHead,
) -> Result<AuditEvent, StoreError> {
    let sealed = rapport_audit::seal(event, head, uuid::Uuid::now_v7().to_string(), Utc::now())?;
    diesel::insert_into(audit_events::table)
        .values(to_row(&sealed)?)
        .execute(conn)?;
    Ok(sealed)
}

fn in_transaction(conn: &mut DbConnection) -> Result<bool, StoreError> {
    use diesel::connection::TransactionManager;
    let status =
        <DbConnection as diesel::Connection>::TransactionManager::transaction_manager_status_mut(
            conn,
        );
    Ok(status.transaction_depth()?.is_some())
}

/// The stream's head, locked until the transaction ends (PostgreSQL row
/// lock; SQLite's write transaction already excludes other writers).
/// Creates the stream on its first event.
fn lock_head(
    conn: &mut DbConnection,
    stream: &StreamName,
    account: Option<&str>,
) -> Result<ChainHead, StoreError> {
    if let Some(row) = select_head_for_update(conn, stream.as_str())? {
        return row.try_into();
    }
    let fresh = NewStreamRow {
        stream: stream.as_str(),
        account_id: account,
        head_seq: 0,
        head_hash: EventHash::GENESIS.to_hex(),
        head_at: None,
    };
    // Two writers may create the same stream at once: the loser's insert
    // waits for the winner and then does nothing.
    let created = on_backend!(conn, |c| diesel::insert_into(audit_streams::table)
        .values(&fresh)
        .on_conflict_do_nothing()
        .execute(c)?);
    if created == 1 {
        // Ours, and held by this transaction until it ends: the head is
        // the one just written.
        return HeadRow {
            head_seq: fresh.head_seq,
            head_hash: fresh.head_hash,
            head_at: None,
        }
        .try_into();
    }
    select_head_for_update(conn, stream.as_str())?
        .ok_or(StoreError::NotFound("audit stream"))?
        .try_into()
}

/// The one place where the backends differ: PostgreSQL needs an explicit
/// row lock, SQLite cannot express one and needs none.
fn select_head_for_update(
    conn: &mut DbConnection,
    key: &str,
) -> Result<Option<HeadRow>, StoreError> {
    let query = || audit_streams::table.find(key.to_owned());
    Ok(match conn {
        DbConnection::Postgres(pg) => query()
            .select(HeadRow::as_select())
            .for_update()
            .first(pg)
            .optional()?,
        DbConnection::Sqlite(sqlite) => query()
            .select(HeadRow::as_select())
            .first(sqlite)
            .optional()?,
    })
}

impl TryFrom<HeadRow> for ChainHead {
    type Error = StoreError;

    fn try_from(row: HeadRow) -> Result<ChainHead, StoreError> {
        Ok(ChainHead {
            seq: u64::try_from(row.head_seq).map_err(|_| corrupt("negative head_seq"))?,
            hash: row
                .head_hash
                .parse()
                .map_err(|e| corrupt(&format!("head_hash: {e}")))?,
            at: row.head_at.map(|t| t.and_utc()),
        })
    }
}

/// The head of a stream as committed; [`ChainHead::EMPTY`] if it has no event.
pub fn head(conn: &mut DbConnection, stream: &StreamName) -> Result<ChainHead, StoreError> {
    let row = audit_streams::table
        .find(stream.as_str())
        .select(HeadRow::as_select())
        .first(conn)
        .optional()?;
    row.map_or(Ok(ChainHead::EMPTY), ChainHead::try_from)
}

/// Which streams an export covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSelection {
    All,
    One(StreamName),
    /// The account's own stream and the streams of all its cases.
    Account(String),
}

/// What to export: streams and an optional time window `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    pub streams: StreamSelection,
    pub from: Option<chrono::DateTime<Utc>>,
    pub to: Option<chrono::DateTime<Utc>>,
}

/// Position after the last event read, for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportCursor {
    stream: String,
    seq: i64,
}

/// Up to `limit` events after `cursor`, in export order (stream, then seq).
/// Returns the events and the cursor for the next page (`None` at the end).
pub fn export_page(
    conn: &mut DbConnection,
    query: &ExportQuery,
    cursor: Option<&ExportCursor>,
    limit: i64,
) -> Result<(Vec<AuditEvent>, Option<ExportCursor>), StoreError> {
    // Two index-range reads instead of one `stream > ? OR (stream = ? AND
    // seq > ?)`, which databases cannot serve from the (stream, seq) key
    // and would rescan for every page: first the rest of the current
    // stream, then the streams after it.
    let mut rows: Vec<EventRow> = match cursor {
        Some(c) => filtered(query)
            .filter(audit_events::stream.eq(c.stream.clone()))
            .filter(audit_events::seq.gt(c.seq))
            .order(audit_events::seq.asc())
            .limit(limit)
            .load(conn)?,
        None => Vec::new(),
    };
    let missing = limit - rows.len() as i64;
    if missing > 0 {
        let mut rest = filtered(query);
        if let Some(c) = cursor {
            rest = rest.filter(audit_events::stream.gt(c.stream.clone()));
        }
        rows.extend(
            rest.order((audit_events::stream.asc(), audit_events::seq.asc()))
                .limit(missing)
                .load::<EventRow>(conn)?,
        );
    }
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => Some(ExportCursor {
            stream: last.stream.clone(),
            seq: last.seq,
        }),
        _ => None,
    };
    let events = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((events, next))
}

type Backend = <DbConnection as diesel::Connection>::Backend;
type BoxedEvents<'a> = audit_events::BoxedQuery<
    'a,
    Backend,
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<EventRow, Backend>>,
>;

/// The events an export selects, before paging.
fn filtered(query: &ExportQuery) -> BoxedEvents<'static> {
    let mut q = audit_events::table
        .select(EventRow::as_select())
        .into_boxed();
    match &query.streams {
        StreamSelection::All => {}
        StreamSelection::One(stream) => {
            q = q.filter(audit_events::stream.eq(stream.as_str().to_owned()));
        }
        StreamSelection::Account(account) => {
            let cases = audit_streams::table
                .filter(audit_streams::account_id.eq(account.clone()))
                .select(audit_streams::stream);
            q = q.filter(
                audit_events::stream
                    .eq(StreamName::account(account).as_str().to_owned())
                    .or(audit_events::stream.eq_any(cases)),
            );
        }
    }
    if let Some(from) = query.from {
        q = q.filter(audit_events::at.ge(from.naive_utc()));
    }
    if let Some(to) = query.to {
        q = q.filter(audit_events::at.lt(to.naive_utc()));
    }
    q
}

/// Whether any event matches the selection (an export of nothing is
/// usually a wrong id, which the caller reports as not found).
/// The events of one stream, oldest first, at most `limit`.
pub fn stream_events(
    conn: &mut DbConnection,
    stream: &StreamName,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    audit_events::table
        .filter(audit_events::stream.eq(stream.as_str()))
        .order(audit_events::seq.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(from_row)
        .collect()
}

/// The events with these ids (any order; missing ones left out).
pub fn events_by_id(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<EventRow> = audit_events::table
            .filter(audit_events::id.eq_any(chunk))
            .select(EventRow::as_select())
            .load(conn)?;
        for row in rows {
            out.push(from_row(row)?);
        }
    }
    Ok(out)
}

pub fn stream_exists(conn: &mut DbConnection, stream: &StreamName) -> Result<bool, StoreError> {
    Ok(audit_streams::table
        .find(stream.as_str())
        .select(audit_streams::stream)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

fn to_row(e: &AuditEvent) -> Result<EventRow, StoreError> {
    let data = rapport_audit::canonical::to_canonical_string(&Value::Object(e.data.clone()))
        .map_err(rapport_audit::EventError::from)?;
    Ok(EventRow {
        stream: e.stream.as_str().to_owned(),
        seq: to_i64(e.seq)?,
        id: e.id.clone(),
        at: e.at.naive_utc(),
        actor_kind: e.actor.kind.as_str().to_owned(),
        actor_id: e.actor.id.clone(),
        action: e.action.as_str().to_owned(),
        subject_kind: e.subject.kind.clone(),
        subject_id: e.subject.id.clone(),
        data,
        prev: e.prev.to_hex(),
        hash: e.hash.to_hex(),
    })
}

/// Rebuilds the event exactly as stored. Nothing is recomputed: an event
/// altered in the database keeps its stored hash, so the exported file
/// fails verification instead of hiding the change.
fn from_row(r: EventRow) -> Result<AuditEvent, StoreError> {
    let at = |what: &str, e: &dyn std::fmt::Display| {
        corrupt(&format!("{} seq {}: {what}: {e}", r.stream, r.seq))
    };
    let data: Value = serde_json::from_str(&r.data).map_err(|e| at("data", &e))?;
    let Value::Object(data) = data else {
        return Err(at("data", &"not a JSON object"));
    };
    Ok(AuditEvent {
        stream: StreamName::parse(&r.stream).map_err(|e| at("stream", &e))?,
        seq: u64::try_from(r.seq).map_err(|e| at("seq", &e))?,
        id: r.id.clone(),
        at: r.at.and_utc(),
        actor: Actor {
            kind: ActorKind::parse(&r.actor_kind).ok_or_else(|| at("actor_kind", &r.actor_kind))?,
            id: r.actor_id.clone(),
        },
        action: Action::parse(&r.action).map_err(|e| at("action", &e))?,
        subject: Subject {
            kind: r.subject_kind.clone(),
            id: r.subject_id.clone(),
        },
        data: Map::clone(&data),
        prev: r.prev.parse().map_err(|e| at("prev", &e))?,
        hash: r.hash.parse().map_err(|e| at("hash", &e))?,
    })
}

fn to_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| corrupt("seq beyond i64"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("audit log: {what}"))
}
