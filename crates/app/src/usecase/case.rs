//! Cases: opening (routed to the account's team and its familiar agent),
//! the thread, client replies that reopen, working a case, merging, and
//! the account timeline. Every change is audited in the case's stream,
//! which belongs to the account's export.

use chrono::{Duration, Utc};
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{
    AccountId, CaseAccess, CaseId, CasePriority, CaseStatus, Channel, ClientReply, ContactId,
    EntryId, EntryKind, Principal, StaffId, StaffRole, TeamId, can_read_case, can_reply_case,
    can_see_entry, can_work_case, on_client_reply,
};
use rapport_store::DbConnection;
use rapport_store::account::Account;
use rapport_store::attachment::Attachment;
use rapport_store::case::{self, Author, Case, CaseFilter, Entry};

use crate::attachment_files::{self, Upload};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::access::{account_access, agent_teams};
use super::input::{invalid, optional_text, text};
use super::{UseCaseError, changes};
use crate::changes::Change;
use crate::notify::Notification;
use crate::state::AppState;

/// Longest client message id.
const MAX_CLIENT_MESSAGE_ID: usize = 100;

/// A new case, as asked for.
#[derive(Debug, Clone, Default)]
pub struct OpenCase {
    /// Required for staff (proactive cases); a contact's own account otherwise.
    pub account_id: Option<AccountId>,
    pub subject: String,
    pub body: String,
    pub category: Option<String>,
    pub priority: Option<CasePriority>,
    pub channel: Option<Channel>,
    /// Further contacts of the account who take part.
    pub participants: Vec<ContactId>,
    pub client_message_id: Option<String>,
    /// The knowledge base suggestion the contact saw before opening.
    pub kb_suggestion: Option<rapport_domain::SuggestionId>,
    /// Staff opening a case to contacts (outreach): also email them the
    /// first message. Default: yes.
    pub email_contacts: Option<bool>,
}

/// Changes to a case; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct CaseChanges {
    pub subject: Option<String>,
    pub status: Option<CaseStatus>,
    pub priority: Option<CasePriority>,
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub team_id: Option<Option<TeamId>>,
    pub assignee_id: Option<Option<StaffId>>,
}

/// A case with its participants.
#[derive(Debug, Clone)]
pub struct CaseDetail {
    pub case: Case,
    pub participants: Vec<ContactId>,
    /// Staff only: the knowledge base articles the contact saw before
    /// opening the case (id, title).
    pub articles_shown: Vec<(rapport_domain::ArticleId, String)>,
}

/// What posting to a thread did.
#[derive(Debug, Clone)]
pub struct Posted {
    pub attachments: Vec<Attachment>,
    /// The case the entry is in: a new one when the reply came long after closing.
    pub case: Case,
    pub entry: Entry,
    /// True when this client message id had been posted before: nothing new was stored.
    pub duplicate: bool,
    /// System events the post caused (a reopening), after the entry.
    pub events: Vec<Entry>,
    /// The case's status changed (a client reply reopened it, a first answer opened it).
    pub status_changed: bool,
    /// The entry opened a new case (a reply long after closing, or mail
    /// that started a conversation).
    pub opened: bool,
}

pub(super) fn author_of(who: &Principal) -> Result<(Author, Actor), UseCaseError> {
    Ok(match who {
        Principal::Staff { id, .. } => (Author::Staff(*id), Actor::new(ActorKind::Staff, id)?),
        Principal::Contact { id, .. } => {
            (Author::Contact(*id), Actor::new(ActorKind::Contact, id)?)
        }
        Principal::ApiToken { .. } => return Err(UseCaseError::Forbidden),
    })
}

fn case_stream(id: CaseId) -> StreamName {
    StreamName::case(id)
}

/// Appends an audit event to the case's stream (linked to its account).
pub(super) fn audit(
    conn: &mut DbConnection,
    case: &Case,
    actor: Actor,
    action: &str,
    data: Value,
) -> Result<(), UseCaseError> {
    super::append_audit(
        conn,
        case_stream(case.id),
        actor,
        action,
        ("case", Some(&case.id.to_string())),
        data,
        Some(&case.account_id.to_string()),
    )?;
    Ok(())
}

fn body_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// Appends an entry and its audit event (the event holds the body's
/// SHA-256, not the body: the thread is the content, the log the proof).
fn add_entry(
    conn: &mut DbConnection,
    case: &mut Case,
    kind: EntryKind,
    author: Author,
    actor: Actor,
    body: &str,
    client_message_id: Option<&str>,
) -> Result<Entry, UseCaseError> {
    let entry = case::insert_entry(conn, case, kind, author, body, client_message_id)?;
    record_entry(conn, case, entry, actor, body, client_message_id)
}

/// The case's side of an entry just inserted: its activity time and the
/// audit event.
fn record_entry(
    conn: &mut DbConnection,
    case: &mut Case,
    entry: Entry,
    actor: Actor,
    body: &str,
    client_message_id: Option<&str>,
) -> Result<Entry, UseCaseError> {
    let kind = entry.kind;
    case.last_activity_at = entry.created_at;
    audit(
        conn,
        case,
        actor,
        "case.entry_added",
        json!({"entry_id": entry.id.to_string(), "kind": kind.as_str(), "body_sha256": body_hash(body), "client_message_id": client_message_id}),
    )?;
    Ok(entry)
}

/// A system event in the thread, visible to everyone who reads the case.
pub(super) fn thread_event(
    conn: &mut DbConnection,
    case: &mut Case,
    text: &str,
) -> Result<Entry, UseCaseError> {
    Ok(case::insert_entry(
        conn,
        case,
        EntryKind::Event,
        Author::System,
        text,
        None,
    )?)
}

/// What the team should be told of a post: a contact opened a case or
/// wrote on one.
pub(super) fn client_wrote_notice(posted: &Posted) -> Notification {
    let (kind, text) = if posted.opened {
        (
            "case_opened",
            format!("New case #{}: {}", posted.case.number, posted.case.subject),
        )
    } else {
        (
            "client_message",
            format!(
                "The client wrote on #{}: {}",
                posted.case.number, posted.case.subject
            ),
        )
    };
    Notification::about(kind, &posted.case, text)
}

/// What a new post committed: the entry, the events it caused, the case
/// when its status moved, and, when a contact wrote, word to the team.
pub(super) fn post_changes(posted: &Posted, who: &Principal) -> Vec<Change> {
    let mut changes = vec![Change::EntryAdded(posted.entry.clone())];
    changes.extend(posted.events.iter().cloned().map(Change::EntryAdded));
    if posted.status_changed {
        changes.push(Change::CaseChanged {
            case: posted.case.clone(),
            fields: vec!["status".into()],
        });
    }
    if matches!(who, Principal::Contact { .. }) {
        changes.push(Change::StaffNotice(client_wrote_notice(posted)));
    }
    changes
}

/// A case with what deciding access to it needs.
pub(super) struct Loaded {
    pub(super) case: Case,
    pub(super) account: Account,
    teams: Vec<TeamId>,
    pub(super) participants: Vec<ContactId>,
    concerns_caller_function: bool,
    /// The account's parent companies (for a contact caller).
    groups: Vec<AccountId>,
}

