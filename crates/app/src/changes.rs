//! Committed changes as data. A use case records what it changed in the
//! change log, in its own transaction ([`record`]); after commit it hands
//! the same list to [`committed`], which delivers it to this node's
//! consumers (chat rooms, the staff notification stream) and announces the
//! newest id to the other nodes. They read the log from the last id they
//! saw ([`Follower`]), so a lost announcement delays a change but never
//! loses it, and no change is ever too large for the bus.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rapport_domain::{CaseId, EntryId};
use rapport_store::DbConnection;
use rapport_store::account::Account;
use rapport_store::case::{Author, Case, Entry};
use rapport_store::changes::{ChangeRow, NewChange};
use rapport_store::contact::Contact;
use rapport_store::staff::Staff;
use serde_json::Value;

use crate::notify::Notification;
use crate::state::AppState;
use crate::usecase::UseCaseError;

/// What a write committed.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new thread entry.
    EntryAdded(Entry),
    /// An entry edited or redacted.
    EntryUpdated(Entry),
    /// A new case.
    CaseOpened(Case),
    /// A case's state; `fields` names what changed (`status`, `priority`,
    /// `assignee_id`, `team_id`, `category`, `subject`, `tags`, `merge`,
    /// `appointment`).
    CaseChanged { case: Case, fields: Vec<String> },
    /// A contact rated how their resolved case went.
    SatisfactionReceived {
        case: Case,
        rating: i32,
        comment: Option<String>,
    },
    /// Something the case's team should know now.
    StaffNotice(Notification),
    /// A new client company.
    AccountAdded(Account),
    /// An account's details; `fields` names what changed.
    AccountChanged {
        account: Account,
        fields: Vec<String>,
    },
    /// A new person at a client company.
    ContactAdded(Contact),
    /// A contact's details; `fields` names what changed.
    ContactChanged {
        contact: Contact,
        fields: Vec<String>,
    },
    /// A staff member's profile, role, activity, password or teams.
    StaffChanged(Staff),
}

/// The names of what a `{"before", "after"}` change record changed.
pub(crate) fn changed_fields(change: &Value) -> Vec<String> {
    change["after"]
        .as_object()
        .map(|after| after.keys().cloned().collect())
        .unwrap_or_default()
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::EntryAdded(_) => "entry_added",
            Change::EntryUpdated(_) => "entry_updated",
            Change::CaseOpened(_) => "case_opened",
            Change::CaseChanged { .. } => "case_changed",
            Change::SatisfactionReceived { .. } => "satisfaction_received",
            Change::StaffNotice(_) => "staff_notice",
            Change::AccountAdded(_) => "account_added",
            Change::AccountChanged { .. } => "account_changed",
            Change::ContactAdded(_) => "contact_added",
            Change::ContactChanged { .. } => "contact_changed",
            Change::StaffChanged(_) => "staff_changed",
        }
    }
}

/// Writes `changes` to the log in the caller's transaction.
pub fn record(
    conn: &mut DbConnection,
    state: &AppState,
    changes: &[Change],
) -> Result<(), UseCaseError> {
    let rows: Vec<(String, Option<CaseId>, Option<EntryId>, String)> = changes
        .iter()
        .map(|c| {
            let (case, entry, data) = match c {
                // Whether a contact was in the chat when the team answered
                // is a fact of this moment: consumers that read the log
                // later (the offline email) need it as it was.
                Change::EntryAdded(e)
                    if e.kind == rapport_domain::EntryKind::Chat
                        && matches!(e.author, Author::Staff(_)) =>
                {
                    let present = state.chat.rooms.contact_following(e.case_id);
                    (
                        Some(e.case_id),
                        Some(e.id),
                        serde_json::json!({ "contact_present": present }),
                    )
                }
                Change::EntryAdded(e) | Change::EntryUpdated(e) => {
                    (Some(e.case_id), Some(e.id), Value::Null)
                }
                Change::CaseOpened(c) => (Some(c.id), None, Value::Null),
                Change::CaseChanged { case, fields } => {
                    (Some(case.id), None, serde_json::json!({ "fields": fields }))
                }
                Change::SatisfactionReceived {
                    case,
                    rating,
                    comment,
                } => (
                    Some(case.id),
                    None,
                    serde_json::json!({ "rating": rating, "comment": comment }),
                ),
                Change::StaffNotice(n) => (Some(n.case_id), None, serde_json::to_value(n)?),
                Change::AccountAdded(a) => (None, None, serde_json::json!({ "id": a.id })),
                Change::AccountChanged { account, fields } => (
                    None,
                    None,
                    serde_json::json!({ "id": account.id, "fields": fields }),
                ),
                Change::ContactAdded(c) => (None, None, serde_json::json!({ "id": c.id })),
                Change::ContactChanged { contact, fields } => (
                    None,
                    None,
                    serde_json::json!({ "id": contact.id, "fields": fields }),
                ),
                Change::StaffChanged(s) => (None, None, serde_json::json!({ "id": s.id })),
            };
            Ok((c.kind().to_owned(), case, entry, data.to_string()))
        })
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| UseCaseError::Internal(format!("a change could not be encoded: {e}")))?;
    let new: Vec<NewChange<'_>> = rows
        .iter()
        .map(|(kind, case_id, entry_id, data)| NewChange {
            kind,
            case_id: *case_id,
            entry_id: *entry_id,
            data,
        })
        .collect();
    rapport_store::changes::record(conn, state.chat.rooms.node(), &new)?;
    Ok(())
}

