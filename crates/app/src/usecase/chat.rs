//! Live chat: tickets that admit a websocket, starting a chat (a case on
//! the chat channel with a greeting), following a case, sending, the
//! contact's triage answer and read markers. Messages go through the same
//! case use cases as every other channel.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rapport_chat::{CaseSummary, EntryView, Person};
use rapport_domain::{CaseId, Channel, ContactId, EntryId, EntryKind, Principal, StaffId};
use rapport_store::case::{self as store_case, Author, Case, Entry};
use rapport_store::chat::Holder;
use serde_json::json;

use super::UseCaseError;
use super::case::{self, OpenCase, Posted};
use super::input::invalid;
use crate::auth::chat_ticket::TicketHolder;
use crate::changes::Change;
use crate::notify::Notification;
use crate::state::AppState;

/// Someone admitted to chat.
#[derive(Debug, Clone)]
pub struct ChatUser {
    pub principal: Principal,
    pub person: Person,
}

impl ChatUser {
    pub fn is_contact(&self) -> bool {
        matches!(self.principal, Principal::Contact { .. })
    }

    pub fn is_staff(&self) -> bool {
        matches!(self.principal, Principal::Staff { .. })
    }
}

fn holder(who: &Principal) -> Result<Holder, UseCaseError> {
    ticket_holder(who).map(holder_row)
}

/// A holder as the database keeps it.
fn holder_row(holder: TicketHolder) -> Holder {
    match holder {
        TicketHolder::Staff(id) => ("staff".into(), id.to_string()),
        TicketHolder::Contact(id) => ("contact".into(), id.to_string()),
    }
}

fn ticket_holder(who: &Principal) -> Result<TicketHolder, UseCaseError> {
    match who {
        Principal::Staff { id, .. } => Ok(TicketHolder::Staff(*id)),
        Principal::Contact { id, .. } => Ok(TicketHolder::Contact(*id)),
        Principal::ApiToken { .. } => Err(UseCaseError::Forbidden),
    }
}

/// A one-time ticket for `GET /ws?ticket=...`, valid `chat.ticket_ttl_secs`.
/// Signed, not stored: issuing one writes nothing.
pub fn issue_ticket(
    state: &AppState,
    who: &Principal,
) -> Result<(String, DateTime<Utc>), UseCaseError> {
    let holder = ticket_holder(who)?;
    let connections = &state.chat.connections;
    if let Some(key) = crate::chat::connections::person_key(who)
        && !connections.has_room(&key)
    {
        return Err(UseCaseError::TooManyConnections(connections.max_per_person));
    }
    let ttl = i64::try_from(state.config.settings.chat.ticket_ttl_secs).unwrap_or(30);
    // Whole seconds: the ticket carries its expiry as Unix seconds.
    let expires_at = DateTime::from_timestamp(Utc::now().timestamp() + ttl, 0)
        .ok_or_else(|| UseCaseError::Internal("the clock is out of range".into()))?;
    let ticket = state
        .tokens
        .chat_tickets()
        .issue(holder, expires_at)
        .map_err(|e| UseCaseError::Internal(e.to_string()))?;
    Ok((ticket, expires_at))
}

/// Spends a ticket and reads its holder afresh: someone deactivated since
/// the ticket was issued is not admitted. `None` for a ticket that is
/// forged, expired or spent.
pub fn redeem_ticket(state: &AppState, ticket: &str) -> Result<Option<ChatUser>, UseCaseError> {
    let Ok(opened) = state.tokens.chat_tickets().open(ticket, Utc::now()) else {
        return Ok(None);
    };
    let holder = holder_row(opened.holder);
    let spent = state.store.write_statement(|conn| {
        rapport_store::chat::spend_ticket(conn, &opened.spent_key, &holder, opened.expires_at)
    })?;
    if !spent {
        return Ok(None);
    }
    // From the database, not a node's cache: another node may not have
    // heard yet that this person was deactivated.
    let mut conn = state.store.conn()?;
    match opened.holder {
        TicketHolder::Staff(id) => staff_user(&mut conn, id),
        TicketHolder::Contact(id) => contact_user(&mut conn, id),
    }
}

