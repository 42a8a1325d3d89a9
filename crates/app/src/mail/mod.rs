//! Email as the use cases see it: who we are on the wire (address, domain,
//! signed reply addresses), where received bytes are kept and the transports
//! that send. The pipeline is `usecase::mail`; the server's workers and
//! LMTP door drive it.

pub mod original;
pub mod spool;
pub mod transport;

use std::sync::Arc;

use hmac::{Hmac, Mac};
use rapport_mail::{Mailbox, ReplyTokens};
use secrecy::ExposeSecret;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::config::Config;
use crate::secrets::Secrets;

/// The mail side of the application state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `support@desk.example`.
    pub address: String,
    /// `desk.example`: our Message-IDs and reply addresses.
    pub domain: String,
    pub from: Mailbox,
    pub tokens: ReplyTokens,
    /// Wakes the workers when something was queued or received.
    pub wakeup: Arc<Notify>,
}

impl Mail {
    pub fn new(config: &Config, secrets: &Secrets) -> Mail {
        let m = &config.settings.mail;
        let address = m.address.trim().to_ascii_lowercase();
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "rapport.localhost".into());
        let name = if m.from_name.trim().is_empty() {
            config.settings.instance.name.clone()
        } else {
            m.from_name.trim().to_owned()
        };
        // A key of its own, derived from the signing secret, so a reply
        // token reveals nothing about the secret that signs sessions.
        let key = Hmac::<Sha256>::new_from_slice(secrets.jwt.expose_secret().as_bytes())
            .map(|mut mac| {
                mac.update(b"rapport mail reply tokens v1");
                mac.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        Mail {
            from: Mailbox {
                name: Some(name),
                address: address.clone(),
            },
            address,
            domain,
            tokens: ReplyTokens::new(&key),
            wakeup: Arc::new(Notify::new()),
        }
    }

    /// Asks the workers to look now rather than at their next tick; asked
    /// inside a write, once it has committed, so they find what it queued.
    pub fn wake(&self) {
        let wakeup = Arc::clone(&self.wakeup);
        rapport_store::after_commit(move || wakeup.notify_one());
    }
}
