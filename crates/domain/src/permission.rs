//! Who may do what: pure functions over the signed-in principal, the
//! action and the resource. Every handler asks here; nothing else decides.

use crate::account::{ApiScope, ContactFunction, ContactVisibility};
use crate::id::{AccountId, ApiTokenId, ContactId, StaffId, TeamId};
use crate::staff::StaffRole;

/// Who is making a request, as established by authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Staff {
        id: StaffId,
        role: StaffRole,
    },
    Contact {
        id: ContactId,
        account: AccountId,
        visibility: ContactVisibility,
        /// What they do at the client: with `function_cases`, it decides
        /// which of the account's cases they see.
        function: ContactFunction,
    },
    /// An integration, limited to what its scopes name.
    ApiToken {
        id: ApiTokenId,
        scopes: ScopeSet,
    },
}

/// The scopes of an API token, as a small copyable set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub fn of(scopes: &[ApiScope]) -> ScopeSet {
        ScopeSet(scopes.iter().fold(0, |bits, s| bits | ScopeSet::bit(*s)))
    }

    fn bit(scope: ApiScope) -> u8 {
        match scope {
            ApiScope::AuditRead => 1,
            ApiScope::DirectoryRead => 2,
            ApiScope::MailIngest => 4,
        }
    }

    pub fn contains(&self, scope: ApiScope) -> bool {
        self.0 & ScopeSet::bit(scope) != 0
    }
}

impl Principal {
    pub fn staff_role(&self) -> Option<StaffRole> {
        match self {
            Principal::Staff { role, .. } => Some(*role),
            Principal::Contact { .. } | Principal::ApiToken { .. } => None,
        }
    }
}

/// Installation-wide things a principal may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Export or read the audit log.
    ReadAuditLog,
    /// See staff members and teams.
    ListStaff,
    /// Create, change or deactivate staff; create and change teams.
    ManageStaff,
    /// Create accounts and change their settings (tier, team, owner...).
    ManageAccounts,
    /// List accounts (each result still filtered by [`can_read_account`]).
    ListAccounts,
    /// Deliver raw inbound email (mail providers' webhooks).
    IngestMail,
    /// See and retry the inbound quarantine and the whole outbox.
    ManageMail,
    /// Write knowledge base articles and canned responses.
    WriteKnowledge,
    /// Read reports (each still limited to the accounts one may read).
    ReadReports,
    /// Decide what case categories concern and which skills answer them;
    /// give staff their skills.
    ConfigureRouting,
}

/// The principal may not do this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not allowed")]
pub struct Denied;

/// Decides whether `principal` may exercise `permission`.
pub fn authorize(principal: &Principal, permission: Permission) -> Result<(), Denied> {
    let role = match principal {
        Principal::Staff { role, .. } => role,
        Principal::Contact { .. } => return Err(Denied),
        Principal::ApiToken { scopes, .. } => {
            let allowed = match permission {
                Permission::ReadAuditLog => scopes.contains(ApiScope::AuditRead),
                Permission::ListStaff | Permission::ListAccounts => {
                    scopes.contains(ApiScope::DirectoryRead)
                }
                Permission::IngestMail => scopes.contains(ApiScope::MailIngest),
                Permission::ManageStaff
                | Permission::ManageAccounts
                | Permission::ManageMail
                | Permission::WriteKnowledge
                | Permission::ReadReports
                | Permission::ConfigureRouting => false,
            };
            return if allowed { Ok(()) } else { Err(Denied) };
        }
    };
    let allowed = match permission {
        Permission::ReadAuditLog => matches!(role, StaffRole::Admin | StaffRole::Auditor),
        Permission::ListStaff | Permission::ListAccounts | Permission::ReadReports => true,
        Permission::WriteKnowledge => matches!(role, StaffRole::Admin | StaffRole::Agent),
        Permission::ManageStaff
        | Permission::ManageAccounts
        | Permission::IngestMail
        | Permission::ManageMail
        | Permission::ConfigureRouting => *role == StaffRole::Admin,
    };
    if allowed { Ok(()) } else { Err(Denied) }
}

/// What decides access to one account's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAccess<'a> {
    pub account: AccountId,
    /// The account's dedicated team.
    pub team: Option<TeamId>,
    /// The teams the signed-in agent belongs to (empty for others).
    pub agent_teams: &'a [TeamId],
    /// Installation setting: agents see every account, not only their teams'.
    pub agents_see_all: bool,
    /// The account's parent companies, nearest first: a contact of one of
    /// them who sees more than their own cases reads this account too.
    pub groups: &'a [AccountId],
}

