//! Store rows as chat clients see them.

use rapport_chat::{CaseSummary, EntryView, Person, PersonKind};
use rapport_store::case::{Author, Case, Entry};
use rapport_store::team::Team;
use rapport_store::{DbConnection, StoreError};

/// A staff member as chat clients see them.
pub fn staff_person(s: &rapport_store::staff::Staff) -> Person {
    Person::new(
        PersonKind::Staff,
        &s.id.to_string(),
        s.display_name.as_str(),
    )
    .with_avatar_url(s.avatar_url.clone())
}

/// A contact as chat clients see them.
pub fn contact_person(c: &rapport_store::contact::Contact) -> Person {
    Person::new(PersonKind::Contact, &c.id.to_string(), c.name.as_str())
}

/// A person by id; someone deleted from the directory keeps a neutral name.
pub(super) fn person(conn: &mut DbConnection, author: &Author) -> Result<Person, StoreError> {
    Ok(match author {
        Author::Staff(id) => match rapport_store::staff::find(conn, *id)? {
            Some(s) => staff_person(&s),
            None => Person::new(PersonKind::Staff, &id.to_string(), "Former staff member"),
        },
        Author::Contact(id) => match rapport_store::contact::find(conn, *id)? {
            Some(c) => contact_person(&c),
            None => Person::new(PersonKind::Contact, &id.to_string(), "Former contact"),
        },
        Author::System => Person::system("Rapport"),
    })
}

pub(super) fn entry(e: &Entry, author: Person) -> EntryView {
    EntryView {
        id: e.id,
        case_id: e.case_id,
        kind: e.kind.as_str().to_owned(),
        author,
        body: e.body.clone(),
        client_message_id: e.client_message_id.clone(),
        created_at: e.created_at,
        version: e.version,
        redacted: e.redacted_at.is_some(),
        seq: e.seq,
    }
}

pub(super) fn summary(c: &Case, team: Option<&Team>, assignee: Option<Person>) -> CaseSummary {
    CaseSummary {
        id: c.id,
        number: c.number,
        subject: c.subject.clone(),
        status: c.status.as_str().to_owned(),
        priority: c.priority.as_str().to_owned(),
        category: c.category.clone(),
        team: team.map(|t| t.name.clone()),
        assignee,
        merged_into_id: c.merged_into_id,
    }
}
