//! Live notifications to staff (SLA warnings and breaches, new chats),
//! fanned out in this process to the open `GET /api/v1/notifications/stream`
//! connections; `chat::Chat::notify_staff` also carries them to the other
//! server nodes on the chat bus.

use chrono::{DateTime, Utc};
use rapport_domain::{AccountId, CaseId, StaffId, TeamId};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Notifications kept for slow listeners before they miss some.
const BUFFER: usize = 1_024;

/// Something a team should know now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// `sla_warning`, `sla_breached`, `chat_started`, `case_opened`,
    /// `client_message` or `case_changed`.
    pub kind: String,
    pub case_id: CaseId,
    pub case_number: i64,
    pub account_id: AccountId,
    /// The team that owns the case (None: unassigned, for admins).
    pub team_id: Option<TeamId>,
    /// Who the case is assigned to, so they can be told of replies on
    /// their own cases.
    #[serde(default)]
    pub assignee_id: Option<StaffId>,
    pub text: String,
    pub at: DateTime<Utc>,
}

impl Notification {
    /// A notification about `case`.
    pub fn about(kind: &str, case: &rapport_store::case::Case, text: String) -> Notification {
        Notification {
            kind: kind.to_owned(),
            case_id: case.id,
            case_number: case.number,
            account_id: case.account_id,
            team_id: case.team_id,
            assignee_id: case.assignee_id,
            text,
            at: Utc::now(),
        }
    }
}

/// The in-process fan-out. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Notification>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            tx: broadcast::channel(BUFFER).0,
        }
    }
}

impl Notifier {
    /// Sends to every listener; nobody listening is not an error.
    pub fn publish(&self, n: Notification) {
        let _ = self.tx.send(n);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.tx.subscribe()
    }
}
