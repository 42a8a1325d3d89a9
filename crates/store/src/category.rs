//! What each case category concerns: the client's contact functions and
//! the staff skill that answers it; and the skills of staff members.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{ContactFunction, StaffId};

use crate::column::{JsonText, UtcStamp};
use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{case_categories, staff_skills};
use crate::time::now_micros;

/// A category's mapping as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryMapping {
    pub name: String,
    /// The contact functions the category concerns.
    pub functions: Vec<ContactFunction>,
    /// The staff skill that answers it.
    pub skill: Option<String>,
    pub updated_by: Option<StaffId>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = case_categories)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct Row {
    name: String,
    #[diesel(deserialize_as = JsonText<Vec<String>>)]
    functions: Vec<String>,
    skill: Option<String>,
    updated_by: Option<String>,
    #[diesel(deserialize_as = UtcStamp)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for CategoryMapping {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<CategoryMapping, StoreError> {
        let corrupt = |what: &str, value: &str| {
            StoreError::Corrupt(format!("case_categories {}: {what} {value:?}", row.name))
        };
        Ok(CategoryMapping {
            functions: row
                .functions
                .iter()
                .map(|f| ContactFunction::parse(f).ok_or_else(|| corrupt("function", f)))
                .collect::<Result<_, _>>()?,
            updated_by: row
                .updated_by
                .as_deref()
                .map(|s| s.parse().map_err(|_| corrupt("updated_by", s)))
                .transpose()?,
            name: row.name,
            skill: row.skill,
            updated_at: row.updated_at,
        })
    }
}

/// Every stored mapping, by name.
pub fn all(conn: &mut DbConnection) -> Result<Vec<CategoryMapping>, StoreError> {
    case_categories::table
        .order(case_categories::name)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(CategoryMapping::try_from)
        .collect()
}

/// The mapping of one category, if one is stored.
pub fn find(conn: &mut DbConnection, name: &str) -> Result<Option<CategoryMapping>, StoreError> {
    case_categories::table
        .find(name)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(CategoryMapping::try_from)
        .transpose()
}

/// Stores what `name` concerns and who answers it.
pub fn set(
    conn: &mut DbConnection,
    name: &str,
    functions: &[ContactFunction],
    skill: Option<&str>,
    by: StaffId,
) -> Result<(), StoreError> {
    let functions =
        serde_json::to_string(&functions.iter().map(|f| f.as_str()).collect::<Vec<_>>())
            .map_err(|e| StoreError::Corrupt(format!("case_categories {name}: {e}")))?;
    let values = (
        case_categories::functions.eq(&functions),
        case_categories::skill.eq(skill),
        case_categories::updated_by.eq(Some(by.to_string())),
        case_categories::updated_at.eq(now_micros()),
    );
    // Insert first, so that two first saves at once cannot both insert:
    // the second waits for the first, does nothing, then updates.
    let row = (case_categories::name.eq(name), values.clone());
    let inserted = on_backend!(conn, |c| diesel::insert_into(case_categories::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)?);
    if inserted == 0 {
        diesel::update(case_categories::table.find(name))
            .set(values)
            .execute(conn)?;
    }
    Ok(())
}

/// The categories that concern `function`, among `configured`.
pub fn concerning(
    conn: &mut DbConnection,
    function: ContactFunction,
    configured: &[String],
) -> Result<Vec<String>, StoreError> {
    Ok(all(conn)?
        .into_iter()
        .filter(|m| m.functions.contains(&function) && configured.contains(&m.name))
        .map(|m| m.name)
        .collect())
}

/// A staff member's skills, sorted.
pub fn skills_of(conn: &mut DbConnection, staff: StaffId) -> Result<Vec<String>, StoreError> {
    Ok(staff_skills::table
        .filter(staff_skills::staff_id.eq(staff.to_string()))
        .order(staff_skills::skill)
        .select(staff_skills::skill)
        .load(conn)?)
}

/// Who among `staff` has `skill`.
pub fn with_skill(
    conn: &mut DbConnection,
    skill: &str,
    staff: &[StaffId],
) -> Result<Vec<StaffId>, StoreError> {
    staff_skills::table
        .filter(staff_skills::skill.eq(skill))
        .filter(
            staff_skills::staff_id
                .eq_any(staff.iter().map(ToString::to_string).collect::<Vec<_>>()),
        )
        .select(staff_skills::staff_id)
        .load::<String>(conn)?
        .into_iter()
        .map(|s| {
            s.parse()
                .map_err(|_| StoreError::Corrupt(format!("staff_skills staff_id {s:?}")))
        })
        .collect()
}

/// Replaces a staff member's skills.
pub fn set_skills(
    conn: &mut DbConnection,
    staff: StaffId,
    skills: &[String],
) -> Result<(), StoreError> {
    diesel::delete(staff_skills::table.filter(staff_skills::staff_id.eq(staff.to_string())))
        .execute(conn)?;
    for skill in skills {
        diesel::insert_into(staff_skills::table)
            .values((
                staff_skills::staff_id.eq(staff.to_string()),
                staff_skills::skill.eq(skill),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Every staff member's skills, for those who have any.
pub fn all_skills(conn: &mut DbConnection) -> Result<Vec<(StaffId, Vec<String>)>, StoreError> {
    let rows: Vec<(String, String)> = staff_skills::table
        .order((staff_skills::staff_id, staff_skills::skill))
        .select((staff_skills::staff_id, staff_skills::skill))
        .load(conn)?;
    let mut out: Vec<(StaffId, Vec<String>)> = Vec::new();
    for (staff, skill) in rows {
        let id: StaffId = staff
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("staff_skills staff_id {staff:?}")))?;
        match out.last_mut() {
            Some((last, skills)) if *last == id => skills.push(skill),
            _ => out.push((id, vec![skill])),
        }
    }
    Ok(out)
}