impl Loaded {
    pub(super) fn access<'a>(&'a self, who: &Principal, state: &AppState) -> CaseAccess<'a> {
        CaseAccess {
            account: account_access(
                &self.account,
                &self.teams,
                &self.groups,
                state.config.settings.accounts.agents_see_all,
            ),
            opened_by: self.case.opened_by_contact_id,
            caller_participates: matches!(who, Principal::Contact { id, .. } if self.participants.contains(id)),
            concerns_caller_function: self.concerns_caller_function,
        }
    }
}

/// How a contact's reading of their account's cases is narrowed: `None`
/// when they see all of them (and for everyone but contacts), else their
/// id (their own cases and the ones they take part in) and the categories
/// whose cases they see as well (those of their function, with
/// `function_cases`).
pub(super) fn contact_scope(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
) -> Result<Option<case::Involving>, UseCaseError> {
    use rapport_domain::ContactVisibility;
    let Principal::Contact {
        id,
        visibility,
        function,
        ..
    } = who
    else {
        return Ok(None);
    };
    let or_categories = match visibility {
        ContactVisibility::AllAccountCases => return Ok(None),
        ContactVisibility::OwnCases => Vec::new(),
        ContactVisibility::FunctionCases => rapport_store::category::concerning(
            conn,
            *function,
            &state.config.settings.cases.categories,
        )?,
    };
    Ok(Some(case::Involving {
        contact: *id,
        or_categories,
    }))
}

/// Refuses integrations: no API token scope names conversations, so a
/// token gets 403 on every case, thread, file, timeline and search.
pub(super) fn conversations_reader(who: &Principal) -> Result<(), UseCaseError> {
    if rapport_domain::can_read_conversations(who) {
        Ok(())
    } else {
        Err(UseCaseError::Forbidden)
    }
}

/// The case if `who` may read it; `NotFound` otherwise.
pub(super) fn load(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: CaseId,
) -> Result<Loaded, UseCaseError> {
    conversations_reader(who)?;
    let case = case::find(conn, id)?.ok_or(UseCaseError::NotFound("case"))?;
    load_found(conn, state, who, case)
}

/// [`load`] holding the case's append lock until the transaction ends.
pub(super) fn load_for_append(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: CaseId,
) -> Result<Loaded, UseCaseError> {
    conversations_reader(who)?;
    let case = case::find_for_append(conn, id)?.ok_or(UseCaseError::NotFound("case"))?;
    load_found(conn, state, who, case)
}

