//! Accounts and contacts as CSV: an export that an import reads back, and
//! an import that first reports, row by row, what it would create and
//! change. Every row goes through the same use cases (and audit events) as
//! a form in the admin page, in one transaction: a dry run rolls it back;
//! an import applies only when every row is valid, else nothing at all.

use rapport_audit::{Actor, StreamName};
use rapport_domain::{
    AccountId, CaseNotices, ContactFunction, ContactId, ContactVisibility, EmailAddress,
    LifecycleStage, Principal,
};
use rapport_store::{DbConnection, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

use super::account::{AccountInput, admin_actor};
use super::contact::ContactInput;
use super::{UseCaseError, record};
use crate::changes::Change;
use crate::state::AppState;

/// Most rows one import reads.
pub const MAX_ROWS: usize = 10_000;

/// Columns of the accounts file, in export order.
pub const ACCOUNT_COLUMNS: [&str; 9] = [
    "id",
    "name",
    "domains",
    "tier",
    "lifecycle",
    "team",
    "owner",
    "notes",
    "parent",
];
/// Columns of the contacts file, in export order.
pub const CONTACT_COLUMNS: [&str; 11] = [
    "id",
    "account",
    "name",
    "emails",
    "function",
    "title",
    "phone",
    "visibility",
    "portal_access",
    "active",
    "case_notices",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Accounts,
    Contacts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowAction {
    Create,
    Update,
    Unchanged,
    Invalid,
}

/// What one row of the file does (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct RowReport {
    /// Line in the file (the header is line 1).
    pub line: usize,
    pub action: RowAction,
    /// The account's name or the contact's first address.
    pub key: String,
    /// `{"before": {...}, "after": {...}}` for an update, `{"after": {...}}`
    /// for a creation.
    pub changes: Option<Value>,
    /// The column at fault, for an invalid row.
    pub field: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub kind: Kind,
    pub dry_run: bool,
    /// Whether the changes were saved: never for a dry run, and never when
    /// a row is invalid.
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub invalid: usize,
    pub rows: Vec<RowReport>,
}

/// Ends the import's transaction: rolled back with its report, or failed.
enum Outcome {
    RolledBack(Box<ImportReport>),
    Failed(UseCaseError),
}

impl From<StoreError> for Outcome {
    fn from(e: StoreError) -> Self {
        Outcome::Failed(e.into())
    }
}

impl From<rapport_store::QueryError> for Outcome {
    fn from(e: rapport_store::QueryError) -> Self {
        Outcome::Failed(e.into())
    }
}

impl From<UseCaseError> for Outcome {
    fn from(e: UseCaseError) -> Self {
        Outcome::Failed(e)
    }
}

/// Imports `csv` (UTF-8, a header row naming [`ACCOUNT_COLUMNS`] or
/// [`CONTACT_COLUMNS`]; only the columns present are set). Admins only.
pub fn import(
    state: &AppState,
    who: &Principal,
    kind: Kind,
    csv: &[u8],
    dry_run: bool,
) -> Result<ImportReport, UseCaseError> {
    let actor = admin_actor(who)?;
    let table = read(csv, kind)?;
    let mut committed: Vec<Change> = Vec::new();
    let result = state.store.write(|conn| {
        let mut report = ImportReport {
            kind,
            dry_run,
            applied: false,
            created: 0,
            updated: 0,
            unchanged: 0,
            invalid: 0,
            rows: Vec::with_capacity(table.rows.len()),
        };
        for (i, row) in table.rows.iter().enumerate() {
            let line = i + 2;
            // Each row in a savepoint: an invalid one leaves the others'
            // work, and on PostgreSQL the transaction, intact.
            // A row's changes count only when its savepoint holds.
            let mut row_changes = Vec::new();
            let done = rapport_store::savepoint(conn, |c| match kind {
                Kind::Accounts => {
                    account_row(c, state, actor.clone(), &table.header, row, &mut row_changes)
                }
                Kind::Contacts => contact_row(c, state, who, &table.header, row, &mut row_changes),
            });
            if done.is_ok() {
                committed.append(&mut row_changes);
            }
            let row_report = match done {
                Ok((action, key, changes)) => RowReport {
                    line,
                    action,
                    key,
                    changes,
                    field: None,
                    error: None,
                },
                Err(e) => match e {
                    UseCaseError::Validation { field, message } => {
                        invalid_row(line, row, kind, Some(field), message)
                    }
                    UseCaseError::Conflict(what) => invalid_row(line, row, kind, None, what.into()),
                    UseCaseError::NotFound(what) => {
                        invalid_row(line, row, kind, None, format!("{what} not found"))
                    }
                    other => return Err(Outcome::Failed(other)),
                },
            };
            match row_report.action {
                RowAction::Create => report.created += 1,
                RowAction::Update => report.updated += 1,
                RowAction::Unchanged => report.unchanged += 1,
                RowAction::Invalid => report.invalid += 1,
            }
            report.rows.push(row_report);
        }
        if dry_run || report.invalid > 0 {
            return Err(Outcome::RolledBack(Box::new(report)));
        }
        report.applied = true;
        record(
            conn,
            StreamName::system(),
            actor.clone(),
            "directory.imported",
            ("directory", None),
            json!({"kind": kind, "created": report.created, "updated": report.updated, "unchanged": report.unchanged}),
        )?;
        crate::changes::record(conn, state, &committed)?;
        Ok(report)
    });
    match result {
        Ok(report) => {
            crate::changes::committed(state, &committed);
            Ok(report)
        }
        Err(Outcome::RolledBack(report)) => Ok(*report),
        Err(Outcome::Failed(e)) => Err(e),
    }
}

fn invalid_row(
    line: usize,
    row: &[String],
    kind: Kind,
    field: Option<&str>,
    message: String,
) -> RowReport {
    let key_column = match kind {
        Kind::Accounts => 1,
        Kind::Contacts => 3,
    };
    RowReport {
        line,
        action: RowAction::Invalid,
        key: row.get(key_column).cloned().unwrap_or_default(),
        changes: None,
        field: field.map(str::to_owned),
        error: Some(message),
    }
}

/// The file, with every column of `kind` in order (`None` where the file
/// has no such column: it is left as it is).
struct Table {
    header: Vec<bool>,
    rows: Vec<Vec<String>>,
}

fn read(csv_bytes: &[u8], kind: Kind) -> Result<Table, UseCaseError> {
    let columns: &[&str] = match kind {
        Kind::Accounts => &ACCOUNT_COLUMNS,
        Kind::Contacts => &CONTACT_COLUMNS,
    };
    let text = std::str::from_utf8(csv_bytes)
        .map_err(|_| invalid_file("is not UTF-8 text; save the file as CSV UTF-8"))?;
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| invalid_file(&format!("has no readable header row: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for name in &names {
        if !columns.contains(&name.as_str()) {
            return Err(invalid_file(&format!(
                "has a column `{name}` that is not one of: {}",
                columns.join(", ")
            )));
        }
    }
    let positions: Vec<Option<usize>> = columns
        .iter()
        .map(|c| names.iter().position(|n| n == c))
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| invalid_file(&format!("line {}: {e}", i + 2)))?;
        if rows.len() == MAX_ROWS {
            return Err(invalid_file(&format!(
                "has more than {MAX_ROWS} rows; split it"
            )));
        }
        rows.push(
            positions
                .iter()
                .map(|p| p.and_then(|p| record.get(p)).unwrap_or("").to_owned())
                .collect(),
        );
    }
    if rows.is_empty() {
        return Err(invalid_file("has no rows below the header"));
    }
    Ok(Table {
        header: positions.iter().map(Option::is_some).collect(),
        rows,
    })
}