/// A staff member as chat knows them now: `None` once deactivated.
fn staff_user(
    conn: &mut rapport_store::DbConnection,
    id: StaffId,
) -> Result<Option<ChatUser>, UseCaseError> {
    Ok(rapport_store::staff::find(conn, id)?
        .filter(|s| s.active)
        .map(|s| ChatUser {
            principal: Principal::Staff { id, role: s.role },
            person: crate::chat::staff_person(&s),
        }))
}

/// Forgets spent tickets long expired (they are refused by their expiry
/// alone); run now and then.
pub fn forget_spent_tickets(state: &AppState, now: DateTime<Utc>) -> Result<usize, UseCaseError> {
    let before = now - Duration::hours(1);
    Ok(state
        .store
        .write(|conn| rapport_store::chat::forget_spent_tickets(conn, before))?)
}

/// A contact as chat knows them now: `None` once they may not chat
/// (deactivated, or no portal access).
fn contact_user(
    conn: &mut rapport_store::DbConnection,
    id: ContactId,
) -> Result<Option<ChatUser>, UseCaseError> {
    Ok(rapport_store::contact::find(conn, id)?
        .filter(|c| c.active && c.portal_access)
        .map(|c| ChatUser {
            principal: super::access::contact_principal(&c),
            person: crate::chat::contact_person(&c),
        }))
}

/// `user` as their record says now, for a connection open since before a
/// change: a contact's visibility or function, or a staff member's role,
/// may have moved, or they may no longer chat at all (`None`).
pub fn refreshed(state: &AppState, user: &ChatUser) -> Result<Option<ChatUser>, UseCaseError> {
    match user.principal {
        Principal::Contact { id, .. } => contact_user(&mut *state.store.conn()?, id),
        Principal::Staff { id, .. } => staff_user(&mut *state.store.conn()?, id),
        Principal::ApiToken { .. } => Ok(None),
    }
}

/// A contact starts a chat: a case on the chat channel, routed like any
/// case. Returns the case, the opening message and whether this client
/// message id had started a chat before.
pub fn start(
    state: &AppState,
    user: &ChatUser,
    client_message_id: &str,
    body: &str,
    subject: Option<&str>,
    category: Option<&str>,
) -> Result<(Case, Entry, bool), UseCaseError> {
    let Principal::Contact { id, .. } = user.principal else {
        return Err(UseCaseError::Validation {
            field: "type",
            message: "only contacts start chats; staff open cases for an account".into(),
        });
    };
    let author = Author::Contact(id);
    {
        // One connection for both reads, returned before opening the case.
        let mut conn = state.store.conn()?;
        if let Some(entry) =
            store_case::find_by_client_message(&mut conn, &author, client_message_id)?
        {
            let case = store_case::find(&mut conn, entry.case_id)?
                .ok_or(UseCaseError::NotFound("case"))?;
            return Ok((case, entry, true));
        }
    }
    let subject = match subject.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => s.to_owned(),
        None => subject_from(body),
    };
    let (case, entry) = case::open_announcing(
        state,
        &user.principal,
        OpenCase {
            subject,
            body: body.to_owned(),
            category: category.map(str::to_owned),
            channel: Some(Channel::Chat),
            client_message_id: Some(client_message_id.to_owned()),
            ..OpenCase::default()
        },
        |case| {
            Notification::about(
                "chat_started",
                case,
                format!("{} started a chat: {}", user.person.name, case.subject),
            )
        },
    )?;
    Ok((case, entry, false))
}

