//! The audit event and the parts a caller provides.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};

use crate::canonical;
use crate::hash::EventHash;

/// Largest `data` object accepted, in bytes of canonical JSON: an audit
/// event records a change, not a document.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

/// Why an event cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    #[error(
        "stream name {0:?} is invalid; expected `system` or `<kind>:<id>` (lowercase kind, id of letters, digits, - and _)"
    )]
    Stream(String),
    #[error(
        "action {0:?} is invalid; expected dotted lowercase words such as `case.status_changed`"
    )]
    Action(String),
    #[error(
        "{what} {value:?} is invalid; expected 1 to {max} characters of letters, digits, -, _, . or @"
    )]
    Name {
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error("audit data is {0} bytes of canonical JSON; the limit is {MAX_DATA_BYTES}")]
    DataTooLarge(usize),
    #[error(transparent)]
    Canonical(#[from] canonical::CanonicalError),
}

/// The chain an event belongs to: `system`, `case:<id>`, `account:<id>`...
/// Each stream has its own sequence and hash chain, so one case's log can
/// be exported and verified alone.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamName(String);

impl StreamName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<StreamName, EventError> {
        let valid_kind = |k: &str| {
            !k.is_empty() && k.len() <= 32 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        };
        let valid_id = |id: &str| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let ok = s.len() <= Self::MAX_LEN
            && match s.split_once(':') {
                None => valid_kind(s),
                Some((kind, id)) => valid_kind(kind) && valid_id(id),
            };
        if ok {
            Ok(StreamName(s.to_owned()))
        } else {
            Err(EventError::Stream(s.chars().take(120).collect()))
        }
    }

    /// Installation-wide events: configuration, sign-ins of staff...
    pub fn system() -> StreamName {
        StreamName("system".to_owned())
    }

    /// The stream of one case.
    pub fn case(id: impl fmt::Display) -> StreamName {
        StreamName(format!("case:{id}"))
    }

    /// The stream of one account (its contacts, settings, team).
    pub fn account(id: impl fmt::Display) -> StreamName {
        StreamName(format!("account:{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamName({})", self.0)
    }
}

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Staff,
    Contact,
    System,
    Api,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Staff => "staff",
            ActorKind::Contact => "contact",
            ActorKind::System => "system",
            ActorKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<ActorKind> {
        match s {
            "staff" => Some(ActorKind::Staff),
            "contact" => Some(ActorKind::Contact),
            "system" => Some(ActorKind::System),
            "api" => Some(ActorKind::Api),
            _ => None,
        }
    }
}

/// The actor of an event: a kind and, except for the system, an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
        }
    }

    pub fn new(kind: ActorKind, id: impl fmt::Display) -> Result<Actor, EventError> {
        Ok(Actor {
            kind,
            id: Some(name("actor id", &id.to_string(), 100)?),
        })
    }
}

/// What an event is about: a kind (`case`, `contact`, `staff`...) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub id: Option<String>,
}

impl Subject {
    pub fn new(kind: &str, id: Option<&str>) -> Result<Subject, EventError> {
        Ok(Subject {
            kind: name("subject kind", kind, 32)?,
            id: id.map(|id| name("subject id", id, 100)).transpose()?,
        })
    }
}

fn name(what: &'static str, value: &str, max: usize) -> Result<String, EventError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(EventError::Name {
            what,
            value: value.chars().take(120).collect(),
            max,
        })
    }
}

/// A dotted action name such as `case.status_changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action(String);

