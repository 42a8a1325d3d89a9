//! Rapport domain: typed ids, entities, states, business rules and
//! permissions, in the words of the product (account, contact, case).
//!
//! Pure logic: this crate must never do IO nor depend on diesel, actix or
//! any other Rapport crate. Everything else depends on it.

mod account;
mod calendar;
mod case;
mod email;
mod id;
mod knowledge;
mod permission;
mod staff;
mod text_enum;
pub use text_enum::UnknownText;

pub use account::{
    ApiScope, CaseNotices, ContactFunction, ContactVisibility, Domain, DomainError, LifecycleStage,
    PreferredChannel, TeamRole,
};
pub use calendar::{BusinessCalendar, CalendarError, WEEKDAYS};
pub use case::{CasePriority, CaseStatus, Channel, ClientReply, EntryKind, on_client_reply};
pub use email::{EmailAddress, EmailError};
pub use id::{
    AccountId, ApiTokenId, AppointmentId, ArticleId, CannedResponseId, CaseId, ContactId, EntryId,
    IdParseError, InstanceId, SessionFamilyId, StaffId, SuggestionId, TeamId,
};
pub use knowledge::{ArticleAudience, ArticleStatus, ArticleVisibility, can_read_article};
pub use permission::{
    AccountAccess, CaseAccess, Denied, Permission, Principal, ScopeSet, authorize,
    can_manage_contacts, can_read_account, can_read_case, can_read_contact, can_read_conversations,
    can_reply_case, can_see_entry, can_work_case,
};
pub use staff::{PersonName, PersonNameError, StaffRole};