/// The rest of [`load`], for a case row already read.
fn load_found(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    case: Case,
) -> Result<Loaded, UseCaseError> {
    let id = case.id;
    let account = rapport_store::account::find(conn, case.account_id)?
        .ok_or(UseCaseError::NotFound("case"))?;
    let teams = agent_teams(conn, who)?;
    let participants = case::participants(conn, id)?;
    let concerns_caller_function = match (contact_scope(conn, state, who)?, &case.category) {
        (Some(scope), Some(category)) => scope.or_categories.contains(category),
        _ => false,
    };
    let groups = super::access::contact_groups(conn, who, &account)?;
    let loaded = Loaded {
        case,
        account,
        teams,
        participants,
        concerns_caller_function,
        groups,
    };
    if can_read_case(who, &loaded.access(who, state)) {
        Ok(loaded)
    } else {
        Err(UseCaseError::NotFound("case"))
    }
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>, UseCaseError> {
    if tags.len() > 20 {
        return Err(invalid("tags", "at most 20 tags"));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > 40 || t.chars().any(char::is_control) {
            return Err(invalid("tags", "each tag is 1 to 40 characters"));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_category(
    state: &AppState,
    category: Option<&str>,
) -> Result<Option<String>, UseCaseError> {
    match category {
        None => Ok(None),
        Some(c)
            if state
                .config
                .settings
                .cases
                .categories
                .iter()
                .any(|k| k == c) =>
        {
            Ok(Some(c.to_owned()))
        }
        Some(_) => Err(invalid(
            "category",
            format!(
                "must be one of: {}",
                state.config.settings.cases.categories.join(", ")
            ),
        )),
    }
}

/// A field of a request that only staff may set, named to a contact.
pub fn staff_only_field(field: &'static str) -> UseCaseError {
    invalid(field, "is set by the support team only; leave it out")
}

/// A message as written into a thread: the same limit for every door.
pub(super) fn check_body(state: &AppState, body: &str) -> Result<String, UseCaseError> {
    optional_text(
        "body",
        Some(body),
        state.config.settings.cases.max_message_chars,
        true,
    )?
    .ok_or_else(|| invalid("body", "must not be empty"))
}

/// A client message id as every door accepts it (see [`check_client_id`]).
pub fn check_client_message_id(id: Option<&str>) -> Result<Option<String>, UseCaseError> {
    check_client_id("client_message_id", id)
}

/// A caller's id for a request (retries carry the same one): 1 to 100
/// visible ASCII characters.
pub(super) fn check_client_id(
    field: &'static str,
    id: Option<&str>,
) -> Result<Option<String>, UseCaseError> {
    match id {
        None => Ok(None),
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_CLIENT_MESSAGE_ID
                && id.chars().all(|c| c.is_ascii_graphic()) =>
        {
            Ok(Some(id.to_owned()))
        }
        Some(_) => Err(invalid(
            field,
            format!("must be 1 to {MAX_CLIENT_MESSAGE_ID} visible ASCII characters"),
        )),
    }
}

/// Where a new case went and why, in words for the case's thread.
pub(super) struct Routing {
    team: Option<TeamId>,
    assignee: Option<StaffId>,
    /// Short, for the audit log: `skill`, `familiar agent`, `fewest open cases`...
    rule: &'static str,
    /// The whole decision, for the team: "Routed to Ana Agent: billing
    /// skill; handled this account's last 3 billing cases."
    explained: String,
}

/// How many of the account's latest cases of a category count towards
/// knowing it.
const FAMILIAR_CASES: i64 = 5;

/// The team a new case of `account` goes to, and who in it takes it. The
/// team is the account's dedicated team (else the triage team). Within
/// it: the members with the skill the category asks for (all members when
/// nobody has it); among them the one who handled most of the account's
/// latest cases of the category, else the one who last wrote to the
/// account, else the one with the fewest open cases.
fn route(
    conn: &mut DbConnection,
    state: &AppState,
    account: &Account,
    category: Option<&str>,
) -> Result<Routing, UseCaseError> {
    let team = match account.team_id {
        Some(t) => rapport_store::team::find(conn, t)?,
        None => {
            let triage = state.config.settings.cases.triage_team.trim();
            if triage.is_empty() {
                None
            } else {
                rapport_store::team::find_by_name(conn, triage)?
            }
        }
    };
    let Some(team) = team else {
        return Ok(Routing {
            team: None,
            assignee: None,
            rule: "no team",
            explained: "Not routed: the account has no dedicated team and no triage team is set."
                .into(),
        });
    };
    let member_ids: Vec<StaffId> = team.members.iter().map(|m| m.staff_id).collect();
    let found = rapport_store::staff::find_many(conn, &member_ids)?;
    // In the team's own order: a tie on load goes to the first listed.
    let members: Vec<_> = member_ids
        .iter()
        .filter_map(|id| found.iter().find(|s| s.id == *id))
        .filter(|s| s.active && matches!(s.role, StaffRole::Agent | StaffRole::Admin))
        .cloned()
        .collect();
    let ids: Vec<StaffId> = members.iter().map(|s| s.id).collect();
    let mut why: Vec<String> = Vec::new();
    let skill = match category {
        Some(c) => rapport_store::category::find(conn, c)?.and_then(|m| m.skill),
        None => None,
    };
    let mut by_skill = false;
    let pool = match &skill {
        Some(skill) => {
            let skilled = rapport_store::category::with_skill(conn, skill, &ids)?;
            if skilled.is_empty() {
                why.push(format!("nobody in {} has the {skill} skill", team.name));
                ids.clone()
            } else {
                by_skill = true;
                why.push(format!("{skill} skill"));
                ids.iter()
                    .copied()
                    .filter(|i| skilled.contains(i))
                    .collect()
            }
        }
        None => ids.clone(),
    };
    let name_of = |id: StaffId| {
        members
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.display_name.as_str().to_owned())
            .unwrap_or_default()
    };
    // The audit log's short rule: the skill when it narrowed the choice.
    let decided = |assignee: Option<StaffId>, rule: &'static str, why: Vec<String>| {
        let to = match assignee {
            Some(a) => format!("Routed to {} in {}", name_of(a), team.name),
            None => format!("Routed to {}, nobody in it to assign", team.name),
        };
        Routing {
            team: Some(team.id),
            assignee,
            rule: if by_skill { "skill" } else { rule },
            explained: if why.is_empty() {
                format!("{to}.")
            } else {
                format!("{to}: {}.", why.join("; "))
            },
        }
    };
    if let Some(category) = category {
        let recent = case::recent_assignees(conn, account.id, category, FAMILIAR_CASES)?;
        let mut best: Option<(usize, StaffId)> = None;
        // Newest first: on a tie, the one who handled the latest case wins.
        for id in recent.iter().flatten().filter(|id| pool.contains(id)) {
            let handled = recent.iter().filter(|a| **a == Some(*id)).count();
            if best.is_none_or(|(n, _)| handled > n) {
                best = Some((handled, *id));
            }
        }
        if let Some((handled, id)) = best {
            why.push(if handled == 1 {
                format!("handled this account's latest {category} case")
            } else {
                format!(
                    "handled {handled} of this account's last {} {category} cases",
                    recent.len()
                )
            });
            return Ok(decided(Some(id), "familiar agent", why));
        }
    }
    if let Some(familiar) = case::last_staff_author(conn, account.id)?
        && pool.contains(&familiar)
    {
        why.push("last wrote to this account".into());
        return Ok(decided(Some(familiar), "familiar agent", why));
    }
    let loads = case::open_cases_by(conn, &pool)?;
    let mut best: Option<(i64, StaffId)> = None;
    for id in &pool {
        let load = loads
            .iter()
            .find(|(who, _)| who == id)
            .map_or(0, |(_, n)| *n);
        if best.is_none_or(|(b, _)| load < b) {
            best = Some((load, *id));
        }
    }
    if let Some((load, _)) = best {
        why.push(match load {
            0 => "no open cases".into(),
            1 => "fewest open cases (1)".into(),
            n => format!("fewest open cases ({n})"),
        });
    }
    Ok(decided(best.map(|(_, id)| id), "fewest open cases", why))
}

/// Everything a new case starts from.
struct Opening<'a> {
    opener: Author,
    actor: Actor,
    subject: &'a str,
    body: &'a str,
    category: Option<String>,
    priority: CasePriority,
    channel: Channel,
    participants: &'a [ContactId],
    client_message_id: Option<&'a str>,
    follows: Option<CaseId>,
}

/// Creates a case (number, routing, first entry) inside the caller's transaction.
fn create(
    conn: &mut DbConnection,
    state: &AppState,
    account: &Account,
    o: Opening<'_>,
) -> Result<(Case, Entry), UseCaseError> {
    let Opening {
        opener,
        actor,
        subject,
        body,
        category,
        priority,
        channel,
        participants,
        client_message_id,
        follows,
    } = o;
    let routing = route(conn, state, account, category.as_deref())?;
    let (team_id, assignee_id) = (routing.team, routing.assignee);
    // As stored (microseconds): the first entry is written at this time,
    // so the row inserted needs no update after it.
    let now = rapport_store::now_micros().and_utc();
    let mut case = Case {
        id: CaseId::new(),
        number: case::next_number(conn)?,
        account_id: account.id,
        opened_by_contact_id: match opener {
            Author::Contact(id) => Some(id),
            _ => None,
        },
        opened_by_staff_id: match opener {
            Author::Staff(id) => Some(id),
            _ => None,
        },
        subject: subject.to_owned(),
        team_id,
        assignee_id,
        status: CaseStatus::New,
        priority,
        category,
        tags: Vec::new(),
        channel,
        merged_into_id: None,
        follows_case_id: follows,
        reopen_count: 0,
        // Staff who open a case have answered it.
        first_response_at: matches!(opener, Author::Staff(_)).then_some(now),
        resolved_at: None,
        closed_at: None,
        last_activity_at: now,
        created_at: now,
        updated_at: now,
        routing_note: Some(routing.explained.clone()),
    };
    case::insert(conn, &case)?;
    let inserted = case.clone();
    for p in participants {
        case::add_participant(conn, case.id, *p)?;
    }
    audit(
        conn,
        &case,
        actor.clone(),
        "case.created",
        json!({
            "number": case.number,
            "subject": subject,
            "channel": channel.as_str(),
            "priority": priority.as_str(),
            "category": case.category,
            "team_id": team_id.map(|t| t.to_string()),
            "assignee_id": assignee_id.map(|a| a.to_string()),
            "routing": routing.rule,
            "routing_explained": routing.explained,
            "follows_case_id": follows.map(|f| f.to_string()),
            "participants": participants.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
    )?;
    let kind = match (channel, opener) {
        (Channel::Chat, _) => EntryKind::Chat,
        (Channel::Email, Author::Contact(_)) => EntryKind::EmailIn,
        _ => EntryKind::Portal,
    };
    let first = case::NewEntry {
        kind,
        author: opener,
        body,
        client_message_id,
    };
    let entry = case::insert_first_entry(conn, &case, first)?;
    let entry = record_entry(conn, &mut case, entry, actor, body, client_message_id)?;
    if let Author::Contact(_) = opener {
        rapport_store::report::start_wait(conn, case.id, entry.created_at.naive_utc())?;
    }
    case::save_from(conn, &inserted, &case)?;
    super::sla::on_opened(
        conn,
        state,
        &case,
        account,
        matches!(opener, Author::Contact(_)),
        now,
    )?;
    super::notices::inform(
        conn,
        state,
        &case,
        Some(account),
        super::notices::CaseEvent::Opened,
    )?;
    Ok((case, entry))
}

/// Opens a case: a contact for their company, or staff proactively.
pub fn open(
    state: &AppState,
    who: &Principal,
    input: OpenCase,
) -> Result<(Case, Entry), UseCaseError> {
    open_announcing(state, who, input, opened_notice)
}

/// [`open`], telling the team about the new case with `notice`.
pub(super) fn open_announcing(
    state: &AppState,
    who: &Principal,
    input: OpenCase,
    notice: impl FnOnce(&Case) -> Notification,
) -> Result<(Case, Entry), UseCaseError> {
    super::commit(state, |conn, changes| {
        let (case, entry) = open_in(conn, state, who, &input)?;
        changes.push(Change::CaseOpened(case.clone()));
        changes.push(Change::EntryAdded(entry.clone()));
        changes.push(Change::StaffNotice(notice(&case)));
        Ok((case, entry))
    })
}

fn opened_notice(case: &Case) -> Notification {
    Notification::about(
        "case_opened",
        case,
        format!("New case #{}: {}", case.number, case.subject),
    )
}

/// Opens a case whose first message carries files (a screenshot with the
/// question). A retry with the same client message id returns the first
/// opening and stores no file twice.
pub fn open_with_files(
    state: &AppState,
    who: &Principal,
    input: OpenCase,
    uploads: Vec<Upload>,
) -> Result<(Case, Entry, Vec<Attachment>), UseCaseError> {
    let result = super::commit(state, |conn, changes| {
        let (author, _) = author_of(who)?;
        if let Some(cmid) = check_client_message_id(input.client_message_id.as_deref())?
            && let Some(entry) = case::find_by_client_message(conn, &author, &cmid)?
        {
            let existing =
                case::find(conn, entry.case_id)?.ok_or(UseCaseError::NotFound("case"))?;
            let files = rapport_store::attachment::for_entries(conn, &[entry.id])?;
            return Ok((existing, entry, files, true));
        }
        let (case, entry) = open_in(conn, state, who, &input)?;
        let files = attach(conn, state, &entry, &uploads)?;
        changes.push(Change::CaseOpened(case.clone()));
        changes.push(Change::EntryAdded(entry.clone()));
        changes.push(Change::StaffNotice(opened_notice(&case)));
        Ok((case, entry, files, false))
    });
    match result {
        Ok((case, entry, files, duplicate)) => {
            if duplicate {
                uploads.iter().for_each(Upload::discard);
            }
            Ok((case, entry, files))
        }
        Err(e) => {
            uploads.iter().for_each(Upload::discard);
            Err(e)
        }
    }
}

/// Opens a case inside the caller's transaction (see [`open`]).
pub(super) fn open_in(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    input: &OpenCase,
) -> Result<(Case, Entry), UseCaseError> {
    let (author, actor) = author_of(who)?;
    let subject = text("subject", &input.subject, 200)?;
    let body = check_body(state, &input.body)?;
    let category = check_category(state, input.category.as_deref())?;
    let client_message_id = check_client_message_id(input.client_message_id.as_deref())?;
    {
        if let Some(cmid) = &client_message_id
            && let Some(entry) = case::find_by_client_message(conn, &author, cmid)?
        {
            let existing =
                case::find(conn, entry.case_id)?.ok_or(UseCaseError::NotFound("case"))?;
            return Ok((existing, entry));
        }
        let account_id = match (who, input.account_id) {
            (Principal::Contact { account, .. }, None) => *account,
            (Principal::Contact { account, .. }, Some(given)) if given == *account => given,
            (Principal::Contact { .. }, Some(_)) => return Err(UseCaseError::NotFound("account")),
            (_, Some(given)) => given,
            (_, None) => return Err(invalid("account_id", "is required for staff")),
        };
        let account = super::account::readable(conn, state, who, account_id)?;
        let teams = agent_teams(conn, who)?;
        let access = CaseAccess {
            // Contacts open cases for their own company only.
            account: account_access(
                &account,
                &teams,
                &[],
                state.config.settings.accounts.agents_see_all,
            ),
            opened_by: None,
            caller_participates: false,
            concerns_caller_function: false,
        };
        if matches!(who, Principal::Staff { .. }) && !can_work_case(who, &access) {
            return Err(UseCaseError::Forbidden);
        }
        for p in &input.participants {
            match rapport_store::contact::find(conn, *p)? {
                Some(c) if c.account_id == account.id => {}
                _ => {
                    return Err(invalid(
                        "participants",
                        "must be contacts of the case's account",
                    ));
                }
            }
        }
        let channel = input.channel.unwrap_or(Channel::Portal);
        let (case, entry) = create(
            conn,
            state,
            &account,
            Opening {
                opener: author,
                actor,
                subject: &subject,
                body: &body,
                category,
                priority: input.priority.unwrap_or(CasePriority::Normal),
                channel,
                participants: &input.participants,
                client_message_id: client_message_id.as_deref(),
                follows: None,
            },
        )?;
        if let (Channel::Chat, Author::Contact(contact)) = (channel, author) {
            super::greeting::greet(conn, state, &case, contact)?;
        }
        if let Some(suggestion) = input.kb_suggestion {
            let shown = super::knowledge::continued(conn, who, suggestion, case.id)?;
            audit(
                conn,
                &case,
                author_of(who)?.1,
                "case.articles_shown",
                json!({"suggestion_id": suggestion.to_string(), "articles": shown.iter().map(ToString::to_string).collect::<Vec<_>>()}),
            )?;
        }
        if let Author::Staff(staff) = author
            && !input.participants.is_empty()
            && channel != Channel::Chat
            && input.email_contacts.unwrap_or(true)
        {
            let name = rapport_store::staff::find(conn, staff)?
                .map(|s| s.display_name.as_str().to_owned())
                .unwrap_or_default();
            if super::mail::enqueue_reply(conn, state, &case, &entry, "outreach", &name, &[])?
                .is_none()
            {
                return Err(invalid(
                    "participants",
                    "none of these contacts is active with an email address; add one or set `email_contacts` to false",
                ));
            }
        }
        Ok((case, entry))
    }
}

pub fn get(state: &AppState, who: &Principal, id: CaseId) -> Result<CaseDetail, UseCaseError> {
    let (loaded, articles_shown) = {
        let conn = &mut *state.store.conn()?;
        let loaded = load(conn, state, who, id)?;
        let shown = if matches!(who, Principal::Staff { .. }) {
            super::knowledge::shown_before(conn, id)?
                .into_iter()
                .map(|a| (a.id, a.title))
                .collect()
        } else {
            Vec::new()
        };
        (loaded, shown)
    };
    super::evidence::record_auditor_read(state, who, "case", &id.to_string())?;
    Ok(CaseDetail {
        case: loaded.case,
        participants: loaded.participants,
        articles_shown,
    })
}

/// Cases the caller may read, newest first.
pub fn list(
    state: &AppState,
    who: &Principal,
    filter: CaseFilter,
    before: Option<CaseId>,
    limit: i64,
) -> Result<Vec<Case>, UseCaseError> {
    let mut conn = state.store.conn()?;
    let filter = readable_by(&mut conn, state, who, filter)?;
    Ok(case::list(&mut conn, &filter, before, limit)?)
}

/// The views of the staff workspace, each a filter over what one may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Open cases assigned to me.
    Mine,
    /// Open cases of my teams.
    Team,
    /// Open cases nobody is assigned to.
    Unassigned,
    /// Open cases past a service-level target.
    Breaching,
    /// Cases waiting for the client.
    Waiting,
    /// Every open case I may read.
    Open,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Mine,
        View::Team,
        View::Unassigned,
        View::Breaching,
        View::Waiting,
        View::Open,
    ];

    pub fn key(self) -> &'static str {
        match self {
            View::Mine => "mine",
            View::Team => "team",
            View::Unassigned => "unassigned",
            View::Breaching => "breaching",
            View::Waiting => "waiting",
            View::Open => "open",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            View::Mine => "Mine",
            View::Team => "My teams",
            View::Unassigned => "Unassigned",
            View::Breaching => "Breaching",
            View::Waiting => "Waiting on client",
            View::Open => "All open",
        }
    }

    pub fn parse(key: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.key() == key)
    }

    /// `filter` narrowed to this view for `who`.
    fn narrow(
        self,
        conn: &mut DbConnection,
        who: &Principal,
        mut filter: CaseFilter,
    ) -> Result<CaseFilter, UseCaseError> {
        filter.open_only = true;
        match self {
            View::Mine => match who {
                Principal::Staff { id, .. } => filter.assignee = Some(*id),
                _ => return Err(UseCaseError::Forbidden),
            },
            View::Team => match who {
                Principal::Staff { id, .. } => {
                    filter.teams = Some(rapport_store::team::teams_of(conn, *id)?);
                }
                _ => return Err(UseCaseError::Forbidden),
            },
            View::Unassigned => filter.unassigned = true,
            View::Breaching => filter.breached = true,
            View::Waiting => filter.status = Some(rapport_domain::CaseStatus::PendingClient),
            View::Open => {}
        }
        Ok(filter)
    }
}

