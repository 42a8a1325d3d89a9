//! Email rows: inbound mail and its processing state, the Message-IDs of
//! every email in a case, email details of thread entries, and the outbox.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CaseId, EntryId};

use crate::cached::{Bind, Fixed};
use crate::column::{JsonText, OptText, OptUtcStamp, UtcStamp};
use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{
    entry_emails, inbound_mail, mail_awaited_parents, mail_message_ids, mail_originals, outbox,
};
use crate::time::now_micros;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("mail: {what}"))
}

// ---------------------------------------------------------------- inbound

/// An inbound message and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = inbound_mail)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Inbound {
    pub id: String,
    pub sha256: String,
    pub message_id: Option<String>,
    /// `lmtp`, `http` or `import`.
    pub door: String,
    pub envelope_from: Option<String>,
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub envelope_to: Vec<String>,
    pub size: i64,
    /// `pending`, `threaded`, `ignored`, `bounce` or `quarantined`.
    pub status: String,
    pub outcome: Option<String>,
    #[diesel(deserialize_as = OptText<CaseId>, serialize_as = OptText<CaseId>)]
    pub case_id: Option<CaseId>,
    #[diesel(deserialize_as = OptText<EntryId>, serialize_as = OptText<EntryId>)]
    pub entry_id: Option<EntryId>,
    pub attempts: i32,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub received_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub processed_at: Option<DateTime<Utc>>,
    /// Whether a new case it opens may be acknowledged.
    pub acknowledge: bool,
}

/// What arrived at a door.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub sha256: &'a str,
    pub message_id: Option<&'a str>,
    pub door: &'a str,
    pub envelope_from: Option<&'a str>,
    pub envelope_to: &'a [String],
    pub size: i64,
    /// False: never acknowledge a case this message opens.
    pub acknowledge: bool,
    /// The bytes, when they are kept in the database rather than in the
    /// spool directory.
    pub original: Option<&'a [u8]>,
}

/// Records a received message as pending (with its original bytes when
/// they are kept in the database), or returns the row of the same bytes
/// received before (a redelivery): `(row, new)`.
///
/// The insert comes first and yields to a row of the same bytes: a
/// redelivery is rare, so the usual message costs one statement (two with
/// its original), and two deliveries of the same bytes at once cannot
/// both insert (the second waits for the first and then reads its row).
pub fn receive(conn: &mut DbConnection, m: &NewInbound<'_>) -> Result<(Inbound, bool), StoreError> {
    let row = Inbound {
        id: uuid::Uuid::now_v7().to_string(),
        sha256: m.sha256.to_owned(),
        message_id: m.message_id.map(str::to_owned),
        door: m.door.to_owned(),
        envelope_from: m.envelope_from.map(str::to_owned),
        envelope_to: m.envelope_to.to_vec(),
        size: m.size,
        status: "pending".into(),
        outcome: None,
        case_id: None,
        entry_id: None,
        attempts: 0,
        received_at: now_micros().and_utc(),
        processed_at: None,
        acknowledge: m.acknowledge,
    };
    let insert = || {
        diesel::insert_into(inbound_mail::table)
            .values(row.clone())
            .on_conflict_do_nothing()
    };
    let inserted = on_backend!(conn, |c| insert().execute(c)?);
    if inserted == 1 {
        if let Some(raw) = m.original {
            diesel::insert_into(mail_originals::table)
                .values((
                    mail_originals::sha256.eq(m.sha256),
                    mail_originals::raw.eq(raw),
                ))
                .execute(conn)?;
        }
        return Ok((row, true));
    }
    let existing = find_by_sha256(conn, m.sha256)?
        .ok_or_else(|| corrupt("a message yielded to a row of its bytes that is not there"))?;
    Ok((existing, false))
}

/// The original bytes of a received message kept in the database (None:
/// kept in the spool directory, or redacted).
pub fn original(conn: &mut DbConnection, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(mail_originals::table
        .find(sha256)
        .select(mail_originals::raw)
        .first(conn)
        .optional()?)
}

