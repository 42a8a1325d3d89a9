//! Fan-out between server nodes. Every node delivers to its own
//! connections; the bus carries events to the others. One node needs no
//! bus ([`SingleNode`]); several share PostgreSQL LISTEN/NOTIFY (the server
//! implements [`Fanout`] over it).

use std::fmt;

use rapport_domain::{CaseId, EntryId};
use serde::{Deserialize, Serialize};

use crate::protocol::{CaseSummary, EntryView, Person};

/// A server process, random per start, so a node ignores its own events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn random() -> NodeId {
        NodeId(uuid::Uuid::now_v7().simple().to_string())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happened, for everyone following a case. Entries and case changes
/// are delivered by the node that learns of them, from its own commit or
/// from the committed-changes log; between nodes only [`BusEvent::Changed`]
/// announces them, so no event is ever too large for the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum BusEvent {
    /// A committed thread entry.
    Entry { entry: EntryView },
    /// A committed edit or redaction of an entry.
    EntryUpdated { entry: EntryView },
    /// The sending node committed changes: read the log.
    Changed,
    Typing {
        case_id: CaseId,
        who: Person,
        active: bool,
        note: bool,
        /// The connection typing, which does not get its own indicator back.
        #[serde(default)]
        connection: Option<String>,
    },
    Read {
        case_id: CaseId,
        who: Person,
        entry_id: EntryId,
    },
    CaseUpdated {
        case: CaseSummary,
        /// The change may have taken the case from some contacts (its
        /// participants or category changed): theirs check before seeing it.
        #[serde(default)]
        recheck: bool,
    },
    /// Where a person is on the sending node now (absolute, so a lost
    /// event is repaired by the next one). No cases and `online: false`
    /// means gone from that node.
    PersonState {
        who: Person,
        online: bool,
        cases: Vec<CaseId>,
    },
    /// A node is alive; sent periodically. Nodes not heard from for a while
    /// are forgotten (a crashed node leaves no ghosts online).
    Alive,
    /// A node started or lost events: everyone republishes their state.
    Hello,
}

/// An event and the node it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub node: NodeId,
    #[serde(flatten)]
    pub event: BusEvent,
}

/// Carries events to the other nodes. Must not block: implementations
/// queue and send from their own thread.
pub trait Fanout: Send + Sync + fmt::Debug {
    fn publish(&self, envelope: &Envelope);

    /// A name for logs and `/readyz`.
    fn name(&self) -> &'static str;
}

/// One node: nothing to carry.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleNode;

impl Fanout for SingleNode {
    fn publish(&self, _: &Envelope) {}

    fn name(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PersonKind;

    #[test]
    fn envelopes_round_trip_with_a_flat_tag() {
        let env = Envelope {
            node: NodeId("n1".into()),
            event: BusEvent::PersonState {
                who: Person::new(PersonKind::Staff, "s1", "Ana Lopez"),
                online: true,
                cases: vec![CaseId::new()],
            },
        };
        let text = serde_json::to_string(&env).expect("serialise");
        assert!(
            text.starts_with(r#"{"node":"n1","e":"person_state""#),
            "{text}"
        );
        let back: Envelope = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, env);
    }
}
