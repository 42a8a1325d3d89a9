//! Live chat as the use cases see it: how store rows look to chat
//! clients, who is connected, and the rooms of this node, reached through
//! [`Rooms`] (the server's hub implements it).

pub mod connections;
mod views;

pub use views::{contact_person, staff_person};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rapport_chat::{BusEvent, EntryView, Person};
use rapport_domain::CaseId;
use rapport_store::case::{Author, Case, Entry};
use rapport_store::team::Team;
use rapport_store::{DbConnection, Store, StoreError};

/// How long a looked-up name is reused before it is read again.
const PERSON_CACHE_TTL: Duration = Duration::from_secs(300);

/// The cache key of a person; `None` for the system.
fn person_key(author: &Author) -> Option<String> {
    match author {
        Author::Staff(id) => Some(format!("staff:{id}")),
        Author::Contact(id) => Some(format!("contact:{id}")),
        Author::System => None,
    }
}

/// The live rooms of this node.
pub trait Rooms: Send + Sync + std::fmt::Debug {
    /// Delivers to this node's connections following the case.
    fn deliver(&self, event: &BusEvent);
    /// Whether any contact follows the case, on any node.
    fn contact_following(&self, case: CaseId) -> bool;
    /// Tells the other nodes that this one committed changes.
    fn announce_changes(&self);
    /// Asks this node's connections of a person (`contact:<id>`) to check
    /// again what they may read.
    fn recheck_person(&self, key: &str);
    /// This server process, as other nodes know it.
    fn node(&self) -> &str;
}

/// The chat side of the application state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChatState {
    pub rooms: Arc<dyn Rooms>,
    people: Arc<Mutex<HashMap<String, (Person, Instant)>>>,
    product_name: Arc<str>,
    /// Open connections per person on this node.
    pub connections: connections::Connections,
}

impl ChatState {
    pub fn new(
        rooms: Arc<dyn Rooms>,
        product_name: &str,
        max_connections_per_person: usize,
    ) -> ChatState {
        ChatState {
            rooms,
            people: Arc::new(Mutex::new(HashMap::new())),
            product_name: Arc::from(product_name),
            connections: connections::Connections::new(max_connections_per_person),
        }
    }

    /// The author of an entry as chat clients show them.
    pub fn person(&self, conn: &mut DbConnection, author: &Author) -> Result<Person, StoreError> {
        if let Some(p) = self.cached_person(author) {
            return Ok(p);
        }
        let person = views::person(conn, author)?;
        if let Some(key) = person_key(author) {
            self.people
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, (person.clone(), Instant::now()));
        }
        Ok(person)
    }

    /// Drops a cached name, so the next message reads it again.
    pub fn forget_person(&self, author: &Author) {
        if let Some(key) = person_key(author) {
            self.people
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        }
    }

    /// The author, when known without reading the directory.
    fn cached_person(&self, author: &Author) -> Option<Person> {
        let Some(key) = person_key(author) else {
            return Some(Person::system(&self.product_name));
        };
        self.people
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|(_, at)| at.elapsed() < PERSON_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    /// An entry as chat clients see it, reading the directory (one pooled
    /// connection) only when its author is not cached.
    fn entry_view_from(&self, store: &Store, entry: &Entry) -> Result<EntryView, StoreError> {
        match self.cached_person(&entry.author) {
            Some(author) => Ok(views::entry(entry, author)),
            None => self.entry_view(&mut *store.conn()?, entry),
        }
    }

    pub fn entry_view(
        &self,
        conn: &mut DbConnection,
        entry: &Entry,
    ) -> Result<EntryView, StoreError> {
        Ok(views::entry(entry, self.person(conn, &entry.author)?))
    }

    pub fn summary(
        &self,
        conn: &mut DbConnection,
        case: &Case,
    ) -> Result<rapport_chat::CaseSummary, StoreError> {
        let team = rapport_store::team::find_if_any(conn, case.team_id)?;
        self.summary_in_team(conn, case, team.as_ref())
    }

    /// [`ChatState::summary`] with the case's team already read.
    pub fn summary_in_team(
        &self,
        conn: &mut DbConnection,
        case: &Case,
        team: Option<&Team>,
    ) -> Result<rapport_chat::CaseSummary, StoreError> {
        let assignee = match case.assignee_id {
            Some(id) => Some(self.person(conn, &Author::Staff(id))?),
            None => None,
        };
        Ok(views::summary(case, team, assignee))
    }

    /// Tells this node's followers of the case about a committed entry.
    /// Failing to build the view loses nothing: the entry is stored and
    /// clients fetch it on their next join.
    pub fn entry_committed(&self, store: &Store, entry: &Entry) {
        match self.entry_view_from(store, entry) {
            Ok(entry) => self.rooms.deliver(&BusEvent::Entry { entry }),
            Err(e) => {
                tracing::warn!(error = %e, entry_id = %entry.id, "could not fan out an entry")
            }
        }
    }

    /// Tells this node's followers of the case that an entry was edited or redacted.
    pub fn entry_changed(&self, store: &Store, entry: &Entry) {
        match self.entry_view_from(store, entry) {
            Ok(entry) => self.rooms.deliver(&BusEvent::EntryUpdated { entry }),
            Err(e) => {
                tracing::warn!(error = %e, entry_id = %entry.id, "could not fan out an entry change")
            }
        }
    }

    /// Tells this node's followers of the case that its state changed;
    /// `recheck` when the change may have taken it from some contacts.
    pub fn case_changed(&self, store: &Store, case: &Case, recheck: bool) {
        let summary = store.conn().and_then(|mut c| self.summary(&mut c, case));
        match summary {
            Ok(case) => self.rooms.deliver(&BusEvent::CaseUpdated { case, recheck }),
            Err(e) => {
                tracing::warn!(error = %e, case_id = %case.id, "could not fan out a case change")
            }
        }
    }

    /// Tells the other nodes that this one committed changes: they read
    /// them from the log.
    pub fn announce_changes(&self) {
        self.rooms.announce_changes();
    }
}