impl AccountAccess<'_> {
    fn agent_serves(&self) -> bool {
        self.agents_see_all || self.team.is_some_and(|t| self.agent_teams.contains(&t))
    }
}

/// Reading the account's record and its contacts (the directory). Its
/// history — cases, threads, files, timelines — needs [`can_read_case`]
/// or [`can_read_conversations`] as well.
pub fn can_read_account(principal: &Principal, access: &AccountAccess<'_>) -> bool {
    match principal {
        Principal::Staff { role, .. } => match role {
            StaffRole::Admin | StaffRole::Auditor => true,
            StaffRole::Agent => access.agent_serves(),
        },
        Principal::Contact {
            account,
            visibility,
            ..
        } => {
            *account == access.account
                || (*visibility != ContactVisibility::OwnCases && access.groups.contains(account))
        }
        Principal::ApiToken { scopes, .. } => scopes.contains(ApiScope::DirectoryRead),
    }
}

/// Adding and changing the account's contacts: its team's agents and admins.
pub fn can_manage_contacts(principal: &Principal, access: &AccountAccess<'_>) -> bool {
    match principal {
        Principal::Staff { role, .. } => match role {
            StaffRole::Admin => true,
            StaffRole::Agent => access.agent_serves(),
            StaffRole::Auditor => false,
        },
        Principal::Contact { .. } | Principal::ApiToken { .. } => false,
    }
}

/// Reading one contact's record: staff who may read the account, and the
/// contact themself (a contact does not see colleagues' phone numbers).
pub fn can_read_contact(
    principal: &Principal,
    access: &AccountAccess<'_>,
    contact: ContactId,
) -> bool {
    match principal {
        Principal::Contact { id, .. } => *id == contact,
        staff => can_read_account(staff, access),
    }
}

/// Whether the principal may read conversations at all: people may (each
/// case still decided by [`can_read_case`]); no API token scope names
/// conversations, so integrations never read them.
pub fn can_read_conversations(principal: &Principal) -> bool {
    match principal {
        Principal::Staff { .. } | Principal::Contact { .. } => true,
        Principal::ApiToken { .. } => false,
    }
}

/// What decides access to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseAccess<'a> {
    pub account: AccountAccess<'a>,
    pub opened_by: Option<ContactId>,
    /// Whether the calling contact takes part in the case.
    pub caller_participates: bool,
    /// Whether the case's category concerns the calling contact's function.
    pub concerns_caller_function: bool,
}

/// Reading a case and its thread (notes aside, see [`can_see_entry`]):
/// staff who may read the account; a contact of the account who opened it,
/// takes part in it, sees all of the account's cases, or sees the cases of
/// their function and the case's category concerns it.
pub fn can_read_case(principal: &Principal, case: &CaseAccess<'_>) -> bool {
    if !can_read_conversations(principal) || !can_read_account(principal, &case.account) {
        return false;
    }
    match principal {
        Principal::Contact { id, visibility, .. } => {
            *visibility == ContactVisibility::AllAccountCases
                || case.opened_by == Some(*id)
                || case.caller_participates
                || (*visibility == ContactVisibility::FunctionCases
                    && case.concerns_caller_function)
        }
        _ => true,
    }
}

/// Working a case (assign, change status, internal notes, merge): admins
/// and the agents who serve the account. Auditors and contacts never.
pub fn can_work_case(principal: &Principal, case: &CaseAccess<'_>) -> bool {
    matches!(principal, Principal::Staff { .. }) && can_manage_contacts(principal, &case.account)
}

/// Adding a message to the thread: those who work the case, and the
/// contacts who may read it.
pub fn can_reply_case(principal: &Principal, case: &CaseAccess<'_>) -> bool {
    match principal {
        Principal::Contact { .. } => can_read_case(principal, case),
        _ => can_work_case(principal, case),
    }
}