/// After commit: delivers on this node and tells the other nodes to read
/// the log.
pub fn committed(state: &AppState, changes: &[Change]) {
    if changes.is_empty() {
        return;
    }
    for c in changes {
        deliver(state, c);
    }
    state.chat.announce_changes();
}

/// Hands one change to this node's consumers.
fn deliver(state: &AppState, change: &Change) {
    match change {
        Change::EntryAdded(e) => state.chat.entry_committed(&state.store, e),
        Change::EntryUpdated(e) => state.chat.entry_changed(&state.store, e),
        Change::CaseChanged { case, fields } => state.chat.case_changed(
            &state.store,
            case,
            fields
                .iter()
                .any(|f| matches!(f.as_str(), "participants" | "category" | "merge")),
        ),
        Change::StaffNotice(n) => state.notifier.publish(n.clone()),
        // A renamed person shows under the new name in the next message,
        // on every node, not when the cached name expires.
        Change::ContactChanged { contact, .. } => {
            state.chat.forget_person(&Author::Contact(contact.id));
            // What they may read may have shrunk: their open chats check.
            state
                .chat
                .rooms
                .recheck_person(&format!("contact:{}", contact.id));
        }
        Change::StaffChanged(s) => {
            state.reads.staff_changed(s.id);
            state.chat.forget_person(&Author::Staff(s.id));
            // Deactivated, or a role that reads less: their open chats
            // check again, and end for someone who may no longer chat.
            state.chat.rooms.recheck_person(&format!("staff:{}", s.id));
        }
        Change::AccountAdded(_) | Change::AccountChanged { .. } => {
            state.reads.account_pages.forget_all();
        }
        Change::CaseOpened(_) | Change::SatisfactionReceived { .. } | Change::ContactAdded(_) => {}
    }
}

/// A change another node committed, loaded as it is now (an entry edited
/// twice quickly is delivered in its newest text both times, never an
/// older text after a newer one). None when it no longer exists.
pub(crate) fn load(
    conn: &mut DbConnection,
    row: &ChangeRow,
) -> Result<Option<Change>, UseCaseError> {
    let case = |conn: &mut DbConnection| -> Result<Option<Case>, UseCaseError> {
        let Some(id) = row.case_id else {
            return Err(corrupt(row));
        };
        Ok(rapport_store::case::find(conn, id)?)
    };
    let entry = |conn: &mut DbConnection| -> Result<Option<Entry>, UseCaseError> {
        let Some(id) = row.entry_id else {
            return Err(corrupt(row));
        };
        Ok(rapport_store::case::find_entry(conn, id)?)
    };
    Ok(match row.kind.as_str() {
        "entry_added" => entry(conn)?.map(Change::EntryAdded),
        "entry_updated" => entry(conn)?.map(Change::EntryUpdated),
        "case_opened" => case(conn)?.map(Change::CaseOpened),
        "case_changed" => {
            let data: CaseChangedData =
                serde_json::from_str(&row.data).map_err(|_| corrupt(row))?;
            case(conn)?.map(|case| Change::CaseChanged {
                case,
                fields: data.fields,
            })
        }
        "satisfaction_received" => {
            let data: RatingData = serde_json::from_str(&row.data).map_err(|_| corrupt(row))?;
            case(conn)?.map(|case| Change::SatisfactionReceived {
                case,
                rating: data.rating,
                comment: data.comment,
            })
        }
        "staff_notice" => Some(Change::StaffNotice(
            serde_json::from_str(&row.data).map_err(|_| corrupt(row))?,
        )),
        "account_added" | "account_changed" => {
            let data: DirectoryData = serde_json::from_str(&row.data).map_err(|_| corrupt(row))?;
            let id = data.id.parse().map_err(|_| corrupt(row))?;
            rapport_store::account::find(conn, id)?.map(|account| match data.fields {
                Some(fields) => Change::AccountChanged { account, fields },
                None => Change::AccountAdded(account),
            })
        }
        "contact_added" | "contact_changed" => {
            let data: DirectoryData = serde_json::from_str(&row.data).map_err(|_| corrupt(row))?;
            let id = data.id.parse().map_err(|_| corrupt(row))?;
            rapport_store::contact::find(conn, id)?.map(|contact| match data.fields {
                Some(fields) => Change::ContactChanged { contact, fields },
                None => Change::ContactAdded(contact),
            })
        }
        "staff_changed" => {
            let data: DirectoryData = serde_json::from_str(&row.data).map_err(|_| corrupt(row))?;
            let id = data.id.parse().map_err(|_| corrupt(row))?;
            rapport_store::staff::find(conn, id)?.map(Change::StaffChanged)
        }
        _ => return Err(corrupt(row)),
    })
}

