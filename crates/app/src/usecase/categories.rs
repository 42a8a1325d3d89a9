//! Case categories connect both sides: the client's contact functions a
//! category concerns (who sees and hears of its cases) and the staff skill
//! that answers it (who it is routed to). Admins edit the mapping and
//! staff members' skills.

use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{ContactFunction, Permission, Principal, StaffId, authorize};
use rapport_store::category::{self, CategoryMapping};
use serde_json::json;

use super::input::invalid;
use super::{UseCaseError, record};
use crate::state::AppState;

/// At most this many skills per staff member.
const MAX_SKILLS: usize = 20;

fn admin(who: &Principal) -> Result<Actor, UseCaseError> {
    authorize(who, Permission::ConfigureRouting).map_err(|_| UseCaseError::Forbidden)?;
    match who {
        Principal::Staff { id, .. } => Ok(Actor::new(ActorKind::Staff, id)?),
        _ => Err(UseCaseError::Forbidden),
    }
}

fn staff_reader(who: &Principal) -> Result<(), UseCaseError> {
    if matches!(who, Principal::Staff { .. }) {
        Ok(())
    } else {
        Err(UseCaseError::Forbidden)
    }
}

/// A skill name: 1 to 40 lowercase letters, digits, `_` or `-`.
pub fn clean_skill(field: &'static str, raw: &str) -> Result<String, UseCaseError> {
    let s = raw.trim().to_lowercase();
    if s.is_empty()
        || s.chars().count() > 40
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            field,
            format!("{raw:?} is not a skill: 1 to 40 letters, digits, _ or -, e.g. billing"),
        ));
    }
    Ok(s)
}

/// Every configured category with its mapping (an unmapped one concerns
/// nobody and needs no skill), in the configured order. Staff only.
pub fn list(state: &AppState, who: &Principal) -> Result<Vec<CategoryMapping>, UseCaseError> {
    staff_reader(who)?;
    let stored = category::all(&mut *state.store.conn()?)?;
    Ok(state
        .config
        .settings
        .cases
        .categories
        .iter()
        .map(|name| {
            stored
                .iter()
                .find(|m| &m.name == name)
                .cloned()
                .unwrap_or_else(|| CategoryMapping {
                    name: name.clone(),
                    functions: Vec::new(),
                    skill: None,
                    updated_by: None,
                    updated_at: chrono::DateTime::UNIX_EPOCH,
                })
        })
        .collect())
}

/// Sets what `name` concerns and which skill answers it (admins).
pub fn set(
    state: &AppState,
    who: &Principal,
    name: &str,
    functions: Vec<ContactFunction>,
    skill: Option<&str>,
) -> Result<CategoryMapping, UseCaseError> {
    let actor = admin(who)?;
    let Principal::Staff { id: by, .. } = who else {
        return Err(UseCaseError::Forbidden);
    };
    if !state
        .config
        .settings
        .cases
        .categories
        .iter()
        .any(|c| c == name)
    {
        return Err(UseCaseError::NotFound("category"));
    }
    let mut unique: Vec<ContactFunction> = Vec::new();
    for f in functions {
        if !unique.contains(&f) {
            unique.push(f);
        }
    }
    let skill = skill
        .filter(|s| !s.trim().is_empty())
        .map(|s| clean_skill("skill", s))
        .transpose()?;
    state.store.write(|conn| {
        let before = category::find(conn, name)?;
        category::set(conn, name, &unique, skill.as_deref(), *by)?;
        let after = category::find(conn, name)?.ok_or(UseCaseError::NotFound("category"))?;
        record(
            conn,
            StreamName::system(),
            actor,
            "case_category.changed",
            ("case_category", Some(name)),
            json!({
                "before": before.map(|b| json!({
                    "functions": b.functions.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
                    "skill": b.skill,
                })),
                "after": {
                    "functions": after.functions.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
                    "skill": after.skill,
                },
            }),
        )?;
        Ok::<_, UseCaseError>(after)
    })
}

/// Every active staff member's skills (staff only), by staff id.
pub fn skills(
    state: &AppState,
    who: &Principal,
) -> Result<Vec<(StaffId, Vec<String>)>, UseCaseError> {
    staff_reader(who)?;
    Ok(category::all_skills(&mut *state.store.conn()?)?)
}

/// Replaces a staff member's skills (admins).
pub fn set_skills(
    state: &AppState,
    who: &Principal,
    staff: StaffId,
    skills: &[String],
) -> Result<Vec<String>, UseCaseError> {
    let actor = admin(who)?;
    if skills.len() > MAX_SKILLS {
        return Err(invalid("skills", format!("at most {MAX_SKILLS} skills")));
    }
    let mut clean: Vec<String> = Vec::new();
    for s in skills {
        let s = clean_skill("skills", s)?;
        if !clean.contains(&s) {
            clean.push(s);
        }
    }
    clean.sort();
    state.store.write(|conn| {
        rapport_store::staff::find(conn, staff)?.ok_or(UseCaseError::NotFound("staff member"))?;
        let before = category::skills_of(conn, staff)?;
        category::set_skills(conn, staff, &clean)?;
        if before != clean {
            record(
                conn,
                super::staff::stream(staff),
                actor,
                "staff.skills_changed",
                ("staff", Some(&staff.to_string())),
                json!({"before": before, "after": clean}),
            )?;
        }
        Ok::<_, UseCaseError>(clean.clone())
    })
}