/// Cases of `view` the caller may read, newest first.
pub fn list_view(
    state: &AppState,
    who: &Principal,
    view: View,
    filter: CaseFilter,
    before: Option<CaseId>,
    limit: i64,
) -> Result<Vec<Case>, UseCaseError> {
    let mut conn = state.store.conn()?;
    let filter = view.narrow(&mut conn, who, filter)?;
    let filter = readable_by(&mut conn, state, who, filter)?;
    Ok(case::list(&mut conn, &filter, before, limit)?)
}

/// How many cases each view holds for the caller (staff).
pub fn view_counts(state: &AppState, who: &Principal) -> Result<Vec<(View, i64)>, UseCaseError> {
    if !matches!(who, Principal::Staff { .. }) {
        return Err(UseCaseError::Forbidden);
    }
    let mut conn = state.store.conn()?;
    let base = readable_by(&mut conn, state, who, CaseFilter::default())?;
    View::ALL
        .into_iter()
        .map(|view| {
            let filter = view.narrow(&mut conn, who, base.clone())?;
            Ok((view, case::count(&mut conn, &filter)?))
        })
        .collect()
}

/// `filter` narrowed to the cases `who` may read.
fn readable_by(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    mut filter: CaseFilter,
) -> Result<CaseFilter, UseCaseError> {
    match who {
        Principal::Contact { .. } => {
            filter.accounts = Some(super::access::contact_accounts(conn, who)?);
            filter.involving = contact_scope(conn, state, who)?;
        }
        Principal::Staff {
            role: StaffRole::Agent,
            ..
        } if !state.config.settings.accounts.agents_see_all => {
            filter.served_by = Some(agent_teams(conn, who)?);
        }
        Principal::ApiToken { .. } => conversations_reader(who)?,
        Principal::Staff { .. } => {}
    }
    Ok(filter)
}

