//! Canned responses: consistent answers agents insert in the composer.
//! Global ones are written by admins; team ones by the team's agents.
//! Placeholders are checked when written and filled in for one case when
//! inserted.

use chrono::Utc;
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{
    CannedResponseId, CaseId, Permission, Principal, StaffRole, TeamId, authorize, can_work_case,
};
use rapport_store::DbConnection;
use rapport_store::canned::{self, CannedResponse};
use serde_json::json;

use super::input::{invalid, optional_text, text};
use super::{UseCaseError, record};
use crate::state::AppState;

/// The placeholders a response may use.
pub const PLACEHOLDERS: &[&str] = &[
    "contact.name",
    "contact.first_name",
    "case.number",
    "case.subject",
    "account.name",
    "agent.name",
];

/// A response as written.
#[derive(Debug, Clone, Default)]
pub struct CannedInput {
    pub team_id: Option<TeamId>,
    pub title: String,
    pub body: String,
    /// What inserting it also does to the case (a macro).
    pub actions: MacroActions,
}

/// The changes a canned response makes to the case it is inserted into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MacroActions {
    pub status: Option<rapport_domain::CaseStatus>,
    pub priority: Option<rapport_domain::CasePriority>,
    pub add_tags: Vec<String>,
}

impl MacroActions {
    /// As stored and shown: only what it sets.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        if let Some(s) = self.status {
            map.insert("status".into(), json!(s.as_str()));
        }
        if let Some(p) = self.priority {
            map.insert("priority".into(), json!(p.as_str()));
        }
        if !self.add_tags.is_empty() {
            map.insert("add_tags".into(), json!(self.add_tags));
        }
        serde_json::Value::Object(map)
    }

    fn checked(&self) -> Result<MacroActions, UseCaseError> {
        if self.status == Some(rapport_domain::CaseStatus::New) {
            return Err(invalid("actions", "a case cannot go back to new"));
        }
        let mut tags: Vec<String> = Vec::new();
        for t in &self.add_tags {
            let t = t.trim().to_lowercase();
            if t.is_empty() || t.chars().count() > 40 || t.chars().any(char::is_control) {
                return Err(invalid("actions", "each label is 1 to 40 characters"));
            }
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        if tags.len() > 10 {
            return Err(invalid("actions", "at most 10 labels"));
        }
        Ok(MacroActions {
            add_tags: tags,
            ..self.clone()
        })
    }
}

fn stream(id: CannedResponseId) -> StreamName {
    StreamName::parse(&format!("canned_response:{id}")).unwrap_or_else(|_| StreamName::system())
}

