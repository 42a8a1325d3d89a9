//! Typed identifiers. Every entity id is a UUIDv7 (time-ordered, so new
//! rows land at the end of indexes) wrapped in its own type, so that one
//! kind of id can never be passed where another is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// A string that is not a UUID where an id was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} id {value:?} is not a UUID")]
pub struct IdParseError {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id, ordered after every id made before it.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                $name(uuid)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, IdParseError> {
                Uuid::parse_str(s).map($name).map_err(|_| IdParseError {
                    kind: $kind,
                    value: s.chars().take(64).collect(),
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdParseError;

            fn try_from(s: String) -> Result<Self, IdParseError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lowercase: the one text form stored and exported.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

typed_id!(
    /// The id of one Rapport installation, shared by all its server nodes.
    InstanceId,
    "instance"
);

typed_id!(
    /// A member of the support organisation: admin, agent or auditor.
    StaffId,
    "staff"
);

typed_id!(
    /// A client company.
    AccountId,
    "account"
);

typed_id!(
    /// A person at a client company.
    ContactId,
    "contact"
);

typed_id!(
    /// A team of agents, dedicated to some accounts.
    TeamId,
    "team"
);

typed_id!(
    /// One case: a long-running thread of one account.
    CaseId,
    "case"
);

typed_id!(
    /// One entry of a case thread.
    EntryId,
    "entry"
);

typed_id!(
    /// A token an integration uses instead of a person's sign-in.
    ApiTokenId,
    "api token"
);

typed_id!(
    /// A chain of refresh tokens issued from one sign-in.
    SessionFamilyId,
    "session"
);

typed_id!(
    /// A knowledge base article.
    ArticleId,
    "article"
);

typed_id!(
    /// An answer agents insert in the composer.
    CannedResponseId,
    "canned response"
);

typed_id!(
    /// A meeting proposed or booked on a case.
    AppointmentId,
    "appointment"
);

typed_id!(
    /// The articles suggested to a contact before opening a case.
    SuggestionId,
    "suggestion"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_stored_text_and_garbage_names_itself() {
        let id = CaseId::new();
        assert_eq!(CaseId::try_from(String::from(id)), Ok(id));
        let err = CaseId::try_from("not-a-uuid".to_owned()).expect_err("not an id");
        assert_eq!(err.kind, "case");
        assert!(err.to_string().contains("not-a-uuid"));
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = InstanceId::new();
        let parsed: InstanceId = id.to_string().parse().expect("own text parses");
        assert_eq!(parsed, id);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = InstanceId::new();
        let second = InstanceId::new();
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn garbage_is_refused_with_the_kind_named() {
        let err = "not-a-uuid".parse::<InstanceId>().expect_err("must fail");
        assert_eq!(err.to_string(), "instance id \"not-a-uuid\" is not a UUID");
    }
}