/// The thread, in order; internal notes only for those who may see them.
pub fn entries(
    state: &AppState,
    who: &Principal,
    id: CaseId,
    after: Option<EntryId>,
    limit: i64,
) -> Result<Vec<(Entry, Vec<Attachment>)>, UseCaseError> {
    let mut conn = state.store.conn()?;
    load(&mut conn, state, who, id)?;
    super::evidence::record_auditor_read(state, who, "case_thread", &id.to_string())?;
    let entries = case::entries(
        &mut conn,
        id,
        can_see_entry(who, EntryKind::Note),
        after,
        limit,
    )?;
    let ids: Vec<EntryId> = entries.iter().map(|e| e.id).collect();
    let mut files = rapport_store::attachment::for_entries(&mut conn, &ids)?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let (mine, rest): (Vec<_>, Vec<_>) = files.drain(..).partition(|a| a.entry_id == e.id);
            files = rest;
            (e, mine)
        })
        .collect())
}

/// Stores the uploads of a new entry: content first (fsynced), then rows.
pub(super) fn attach(
    conn: &mut DbConnection,
    state: &AppState,
    entry: &Entry,
    uploads: &[Upload],
) -> Result<Vec<Attachment>, UseCaseError> {
    let data_dir = &state.config.settings.data_dir;
    let mut stored = Vec::new();
    for upload in uploads {
        attachment_files::keep(data_dir, upload)
            .map_err(|e| UseCaseError::Internal(format!("cannot store an attachment: {e}")))?;
        let size = i64::try_from(upload.size).unwrap_or(i64::MAX);
        stored.push(rapport_store::attachment::insert(
            conn,
            entry.id,
            &upload.sha256,
            size,
            &upload.filename,
            &upload.content_type,
        )?);
    }
    Ok(stored)
}

/// How long placed content may stay without its row: far longer than any
/// transaction that could still commit it.
const UNREFERENCED_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes attachment content no row names (left by rolled-back writes)
/// and abandoned uploads, once older than an hour; returns how many files.
pub fn sweep_attachment_files(state: &AppState) -> Result<usize, UseCaseError> {
    let mut conn = state.store.conn()?;
    Ok(attachment_files::sweep_unreferenced(
        &state.config.settings.data_dir,
        UNREFERENCED_GRACE,
        |sha| rapport_store::attachment::content_referenced(&mut conn, sha),
    )?)
}

/// An attachment and where its content is, if the caller may read the
/// entry it belongs to (never a note's for a contact).
pub fn attachment(
    state: &AppState,
    who: &Principal,
    id: &str,
) -> Result<(Attachment, std::path::PathBuf), UseCaseError> {
    conversations_reader(who)?;
    let mut conn = state.store.conn()?;
    let found = rapport_store::attachment::find(&mut conn, id)?
        .ok_or(UseCaseError::NotFound("attachment"))?;
    let entry =
        case::find_entry(&mut conn, found.entry_id)?.ok_or(UseCaseError::NotFound("attachment"))?;
    load(&mut conn, state, who, entry.case_id).map_err(|_| UseCaseError::NotFound("attachment"))?;
    if !can_see_entry(who, entry.kind) {
        return Err(UseCaseError::NotFound("attachment"));
    }
    if let Some(at) = found.redacted_at {
        return Err(UseCaseError::Redacted(rapport_audit::format_at(&at)));
    }
    super::evidence::record_auditor_read(state, who, "attachment", &found.id)?;
    let path = attachment_files::content_path(&state.config.settings.data_dir, &found.sha256);
    Ok((found, path))
}

/// Adds a message or note. A contact's reply to a resolved case reopens
/// it; to a case closed long ago, it opens a new case that follows it. A
/// repeated client message id returns the first entry, storing nothing.
pub fn post(
    state: &AppState,
    who: &Principal,
    id: CaseId,
    kind: EntryKind,
    body: &str,
    client_message_id: Option<&str>,
    uploads: Vec<Upload>,
) -> Result<Posted, UseCaseError> {
    let result = super::commit(state, |conn, changes| {
        let posted = post_in(
            conn,
            state,
            who,
            id,
            kind,
            body,
            client_message_id,
            &uploads,
            Door::Api,
        )?;
        if !posted.duplicate {
            *changes = post_changes(&posted, who);
        }
        Ok(posted)
    });
    if !matches!(&result, Ok(p) if !p.duplicate) {
        // Files not taken into the store (an error, a repeated post) go away.
        uploads.iter().for_each(Upload::discard);
    }
    result
}

/// Which way an entry comes in: what kinds it may post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Door {
    /// The HTTP API and chat: portal and chat messages, staff notes and emails.
    Api,
    /// The inbound mail pipeline: received email.
    Mail,
    /// Received email that is automatic (an out-of-office reply, a
    /// notification): kept on the case, but it reopens nothing, moves no
    /// service-level clock and counts in no report.
    AutomaticMail,
}

