//! Chat tickets: one-time admission to the websocket, signed rather than
//! stored. Issuing one touches no database; spending one is a single
//! insert of its hash, which a second spend of the same ticket (on any
//! node) collides with. A reconnect storm thus costs one write per client
//! instead of two.
//!
//! Wire form: URL-safe base64 of `kind ‖ holder id ‖ expiry ‖ nonce ‖ tag`,
//! where `kind` is `s` (staff) or `c` (contact), the id is the holder's
//! 16-byte UUID, the expiry is big-endian Unix seconds, the nonce is 16
//! random bytes and the tag is HMAC-SHA256 over everything before it,
//! keyed by a key derived from the signing secret for this one purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rapport_domain::{ContactId, StaffId};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const KIND_STAFF: u8 = b's';
const KIND_CONTACT: u8 = b'c';
const SIGNED_LEN: usize = 1 + 16 + 8 + 16;
const TAG_LEN: usize = 32;
/// Characters of a ticket on the wire (URL-safe base64 without padding).
pub const TICKET_CHARS: usize = ((SIGNED_LEN + TAG_LEN) * 4).div_ceil(3);

/// Whom a ticket admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketHolder {
    Staff(StaffId),
    Contact(ContactId),
}

/// A ticket whose signature and expiry held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedTicket {
    pub holder: TicketHolder,
    pub expires_at: DateTime<Utc>,
    /// What marks it spent: SHA-256 of its bytes, not of its text, so no
    /// other spelling of the same bytes could pass for another ticket.
    pub spent_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the chat ticket is malformed or its signature does not match")]
    Invalid,
    #[error("the chat ticket has expired")]
    Expired,
    #[error("the operating system gave no random bytes for a chat ticket")]
    NoRandomness,
}

/// The key tickets are signed with, derived from the signing secret so a
/// ticket can never pass for anything else the secret signs.
#[derive(Clone)]
pub struct TicketKey([u8; 32]);

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey { .. }")
    }
}

impl TicketKey {
    pub fn derive(secret: &SecretString) -> TicketKey {
        let mut mac = mac(secret.expose_secret().as_bytes());
        mac.update(b"rapport chat ticket key v1");
        TicketKey(mac.finalize().into_bytes().into())
    }

    /// A ticket for `holder`, valid until `expires_at`.
    pub fn issue(
        &self,
        holder: TicketHolder,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TicketError> {
        let mut bytes = [0u8; SIGNED_LEN + TAG_LEN];
        let (kind, id) = match holder {
            TicketHolder::Staff(id) => (KIND_STAFF, id.as_uuid()),
            TicketHolder::Contact(id) => (KIND_CONTACT, id.as_uuid()),
        };
        bytes[0] = kind;
        bytes[1..17].copy_from_slice(id.as_bytes());
        bytes[17..25].copy_from_slice(&expires_at.timestamp().to_be_bytes());
        getrandom::fill(&mut bytes[25..SIGNED_LEN]).map_err(|_| TicketError::NoRandomness)?;
        let tag = self.tag(&bytes[..SIGNED_LEN]);
        bytes[SIGNED_LEN..].copy_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The holder of a ticket this key signed, if it has not expired at
    /// `now`. Whether it was spent is the database's to say.
    pub fn open(&self, ticket: &str, now: DateTime<Utc>) -> Result<OpenedTicket, TicketError> {
        if ticket.len() != TICKET_CHARS {
            return Err(TicketError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(ticket)
            .map_err(|_| TicketError::Invalid)?;
        if bytes.len() != SIGNED_LEN + TAG_LEN {
            return Err(TicketError::Invalid);
        }
        let (signed, tag) = bytes.split_at(SIGNED_LEN);
        let mut check = mac(&self.0);
        check.update(signed);
        check.verify_slice(tag).map_err(|_| TicketError::Invalid)?;
        let id = Uuid::from_slice(&signed[1..17]).map_err(|_| TicketError::Invalid)?;
        let holder = match signed[0] {
            KIND_STAFF => TicketHolder::Staff(StaffId::from(id)),
            KIND_CONTACT => TicketHolder::Contact(ContactId::from(id)),
            _ => return Err(TicketError::Invalid),
        };
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&signed[17..25]);
        let expires_at =
            DateTime::from_timestamp(i64::from_be_bytes(secs), 0).ok_or(TicketError::Invalid)?;
        if expires_at <= now {
            return Err(TicketError::Expired);
        }
        Ok(OpenedTicket {
            holder,
            expires_at,
            spent_key: hex::encode(Sha256::digest(&bytes)),
        })
    }

    fn tag(&self, signed: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = mac(&self.0);
        mac.update(signed);
        mac.finalize().into_bytes().into()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> TicketKey {
        TicketKey::derive(&SecretString::from(secret.to_owned()))
    }

    fn staff() -> TicketHolder {
        TicketHolder::Staff(StaffId::new())
    }

    #[test]
    fn a_ticket_opens_to_its_holder_until_it_expires() {
        let k = key("a signing secret of some length");
        let now = Utc::now();
        let expires = DateTime::from_timestamp(now.timestamp() + 30, 0).expect("a time");
        let contact = TicketHolder::Contact(ContactId::new());
        for holder in [staff(), contact] {
            let t = k.issue(holder, expires).expect("randomness");
            assert_eq!(t.len(), TICKET_CHARS);
            let opened = k.open(&t, now).expect("valid");
            assert_eq!(opened.holder, holder);
            assert_eq!(opened.spent_key.len(), 64);
            assert_eq!(opened.expires_at, expires);
            assert_eq!(k.open(&t, expires), Err(TicketError::Expired));
        }
    }

    #[test]
    fn two_tickets_for_the_same_holder_differ() {
        let k = key("secret");
        let (h, exp) = (staff(), Utc::now() + chrono::Duration::seconds(30));
        assert_ne!(
            k.issue(h, exp).expect("randomness"),
            k.issue(h, exp).expect("randomness")
        );
    }

    #[test]
    fn a_changed_or_foreign_ticket_is_refused() {
        let k = key("secret");
        let now = Utc::now();
        let t = k
            .issue(staff(), now + chrono::Duration::seconds(30))
            .expect("randomness");
        assert_eq!(
            key("another secret").open(&t, now),
            Err(TicketError::Invalid)
        );
        // Every byte is covered: flip a character in the holder, the
        // expiry and the tag.
        for at in [3, 30, TICKET_CHARS - 2] {
            let mut chars: Vec<char> = t.chars().collect();
            chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
            let changed: String = chars.into_iter().collect();
            assert_eq!(k.open(&changed, now), Err(TicketError::Invalid), "{at}");
        }
        // The last character carries 4 bits beyond the ticket's bytes: a
        // spelling that differs only there is refused, not a second ticket.
        let mut chars: Vec<char> = t.chars().collect();
        let last = chars.len() - 1;
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let at = alphabet.find(chars[last]).expect("base64");
        chars[last] = alphabet.chars().nth(at ^ 1).expect("in the alphabet");
        let respelled: String = chars.into_iter().collect();
        assert_eq!(k.open(&respelled, now), Err(TicketError::Invalid));
        assert_eq!(k.open("", now), Err(TicketError::Invalid));
        assert_eq!(k.open(&t[1..], now), Err(TicketError::Invalid));
        assert_eq!(
            k.open(&"!".repeat(TICKET_CHARS), now),
            Err(TicketError::Invalid)
        );
    }
}
