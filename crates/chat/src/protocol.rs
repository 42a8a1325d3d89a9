//! The websocket protocol, version 1: JSON text frames tagged by `type`.
//! `docs/chat-protocol.md` is the reference for clients; the names here are
//! the wire names.

use chrono::{DateTime, Utc};
use rapport_domain::{CaseId, EntryId};
use serde::{Deserialize, Serialize};

/// The protocol version this server speaks; sent in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// A contact starts a chat: a new case on the chat channel.
    Start {
        client_message_id: String,
        body: String,
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        category: Option<String>,
    },
    /// Follow a case live; `since` is the last entry id the client has.
    Join {
        case_id: CaseId,
        #[serde(default)]
        since: Option<EntryId>,
    },
    Leave {
        case_id: CaseId,
    },
    /// A chat message (staff may send an internal note with `note: true`).
    Send {
        case_id: CaseId,
        client_message_id: String,
        body: String,
        #[serde(default)]
        note: bool,
    },
    /// The contact answers the greeting's triage question.
    Category {
        case_id: CaseId,
        category: String,
    },
    Typing {
        case_id: CaseId,
        active: bool,
        /// Staff writing an internal note: only staff see it.
        #[serde(default)]
        note: bool,
    },
    Read {
        case_id: CaseId,
        entry_id: EntryId,
    },
    Ping {
        #[serde(default)]
        nonce: Option<String>,
    },
}

impl ClientFrame {
    /// The wire name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            ClientFrame::Start { .. } => "start",
            ClientFrame::Join { .. } => "join",
            ClientFrame::Leave { .. } => "leave",
            ClientFrame::Send { .. } => "send",
            ClientFrame::Category { .. } => "category",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Ping { .. } => "ping",
        }
    }
}

/// Initials on a colour: the avatar every person has without uploading one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Avatar {
    pub initials: String,
    /// A CSS colour, stable for the person.
    pub color: String,
    /// A picture, when the person has one; initials otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Avatar {
    /// Up to two initials from the name and a hue derived from the id, so
    /// the same person always looks the same on every screen. Dark enough
    /// that white initials keep WCAG's 4.5:1 contrast on every hue.
    pub fn for_person(id: &str, name: &str) -> Avatar {
        let initials: String = name
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .flat_map(char::to_uppercase)
            .take(2)
            .collect();
        let hue = id
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 360;
        Avatar {
            initials: if initials.is_empty() {
                "?".to_owned()
            } else {
                initials
            },
            color: format!("hsl({hue}, 45%, 32%)"),
            url: None,
        }
    }
}

/// Who is speaking or present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// `staff`, `contact` or `system`.
    pub kind: PersonKind,
    /// Absent for the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub avatar: Avatar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Staff,
    Contact,
    System,
}

impl Person {
    pub fn new(kind: PersonKind, id: &str, name: &str) -> Person {
        Person {
            kind,
            id: Some(id.to_owned()),
            name: name.to_owned(),
            avatar: Avatar::for_person(id, name),
        }
    }

    pub fn with_avatar_url(mut self, url: Option<String>) -> Person {
        self.avatar.url = url;
        self
    }

    /// The author of automatic thread entries (greetings, events).
    pub fn system(product_name: &str) -> Person {
        Person {
            kind: PersonKind::System,
            id: None,
            name: product_name.to_owned(),
            avatar: Avatar::for_person("system", product_name),
        }
    }

    /// The key presence and typing are tracked by.
    pub fn key(&self) -> String {
        format!(
            "{}:{}",
            match self.kind {
                PersonKind::Staff => "staff",
                PersonKind::Contact => "contact",
                PersonKind::System => "system",
            },
            self.id.as_deref().unwrap_or("")
        )
    }
}

/// A thread entry as chat clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: EntryId,
    pub case_id: CaseId,
    /// `chat`, `email_in`, `email_out`, `portal`, `note` or `event`.
    pub kind: String,
    pub author: Person,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// 1 until edited.
    #[serde(default = "first_version")]
    pub version: i32,
    /// The content was removed by an admin (the body is empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    /// The entry's place in the case's thread: 1, 2, 3… in commit order.
    /// Internal notes take places too, so a contact sees some skipped.
    #[serde(default)]
    pub seq: i64,
}

fn first_version() -> i32 {
    1
}

impl EntryView {
    /// Internal notes reach staff only.
    pub fn is_note(&self) -> bool {
        self.kind == "note"
    }
}

/// The state of a case that clients show beside the thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: CaseId,
    pub number: i64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into_id: Option<CaseId>,
}