/// Deletes the original bytes kept in the database (a redaction); whether
/// there were any.
pub fn forget_original(conn: &mut DbConnection, sha256: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(mail_originals::table.find(sha256)).execute(conn)? == 1)
}

/// The SHA-256 of other received copies of an email, filed as duplicates
/// of the one whose thread entry is `entry` (same Message-ID).
pub fn duplicates_of(
    conn: &mut DbConnection,
    message_id: &str,
    entry: EntryId,
    except_sha256: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(inbound_mail::table
        .filter(inbound_mail::message_id.eq(message_id))
        .filter(inbound_mail::entry_id.eq(entry.to_string()))
        .filter(inbound_mail::sha256.ne(except_sha256))
        .select(inbound_mail::sha256)
        .order(inbound_mail::id.asc())
        .load(conn)?)
}

pub fn find_by_sha256(
    conn: &mut DbConnection,
    sha256: &str,
) -> Result<Option<Inbound>, StoreError> {
    Ok(inbound_mail::table
        .filter(inbound_mail::sha256.eq(sha256))
        .select(Inbound::as_select())
        .first(conn)
        .optional()?)
}

/// Holds the row's lock until the transaction ends, so two workers (or
/// nodes) never process one message at once (SQLite's writer lock already
/// serialises).
pub fn lock_inbound(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        Fixed::new(
            "SELECT id FROM inbound_mail WHERE id = ? FOR UPDATE",
            &[Bind::Text(id)],
        )
        .execute(pg)?;
    }
    Ok(())
}

pub fn find_inbound(conn: &mut DbConnection, id: &str) -> Result<Option<Inbound>, StoreError> {
    Ok(inbound_mail::table
        .find(id)
        .select(Inbound::as_select())
        .first(conn)
        .optional()?)
}

/// Another processed message with this Message-ID (the same mail by
/// another path, its bytes changed on the way).
pub fn processed_with_message_id(
    conn: &mut DbConnection,
    message_id: &str,
    except: &str,
) -> Result<Option<Inbound>, StoreError> {
    Ok(inbound_mail::table
        .filter(inbound_mail::message_id.eq(message_id))
        .filter(inbound_mail::id.ne(except))
        .filter(inbound_mail::status.eq_any(["threaded", "bounce", "ignored"]))
        .select(Inbound::as_select())
        .first(conn)
        .optional()?)
}

/// The columns of an [`Inbound`], in its order (a test compares them with
/// what diesel selects for it).
macro_rules! inbound_columns {
    () => {
        "id, sha256, message_id, door, envelope_from, envelope_to, size, status, outcome, \
         case_id, entry_id, attempts, received_at, processed_at, acknowledge"
    };
}

/// Ends processing: the status, what happened, and the entry it made.
/// Returns the updated row.
pub fn finish(
    conn: &mut DbConnection,
    id: &str,
    status: &str,
    outcome: &str,
    case: Option<CaseId>,
    entry: Option<EntryId>,
) -> Result<Inbound, StoreError> {
    let (case, entry) = (case.map(|c| c.to_string()), entry.map(|e| e.to_string()));
    let binds = [
        Bind::Text(status),
        Bind::Text(outcome),
        Bind::OptText(case.as_deref()),
        Bind::OptText(entry.as_deref()),
        Bind::Stamp(now_micros()),
        Bind::Text(id),
    ];
    let finish = Fixed::new(
        concat!(
            "UPDATE inbound_mail SET status = ?, outcome = ?, case_id = ?, entry_id = ?, \
             processed_at = ?, attempts = attempts + 1 WHERE id = ? RETURNING ",
            inbound_columns!()
        ),
        &binds,
    )
    .returning::<inbound_mail::SqlType>();
    Ok(on_backend!(conn, |c| finish.get_result(c)?))
}

