//! Rapport email: inbound MIME parsing, loop and bounce detection, quote
//! collapsing, threading keys (signed reply addresses, subject tags), the
//! LMTP listener, and building outbound messages.
//!
//! Depends on `rapport-domain` only; the server stores what this crate
//! parses and hands it raw bytes through [`lmtp::Sink`]. It must never
//! import diesel, actix, `rapport-store` or `rapport-server`.

pub mod archive;
pub mod lmtp;
pub mod noise;
pub mod outbound;
pub mod parse;
pub mod quote;
pub mod thread_index;
pub mod thread_keys;

pub use noise::{Noise, noise};
pub use outbound::{
    BuildError, Outgoing, build, html_document, html_from_text, html_paragraphs, new_message_id,
};
pub use parse::{Bounce, InboundAttachment, InboundMail, Mailbox, ParseError, parse};
pub use quote::{Reply, split_reply};
pub use thread_keys::{ReplyTokens, is_our_mailbox, parse_subject_tag, subject_tag};