impl Action {
    pub fn parse(s: &str) -> Result<Action, EventError> {
        let word_ok = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if s.len() <= 64 && s.contains('.') && s.split('.').all(word_ok) {
            Ok(Action(s.to_owned()))
        } else {
            Err(EventError::Action(s.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a caller records. The store seals it into the stream's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub stream: StreamName,
    pub actor: Actor,
    pub action: Action,
    pub subject: Subject,
    pub data: Map<String, Value>,
}

impl NewEvent {
    /// Checks `data`: no floats, at most [`MAX_DATA_BYTES`] once canonical.
    pub fn new(
        stream: StreamName,
        actor: Actor,
        action: Action,
        subject: Subject,
        data: Map<String, Value>,
    ) -> Result<NewEvent, EventError> {
        let size = canonical::to_canonical_string(&Value::Object(data.clone()))?.len();
        if size > MAX_DATA_BYTES {
            return Err(EventError::DataTooLarge(size));
        }
        Ok(NewEvent {
            stream,
            actor,
            action,
            subject,
            data,
        })
    }
}

/// One sealed event of a stream, as stored and exported.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub stream: StreamName,
    pub seq: u64,
    pub id: String,
    /// UTC, whole microseconds.
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: Action,
    pub subject: Subject,
    pub data: Map<String, Value>,
    pub prev: EventHash,
    pub hash: EventHash,
}

/// `at` as written in events: RFC 3339, UTC, exactly six fraction digits.
pub fn format_at(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Truncates a time to whole microseconds, the precision both databases
/// keep and the format shows.
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

impl AuditEvent {
    /// The event as a JSON object without `hash`: what the hash covers.
    pub fn unhashed_value(&self) -> Value {
        json!({
            "stream": self.stream.as_str(),
            "seq": self.seq,
            "id": self.id,
            "at": format_at(&self.at),
            "actor": {"kind": self.actor.kind.as_str(), "id": self.actor.id},
            "action": self.action.as_str(),
            "subject": {"kind": self.subject.kind, "id": self.subject.id},
            "data": Value::Object(self.data.clone()),
            "prev": self.prev.to_hex(),
        })
    }

    /// The whole event as a JSON object.
    pub fn to_value(&self) -> Value {
        let mut value = self.unhashed_value();
        if let Value::Object(map) = &mut value {
            map.insert("hash".to_owned(), Value::String(self.hash.to_hex()));
        }
        value
    }

    /// The event as one line of canonical JSON (no newline).
    pub fn to_canonical_line(&self) -> Result<String, EventError> {
        Ok(canonical::to_canonical_string(&self.to_value())?)
    }

    /// The hash this event's content yields; equal to `hash` unless altered.
    pub fn computed_hash(&self) -> Result<EventHash, EventError> {
        hash_of_unhashed(&self.unhashed_value())
    }
}

/// SHA-256 of the canonical JSON of an event object without `hash`.
pub fn hash_of_unhashed(value: &Value) -> Result<EventHash, EventError> {
    Ok(EventHash::of(
        canonical::to_canonical_string(value)?.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_checked() {
        assert!(StreamName::parse("system").is_ok());
        assert!(StreamName::parse("case:0191c5a0-1b2c-7d3e-8f40-123456789abc").is_ok());
        assert!(StreamName::parse("Case:1").is_err());
        assert!(StreamName::parse("case:").is_err());
        assert!(StreamName::parse("case:a b").is_err());
        assert!(StreamName::parse(&format!("case:{}", "x".repeat(200))).is_err());
    }

    #[test]
    fn actions_are_dotted_lowercase() {
        assert!(Action::parse("case.status_changed").is_ok());
        assert!(Action::parse("auth.login_failed").is_ok());
        assert!(Action::parse("created").is_err());
        assert!(Action::parse("Case.Created").is_err());
        assert!(Action::parse("case..created").is_err());
    }

    #[test]
    fn oversized_data_is_refused() {
        let mut data = Map::new();
        data.insert("blob".into(), Value::String("x".repeat(MAX_DATA_BYTES)));
        let err = NewEvent::new(
            StreamName::system(),
            Actor::system(),
            Action::parse("system.test").expect("valid"),
            Subject::new("system", None).expect("valid"),
            data,
        )
        .expect_err("too large");
        assert!(matches!(err, EventError::DataTooLarge(_)));
    }

    #[test]
    fn time_has_six_fraction_digits() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T09:30:00.1Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(format_at(&at), "2026-11-23T09:30:00.100000Z");
    }
}
