//! Cases: long-running threads of one account, and their rules.

use chrono::{DateTime, Duration, Utc};

use crate::text_enum::text_enum;

text_enum!(
    /// Where a case stands.
    CaseStatus {
        New => "new",
        Open => "open",
        /// Waiting for the client: SLA clocks pause.
        PendingClient => "pending_client",
        /// Waiting for someone inside the support organisation.
        PendingInternal => "pending_internal",
        Resolved => "resolved",
        Closed => "closed",
    }
);

text_enum!(
    CasePriority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

text_enum!(
    /// How a case or a thread entry came in.
    Channel {
        Chat => "chat",
        Email => "email",
        Portal => "portal",
        Phone => "phone",
        Api => "api",
    }
);

text_enum!(
    /// What a thread entry is.
    EntryKind {
        Chat => "chat",
        EmailIn => "email_in",
        EmailOut => "email_out",
        Portal => "portal",
        /// Internal: staff only, never shown to a client by any path.
        Note => "note",
        /// A change of the case recorded in its thread (status, assignment, merge).
        Event => "event",
    }
);

impl CaseStatus {
    /// Resolved and closed cases are done; the rest are open work.
    pub fn is_open(self) -> bool {
        !matches!(self, CaseStatus::Resolved | CaseStatus::Closed)
    }
}

/// What a client's new message does to the case it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientReply {
    /// The case is still being worked: the message joins the thread.
    Continue,
    /// A resolved case (or one closed recently) opens again.
    Reopen,
    /// The case was closed long ago: a new case, linked to it, starts.
    NewCase,
}

/// Decides what a client reply does, given how long a closed case may
/// still be reopened.
pub fn on_client_reply(
    status: CaseStatus,
    closed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    reopen_closed_within: Duration,
) -> ClientReply {
    match status {
        CaseStatus::Resolved => ClientReply::Reopen,
        CaseStatus::Closed => match closed_at {
            Some(at) if now - at <= reopen_closed_within => ClientReply::Reopen,
            _ => ClientReply::NewCase,
        },
        _ => ClientReply::Continue,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_text_enum_round_trips_through_its_stored_text_and_unknown_text_is_an_error() {
        for status in super::CaseStatus::ALL {
            assert_eq!(
                super::CaseStatus::try_from(String::from(*status)),
                Ok(*status)
            );
        }
        let err = super::CaseStatus::try_from("lost".to_owned()).expect_err("not a status");
        assert_eq!(err.to_string(), "\"lost\" is not a CaseStatus");
    }

    use super::*;

    #[test]
    fn a_client_reply_reopens_resolved_and_recently_closed_cases() {
        let now = Utc::now();
        let window = Duration::days(14);
        assert_eq!(
            on_client_reply(CaseStatus::Resolved, None, now, window),
            ClientReply::Reopen
        );
        assert_eq!(
            on_client_reply(
                CaseStatus::Closed,
                Some(now - Duration::days(3)),
                now,
                window
            ),
            ClientReply::Reopen
        );
        assert_eq!(
            on_client_reply(
                CaseStatus::Closed,
                Some(now - Duration::days(30)),
                now,
                window
            ),
            ClientReply::NewCase
        );
        assert_eq!(
            on_client_reply(CaseStatus::PendingClient, None, now, window),
            ClientReply::Continue
        );
    }
}
