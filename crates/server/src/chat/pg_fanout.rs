//! The chat bus over PostgreSQL LISTEN/NOTIFY: every node listens on one
//! channel of the database they share and ignores its own events.
//! Committed changes do not travel here: a node announces that it
//! committed some, and the others read them from the log.
//!
//! Publishing never blocks a request: events go into a bounded queue that
//! a sender thread drains in batches. A listener thread polls its session
//! every few milliseconds (diesel exposes no socket to wait on); after it
//! reconnects, notifications sent meanwhile are lost, so it reads the
//! change log from where it was, every local connection fetches what it
//! missed, and every node republishes its presence.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rapport_chat::{BusEvent, Envelope, Fanout};
use rapport_store::DatabaseUrl;
use rapport_store::notify::{Listener, MAX_PAYLOAD_BYTES, Notifier};

use crate::changes::Follower;
use crate::state::AppState;

const CHANNEL: &str = "rapport_chat";
/// Events waiting to be sent before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// Events sent in one round trip.
const BATCH: usize = 256;
/// How often an idle listener looks for notifications.
const POLL_EVERY: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the change log is read again while an id is still awaited.
const STRAGGLER_POLL: Duration = Duration::from_millis(100);

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
    pub(super) fn start(&self, url: &DatabaseUrl, state: AppState) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let follower = match state
            .store
            .conn()
            .map_err(crate::usecase::UseCaseError::from)
            .and_then(|mut c| Follower::new(&mut c))
        {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the change log; chat stays on this node");
                return;
            }
        };
        let send_url = url.clone();
        let spawned = std::thread::Builder::new()
            .name("chat-notify".into())
            .spawn(move || send_loop(&send_url, &rx))
            .and_then(|_| {
                let url = url.clone();
                std::thread::Builder::new()
                    .name("chat-listen".into())
                    .spawn(move || listen_loop(&url, &state, &follower))
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

/// The payload for NOTIFY, within PostgreSQL's size limit. Only presence
/// can grow (a person following many cases): it is cut to what fits, and
/// the next change of that person repairs it.
fn encode(envelope: &Envelope) -> Option<String> {
    let text = serde_json::to_string(envelope).ok()?;
    if text.len() <= MAX_PAYLOAD_BYTES {
        return Some(text);
    }
    let smaller = match &envelope.event {
        BusEvent::PersonState { who, online, cases } => {
            // Each case id is ~40 bytes.
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

fn listen_loop(url: &DatabaseUrl, state: &AppState, follower: &Follower) {
    let hub = &state.live.hub;
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
        tracing::info!(node = %hub.node(), "chat bus listening on PostgreSQL");
        // Whatever was announced while not listening is in the log; live
        // presence and typing are not: connections resynchronise.
        let mut awaiting = catch_up(state, follower);
        hub.resync();
        let mut last_read = std::time::Instant::now();
        loop {
            match listener.poll() {
                Ok(payloads) if payloads.is_empty() => {
                    if awaiting && last_read.elapsed() >= STRAGGLER_POLL {
                        awaiting = catch_up(state, follower);
                        last_read = std::time::Instant::now();
                    }
                    std::thread::sleep(POLL_EVERY);
                }
                Ok(payloads) => {
                    let mut changed = false;
                    for p in &payloads {
                        changed |= receive(state, p);
                    }
                    if changed {
                        awaiting = catch_up(state, follower);
                        last_read = std::time::Instant::now();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "chat bus listener lost its session; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Reads the change log; whether an id is still awaited.
fn catch_up(state: &AppState, follower: &Follower) -> bool {
    match follower.catch_up(state) {
        Ok(awaiting) => awaiting,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the change log; retrying shortly");
            true
        }
    }
}

/// Handles one notification; whether another node committed changes.
fn receive(state: &AppState, payload: &str) -> bool {
    let envelope: Envelope = match serde_json::from_str(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable chat bus event ignored");
            return false;
        }
    };
    if &envelope.node == state.live.hub.node() {
        return false;
    }
    if envelope.event == BusEvent::Changed {
        // Still a sign of life from that node.
        state.live.hub.receive(envelope);
        return true;
    }
    state.live.hub.receive(envelope);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_chat::{NodeId, Person, PersonKind};
    use rapport_domain::CaseId;

    #[test]
    fn presence_too_large_is_cut_to_fit() {
        let env = Envelope {
            node: NodeId("n".into()),
            event: BusEvent::PersonState {
                who: Person::new(PersonKind::Staff, "s", "Ana"),
                online: true,
                cases: (0..1_000).map(|_| CaseId::new()).collect(),
            },
        };
        let text = encode(&env).expect("encoded");
        assert!(text.len() <= MAX_PAYLOAD_BYTES);
        let back: Envelope = serde_json::from_str(&text).expect("parse");
        match back.event {
            BusEvent::PersonState { cases, .. } => {
                assert!(!cases.is_empty() && cases.len() < 1_000)
            }
            other => panic!("{other:?}"),
        }
    }
}