/// Internal notes are for staff (and staff-scoped integrations) only.
pub fn can_see_entry(principal: &Principal, kind: crate::case::EntryKind) -> bool {
    kind != crate::case::EntryKind::Note || !matches!(principal, Principal::Contact { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: StaffRole) -> Principal {
        Principal::Staff {
            id: StaffId::new(),
            role,
        }
    }

    #[test]
    fn audit_log_is_for_admins_and_auditors() {
        assert!(authorize(&staff(StaffRole::Admin), Permission::ReadAuditLog).is_ok());
        assert!(authorize(&staff(StaffRole::Auditor), Permission::ReadAuditLog).is_ok());
        assert!(authorize(&staff(StaffRole::Agent), Permission::ReadAuditLog).is_err());
    }

    #[test]
    fn auditors_change_nothing() {
        let auditor = staff(StaffRole::Auditor);
        assert!(authorize(&auditor, Permission::ManageStaff).is_err());
        assert!(authorize(&auditor, Permission::ManageAccounts).is_err());
        let team = TeamId::new();
        let access = AccountAccess {
            account: AccountId::new(),
            team: Some(team),
            agent_teams: &[],
            agents_see_all: true,
            groups: &[],
        };
        assert!(can_read_account(&auditor, &access));
        assert!(!can_manage_contacts(&auditor, &access));
    }

    #[test]
    fn agents_see_the_accounts_of_their_teams_only() {
        let mine = TeamId::new();
        let other = TeamId::new();
        let teams = [mine];
        let agent = staff(StaffRole::Agent);
        let served = AccountAccess {
            account: AccountId::new(),
            team: Some(mine),
            agent_teams: &teams,
            agents_see_all: false,
            groups: &[],
        };
        let foreign = AccountAccess {
            team: Some(other),
            ..served.clone()
        };
        let unassigned = AccountAccess {
            team: None,
            ..served.clone()
        };
        assert!(can_read_account(&agent, &served) && can_manage_contacts(&agent, &served));
        assert!(!can_read_account(&agent, &foreign) && !can_manage_contacts(&agent, &foreign));
        assert!(!can_read_account(&agent, &unassigned));
        assert!(can_read_account(
            &agent,
            &AccountAccess {
                agents_see_all: true,
                ..foreign
            }
        ));
    }

    #[test]
    fn contacts_read_the_cases_their_visibility_allows_and_never_notes() {
        use crate::case::EntryKind;
        let account = AccountId::new();
        let me = ContactId::new();
        let own_only = Principal::Contact {
            id: me,
            account,
            visibility: ContactVisibility::OwnCases,
            function: ContactFunction::Finance,
        };
        let everything = Principal::Contact {
            id: me,
            account,
            visibility: ContactVisibility::AllAccountCases,
            function: ContactFunction::Finance,
        };
        let acc = AccountAccess {
            account,
            team: None,
            agent_teams: &[],
            agents_see_all: false,
            groups: &[],
        };
        let colleague_case = CaseAccess {
            account: acc.clone(),
            opened_by: Some(ContactId::new()),
            caller_participates: false,
            concerns_caller_function: false,
        };
        let my_case = CaseAccess {
            opened_by: Some(me),
            ..colleague_case.clone()
        };
        let joined = CaseAccess {
            caller_participates: true,
            ..colleague_case.clone()
        };
        assert!(!can_read_case(&own_only, &colleague_case));
        assert!(can_read_case(&own_only, &my_case) && can_read_case(&own_only, &joined));
        assert!(can_read_case(&everything, &colleague_case));
        assert!(can_reply_case(&own_only, &my_case) && !can_work_case(&own_only, &my_case));
        assert!(
            !can_see_entry(&own_only, EntryKind::Note)
                && can_see_entry(&own_only, EntryKind::Portal)
        );
        let other = CaseAccess {
            account: AccountAccess {
                account: AccountId::new(),
                ..acc.clone()
            },
            ..my_case
        };
        assert!(!can_read_case(&everything, &other));

        let by_function = Principal::Contact {
            id: me,
            account,
            visibility: ContactVisibility::FunctionCases,
            function: ContactFunction::Finance,
        };
        let billing = CaseAccess {
            concerns_caller_function: true,
            ..colleague_case.clone()
        };
        assert!(can_read_case(&by_function, &billing) && can_reply_case(&by_function, &billing));
        assert!(!can_read_case(&by_function, &colleague_case));
        assert!(can_read_case(&by_function, &my_case) && can_read_case(&by_function, &joined));
        assert!(
            !can_read_case(&own_only, &billing),
            "only function_cases reads by function"
        );
        let foreign_billing = CaseAccess {
            account: AccountAccess {
                account: AccountId::new(),
                ..acc.clone()
            },
            ..billing
        };
        assert!(!can_read_case(&by_function, &foreign_billing));

        // A group: the parent company's contacts who see more than their
        // own cases read its subsidiaries' cases; never the other way round.
        let subsidiary = AccountId::new();
        let parents = [account];
        let sub_case = CaseAccess {
            account: AccountAccess {
                account: subsidiary,
                groups: &parents,
                ..acc.clone()
            },
            ..colleague_case.clone()
        };
        assert!(can_read_case(&everything, &sub_case));
        assert!(!can_read_case(&own_only, &sub_case));
        assert!(!can_read_case(&by_function, &sub_case));
        assert!(can_read_case(
            &by_function,
            &CaseAccess {
                concerns_caller_function: true,
                ..sub_case.clone()
            }
        ));
        let sub_contact = Principal::Contact {
            id: ContactId::new(),
            account: subsidiary,
            visibility: ContactVisibility::AllAccountCases,
            function: ContactFunction::Finance,
        };
        assert!(!can_read_case(&sub_contact, &colleague_case));
    }

    #[test]
    fn auditors_read_cases_but_never_work_them() {
        let auditor = staff(StaffRole::Auditor);
        let case = CaseAccess {
            account: AccountAccess {
                account: AccountId::new(),
                team: None,
                agent_teams: &[],
                agents_see_all: false,
                groups: &[],
            },
            opened_by: None,
            caller_participates: false,
            concerns_caller_function: false,
        };
        assert!(can_read_case(&auditor, &case));
        assert!(!can_work_case(&auditor, &case) && !can_reply_case(&auditor, &case));
        assert!(can_work_case(&staff(StaffRole::Admin), &case));
    }

    #[test]
    fn api_tokens_do_only_what_their_scopes_name() {
        let reader = Principal::ApiToken {
            id: ApiTokenId::new(),
            scopes: ScopeSet::of(&[ApiScope::DirectoryRead]),
        };
        let mail = Principal::ApiToken {
            id: ApiTokenId::new(),
            scopes: ScopeSet::of(&[ApiScope::MailIngest]),
        };
        let access = AccountAccess {
            account: AccountId::new(),
            team: None,
            agent_teams: &[],
            agents_see_all: false,
            groups: &[],
        };
        assert!(authorize(&reader, Permission::ListAccounts).is_ok());
        assert!(can_read_account(&reader, &access));
        assert!(!can_manage_contacts(&reader, &access));
        assert!(authorize(&reader, Permission::ReadAuditLog).is_err());
        assert!(authorize(&reader, Permission::ManageAccounts).is_err());
        assert!(!can_read_account(&mail, &access));
        assert!(authorize(&mail, Permission::ListStaff).is_err());
        let every = Principal::ApiToken {
            id: ApiTokenId::new(),
            scopes: ScopeSet::of(&[
                ApiScope::AuditRead,
                ApiScope::DirectoryRead,
                ApiScope::MailIngest,
            ]),
        };
        let case = CaseAccess {
            account: access,
            opened_by: None,
            caller_participates: false,
            concerns_caller_function: false,
        };
        for token in [&reader, &mail, &every] {
            assert!(!can_read_conversations(token));
            assert!(!can_read_case(token, &case) && !can_reply_case(token, &case));
        }
    }

    #[test]
    fn contacts_reach_their_own_account_and_record_only() {
        let account = AccountId::new();
        let me = ContactId::new();
        let contact = Principal::Contact {
            id: me,
            account,
            visibility: ContactVisibility::OwnCases,
            function: ContactFunction::Finance,
        };
        let own = AccountAccess {
            account,
            team: None,
            agent_teams: &[],
            agents_see_all: false,
            groups: &[],
        };
        let other = AccountAccess {
            account: AccountId::new(),
            ..own.clone()
        };
        assert!(can_read_account(&contact, &own));
        assert!(!can_read_account(&contact, &other));
        assert!(can_read_contact(&contact, &own, me));
        assert!(!can_read_contact(&contact, &own, ContactId::new()));
        assert!(!can_manage_contacts(&contact, &own));
        for p in [
            Permission::ReadAuditLog,
            Permission::ListStaff,
            Permission::ListAccounts,
            Permission::ManageAccounts,
        ] {
            assert!(authorize(&contact, p).is_err());
        }
    }
}
