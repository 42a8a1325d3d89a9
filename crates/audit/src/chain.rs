//! Sealing events into a stream's hash chain.

use chrono::{DateTime, Utc};

use crate::event::{AuditEvent, EventError, NewEvent, to_micros};
use crate::hash::EventHash;

/// The last event of a stream: what the next event links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// 0 for a stream with no event yet.
    pub seq: u64,
    pub hash: EventHash,
    pub at: Option<DateTime<Utc>>,
}

impl ChainHead {
    /// The head of a stream that has no event yet.
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: EventHash::GENESIS,
        at: None,
    };
}

/// Makes `new` the next event after `head`: seq + 1, `prev` = head hash,
/// and its own hash. Time never goes backwards within a stream (nodes'
/// clocks may differ slightly), so a time-range export of a stream is
/// always one contiguous run of its chain.
pub fn seal(
    new: NewEvent,
    head: &ChainHead,
    id: String,
    now: DateTime<Utc>,
) -> Result<AuditEvent, EventError> {
    let now = to_micros(now);
    let at = match head.at {
        Some(last) if last > now => last,
        _ => now,
    };
    let mut event = AuditEvent {
        stream: new.stream,
        seq: head.seq + 1,
        id,
        at,
        actor: new.actor,
        action: new.action,
        subject: new.subject,
        data: new.data,
        prev: head.hash,
        hash: EventHash::GENESIS,
    };
    event.hash = event.computed_hash()?;
    Ok(event)
}

impl AuditEvent {
    /// The head this event leaves its stream at.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash,
            at: Some(self.at),
        }
    }
}
