//! Outlook's `Thread-Index` (MS-OXOMSG 2.2.1.3): 22 bytes that start a
//! conversation (a reserved byte, five bytes of time, a 16-byte GUID) and
//! five more bytes per reply, base64-encoded. Outlook keeps the first 22
//! bytes in every reply, even when it drops `In-Reply-To` and
//! `References`, so the GUID of the index we start names the case.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Bytes of the header block that every reply keeps.
const HEADER_BLOCK: usize = 22;
/// Bytes each reply appends.
const CHILD_BLOCK: usize = 5;
/// 100-nanosecond intervals between 1601-01-01 (FILETIME) and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// The index that starts the conversation `conversation` at `started`.
pub fn start(conversation: Uuid, started: DateTime<Utc>) -> String {
    let filetime = started
        .timestamp_micros()
        .saturating_mul(10)
        .saturating_add(FILETIME_UNIX_EPOCH);
    let filetime = u64::try_from(filetime).unwrap_or(0);
    let mut block = Vec::with_capacity(HEADER_BLOCK);
    block.push(1);
    // The five most significant bytes after the reserved one: the
    // FILETIME's bits 56..16, as Outlook writes them.
    block.extend_from_slice(&filetime.to_be_bytes()[1..6]);
    block.extend_from_slice(conversation.as_bytes());
    STANDARD.encode(block)
}

/// The conversation GUID of a `Thread-Index` value, when it is one.
pub fn conversation(value: &str) -> Option<Uuid> {
    let compact: String = value.split_whitespace().collect();
    let bytes = STANDARD.decode(compact).ok()?;
    if bytes.len() < HEADER_BLOCK || !(bytes.len() - HEADER_BLOCK).is_multiple_of(CHILD_BLOCK) {
        return None;
    }
    Uuid::from_slice(&bytes[6..HEADER_BLOCK]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_keeps_the_conversation_we_started() {
        let case = Uuid::now_v7();
        let ours = start(case, Utc::now());
        assert_eq!(STANDARD.decode(&ours).expect("base64").len(), HEADER_BLOCK);
        assert_eq!(conversation(&ours), Some(case));
        // Outlook appends five bytes per reply.
        let mut reply = STANDARD.decode(&ours).expect("base64");
        reply.extend_from_slice(&[0x00, 0x01, 0x02, 0x03, 0x04]);
        assert_eq!(conversation(&STANDARD.encode(&reply)), Some(case));
    }

    #[test]
    fn other_values_name_no_conversation() {
        assert_eq!(conversation(""), None);
        assert_eq!(conversation("not base64!"), None);
        assert_eq!(conversation(&STANDARD.encode([1u8; 23])), None);
        // An index Outlook started on its own still decodes: to a GUID
        // that is no case of ours.
        assert!(conversation("AdlGS3pfZ1ZmKx6fQzqXf1M8tW4FmQ==").is_some());
    }
}