/// Posts inside the caller's transaction (see [`post`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn post_in(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: CaseId,
    kind: EntryKind,
    body: &str,
    client_message_id: Option<&str>,
    uploads: &[Upload],
    door: Door,
) -> Result<Posted, UseCaseError> {
    let (author, actor) = author_of(who)?;
    let body = if uploads.is_empty() || !body.trim().is_empty() {
        check_body(state, body)?
    } else {
        String::new()
    };
    let client_message_id = check_client_message_id(client_message_id)?;
    let window = Duration::days(i64::from(
        state.config.settings.cases.reopen_closed_within_days,
    ));
    {
        if let Some(cmid) = &client_message_id
            && let Some(entry) = case::find_by_client_message(conn, &author, cmid)?
        {
            let case = case::find(conn, entry.case_id)?.ok_or(UseCaseError::NotFound("case"))?;
            let attachments = rapport_store::attachment::for_entries(conn, &[entry.id])?;
            return Ok(Posted {
                case,
                entry,
                duplicate: true,
                attachments,
                events: Vec::new(),
                status_changed: false,
                opened: false,
            });
        }
        let loaded = load_for_append(conn, state, who, id)?;
        if !can_reply_case(who, &loaded.access(who, state)) {
            return Err(UseCaseError::Forbidden);
        }
        let allowed = match (door, who) {
            (Door::Mail | Door::AutomaticMail, _) => kind == EntryKind::EmailIn,
            (Door::Api, Principal::Contact { .. }) => {
                matches!(kind, EntryKind::Portal | EntryKind::Chat)
            }
            (Door::Api, _) => matches!(
                kind,
                EntryKind::Portal | EntryKind::Chat | EntryKind::Note | EntryKind::EmailOut
            ),
        };
        if !allowed {
            return Err(invalid(
                "kind",
                "contacts post `portal` or `chat` messages; staff also post `note`s and `email_out` replies",
            ));
        }
        let mut events = Vec::new();
        let status_before = loaded.case.status;
        let mut case = loaded.case.clone();
        if let Some(survivor) = case.merged_into_id {
            let number = case::find(conn, survivor)?.map_or(0, |c| c.number);
            return Err(UseCaseError::Validation {
                field: "case",
                message: format!("this case was merged into #{number}; post there"),
            });
        }
        let automatic = door == Door::AutomaticMail;
        if let (Principal::Contact { .. }, false) = (who, automatic) {
            match on_client_reply(case.status, case.closed_at, Utc::now(), window) {
                ClientReply::NewCase => {
                    // A group's contact reads a subsidiary's cases but opens
                    // cases for their own company only.
                    if matches!(who, Principal::Contact { account, .. } if *account != case.account_id)
                    {
                        return Err(invalid(
                            "case",
                            "is closed; open a new case for your own company instead",
                        ));
                    }
                    let subject = format!("Re: {}", case.subject)
                        .chars()
                        .take(200)
                        .collect::<String>();
                    let (new_case, entry) = create(
                        conn,
                        state,
                        &loaded.account,
                        Opening {
                            opener: author,
                            actor,
                            subject: &subject,
                            body: &body,
                            category: case.category.clone(),
                            priority: case.priority,
                            channel: case.channel,
                            participants: &loaded.participants,
                            client_message_id: client_message_id.as_deref(),
                            follows: Some(case.id),
                        },
                    )?;
                    let attachments = attach(conn, state, &entry, uploads)?;
                    return Ok(Posted {
                        case: new_case,
                        entry,
                        duplicate: false,
                        attachments,
                        events,
                        status_changed: false,
                        opened: true,
                    });
                }
                ClientReply::Reopen => {
                    let before = case.status;
                    case.status = CaseStatus::Open;
                    case.reopen_count += 1;
                    case.resolved_at = None;
                    case.closed_at = None;
                    events.push(thread_event(
                        conn,
                        &mut case,
                        "Reopened by the client's reply",
                    )?);
                    audit(
                        conn,
                        &case,
                        actor.clone(),
                        "case.reopened",
                        json!({"before": {"status": before.as_str()}, "after": {"status": "open"}, "reopen_count": case.reopen_count}),
                    )?;
                    super::sla::on_reopened(conn, state, &case, &loaded.account, Utc::now())?;
                }
                ClientReply::Continue => {
                    if case.status == CaseStatus::PendingClient {
                        case.status = CaseStatus::Open;
                        super::sla::on_status(
                            conn,
                            state,
                            &case,
                            CaseStatus::PendingClient,
                            CaseStatus::Open,
                            Utc::now(),
                        )?;
                    }
                }
            }
            super::sla::on_client_message(conn, state, &case, &loaded.account, Utc::now())?;
        }
        let entry = add_entry(
            conn,
            &mut case,
            kind,
            author,
            actor,
            &body,
            client_message_id.as_deref(),
        )?;
        if let (Author::Contact(_), false) = (author, automatic) {
            rapport_store::report::start_wait(conn, case.id, entry.created_at.naive_utc())?;
        }
        if let (Author::Staff(staff), true) = (author, kind != EntryKind::Note) {
            rapport_store::report::end_wait(
                conn,
                &rapport_store::report::Answer {
                    case: case.id,
                    account: case.account_id,
                    team: case.team_id,
                    agent: Some(staff),
                    first: case.first_response_at.is_none(),
                    at: entry.created_at.naive_utc(),
                },
            )?;
            super::sla::on_staff_reply(conn, &case, entry.created_at)?;
            if case.first_response_at.is_none() {
                case.first_response_at = Some(entry.created_at);
            }
            if case.status == CaseStatus::New {
                case.status = CaseStatus::Open;
            }
        }
        case::save_from(conn, &loaded.case, &case)?;
        let attachments = attach(conn, state, &entry, uploads)?;
        if kind == EntryKind::EmailOut {
            let name = match author {
                Author::Staff(id) => rapport_store::staff::find(conn, id)?
                    .map(|s| s.display_name.as_str().to_owned())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            if super::mail::enqueue_reply(conn, state, &case, &entry, "reply", &name, &attachments)?
                .is_none()
            {
                return Err(invalid(
                    "kind",
                    "the case has no contact with an email address to write to",
                ));
            }
        }
        let status_changed = case.status != status_before;
        Ok(Posted {
            case,
            entry,
            duplicate: false,
            attachments,
            events,
            status_changed,
            opened: false,
        })
    }
}

fn snapshot(c: &Case) -> Value {
    json!({
        "subject": c.subject,
        "status": c.status.as_str(),
        "priority": c.priority.as_str(),
        "category": c.category,
        "tags": c.tags,
        "team_id": c.team_id.map(|t| t.to_string()),
        "assignee_id": c.assignee_id.map(|a| a.to_string()),
    })
}

/// How people name a status.
pub fn status_name(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::New => "New",
        CaseStatus::Open => "Open",
        CaseStatus::PendingClient => "Waiting on client",
        CaseStatus::PendingInternal => "Waiting internally",
        CaseStatus::Resolved => "Resolved",
        CaseStatus::Closed => "Closed",
    }
}

