//! The chat bus over PostgreSQL LISTEN/NOTIFY: every node listens on one
//! channel of the database they share and ignores its own events.
//!
//! Publishing never blocks a request: events go into a bounded queue that
//! a sender thread drains in batches. A listener thread polls its session
//! every few milliseconds (diesel exposes no socket to wait on); after it
//! reconnects, notifications sent meanwhile are lost, so every local
//! connection fetches what it missed from the database and every node
//! republishes its presence.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rapport_chat::{BusEvent, Envelope, Fanout};
use rapport_store::notify::{Listener, MAX_PAYLOAD_BYTES, Notifier};
use rapport_store::{DatabaseUrl, Store, StoreError};

use super::Chat;

const CHANNEL: &str = "rapport_chat";
/// Events waiting to be sent before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// Events sent in one round trip.
const BATCH: usize = 256;
/// How often an idle listener looks for notifications.
const POLL_EVERY: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) struct PgFanout {
    tx: SyncSender<String>,
    rx: Mutex<Option<Receiver<String>>>,
    dropped: AtomicU64,
}

impl PgFanout {
    pub(super) fn new() -> PgFanout {
        let (tx, rx) = sync_channel(QUEUE);
        PgFanout {
            tx,
            rx: Mutex::new(Some(rx)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Starts the sender and listener threads (once; later calls do nothing).
    pub(super) fn start(&self, url: &DatabaseUrl, chat: Chat, store: Store) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let send_url = url.clone();
        let spawned = std::thread::Builder::new()
            .name("chat-notify".into())
            .spawn(move || send_loop(&send_url, &rx))
            .and_then(|_| {
                let url = url.clone();
                std::thread::Builder::new()
                    .name("chat-listen".into())
                    .spawn(move || listen_loop(&url, &chat, &store))
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the chat bus threads; chat stays on this node");
        }
    }
}

impl Fanout for PgFanout {
    fn publish(&self, envelope: &Envelope) {
        let Some(payload) = encode(envelope) else {
            return;
        };
        match self.tx.try_send(payload) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        "chat bus queue full; other nodes miss live events until they resync"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}

/// The payload for NOTIFY, within PostgreSQL's size limit: a long entry
/// travels as a reference that receivers load from the database.
fn encode(envelope: &Envelope) -> Option<String> {
    let text = serde_json::to_string(envelope).ok()?;
    if text.len() <= MAX_PAYLOAD_BYTES {
        return Some(text);
    }
    let smaller = match &envelope.event {
        BusEvent::Entry { entry } => BusEvent::EntryRef {
            case_id: entry.case_id,
            entry_id: entry.id,
            updated: false,
        },
        BusEvent::EntryUpdated { entry } => BusEvent::EntryRef {
            case_id: entry.case_id,
            entry_id: entry.id,
            updated: true,
        },
        BusEvent::PersonState { who, online, cases } => {
            // Each case id is ~40 bytes; keep what fits, the rest shows on
            // the next change.
            let keep = MAX_PAYLOAD_BYTES.saturating_sub(1_000) / 40;
            tracing::warn!(
                cases = cases.len(),
                keep,
                "presence too large for one notification"
            );
            BusEvent::PersonState {
                who: who.clone(),
                online: *online,
                cases: cases.iter().take(keep).copied().collect(),
            }
        }
        other => {
            tracing::warn!(bytes = text.len(), event = ?std::mem::discriminant(other), "chat event too large for the bus; dropped");
            return None;
        }
    };
    serde_json::to_string(&Envelope {
        node: envelope.node.clone(),
        event: smaller,
    })
    .ok()
    .filter(|t| t.len() <= MAX_PAYLOAD_BYTES)
}

fn send_loop(url: &DatabaseUrl, rx: &Receiver<String>) {
    let mut notifier: Option<Notifier> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        // A batch is retried until it is sent: the database being down
        // stops chat writes too, and these events are what other nodes'
        // clients are waiting for.
        loop {
            let sent = match notifier.as_mut() {
                Some(n) => n.send(&batch),
                None => Notifier::connect(url, CHANNEL).and_then(|mut n| {
                    let r = n.send(&batch);
                    notifier = Some(n);
                    r
                }),
            };
            match sent {
                Ok(()) => {
                    backoff = Duration::from_millis(50);
                    break;
                }
                Err(e) => {
                    notifier = None;
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "chat bus send failed");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

fn listen_loop(url: &DatabaseUrl, chat: &Chat, store: &Store) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut listener = match Listener::connect(url, CHANNEL) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "chat bus listener cannot connect");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        tracing::info!(node = %chat.hub.node(), "chat bus listening on PostgreSQL");
        // Whatever was sent while not listening is lost: catch up.
        chat.hub.resync();
        loop {
            match listener.poll() {
                Ok(payloads) if payloads.is_empty() => std::thread::sleep(POLL_EVERY),
                Ok(payloads) => payloads.iter().for_each(|p| receive(chat, store, p)),
                Err(e) => {
                    tracing::warn!(error = %e, "chat bus listener lost its session; reconnecting");
                    break;
                }
            }
        }
    }
}

fn receive(chat: &Chat, store: &Store, payload: &str) {
    let envelope: Envelope = match serde_json::from_str(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable chat bus event ignored");
            return;
        }
    };
    if &envelope.node == chat.hub.node() {
        return;
    }
    let envelope = match envelope.event {
        BusEvent::StaffNotice { notice } => {
            match serde_json::from_value::<crate::notify::Notification>(notice) {
                Ok(n) => chat.notifier.publish(n),
                Err(e) => tracing::warn!(error = %e, "unreadable staff notification from the bus"),
            }
            return;
        }
        BusEvent::EntryRef {
            entry_id, updated, ..
        } => match load_entry(chat, store, entry_id) {
            // An edit loaded here is the entry as it is now: if a later
            // edit already committed, clients get that one twice, never an
            // older text after a newer one.
            Ok(Some(entry)) => Envelope {
                node: envelope.node,
                event: if updated {
                    BusEvent::EntryUpdated { entry }
                } else {
                    BusEvent::Entry { entry }
                },
            },
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, %entry_id, "cannot load a chat entry from the bus");
                return;
            }
        },
        _ => envelope,
    };
    chat.hub.receive(envelope);
}

fn load_entry(
    chat: &Chat,
    store: &Store,
    id: rapport_domain::EntryId,
) -> Result<Option<rapport_chat::EntryView>, StoreError> {
    let mut conn = store.conn()?;
    match rapport_store::case::find_entry(&mut conn, id)? {
        Some(e) => Ok(Some(chat.entry_view(&mut conn, &e)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use rapport_chat::{EntryView, NodeId, Person, PersonKind};
    use rapport_domain::{CaseId, EntryId};

    #[test]
    fn long_entries_travel_as_references() {
        let entry = EntryView {
            id: EntryId::new(),
            case_id: CaseId::new(),
            kind: "chat".into(),
            author: Person::new(PersonKind::Contact, "c", "Ana"),
            body: "x".repeat(20_000),
            client_message_id: None,
            created_at: Utc::now(),
            version: 1,
            redacted: false,
            seq: 1,
        };
        for (event, updated) in [
            (
                BusEvent::Entry {
                    entry: entry.clone(),
                },
                false,
            ),
            (
                BusEvent::EntryUpdated {
                    entry: entry.clone(),
                },
                true,
            ),
        ] {
            let env = Envelope {
                node: NodeId("n".into()),
                event,
            };
            let text = encode(&env).expect("encoded");
            assert!(text.len() <= MAX_PAYLOAD_BYTES);
            let back: Envelope = serde_json::from_str(&text).expect("parse");
            assert_eq!(
                back.event,
                BusEvent::EntryRef {
                    case_id: entry.case_id,
                    entry_id: entry.id,
                    updated,
                }
            );
        }
    }
}