/// The placeholder names used in `body`, or an error naming a bad one.
fn placeholders(body: &str) -> Result<Vec<&str>, UseCaseError> {
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(invalid(
                "body",
                "a placeholder opened with {{ is not closed with }}",
            ));
        };
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(invalid(
                "body",
                format!(
                    "unknown placeholder {{{{{name}}}}}; use one of: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{{{p}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        found.push(name);
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// Fills every placeholder of `body` from `values`.
fn fill(body: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                let value = values
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `who` may write responses for `team` (`None`: global).
fn may_write(
    conn: &mut DbConnection,
    who: &Principal,
    team: Option<TeamId>,
) -> Result<Actor, UseCaseError> {
    authorize(who, Permission::WriteKnowledge).map_err(|_| UseCaseError::Forbidden)?;
    let Principal::Staff { id, role } = who else {
        return Err(UseCaseError::Forbidden);
    };
    if *role != StaffRole::Admin {
        let Some(team) = team else {
            return Err(UseCaseError::Forbidden);
        };
        if !rapport_store::team::teams_of(conn, *id)?.contains(&team) {
            return Err(UseCaseError::Forbidden);
        }
    }
    Ok(Actor::new(ActorKind::Staff, id)?)
}

/// The teams whose responses `who` uses: `None` for all (admins, auditors).
fn visible_teams(
    conn: &mut DbConnection,
    who: &Principal,
) -> Result<Option<Vec<TeamId>>, UseCaseError> {
    match who {
        Principal::Staff {
            id,
            role: StaffRole::Agent,
        } => Ok(Some(rapport_store::team::teams_of(conn, *id)?)),
        Principal::Staff { .. } => Ok(None),
        _ => Err(UseCaseError::Forbidden),
    }
}

pub fn list(state: &AppState, who: &Principal) -> Result<Vec<CannedResponse>, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    let teams = visible_teams(conn, who)?;
    Ok(canned::list(conn, teams.as_deref())?)
}

fn checked(input: &CannedInput) -> Result<(String, String, serde_json::Value), UseCaseError> {
    let title = text("title", &input.title, 120)?;
    let body = optional_text("body", Some(&input.body), 20_000, true)?
        .ok_or_else(|| invalid("body", "must not be empty"))?;
    placeholders(&body)?;
    Ok((title, body, input.actions.checked()?.to_json()))
}

pub fn create(
    state: &AppState,
    who: &Principal,
    input: &CannedInput,
) -> Result<CannedResponse, UseCaseError> {
    let (title, body, actions) = checked(input)?;
    state.store.write(|conn| {
        let actor = may_write(conn, who, input.team_id)?;
        if let Some(t) = input.team_id {
            rapport_store::team::find(conn, t)?
                .ok_or_else(|| invalid("team_id", "no such team"))?;
        }
        let staff = match who {
            Principal::Staff { id, .. } => *id,
            _ => return Err(UseCaseError::Forbidden),
        };
        let now = Utc::now();
        let c = CannedResponse {
            id: CannedResponseId::new(),
            team_id: input.team_id,
            title: title.clone(),
            body: body.clone(),
            created_by: staff,
            updated_by: staff,
            created_at: now,
            updated_at: now,
            actions: actions.clone(),
        };
        canned::insert(conn, &c)?;
        record(
            conn,
            stream(c.id),
            actor,
            "canned_response.created",
            ("canned_response", Some(&c.id.to_string())),
            json!({"team_id": c.team_id.map(|t| t.to_string()), "title": title, "body": body, "actions": actions}),
        )?;
        Ok(c)
    })
}

pub fn update(
    state: &AppState,
    who: &Principal,
    id: CannedResponseId,
    input: &CannedInput,
) -> Result<CannedResponse, UseCaseError> {
    let (title, body, actions) = checked(input)?;
    state.store.write(|conn| {
        let before = canned::find(conn, id)?.ok_or(UseCaseError::NotFound("canned response"))?;
        may_write(conn, who, before.team_id)?;
        let actor = may_write(conn, who, input.team_id)?;
        if let Some(t) = input.team_id {
            rapport_store::team::find(conn, t)?
                .ok_or_else(|| invalid("team_id", "no such team"))?;
        }
        let Principal::Staff { id: staff, .. } = who else {
            return Err(UseCaseError::Forbidden);
        };
        let after = CannedResponse {
            team_id: input.team_id,
            title: title.clone(),
            body: body.clone(),
            updated_by: *staff,
            updated_at: Utc::now(),
            actions: actions.clone(),
            ..before
        };
        canned::save(conn, &after)?;
        record(
            conn,
            stream(id),
            actor,
            "canned_response.updated",
            ("canned_response", Some(&id.to_string())),
            json!({"team_id": after.team_id.map(|t| t.to_string()), "title": title, "body": body, "actions": actions}),
        )?;
        Ok(after)
    })
}

pub fn delete(state: &AppState, who: &Principal, id: CannedResponseId) -> Result<(), UseCaseError> {
    if !matches!(who, Principal::Staff { .. }) {
        return Err(UseCaseError::Forbidden);
    }
    state.store.write(|conn| {
        let before = canned::find(conn, id)?.ok_or(UseCaseError::NotFound("canned response"))?;
        let actor = may_write(conn, who, before.team_id)?;
        canned::delete(conn, id)?;
        record(
            conn,
            stream(id),
            actor,
            "canned_response.deleted",
            ("canned_response", Some(&id.to_string())),
            json!({"title": before.title}),
        )?;
        Ok(())
    })
}

/// The response's text for one case, placeholders filled in, ready for
/// the composer. Only for those who work the case and may use the response.
pub fn render(
    state: &AppState,
    who: &Principal,
    id: CannedResponseId,
    case: CaseId,
) -> Result<(String, serde_json::Value), UseCaseError> {
    let conn = &mut *state.store.conn()?;
    let response = canned::find(conn, id)?.ok_or(UseCaseError::NotFound("canned response"))?;
    if let (Some(team), Some(mine)) = (response.team_id, visible_teams(conn, who)?)
        && !mine.contains(&team)
    {
        return Err(UseCaseError::NotFound("canned response"));
    }
    let loaded = super::case::load(conn, state, who, case)?;
    if !can_work_case(who, &loaded.access(who, state)) {
        return Err(UseCaseError::Forbidden);
    }
    let contact = match loaded
        .case
        .opened_by_contact_id
        .or_else(|| loaded.participants.first().copied())
    {
        Some(c) => rapport_store::contact::find(conn, c)?,
        None => None,
    };
    let contact_name = contact
        .as_ref()
        .map(|c| c.name.as_str().to_owned())
        .unwrap_or_default();
    let first_name = contact_name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let agent = match who {
        Principal::Staff { id, .. } => rapport_store::staff::find(conn, *id)?
            .map(|s| s.display_name.as_str().to_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    Ok((
        fill(
            &response.body,
            &[
                ("contact.name", contact_name),
                ("contact.first_name", first_name),
                ("case.number", format!("#{}", loaded.case.number)),
                ("case.subject", loaded.case.subject.clone()),
                ("account.name", loaded.account.name.clone()),
                ("agent.name", agent),
            ],
        ),
        response.actions,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_checked_and_filled() {
        assert_eq!(
            placeholders("Hi {{contact.first_name}}, about {{ case.number }}").ok(),
            Some(vec!["contact.first_name", "case.number"])
        );
        assert!(placeholders("Dear {{contact.nmae}}").is_err());
        assert!(placeholders("Dear {{contact.name").is_err());
        assert_eq!(
            fill(
                "Hi {{contact.first_name}}, {{case.number}} for {{account.name}}.",
                &[
                    ("contact.first_name", "Anna".into()),
                    ("case.number", "#12".into()),
                    ("account.name", "Acme".into())
                ]
            ),
            "Hi Anna, #12 for Acme."
        );
    }
}