#[derive(serde::Deserialize)]
struct CaseChangedData {
    fields: Vec<String>,
}

/// An account, contact or staff change: which one, and what changed
/// (none for a new one).
#[derive(serde::Deserialize)]
struct DirectoryData {
    id: String,
    fields: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct RatingData {
    rating: i32,
    comment: Option<String>,
}

fn corrupt(row: &ChangeRow) -> UseCaseError {
    UseCaseError::Internal(format!(
        "committed change {} ({}) is unreadable",
        row.id, row.kind
    ))
}

/// How long changes stay in the log: every consumer reads them within
/// moments of commit; a day leaves room to look into one.
const KEEP: chrono::Duration = chrono::Duration::days(1);

/// Forgets changes older than a day that every consumer has read;
/// returns how many.
pub fn forget_old(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, UseCaseError> {
    let mut conn = state.store.conn()?;
    // Some consumers read the log at their own pace (webhooks, the chat's
    // offline email): what the slowest has not read yet stays.
    let slowest = rapport_store::consumer_cursor::slowest(&mut conn)?;
    Ok(rapport_store::changes::forget_before(
        &mut conn,
        now - KEEP,
        slowest,
    )?)
}

/// Reads the log after `cursor` for the consumer `name`, handing each new
/// row to `each` in id order, and records how far it got (persisted, so a
/// restart goes on from there) a page at a time: when `each` fails, the
/// rows of that page it already took are handed to it again on the next
/// call, so it must be idempotent. Returns when it has caught up.
pub fn read_log(
    state: &AppState,
    name: &str,
    cursor: &mut Cursor,
    mut each: impl FnMut(&mut DbConnection, &ChangeRow) -> Result<(), UseCaseError>,
) -> Result<(), UseCaseError> {
    read_log_pages(state, name, cursor, |rows| {
        let mut conn = state.store.conn()?;
        rows.iter().try_for_each(|row| each(&mut conn, row))
    })
}

/// [`read_log`] a page at a time: `each_page` gets the new rows of one
/// read, in id order, and they count as handled only once it returns
/// `Ok` for all of them (so it may act on the page in one write). The
/// reading connection is back in the pool by then: a write from
/// `each_page` must not wait for a second connection of a pool of one.
pub fn read_log_pages(
    state: &AppState,
    name: &str,
    cursor: &mut Cursor,
    mut each_page: impl FnMut(&[&ChangeRow]) -> Result<(), UseCaseError>,
) -> Result<(), UseCaseError> {
    loop {
        let (read, fresh) = {
            let rows =
                rapport_store::changes::after(&mut *state.store.conn()?, cursor.through(), PAGE)?;
            let now = Instant::now();
            let fresh: Vec<&ChangeRow> = rows.iter().filter(|r| cursor.is_new(r.id)).collect();
            each_page(&fresh)?;
            for row in &fresh {
                cursor.take(row.id, now);
            }
            cursor.advance(now);
            (rows.len(), fresh.len())
        };
        // Saved through the store's writer, with the reading connection
        // back in the pool: on SQLite a write beside the writer waits on its
        // lock (an update that changes nothing still takes it). Only when it
        // moved, and again on the next call when saving failed.
        let through = cursor.through();
        if through > cursor.saved {
            state.store.write(|c| {
                rapport_store::consumer_cursor::advance(c, name, through)?;
                Ok::<_, UseCaseError>(())
            })?;
            cursor.saved = through;
        }
        if read < PAGE as usize || fresh == 0 {
            return Ok(());
        }
    }
}

/// How long a missing id is waited for: a change numbered before another
/// may commit after it (PostgreSQL hands out ids at insert), or never (its
/// transaction rolled back).
const STRAGGLER_WAIT: Duration = Duration::from_secs(30);
/// Rows read per round.
const PAGE: i64 = 500;

/// Which ids of the log this node has handled: all up to `through`, and
/// some above it while ids below them are still missing.
#[derive(Debug, Default)]
pub struct Cursor {
    through: i64,
    /// How far the persisted cursor is known to be ([`read_log`]).
    saved: i64,
    ahead: BTreeSet<i64>,
    /// Missing ids and since when.
    missing: BTreeMap<i64, Instant>,
}

impl Cursor {
    pub fn starting_at(through: i64) -> Cursor {
        Cursor {
            through,
            saved: through,
            ..Cursor::default()
        }
    }

    /// Where the next read starts (exclusive).
    pub fn through(&self) -> i64 {
        self.through
    }

    /// Whether an id read from the log is not handled yet (without
    /// marking it: see [`Cursor::take`]).
    pub fn is_new(&self, id: i64) -> bool {
        id > self.through && !self.ahead.contains(&id)
    }

    /// Whether an id read from the log is new here; marks it handled.
    pub fn take(&mut self, id: i64, now: Instant) -> bool {
        if id <= self.through || !self.ahead.insert(id) {
            return false;
        }
        let from = self.through + 1;
        let known_up_to = self
            .missing
            .last_key_value()
            .map_or(from, |(k, _)| (*k + 1).max(from));
        for gap in known_up_to..id {
            if !self.ahead.contains(&gap) {
                self.missing.insert(gap, now);
            }
        }
        self.missing.remove(&id);
        self.advance(now);
        true
    }

    /// Moves past ids handled, and past missing ones waited for too long.
    pub fn advance(&mut self, now: Instant) {
        loop {
            let next = self.through + 1;
            if self.ahead.remove(&next) {
                self.through = next;
            } else if self
                .missing
                .get(&next)
                .is_some_and(|since| now.duration_since(*since) >= STRAGGLER_WAIT)
            {
                self.missing.remove(&next);
                self.through = next;
            } else {
                return;
            }
        }
    }

    /// Whether some id is still awaited (read again soon).
    pub fn waiting(&self) -> bool {
        !self.missing.is_empty()
    }
}

/// Reads the log for changes other nodes committed and delivers them here.
#[derive(Debug)]
pub struct Follower {
    cursor: std::sync::Mutex<Cursor>,
}

impl Follower {
    /// Follows from the newest change now in the log.
    pub fn new(conn: &mut DbConnection) -> Result<Follower, UseCaseError> {
        Ok(Follower {
            cursor: std::sync::Mutex::new(Cursor::starting_at(rapport_store::changes::last_id(
                conn,
            )?)),
        })
    }

    /// Reads and delivers everything new; returns whether ids are still
    /// awaited (call again shortly).
    pub fn catch_up(&self, state: &AppState) -> Result<bool, UseCaseError> {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let mut conn = state.store.conn()?;
        let me = state.chat.rooms.node();
        loop {
            let rows = rapport_store::changes::after(&mut conn, cursor.through(), PAGE)?;
            let now = Instant::now();
            let mut fresh = 0;
            for row in &rows {
                if !cursor.take(row.id, now) {
                    continue;
                }
                fresh += 1;
                if row.origin == me {
                    continue;
                }
                match load(&mut conn, row) {
                    Ok(Some(change)) => deliver(state, &change),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "skipped a committed change"),
                }
            }
            cursor.advance(now);
            if rows.len() < PAGE as usize || fresh == 0 {
                return Ok(cursor.waiting());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_advance_the_cursor() {
        let now = Instant::now();
        let mut c = Cursor::starting_at(10);
        assert!(c.take(11, now));
        assert!(c.take(12, now));
        assert_eq!(c.through(), 12);
        assert!(!c.take(12, now), "a repeat is not new");
        assert!(!c.waiting());
    }

    #[test]
    fn a_straggler_is_waited_for_then_delivered_once() {
        let now = Instant::now();
        let mut c = Cursor::starting_at(0);
        assert!(c.take(1, now));
        assert!(c.take(3, now), "3 is delivered while 2 is missing");
        assert_eq!(c.through(), 1, "reading goes on from before the gap");
        assert!(c.waiting());
        assert!(!c.take(3, now), "3 read again is not delivered again");
        assert!(
            c.take(2, now),
            "the straggler commits later and is delivered"
        );
        assert_eq!(c.through(), 3);
        assert!(!c.waiting());
    }

    #[test]
    fn an_id_that_never_commits_is_given_up_after_the_wait() {
        let start = Instant::now();
        let mut c = Cursor::starting_at(0);
        assert!(c.take(2, start));
        assert!(c.take(5, start));
        c.advance(start + Duration::from_secs(1));
        assert_eq!(c.through(), 0);
        c.advance(start + STRAGGLER_WAIT);
        assert_eq!(c.through(), 5, "1, 3 and 4 were rolled back");
        assert!(!c.waiting());
    }
}