fn invalid_file(message: &str) -> UseCaseError {
    UseCaseError::Validation {
        field: "file",
        message: message.to_owned(),
    }
}

fn invalid(field: &'static str, message: String) -> UseCaseError {
    UseCaseError::Validation { field, message }
}

/// The cell of column `i` when the file has that column.
fn cell<'a>(header: &[bool], row: &'a [String], i: usize) -> Option<&'a str> {
    header[i].then(|| row[i].as_str())
}

fn list(cell: &str) -> Vec<String> {
    cell.split([';', ' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn yes_no(field: &'static str, cell: &str) -> Result<bool, UseCaseError> {
    match cell.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(invalid(field, format!("`{cell}` is not yes or no"))),
    }
}

type RowDone = (RowAction, String, Option<Value>);

fn account_row(
    conn: &mut DbConnection,
    state: &AppState,
    actor: Actor,
    header: &[bool],
    row: &[String],
    committed: &mut Vec<Change>,
) -> Result<RowDone, UseCaseError> {
    let name = cell(header, row, 1).unwrap_or("");
    let mut input = AccountInput {
        name: cell(header, row, 1).map(str::to_owned),
        domains: cell(header, row, 2).map(list),
        tier: cell(header, row, 3).map(str::to_owned),
        notes: cell(header, row, 7).map(str::to_owned),
        ..AccountInput::default()
    };
    if let Some(stage) = cell(header, row, 4) {
        input.lifecycle = Some(LifecycleStage::parse(stage).ok_or_else(|| {
            invalid(
                "lifecycle",
                format!("`{stage}` is not one of: {}", LifecycleStage::choices()),
            )
        })?);
    }
    if let Some(team) = cell(header, row, 5) {
        input.team_id = Some(if team.is_empty() {
            None
        } else {
            Some(
                rapport_store::team::find_by_name(conn, team)?
                    .ok_or_else(|| invalid("team", format!("no team is called `{team}`")))?
                    .id,
            )
        });
    }
    if let Some(owner) = cell(header, row, 6) {
        input.owner_id = Some(if owner.is_empty() {
            None
        } else {
            let address = EmailAddress::parse(owner)
                .map_err(|e| invalid("owner", format!("`{owner}`: {e}")))?;
            Some(
                rapport_store::staff::find_by_email(conn, &address)?
                    .ok_or_else(|| {
                        invalid(
                            "owner",
                            format!("no staff member has the address `{owner}`"),
                        )
                    })?
                    .id,
            )
        });
    }
    if let Some(parent) = cell(header, row, 8) {
        input.parent_id = Some(if parent.is_empty() {
            None
        } else {
            Some(
                rapport_store::account::find_by_name(conn, parent)?
                    .ok_or_else(|| invalid("parent", format!("no account is called `{parent}`")))?
                    .id,
            )
        });
    }
    let existing = match cell(header, row, 0).filter(|id| !id.is_empty()) {
        Some(id) => {
            let id: AccountId = id
                .parse()
                .map_err(|_| invalid("id", format!("`{id}` is not an account id")))?;
            Some(rapport_store::account::find(conn, id)?.ok_or_else(|| {
                invalid(
                    "id",
                    "no account has this id; leave it empty to create one".into(),
                )
            })?)
        }
        None if name.is_empty() => return Err(invalid("name", "is required".into())),
        None => rapport_store::account::find_by_name(conn, name)?,
    };
    match existing {
        Some(current) => {
            // An exported file names the team a subsidiary inherits: the
            // same team read back keeps it inherited.
            if current.team_inherited && input.team_id == Some(current.team_id) {
                input.team_id = None;
            }
            let key = current.name.clone();
            let (_, changed) =
                super::account::update_in(conn, state, actor, current.id, &input, committed)?;
            Ok(match changed {
                Some(c) => (RowAction::Update, key, Some(c)),
                None => (RowAction::Unchanged, key, None),
            })
        }
        None => {
            let (created, after) =
                super::account::create_in(conn, state, actor, &input, committed)?;
            Ok((
                RowAction::Create,
                created.name,
                Some(json!({"after": after})),
            ))
        }
    }
}

fn contact_row(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    header: &[bool],
    row: &[String],
    committed: &mut Vec<Change>,
) -> Result<RowDone, UseCaseError> {
    let emails = cell(header, row, 3).map(list);
    let mut input = ContactInput {
        name: cell(header, row, 2).map(str::to_owned),
        emails: emails.clone(),
        title: cell(header, row, 5).map(|t| Some(t.to_owned()).filter(|t| !t.is_empty())),
        phone: cell(header, row, 6).map(|p| Some(p.to_owned()).filter(|p| !p.is_empty())),
        ..ContactInput::default()
    };
    if let Some(f) = cell(header, row, 4) {
        input.function = Some(ContactFunction::parse(f).ok_or_else(|| {
            invalid(
                "function",
                format!("`{f}` is not one of: {}", ContactFunction::choices()),
            )
        })?);
    }
    if let Some(v) = cell(header, row, 7) {
        input.visibility = Some(ContactVisibility::parse(v).ok_or_else(|| {
            invalid(
                "visibility",
                format!("`{v}` is not one of: {}", ContactVisibility::choices()),
            )
        })?);
    }
    if let Some(p) = cell(header, row, 8) {
        input.portal_access = Some(yes_no("portal_access", p)?);
    }
    if let Some(a) = cell(header, row, 9) {
        input.active = Some(yes_no("active", a)?);
    }
    if let Some(n) = cell(header, row, 10) {
        input.case_notices = Some(CaseNotices::parse(n).ok_or_else(|| {
            invalid(
                "case_notices",
                format!("`{n}` is not one of: {}", CaseNotices::choices()),
            )
        })?);
    }
    let account = match cell(header, row, 1).filter(|a| !a.is_empty()) {
        Some(a) => Some(
            match a.parse::<AccountId>() {
                Ok(id) => rapport_store::account::find(conn, id)?,
                Err(_) => rapport_store::account::find_by_name(conn, a)?,
            }
            .ok_or_else(|| invalid("account", format!("no account is called `{a}`")))?,
        ),
        None => None,
    };
    let existing = match cell(header, row, 0).filter(|id| !id.is_empty()) {
        Some(id) => {
            let id: ContactId = id
                .parse()
                .map_err(|_| invalid("id", format!("`{id}` is not a contact id")))?;
            Some(rapport_store::contact::find(conn, id)?.ok_or_else(|| {
                invalid(
                    "id",
                    "no contact has this id; leave it empty to create one".into(),
                )
            })?)
        }
        None => match emails.as_ref().and_then(|e| e.first()) {
            Some(first) => {
                let address = EmailAddress::parse(first)
                    .map_err(|e| invalid("emails", format!("`{first}`: {e}")))?;
                // One person may be a contact of several accounts: the row's
                // account says which, or the address must name just one.
                match &account {
                    Some(a) => rapport_store::contact::find_by_email_in(conn, &address, a.id)?,
                    None => {
                        let mut all = rapport_store::contact::find_all_by_email(conn, &address)?;
                        if all.len() > 1 {
                            return Err(invalid(
                                "account",
                                format!(
                                    "{address} is a contact of {} accounts; name the account this row is for",
                                    all.len()
                                ),
                            ));
                        }
                        all.pop()
                    }
                }
            }
            None => return Err(invalid("emails", "at least one address is required".into())),
        },
    };
    match existing {
        Some(current) => {
            if account.as_ref().is_some_and(|a| a.id != current.account_id) {
                return Err(invalid(
                    "account",
                    "differs from the contact's account; a contact stays with its account".into(),
                ));
            }
            let key = current
                .emails
                .first()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default();
            let (_, changed) =
                super::contact::update_in(conn, state, who, current.id, &input, committed)?;
            Ok(match changed {
                Some(c) => (RowAction::Update, key, Some(c)),
                None => (RowAction::Unchanged, key, None),
            })
        }
        None => {
            let account = account
                .ok_or_else(|| invalid("account", "is required for a new contact".into()))?;
            let (created, after) =
                super::contact::create_in(conn, state, who, account.id, &input, committed)?;
            let key = created
                .emails
                .first()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default();
            Ok((RowAction::Create, key, Some(json!({"after": after}))))
        }
    }
}

/// Every account, or every contact, as CSV that [`import`] reads back.
/// Admins only.
pub fn export(state: &AppState, who: &Principal, kind: Kind) -> Result<Vec<u8>, UseCaseError> {
    admin_actor(who)?;
    let mut conn = state.store.conn()?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| UseCaseError::Internal(format!("writing CSV: {e}"));
    let accounts = all_accounts(&mut conn)?;
    match kind {
        Kind::Accounts => {
            out.write_record(ACCOUNT_COLUMNS).map_err(csv_error)?;
            let teams = rapport_store::team::list(&mut conn)?;
            for a in &accounts {
                let team = a
                    .team_id
                    .and_then(|t| teams.iter().find(|x| x.id == t))
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                let owner = match a.owner_id {
                    Some(o) => rapport_store::staff::find(&mut conn, o)?
                        .map(|s| s.email.to_string())
                        .unwrap_or_default(),
                    None => String::new(),
                };
                let domains: Vec<&str> = a.domains.iter().map(|d| d.as_str()).collect();
                let parent = a
                    .parent_id
                    .and_then(|p| accounts.iter().find(|x| x.id == p))
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                out.write_record([
                    a.id.to_string(),
                    a.name.clone(),
                    domains.join(";"),
                    a.tier.clone(),
                    a.lifecycle.as_str().to_owned(),
                    team,
                    owner,
                    a.notes.clone(),
                    parent,
                ])
                .map_err(csv_error)?;
            }
        }
        Kind::Contacts => {
            out.write_record(CONTACT_COLUMNS).map_err(csv_error)?;
            for a in &accounts {
                let mut after = None;
                loop {
                    let page = rapport_store::contact::list_for_account(
                        &mut conn, a.id, None, after, 500,
                    )?;
                    for c in &page {
                        let emails: Vec<&str> = c.emails.iter().map(|e| e.as_str()).collect();
                        let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
                        out.write_record([
                            c.id.to_string(),
                            a.name.clone(),
                            c.name.as_str().to_owned(),
                            emails.join(";"),
                            c.function.as_str().to_owned(),
                            c.title.clone().unwrap_or_default(),
                            c.phone.clone().unwrap_or_default(),
                            c.visibility.as_str().to_owned(),
                            yes(c.portal_access),
                            yes(c.active),
                            c.case_notices.as_str().to_owned(),
                        ])
                        .map_err(csv_error)?;
                    }
                    match page.last() {
                        Some(last) if page.len() == 500 => after = Some(last.id),
                        _ => break,
                    }
                }
            }
        }
    }
    out.into_inner()
        .map_err(|e| UseCaseError::Internal(format!("writing CSV: {e}")))
}

fn all_accounts(
    conn: &mut DbConnection,
) -> Result<Vec<rapport_store::account::Account>, UseCaseError> {
    let filter = rapport_store::account::AccountFilter::default();
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = rapport_store::account::list(conn, &filter, after, 500)?;
        let full = page.len() == 500;
        after = page.last().map(|a| a.id);
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}
