//! Rapport live chat: the websocket protocol, per-case rooms, presence and
//! typing, and the fan-out bus between server nodes.
//!
//! Depends on `rapport-domain` only; it never imports diesel, actix-web,
//! `rapport-store` or `rapport-server`. Storage and authorization stay in
//! the server's use cases, which publish committed events here; the
//! PostgreSQL LISTEN/NOTIFY transport implements [`bus::Fanout`] in the
//! server, where the database lives.

pub mod bus;
pub mod hub;
pub mod limits;
pub mod mailbox;
pub mod protocol;
pub mod sequence;

pub use bus::{BusEvent, Envelope, Fanout, NodeId, SingleNode};
pub use hub::{Connection, ConnectionId, Hub, JoinError, Outbound, QueuedEntry, Recheck};
pub use limits::{Limits, TokenBucket};
pub use mailbox::{Delivery, Mailbox};
pub use protocol::{
    Avatar, CaseSummary, ClientFrame, EntryView, ErrorCode, PROTOCOL_VERSION, Person, PersonKind,
    ServerFrame, close, parse_client_frame,
};
pub use sequence::{Arrival, CaseSequence, Followed};