/// The thread's account of a change, one sentence per field, naming who
/// made it: "Priority normal → urgent by Ana".
fn change_sentences(
    conn: &mut DbConnection,
    who: &Principal,
    before: &Case,
    after: &Case,
) -> Result<Vec<String>, UseCaseError> {
    let staff_name =
        |conn: &mut DbConnection, id: Option<StaffId>| -> Result<Option<String>, UseCaseError> {
            Ok(match id {
                Some(id) => rapport_store::staff::find(conn, id)?
                    .map(|s| s.display_name.as_str().to_owned()),
                None => None,
            })
        };
    let team_name =
        |conn: &mut DbConnection, id: Option<TeamId>| -> Result<Option<String>, UseCaseError> {
            Ok(match id {
                Some(id) => rapport_store::team::find(conn, id)?.map(|t| t.name),
                None => None,
            })
        };
    let by = match who {
        Principal::Staff { id, .. } => {
            staff_name(conn, Some(*id))?.unwrap_or_else(|| "staff".into())
        }
        _ => "the client".into(),
    };
    let mut out = Vec::new();
    if before.status != after.status {
        out.push(format!(
            "Status {} → {} by {by}",
            status_name(before.status),
            status_name(after.status)
        ));
    }
    if before.priority != after.priority {
        out.push(format!(
            "Priority {} → {} by {by}",
            before.priority.as_str(),
            after.priority.as_str()
        ));
    }
    if before.assignee_id != after.assignee_id {
        let was = staff_name(conn, before.assignee_id)?.unwrap_or_else(|| "unassigned".into());
        out.push(match staff_name(conn, after.assignee_id)? {
            Some(to) => format!("Assigned to {to} by {by} (was {was})"),
            None => format!("Unassigned by {by} (was {was})"),
        });
    }
    if before.team_id != after.team_id {
        let was = team_name(conn, before.team_id)?.unwrap_or_else(|| "no team".into());
        let to = team_name(conn, after.team_id)?.unwrap_or_else(|| "no team".into());
        out.push(format!("Handed to {to} by {by} (was {was})"));
    }
    if before.category != after.category {
        out.push(format!(
            "Category {} → {} by {by}",
            before.category.as_deref().unwrap_or("none"),
            after.category.as_deref().unwrap_or("none")
        ));
    }
    if before.tags != after.tags {
        let added: Vec<String> = after
            .tags
            .iter()
            .filter(|t| !before.tags.contains(t))
            .map(|t| format!("+{t}"))
            .collect();
        let removed: Vec<String> = before
            .tags
            .iter()
            .filter(|t| !after.tags.contains(t))
            .map(|t| format!("−{t}"))
            .collect();
        out.push(format!(
            "Labels {} by {by}",
            [added, removed].concat().join(" ")
        ));
    }
    if before.subject != after.subject {
        out.push(format!("Subject changed to “{}” by {by}", after.subject));
    }
    Ok(out)
}