/// Limits the client must respect, announced in `hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedLimits {
    pub max_frame_bytes: usize,
    pub max_message_chars: usize,
    pub frames_per_second: u32,
    pub burst: u32,
    pub heartbeat_secs: u64,
    pub idle_timeout_secs: u64,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello {
        protocol: u32,
        connection_id: String,
        you: Person,
        limits: AnnouncedLimits,
    },
    /// What the client missed, in order; `complete` on the last page.
    Backlog {
        case_id: CaseId,
        case: CaseSummary,
        entries: Vec<EntryView>,
        complete: bool,
    },
    Message {
        entry: EntryView,
    },
    /// An entry the client has was edited or redacted: replace it by id.
    EntryUpdated {
        entry: EntryView,
    },
    /// The client's message is stored; `duplicate` when it had been before.
    Ack {
        client_message_id: String,
        case_id: CaseId,
        entry_id: EntryId,
        created_at: DateTime<Utc>,
        duplicate: bool,
    },
    Typing {
        case_id: CaseId,
        who: Person,
        active: bool,
    },
    /// Who is following the case now, and who of its team is online.
    Presence {
        case_id: CaseId,
        in_case: Vec<Person>,
        team_online: Vec<Person>,
    },
    Read {
        case_id: CaseId,
        who: Person,
        entry_id: EntryId,
    },
    CaseUpdated {
        case: CaseSummary,
    },
    /// Something the person should know: `team_offline` today.
    Notice {
        case_id: CaseId,
        code: String,
        text: String,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The frame type or client message id the error is about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        about: Option<String>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
}

/// Stable error codes; the connection stays usable after every one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a frame of this protocol.
    MalformedFrame,
    /// A binary frame: the protocol is text.
    UnsupportedFrame,
    FrameTooLarge,
    MessageTooLong,
    /// A field failed validation.
    InvalidInput,
    RateLimited,
    /// No such case, or not one the caller may read.
    CaseNotFound,
    /// The case must be joined before this frame.
    NotJoined,
    /// The caller may read but not do this.
    Forbidden,
    TooManyCases,
    /// The server could not complete it; retrying is safe.
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnsupportedFrame => "unsupported_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::MessageTooLong => "message_too_long",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::CaseNotFound => "case_not_found",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TooManyCases => "too_many_cases",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// Websocket close codes this server uses (4000-4999 are ours).
pub mod close {
    /// Normal closure: the client left.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect to another node or later.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame over the hard size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Repeated rate-limit or protocol violations.
    pub const POLICY: u16 = 1008;
    /// Nothing heard from the client (not even a pong) within the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4000;
    /// The connection reached its maximum age: take a new ticket and reconnect.
    pub const REAUTHENTICATE: u16 = 4001;
    /// The client read too slowly and its send queue filled up.
    pub const SLOW_CONSUMER: u16 = 4008;
}

/// Parses a text frame; the error is what to tell the client.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, String> {
    serde_json::from_str(text).map_err(|e| {
        // serde's message names the field or variant; the position helps
        // with hand-written frames.
        format!("{e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_by_type() {
        let f = parse_client_frame(r#"{"type":"ping"}"#).expect("ping");
        assert_eq!(f, ClientFrame::Ping { nonce: None });
        let id = CaseId::new();
        let f = parse_client_frame(&format!(
            r#"{{"type":"send","case_id":"{id}","client_message_id":"m1","body":"hi"}}"#
        ))
        .expect("send");
        assert_eq!(
            f,
            ClientFrame::Send {
                case_id: id,
                client_message_id: "m1".into(),
                body: "hi".into(),
                note: false
            }
        );
    }

    #[test]
    fn unknown_types_and_fields_are_refused() {
        assert!(parse_client_frame(r#"{"type":"shout"}"#).is_err());
        assert!(parse_client_frame(r#"{"type":"ping","extra":1}"#).is_err());
        assert!(parse_client_frame(r#"{"type":"join","case_id":"nope"}"#).is_err());
        assert!(parse_client_frame("not json").is_err());
    }

    #[test]
    fn server_frames_carry_their_type() {
        let text = serde_json::to_string(&ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            about: None,
        })
        .expect("serialise");
        assert_eq!(
            text,
            r#"{"type":"error","code":"rate_limited","message":"slow down"}"#
        );
    }

    #[test]
    fn avatars_are_stable_initials() {
        let a = Avatar::for_person("abc", "ana maria lopez");
        assert_eq!(a.initials, "AM");
        assert_eq!(a, Avatar::for_person("abc", "ana maria lopez"));
        assert_eq!(Avatar::for_person("x", "  ").initials, "?");
    }
}