/// The first line of a message, shortened, as a chat's subject.
fn subject_from(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("Chat");
    let mut s: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// What a connection needs to follow a case: its state, the staff of its
/// team (for "who is online") and whether the caller is staff.
#[derive(Debug, Clone)]
pub struct Following {
    pub summary: CaseSummary,
    pub team_staff: Vec<String>,
    /// The case access was checked for.
    case_id: CaseId,
}

pub fn follow(state: &AppState, user: &ChatUser, id: CaseId) -> Result<Following, UseCaseError> {
    let following = following(&mut *state.store.conn()?, state, user, id)?;
    auditor_read(state, user, id)?;
    Ok(following)
}

/// The latest `limit` entries of the case `following` was checked for,
/// oldest first: what a client without history sees on joining (older
/// ones come from the HTTP thread API). Called after entering the room,
/// so nothing committed in between is missed; [`follow`] checked access
/// just before, and only it makes a [`Following`].
pub fn recent(
    state: &AppState,
    user: &ChatUser,
    following: &Following,
    limit: i64,
) -> Result<ThreadPage, UseCaseError> {
    let id = following.case_id;
    let (place, mut entries) = {
        let mut conn = state.store.conn()?;
        // The place first: every entry up to it has committed, so the
        // entries read next hold all of them.
        let place = store_case::last_seq(&mut conn, id)?;
        let entries = store_case::thread(
            &mut conn,
            id,
            user.is_staff(),
            store_case::ThreadEnd::Latest,
            limit,
        )?;
        (place, entries)
    };
    entries.reverse();
    page(state, &entries, place, false)
}

/// An auditor's read of a case is recorded, in chat as everywhere (once
/// the reading connection is back in the pool: recording takes another).
fn auditor_read(state: &AppState, user: &ChatUser, id: CaseId) -> Result<(), UseCaseError> {
    super::evidence::record_auditor_read(state, &user.principal, "case", &id.to_string())
}

/// The case as a connection follows it, if the user may read it.
fn following(
    conn: &mut rapport_store::DbConnection,
    state: &AppState,
    user: &ChatUser,
    id: CaseId,
) -> Result<Following, UseCaseError> {
    let case = case::load(conn, state, &user.principal, id)?.case;
    let team = rapport_store::team::find_if_any(conn, case.team_id)?;
    let summary = state.chat.summary_in_team(conn, &case, team.as_ref())?;
    let team_staff = team
        .map(|t| t.members.iter().map(|m| m.staff_id.to_string()).collect())
        .unwrap_or_default();
    Ok(Following {
        summary,
        team_staff,
        case_id: id,
    })
}

/// Entries of a thread as one connection may see them, oldest first, and
/// the place in the thread up to which they are complete (internal notes
/// hidden from a contact included).
#[derive(Debug, Clone)]
pub struct ThreadPage {
    pub entries: Vec<EntryView>,
    pub through: i64,
}

/// The thread's last place, read before its entries: every entry up to it
/// has committed, so the entries read next hold all of them.
fn last_place(state: &AppState, id: CaseId) -> Result<i64, UseCaseError> {
    let mut conn = state.store.conn()?;
    Ok(store_case::last_seq(&mut conn, id)?)
}

fn page(
    state: &AppState,
    entries: &[Entry],
    last_place: i64,
    full: bool,
) -> Result<ThreadPage, UseCaseError> {
    let last = entries.last().map_or(0, |e| e.seq);
    // A full page may stop short of the thread's end: it covers up to its
    // own last entry only.
    let through = if full { last } else { last.max(last_place) };
    let mut conn = state.store.conn()?;
    let entries = entries
        .iter()
        .map(|e| state.chat.entry_view(&mut conn, e))
        .collect::<Result<_, _>>()?;
    Ok(ThreadPage { entries, through })
}

/// Entries after `since` as the caller may see them, oldest first, at most `limit`.
pub fn backlog(
    state: &AppState,
    user: &ChatUser,
    id: CaseId,
    since: Option<EntryId>,
    limit: i64,
) -> Result<ThreadPage, UseCaseError> {
    let place = last_place(state, id)?;
    let entries: Vec<Entry> = case::entries(state, &user.principal, id, since, limit)?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let full = entries.len() as i64 >= limit;
    page(state, &entries, place, full)
}

/// Sends a chat message (or, for staff, an internal note).
pub fn send(
    state: &AppState,
    user: &ChatUser,
    id: CaseId,
    client_message_id: &str,
    body: &str,
    note: bool,
) -> Result<Posted, UseCaseError> {
    let kind = if note {
        if !user.is_staff() {
            return Err(invalid("note", "only staff write internal notes"));
        }
        EntryKind::Note
    } else {
        EntryKind::Chat
    };
    case::post(
        state,
        &user.principal,
        id,
        kind,
        body,
        Some(client_message_id),
        Vec::new(),
    )
}

/// The contact answers the triage question. Only while the case has no
/// category; staff change it like any other field.
pub fn choose_category(
    state: &AppState,
    user: &ChatUser,
    id: CaseId,
    category: &str,
) -> Result<Case, UseCaseError> {
    if user.is_staff() {
        return case::update(
            state,
            &user.principal,
            id,
            case::CaseChanges {
                category: Some(Some(category.to_owned())),
                ..case::CaseChanges::default()
            },
        );
    }
    let categories = &state.config.settings.cases.categories;
    if !categories.iter().any(|c| c == category) {
        return Err(invalid(
            "category",
            format!("must be one of: {}", categories.join(", ")),
        ));
    }
    case::get(state, &user.principal, id)?;
    let actor = case::author_of(&user.principal)?.1;
    super::commit(state, |conn, changes| {
        let mut c = store_case::find_for_append(conn, id)?.ok_or(UseCaseError::NotFound("case"))?;
        if c.category.is_some() {
            return Err(UseCaseError::Conflict("the case already has a category"));
        }
        c.category = Some(category.to_owned());
        case::audit(
            conn,
            &c,
            actor,
            "case.updated",
            json!({"before": {"category": null}, "after": {"category": category}, "via": "chat triage"}),
        )?;
        store_case::save(conn, &c)?;
        // Now it concerns someone: they hear of it as of a case opened.
        super::notices::inform(conn, state, &c, None, super::notices::CaseEvent::Opened)?;
        changes.push(Change::CaseChanged {
            case: c.clone(),
            fields: vec!["category".into()],
        });
        Ok(c)
    })
}

/// Moves the caller's read marker; true when it moved (others are told).
pub fn mark_read(
    state: &AppState,
    user: &ChatUser,
    id: CaseId,
    entry: EntryId,
) -> Result<bool, UseCaseError> {
    case::get(state, &user.principal, id)?;
    let holder = holder(&user.principal)?;
    let mut conn = state.store.conn()?;
    match store_case::find_entry(&mut conn, entry)? {
        Some(e) if e.case_id == id => {}
        _ => return Err(invalid("entry_id", "is not an entry of this case")),
    }
    Ok(rapport_store::chat::mark_read(
        &mut conn, id, &holder, entry,
    )?)
}

/// The name the offline email reads the change log under.
pub const OFFLINE_EMAIL: &str = "offline_email";

/// A consumer of the change log: for each chat answer of the team committed
/// while no contact of the case was in the chat (as the change recorded it
/// at commit), a digest is due
/// `chat.offline_email_after_secs` later, unless one already waits (then
/// the answer joins it). Answers after that digest went out start the next
/// one: while a contact stays away they get at most one email per wait,
/// each with only what is new and unread. Reads from `cursor` (persisted,
/// so a restart goes on where it stopped); returns how many answers were
/// scheduled.
pub fn email_absent_contacts(
    state: &AppState,
    cursor: &mut crate::changes::Cursor,
) -> Result<usize, UseCaseError> {
    let wait = Duration::seconds(
        i64::try_from(state.config.settings.chat.offline_email_after_secs).unwrap_or(120),
    );
    let mut scheduled = 0;
    crate::changes::read_log_pages(state, OFFLINE_EMAIL, cursor, |rows| {
        let answers: Vec<EntryId> = rows
            .iter()
            .filter(|row| {
                row.kind == "entry_added"
                    && serde_json::from_str::<serde_json::Value>(&row.data)
                        .is_ok_and(|d| d["contact_present"] == false)
            })
            .filter_map(|row| row.entry_id)
            .collect();
        if answers.is_empty() {
            return Ok(());
        }
        // The case each answer is in now (a merge moves entries). The page
        // is scheduled in one write, where a case's later answers would
        // find the digest its first one scheduled waiting and join it: only
        // the first needs scheduling (every placed answer is counted). In
        // case order, so that nodes scheduling overlapping pages at once on
        // PostgreSQL lock the digests' rows in the same order.
        let placed: HashMap<EntryId, CaseId> =
            store_case::entry_cases(&mut *state.store.conn()?, &answers)?
                .into_iter()
                .collect();
        let mut first: BTreeMap<CaseId, EntryId> = BTreeMap::new();
        for id in &answers {
            if let Some(case) = placed.get(id) {
                first.entry(*case).or_insert(*id);
            }
        }
        state.store.write(|conn| -> Result<(), UseCaseError> {
            for (case, entry) in &first {
                let floor = store_case::entry_before(conn, *case, *entry)?;
                rapport_store::chat::schedule_offline_digest(
                    conn,
                    *case,
                    Utc::now() + wait,
                    floor,
                )?;
            }
            Ok(())
        })?;
        scheduled += placed.len();
        Ok(())
    })?;
    Ok(scheduled)
}

/// Sends every digest due at `now`; returns how many emails were queued.
/// Each digest carries the team's chat answers after both the last digest
/// and the furthest any contact has read; claiming it, queueing the email
/// and recording what it carried commit together, so a digest is sent
/// once, by one node.
pub fn send_due_offline_digests(
    state: &AppState,
    now: chrono::DateTime<Utc>,
) -> Result<usize, UseCaseError> {
    let due = rapport_store::chat::due_offline_digests(&mut *state.store.conn()?, now, 100)?;
    let mut queued = 0;
    for case_id in due {
        let sent = state.store.write(|conn| -> Result<bool, UseCaseError> {
            let Some(sent_through) = rapport_store::chat::claim_offline_digest(conn, case_id, now)?
            else {
                return Ok(false);
            };
            let Some(c) = store_case::find(conn, case_id)? else {
                return Ok(false);
            };
            let read = rapport_store::chat::contacts_read_through(conn, case_id)?;
            let after = sent_through.max(read);
            let mut answers = Vec::new();
            let mut names: HashMap<StaffId, String> = HashMap::new();
            for e in store_case::entries(conn, case_id, false, after, 200)? {
                let Author::Staff(staff) = e.author else {
                    continue;
                };
                if e.kind != EntryKind::Chat || e.redacted_at.is_some() {
                    continue;
                }
                let name = match names.get(&staff) {
                    Some(n) => n.clone(),
                    None => {
                        let n = rapport_store::staff::find(conn, staff)?
                            .map(|s| s.name.as_str().to_owned())
                            .unwrap_or_else(|| "Your support team".to_owned());
                        names.insert(staff, n.clone());
                        n
                    }
                };
                answers.push((name, e));
            }
            let Some((_, last)) = answers.last() else {
                return Ok(false);
            };
            let last = last.id;
            let queued = super::mail::enqueue_chat_digest(conn, state, &c, &answers)?;
            rapport_store::chat::offline_digest_sent(conn, case_id, last)?;
            Ok(queued.is_some())
        })?;
        if sent {
            queued += 1;
            tracing::info!(%case_id, "chat answers emailed to contacts who were away");
        }
    }
    if queued > 0 {
        state.mail.wake();
    }
    Ok(queued)
}