/// Works a case: status, priority, category, tags, team, assignee.
pub fn update(
    state: &AppState,
    who: &Principal,
    id: CaseId,
    ch: CaseChanges,
) -> Result<Case, UseCaseError> {
    let (_, actor) = author_of(who)?;
    let mut events = Vec::new();
    let updated = super::commit(state, |conn, committed| {
        let loaded = load_for_append(conn, state, who, id)?;
        if !can_work_case(who, &loaded.access(who, state)) {
            return Err(UseCaseError::Forbidden);
        }
        let mut case = loaded.case.clone();
        if case.merged_into_id.is_some() {
            return Err(invalid("case", "a merged case cannot change"));
        }
        let before = snapshot(&case);
        if let Some(s) = &ch.subject {
            case.subject = text("subject", s, 200)?;
        }
        if let Some(c) = &ch.category {
            case.category = check_category(state, c.as_deref())?;
        }
        if let Some(t) = &ch.tags {
            case.tags = clean_tags(t)?;
        }
        if let Some(p) = ch.priority {
            case.priority = p;
        }
        let agents_see_all = state.config.settings.accounts.agents_see_all;
        if let Some(team) = ch.team_id {
            if let Some(t) = team {
                if rapport_store::team::find(conn, t)?.is_none() {
                    return Err(invalid("team_id", "no such team"));
                }
                // A case handed to a team that cannot read it would vanish
                // from that team's view.
                if team != case.team_id && !agents_see_all && loaded.account.team_id != Some(t) {
                    return Err(invalid(
                        "team_id",
                        "does not serve this account; hand the case to the account's team, or make that team the account's team first",
                    ));
                }
            }
            case.team_id = team;
        }
        if let Some(assignee) = ch.assignee_id {
            if let Some(a) = assignee {
                match rapport_store::staff::find(conn, a)? {
                    Some(s)
                        if s.active && matches!(s.role, StaffRole::Agent | StaffRole::Admin) =>
                    {
                        let target = Principal::Staff {
                            id: s.id,
                            role: s.role,
                        };
                        let teams = agent_teams(conn, &target)?;
                        let access = account_access(&loaded.account, &teams, &[], agents_see_all);
                        if assignee != case.assignee_id
                            && !rapport_domain::can_manage_contacts(&target, &access)
                        {
                            return Err(invalid(
                                "assignee_id",
                                "is not in a team that serves this account, so could not see the case",
                            ));
                        }
                    }
                    _ => return Err(invalid("assignee_id", "must be an active agent or admin")),
                }
            }
            case.assignee_id = assignee;
        }
        // The current status sent again changes nothing (and must not move
        // the resolution time the reports and the reopen window count from).
        if let Some(status) = ch.status.filter(|s| *s != case.status) {
            if status == CaseStatus::New {
                return Err(invalid("status", "a case cannot go back to new"));
            }
            let now = Utc::now();
            match status {
                CaseStatus::Resolved => case.resolved_at = Some(now),
                CaseStatus::Closed => {
                    case.closed_at = Some(now);
                    case.resolved_at = case.resolved_at.or(Some(now));
                }
                _ => {
                    if !case.status.is_open() {
                        case.reopen_count += 1;
                    }
                    case.resolved_at = None;
                    case.closed_at = None;
                }
            }
            let from = case.status;
            case.status = status;
            if from != status {
                if super::notices::resolves(from, status) {
                    super::satisfaction::ask(conn, state, &case)?;
                    super::notices::inform(
                        conn,
                        state,
                        &case,
                        None,
                        super::notices::CaseEvent::Resolved,
                    )?;
                }
                super::sla::on_status(conn, state, &case, from, status, now)?;
                if !from.is_open() && status.is_open() {
                    super::sla::on_reopened(conn, state, &case, &loaded.account, now)?;
                }
            }
        }
        let Some(data) = changes(&before, &snapshot(&case)) else {
            return Ok(None);
        };
        // A case filed under a category only now concerns its functions
        // from now: they hear of it as of a case opened; moved to another
        // category, the functions it newly concerns do.
        if case.status.is_open() {
            match (&loaded.case.category, &case.category) {
                (None, Some(_)) => {
                    super::notices::inform(
                        conn,
                        state,
                        &case,
                        None,
                        super::notices::CaseEvent::Opened,
                    )?;
                }
                (Some(was), Some(now)) if was != now => {
                    super::notices::inform_newly_concerned(conn, state, &loaded.case, &case)?;
                }
                _ => {}
            }
        }
        let fields: Vec<String> = data["after"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for text in change_sentences(conn, who, &loaded.case, &case)? {
            events.push(thread_event(conn, &mut case, &text)?);
        }
        audit(conn, &case, actor, "case.updated", data)?;
        case::save(conn, &case)?;
        let said: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
        let notice = Notification::about(
            "case_changed",
            &case,
            format!("#{}: {}", case.number, said.join("; ")),
        );
        committed.extend(events.drain(..).map(Change::EntryAdded));
        committed.push(Change::CaseChanged {
            case: case.clone(),
            fields,
        });
        committed.push(Change::StaffNotice(notice));
        Ok(Some(case))
    })?;
    match updated {
        Some(case) => Ok(case),
        // Nothing changed: the case as it is.
        None => Ok(get(state, who, id)?.case),
    }
}

/// Merges `id` into `into` (same account): every entry moves, the merged
/// case closes and points to the survivor.
pub fn merge(
    state: &AppState,
    who: &Principal,
    id: CaseId,
    into: CaseId,
) -> Result<Case, UseCaseError> {
    let (_, actor) = author_of(who)?;
    if id == into {
        return Err(invalid("into", "a case cannot be merged into itself"));
    }
    let kept = super::commit(state, |conn, changes| {
        // One lock order for every merge, so two opposite merges cannot deadlock.
        case::lock_for_append(conn, id.min(into))?;
        case::lock_for_append(conn, id.max(into))?;
        let merged = load(conn, state, who, id)?;
        let survivor = load(conn, state, who, into)?;
        if !can_work_case(who, &merged.access(who, state))
            || !can_work_case(who, &survivor.access(who, state))
        {
            return Err(UseCaseError::Forbidden);
        }
        if merged.case.account_id != survivor.case.account_id {
            return Err(invalid(
                "into",
                "cases of different accounts cannot be merged",
            ));
        }
        if merged.case.merged_into_id.is_some() || survivor.case.merged_into_id.is_some() {
            return Err(invalid("into", "one of the cases is already merged"));
        }
        let (mut gone, mut kept) = (merged.case.clone(), survivor.case.clone());
        let moved = case::move_entries(conn, gone.id, kept.id)?;
        rapport_store::report::move_wait(conn, gone.id, kept.id)?;
        for p in merged
            .participants
            .iter()
            .chain(gone.opened_by_contact_id.iter())
        {
            if kept.opened_by_contact_id != Some(*p) {
                case::add_participant(conn, kept.id, *p)?;
            }
        }
        gone.merged_into_id = Some(kept.id);
        gone.status = CaseStatus::Closed;
        gone.closed_at = Some(Utc::now());
        let events = [
            thread_event(conn, &mut gone, &format!("Merged into #{}", kept.number))?,
            thread_event(
                conn,
                &mut kept,
                &format!("#{} merged into this case ({moved} entries)", gone.number),
            )?,
        ];
        audit(
            conn,
            &gone,
            actor.clone(),
            "case.merged",
            json!({"into": kept.id.to_string(), "into_number": kept.number, "entries_moved": moved}),
        )?;
        audit(
            conn,
            &kept,
            actor,
            "case.merge_received",
            json!({"from": gone.id.to_string(), "from_number": gone.number, "entries_moved": moved}),
        )?;
        case::save(conn, &gone)?;
        case::save(conn, &kept)?;
        super::sla::on_merged(conn, &gone, Utc::now())?;
        changes.extend(events.into_iter().map(Change::EntryAdded));
        changes.push(Change::CaseChanged {
            case: gone,
            fields: vec!["status".into(), "merge".into()],
        });
        changes.push(Change::CaseChanged {
            case: kept.clone(),
            fields: vec!["merge".into()],
        });
        Ok(kept)
    })?;
    Ok(kept)
}

/// Every entry of the account's cases, newest first, as the caller may see
/// them: contacts see their visible cases without notes.
/// Of an account `who` may read, the cases they may read: `None` for all
/// of them (staff, contacts who see all their company's cases), else the
/// ones a contact opened, takes part in or sees by their function.
pub(super) fn readable_cases(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    account: AccountId,
) -> Result<Option<Vec<CaseId>>, UseCaseError> {
    conversations_reader(who)?;
    Ok(match contact_scope(conn, state, who)? {
        Some(scope) => Some(case::cases_involving(conn, &[account], &scope)?),
        None => None,
    })
}

pub fn timeline(
    state: &AppState,
    who: &Principal,
    account: AccountId,
    before: Option<EntryId>,
    limit: i64,
) -> Result<Vec<Entry>, UseCaseError> {
    conversations_reader(who)?;
    let mut conn = state.store.conn()?;
    super::account::readable(&mut conn, state, who, account)?;
    let only = contact_scope(&mut conn, state, who)?;
    Ok(case::timeline(
        &mut conn,
        account,
        can_see_entry(who, EntryKind::Note),
        only.as_ref(),
        before,
        limit,
    )?)
}

/// Full-text search over what the caller may read: case subjects and
/// thread entries, newest first; notes only for staff.
pub fn search(
    state: &AppState,
    who: &Principal,
    query: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<rapport_store::search::SearchHit>, UseCaseError> {
    if query.chars().count() > 200 {
        return Err(invalid("q", "must be at most 200 characters"));
    }
    if rapport_store::search::words(query).is_empty() {
        return Err(invalid("q", "must contain a word"));
    }
    let mut conn = state.store.conn()?;
    let mut scope = rapport_store::search::SearchScope {
        include_notes: can_see_entry(who, EntryKind::Note),
        ..Default::default()
    };
    match who {
        Principal::Contact { .. } => {
            scope.accounts = Some(super::access::contact_accounts(&mut conn, who)?);
            scope.involving = contact_scope(&mut conn, state, who)?;
        }
        Principal::Staff {
            role: StaffRole::Agent,
            ..
        } if !state.config.settings.accounts.agents_see_all => {
            scope.served_by = Some(agent_teams(&mut conn, who)?);
        }
        Principal::ApiToken { .. } => conversations_reader(who)?,
        Principal::Staff { .. } => {}
    }
    let mut hits = rapport_store::search::search(&mut conn, query, &scope, before, limit)?;
    // Files by name, on the first page: what a client sent is often
    // remembered by its name ("the PDF with the PO").
    if before.is_none() {
        hits.splice(0..0, files_named(state, who, &mut conn, query)?);
    }
    Ok(hits)
}

/// Files whose name holds the words searched for, that `who` may read, as
/// search hits of kind `file` (newest first, at most 10).
fn files_named(
    state: &AppState,
    who: &Principal,
    conn: &mut DbConnection,
    query: &str,
) -> Result<Vec<rapport_store::search::SearchHit>, UseCaseError> {
    use rapport_store::search::{MATCH_END, MATCH_START};
    let part = query.trim();
    if part.chars().count() < 3 {
        return Ok(Vec::new());
    }
    let mut hits = Vec::new();
    for file in rapport_store::attachment::named_like(conn, part, 50)? {
        let Some(entry) = case::find_entry(conn, file.entry_id)? else {
            continue;
        };
        if !can_see_entry(who, entry.kind) || load(conn, state, who, entry.case_id).is_err() {
            continue;
        }
        let lower = file.filename.to_lowercase();
        let snippet = match lower.find(&part.to_lowercase()) {
            Some(at)
                if file.filename.is_char_boundary(at)
                    && file.filename.is_char_boundary(at + part.len()) =>
            {
                format!(
                    "{}{MATCH_START}{}{MATCH_END}{}",
                    &file.filename[..at],
                    &file.filename[at..at + part.len()],
                    &file.filename[at + part.len()..]
                )
            }
            _ => file.filename.clone(),
        };
        hits.push(rapport_store::search::SearchHit {
            doc_id: file.id.clone(),
            case_id: entry.case_id,
            kind: "file".into(),
            snippet,
            created_at: entry.created_at,
        });
        if hits.len() == 10 {
            break;
        }
    }
    Ok(hits)
}
