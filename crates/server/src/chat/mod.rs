//! Live chat in the server: the hub of this node with its fan-out to the
//! other nodes, and the websocket sessions. Use cases reach the hub's
//! rooms through `rapport_app::chat::Rooms`.

mod pg_fanout;
pub mod session;

pub use rapport_app::chat::{connections, contact_person, staff_person};

use std::sync::Arc;
use std::time::Duration;

use rapport_chat::{BusEvent, Fanout, Hub, Limits, NodeId, SingleNode};
use rapport_domain::CaseId;
use rapport_store::Backend;

use crate::config::{ChatBus, Config};

/// The live side of the server state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Chat {
    pub hub: Arc<Hub>,
    pub limits: Limits,
    /// Started by [`Chat::start_transport`], once per serving process.
    pg: Option<Arc<pg_fanout::PgFanout>>,
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
            pg,
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

    /// A name for `/readyz` and the logs.
    pub fn transport(&self) -> &'static str {
        self.hub.fanout_name()
    }
}

impl rapport_app::chat::Rooms for Chat {
    fn deliver(&self, event: &BusEvent) {
        self.hub.deliver_here(event);
    }

    fn contact_following(&self, case: CaseId) -> bool {
        self.hub.contact_following(case)
    }

    fn announce_changes(&self) {
        if self.pg.is_some() {
            self.hub.announce(BusEvent::Changed);
        }
    }

    fn node(&self) -> &str {
        &self.hub.node().0
    }

    fn recheck_person(&self, key: &str) {
        self.hub.recheck_person(key);
    }
}
