//! Live chat in the server: the hub of this node with its fan-out to the
//! other nodes, how store rows look on the wire, and the websocket
//! sessions. Use cases publish committed entries and case changes here.

pub mod connections;
mod pg_fanout;
pub mod session;
mod views;

pub(crate) use views::{contact_person, staff_person};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rapport_chat::{BusEvent, Fanout, Hub, Limits, NodeId, Person, SingleNode};
use rapport_store::case::{Author, Case, Entry};
use rapport_store::{Backend, DbConnection, Store, StoreError};

use crate::config::{ChatBus, Config};

/// How long a looked-up name is reused before it is read again.
const PERSON_CACHE_TTL: Duration = Duration::from_secs(300);

/// The chat side of the application state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Chat {
    pub hub: Arc<Hub>,
    pub limits: Limits,
    people: Arc<Mutex<HashMap<String, (Person, Instant)>>>,
    product_name: Arc<str>,
    /// Started by [`Chat::start_transport`], once per serving process.
    pg: Option<Arc<pg_fanout::PgFanout>>,
    /// Open connections per person on this node.
    pub connections: connections::Connections,
}

pub(crate) fn limits_from(config: &Config) -> Limits {
    let c = &config.settings.chat;
    Limits {
        max_frame_bytes: c.max_frame_bytes,
        hard_frame_bytes: c.hard_frame_bytes,
        max_message_chars: config.settings.cases.max_message_chars,
        frames_per_second: c.frames_per_second,
        burst: c.burst,
        max_violations: c.max_violations,
        send_queue: c.send_queue,
        max_joined_cases: c.max_joined_cases,
        heartbeat: Duration::from_secs(c.heartbeat_secs),
        idle_timeout: Duration::from_secs(c.idle_timeout_secs),
        max_connection_age: Duration::from_secs(c.max_connection_secs),
    }
}

impl Chat {
    /// The chat of one process. With several nodes on PostgreSQL the
    /// transport starts later ([`Chat::start_transport`]); until then, and
    /// for CLI commands, events stay in this process.
    pub fn new(config: &Config) -> Chat {
        let use_pg = match config.settings.chat.bus {
            ChatBus::Auto => config.database_url.backend() == Backend::Postgres,
            ChatBus::InProcess => false,
            ChatBus::Postgres => true,
        };
        let node = NodeId::random();
        let node_timeout = Duration::from_secs(config.settings.chat.node_timeout_secs);
        let (fanout, pg): (Arc<dyn Fanout>, _) = if use_pg {
            let pg = Arc::new(pg_fanout::PgFanout::new());
            (pg.clone(), Some(pg))
        } else {
            (Arc::new(SingleNode), None)
        };
        Chat {
            hub: Arc::new(Hub::new(node, fanout, node_timeout)),
            limits: limits_from(config),
            people: Arc::new(Mutex::new(HashMap::new())),
            product_name: Arc::from(config.settings.instance.name.as_str()),
            pg,
            connections: connections::Connections::new(
                config.settings.chat.max_connections_per_person,
            ),
        }
    }

    /// Starts the LISTEN/NOTIFY threads (PostgreSQL bus) and the periodic
    /// upkeep. Call once, from the serving process.
    pub fn start_transport(&self, state: &crate::state::AppState) {
        let config = &state.config;
        if let Some(pg) = &self.pg {
            pg.start(&config.database_url, state.clone());
        }
        let hub = self.hub.clone();
        let every = Duration::from_secs((config.settings.chat.node_timeout_secs / 3).max(1));
        actix_web::rt::spawn(async move {
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                hub.tick();
            }
        });
    }

    /// Tells the other nodes that this one committed changes: they read
    /// them from the log.
    pub fn announce_changes(&self) {
        if self.pg.is_some() {
            self.hub.announce(BusEvent::Changed);
        }
    }

    /// A name for `/readyz` and the logs.
    pub fn transport(&self) -> &'static str {
        self.hub.fanout_name()
    }

    /// The author of an entry as chat clients show them.
    pub fn person(&self, conn: &mut DbConnection, author: &Author) -> Result<Person, StoreError> {
        let key = match author {
            Author::Staff(id) => format!("staff:{id}"),
            Author::Contact(id) => format!("contact:{id}"),
            Author::System => return Ok(Person::system(&self.product_name)),
        };
        if let Some((p, at)) = self
            .people
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && at.elapsed() < PERSON_CACHE_TTL
        {
            return Ok(p.clone());
        }
        let person = views::person(conn, author)?;
        self.people
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (person.clone(), Instant::now()));
        Ok(person)
    }

    pub fn entry_view(
        &self,
        conn: &mut DbConnection,
        entry: &Entry,
    ) -> Result<rapport_chat::EntryView, StoreError> {
        Ok(views::entry(entry, self.person(conn, &entry.author)?))
    }

    pub fn summary(
        &self,
        conn: &mut DbConnection,
        case: &Case,
    ) -> Result<rapport_chat::CaseSummary, StoreError> {
        let assignee = match case.assignee_id {
            Some(id) => Some(self.person(conn, &Author::Staff(id))?),
            None => None,
        };
        views::summary(conn, case, assignee)
    }

    /// Tells this node's followers of the case about a committed entry.
    /// Failing to build the view loses nothing: the entry is stored and
    /// clients fetch it on their next join.
    pub fn entry_committed(&self, store: &Store, entry: &Entry) {
        let view = store
            .conn()
            .and_then(|mut c| self.entry_view(&mut c, entry));
        match view {
            Ok(entry) => self.hub.deliver_here(&BusEvent::Entry { entry }),
            Err(e) => {
                tracing::warn!(error = %e, entry_id = %entry.id, "could not fan out an entry")
            }
        }
    }

    /// Tells this node's followers of the case that an entry was edited or redacted.
    pub fn entry_changed(&self, store: &Store, entry: &Entry) {
        let view = store
            .conn()
            .and_then(|mut c| self.entry_view(&mut c, entry));
        match view {
            Ok(entry) => self.hub.deliver_here(&BusEvent::EntryUpdated { entry }),
            Err(e) => {
                tracing::warn!(error = %e, entry_id = %entry.id, "could not fan out an entry change")
            }
        }
    }

    /// Tells this node's followers of the case that its state changed.
    pub fn case_changed(&self, store: &Store, case: &Case) {
        let summary = store.conn().and_then(|mut c| self.summary(&mut c, case));
        match summary {
            Ok(case) => self.hub.deliver_here(&BusEvent::CaseUpdated { case }),
            Err(e) => {
                tracing::warn!(error = %e, case_id = %case.id, "could not fan out a case change")
            }
        }
    }
}