/// Puts a quarantined message back in line, saying why.
pub fn requeue(conn: &mut DbConnection, id: &str, why: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        inbound_mail::table
            .find(id)
            .filter(inbound_mail::status.eq("quarantined")),
    )
    .set((
        inbound_mail::status.eq("pending"),
        inbound_mail::outcome.eq(Some(why)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Messages in a status, oldest first, after a cursor id.
pub fn list_inbound(
    conn: &mut DbConnection,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Inbound>, StoreError> {
    let mut q = inbound_mail::table
        .select(Inbound::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(inbound_mail::status.eq(s.to_owned()));
    }
    if let Some(a) = after {
        q = q.filter(inbound_mail::id.gt(a.to_owned()));
    }
    Ok(q.order(inbound_mail::id.asc()).limit(limit).load(conn)?)
}

/// Ids of messages still waiting to be processed, oldest first.
pub fn pending_ids(conn: &mut DbConnection, limit: i64) -> Result<Vec<String>, StoreError> {
    Ok(inbound_mail::table
        .filter(inbound_mail::status.eq("pending"))
        .order(inbound_mail::id.asc())
        .select(inbound_mail::id)
        .limit(limit)
        .load(conn)?)
}

// ---------------------------------------------------------- message ids

/// Remembers which case a Message-ID belongs to; the first case to record
/// it keeps it. Whether this call recorded it.
pub fn record_message_id(
    conn: &mut DbConnection,
    message_id: &str,
    case: CaseId,
    entry: Option<EntryId>,
    direction: &str,
) -> Result<bool, StoreError> {
    let insert = || {
        diesel::insert_into(mail_message_ids::table)
            .values((
                mail_message_ids::message_id.eq(message_id),
                mail_message_ids::case_id.eq(case.to_string()),
                mail_message_ids::entry_id.eq(entry.map(|e| e.to_string())),
                mail_message_ids::direction.eq(direction),
                mail_message_ids::created_at.eq(now_micros()),
            ))
            .on_conflict_do_nothing()
    };
    let inserted = on_backend!(conn, |c| insert().execute(c)?);
    Ok(inserted == 1)
}

/// Remembers the Message-IDs an email of `case` refers to that we have
/// not seen: if one arrives later, it belongs to the same case.
pub fn await_parents(
    conn: &mut DbConnection,
    ids: &[String],
    case: CaseId,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = mail_message_ids::table
        .filter(mail_message_ids::message_id.eq_any(ids))
        .select(mail_message_ids::message_id)
        .load(conn)?;
    let now = now_micros();
    let case = case.to_string();
    let mut unknown: Vec<&String> = ids.iter().filter(|id| !known.contains(id)).collect();
    unknown.sort();
    unknown.dedup();
    let rows: Vec<_> = unknown
        .into_iter()
        .map(|id| {
            (
                mail_awaited_parents::message_id.eq(id),
                mail_awaited_parents::case_id.eq(&case),
                mail_awaited_parents::created_at.eq(now),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // A wait already recorded (by an earlier email, or another node at
    // the same moment) stays as it is.
    let insert = || {
        diesel::insert_into(mail_awaited_parents::table)
            .values(&rows)
            .on_conflict_do_nothing()
    };
    on_backend!(conn, |c| insert().execute(c)?);
    Ok(())
}

/// The cases replies to this Message-ID went to before it arrived, the
/// earliest first.
pub fn cases_awaiting(
    conn: &mut DbConnection,
    message_id: &str,
) -> Result<Vec<CaseId>, StoreError> {
    mail_awaited_parents::table
        .filter(mail_awaited_parents::message_id.eq(message_id))
        .order(mail_awaited_parents::created_at.asc())
        .select(mail_awaited_parents::case_id)
        .load::<String>(conn)?
        .into_iter()
        .map(|c| Ok(CaseId::try_from(c)?))
        .collect()
}

/// The awaited message arrived in `case`: the wait there ends.
pub fn stop_awaiting(
    conn: &mut DbConnection,
    message_id: &str,
    case: CaseId,
) -> Result<(), StoreError> {
    diesel::delete(
        mail_awaited_parents::table
            .filter(mail_awaited_parents::message_id.eq(message_id))
            .filter(mail_awaited_parents::case_id.eq(case.to_string())),
    )
    .execute(conn)?;
    Ok(())
}

/// Ends every wait recorded before `cutoff`; returns how many.
pub fn forget_awaited_parents_before(
    conn: &mut DbConnection,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        mail_awaited_parents::table.filter(mail_awaited_parents::created_at.lt(cutoff.naive_utc())),
    )
    .execute(conn)?)
}

/// The case of the first of these Message-IDs that we know.
pub fn case_of_message_ids(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Option<CaseId>, StoreError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let found: Vec<(String, String)> = mail_message_ids::table
        .filter(mail_message_ids::message_id.eq_any(ids))
        .select((mail_message_ids::message_id, mail_message_ids::case_id))
        .load(conn)?;
    // In-Reply-To first, then References from the newest.
    for id in ids {
        if let Some((_, case)) = found.iter().find(|(m, _)| m == id) {
            return Ok(Some(CaseId::try_from(case.clone())?));
        }
    }
    Ok(None)
}

/// The newest Message-IDs of a case's emails, for References.
pub fn message_ids_of_case(
    conn: &mut DbConnection,
    case: CaseId,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut ids: Vec<String> = mail_message_ids::table
        .filter(mail_message_ids::case_id.eq(case.to_string()))
        .order(mail_message_ids::created_at.desc())
        .select(mail_message_ids::message_id)
        .limit(limit)
        .load(conn)?;
    ids.reverse();
    Ok(ids)
}

// ---------------------------------------------------------- entry emails

/// Email details of a thread entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = entry_emails)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct EntryEmail {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub entry_id: EntryId,
    pub inbound_id: Option<String>,
    pub message_id: String,
    pub from_address: String,
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub to_addresses: Vec<String>,
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub cc_addresses: Vec<String>,
    pub subject: String,
    pub html: Option<String>,
    pub collapsed: bool,
    pub full_text: String,
}

pub fn insert_entry_email(conn: &mut DbConnection, e: &EntryEmail) -> Result<(), StoreError> {
    diesel::insert_into(entry_emails::table)
        .values(e.clone())
        .execute(conn)?;
    Ok(())
}

pub fn entry_emails_for(
    conn: &mut DbConnection,
    entries: &[EntryId],
) -> Result<Vec<EntryEmail>, StoreError> {
    let ids: Vec<String> = entries.iter().map(ToString::to_string).collect();
    Ok(entry_emails::table
        .filter(entry_emails::entry_id.eq_any(ids))
        .select(EntryEmail::as_select())
        .load(conn)?)
}

// ---------------------------------------------------------------- outbox

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = outbox)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Outbound {
    pub id: String,
    /// `reply`, `acknowledgment`, `magic_link`, `sla_alert` or `chat_reply`.
    pub kind: String,
    #[diesel(deserialize_as = OptText<CaseId>, serialize_as = OptText<CaseId>)]
    pub case_id: Option<CaseId>,
    #[diesel(deserialize_as = OptText<EntryId>, serialize_as = OptText<EntryId>)]
    pub entry_id: Option<EntryId>,
    pub message_id: String,
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub sent_at: Option<DateTime<Utc>>,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewOutbound<'a> {
    pub kind: &'a str,
    pub case_id: Option<CaseId>,
    pub entry_id: Option<EntryId>,
    pub message_id: &'a str,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub raw: &'a [u8],
}

pub fn enqueue(conn: &mut DbConnection, m: &NewOutbound<'_>) -> Result<String, StoreError> {
    let now = now_micros();
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(outbox::table)
        .values(Outbound {
            id: id.clone(),
            kind: m.kind.to_owned(),
            case_id: m.case_id,
            entry_id: m.entry_id,
            message_id: m.message_id.to_owned(),
            recipients: m.recipients.to_vec(),
            subject: m.subject.to_owned(),
            raw: m.raw.to_vec(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now.and_utc(),
            last_error: None,
            created_at: now.and_utc(),
            sent_at: None,
        })
        .execute(conn)?;
    Ok(id)
}

/// Takes up to `limit` due messages for sending and leases them for
/// `lease`: another worker (or node) does not see them until the lease
/// ends. On PostgreSQL rows locked by another node are skipped, not
/// waited for.
pub fn claim_due(
    conn: &mut DbConnection,
    limit: i64,
    lease: chrono::Duration,
) -> Result<Vec<Outbound>, StoreError> {
    let now = now_micros();
    let ids: Vec<String> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load::<IdRow>(pg)?
        .into_iter()
        .map(|r| r.id)
        .collect(),
        DbConnection::Sqlite(_) => outbox::table
            .filter(outbox::status.eq("pending"))
            .filter(outbox::next_attempt_at.le(now))
            .order(outbox::next_attempt_at.asc())
            .select(outbox::id)
            .limit(limit)
            .load(conn)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
        .set(outbox::next_attempt_at.eq(now + lease))
        .execute(conn)?;
    Ok(outbox::table
        .filter(outbox::id.eq_any(&ids))
        .select(Outbound::as_select())
        .load(conn)?)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

pub fn mark_sent(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq("sent"),
            outbox::sent_at.eq(Some(now_micros())),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Drops a sent message's bytes (sign-in links must not linger).
pub fn forget_content(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    diesel::update(outbox::table.find(id))
        .set(outbox::raw.eq(Vec::<u8>::new()))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or failed for good.
pub fn mark_attempt_failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(if retry_at.is_some() {
                "pending"
            } else {
                "failed"
            }),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::last_error.eq(Some(error)),
            outbox::next_attempt_at.eq(retry_at.map_or_else(now_micros, |t| t.naive_utc())),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find_outbound_by_message_id(
    conn: &mut DbConnection,
    message_id: &str,
) -> Result<Option<Outbound>, StoreError> {
    Ok(outbox::table
        .filter(outbox::message_id.eq(message_id))
        .select(Outbound::as_select())
        .first(conn)
        .optional()?)
}

/// Messages of the outbox, newest first; of one case when given.
pub fn list_outbound(
    conn: &mut DbConnection,
    case: Option<CaseId>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Outbound>, StoreError> {
    let mut q = outbox::table.select(Outbound::as_select()).into_boxed();
    if let Some(c) = case {
        q = q.filter(outbox::case_id.eq(c.to_string()));
    }
    if let Some(s) = status {
        q = q.filter(outbox::status.eq(s.to_owned()));
    }
    Ok(q.order(outbox::id.desc()).limit(limit).load(conn)?)
}

/// Acknowledgments sent to an address since a time (rate limit).
/// Acknowledgments sent to any address at `domain` since `since`.
pub fn acknowledgments_to_domain_since(
    conn: &mut DbConnection,
    domain: &str,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    // Recipients are a JSON array of addresses: `"…@domain"`.
    let needle = format!("%@{}\"%", domain.to_lowercase());
    Ok(outbox::table
        .filter(outbox::kind.eq("acknowledgment"))
        .filter(outbox::created_at.ge(since.naive_utc()))
        .filter(outbox::recipients.like(needle))
        .count()
        .get_result(conn)?)
}

pub fn acknowledgments_to_since(
    conn: &mut DbConnection,
    address: &str,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let needle = serde_json::to_string(address).map_err(|_| corrupt("address"))?;
    Ok(outbox::table
        .filter(outbox::kind.eq("acknowledgment"))
        .filter(outbox::created_at.ge(since.naive_utc()))
        .filter(outbox::recipients.like(format!("%{needle}%")))
        .count()
        .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use super::Inbound;
    use crate::schema::inbound_mail;

    #[test]
    fn the_columns_finish_returns_are_those_of_an_inbound_row_in_order() {
        let select =
            diesel::debug_query::<Sqlite, _>(&inbound_mail::table.select(Inbound::as_select()))
                .to_string()
                .replace("`inbound_mail`.", "")
                .replace('`', "");
        let listed = select
            .strip_prefix("SELECT ")
            .and_then(|s| s.split(" FROM ").next())
            .unwrap_or_default();
        let ours: String = inbound_columns!()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(listed, ours);
    }
}
