//! Accounts (client companies), their contacts and the teams that serve them.

use crate::text_enum::text_enum;

text_enum!(
    /// Where the client relationship stands.
    LifecycleStage {
        Prospect => "prospect",
        Onboarding => "onboarding",
        Customer => "customer",
        Churned => "churned",
    }
);

text_enum!(
    /// What a contact does at the client.
    ContactFunction {
        Finance => "finance",
        Operations => "operations",
        Technical => "technical",
        Executive => "executive",
        Other => "other",
    }
);

text_enum!(
    /// Which of the account's cases a contact may see.
    ContactVisibility {
        /// Only cases they opened or take part in.
        OwnCases => "own_cases",
        /// Every case of their account.
        AllAccountCases => "all_account_cases",
        /// Their own cases and every case of their account whose category
        /// concerns their function (the finance chief sees all billing).
        FunctionCases => "function_cases",
    }
);

text_enum!(
    /// How a contact hears of cases opened and resolved in the categories
    /// that concern their function.
    CaseNotices {
        /// An email for each case opened or resolved.
        Each => "each",
        /// One email a day listing them.
        Digest => "digest",
        /// No such emails (their own cases still answer them).
        Off => "off",
    }
);

text_enum!(
    /// How a contact prefers to be answered.
    PreferredChannel {
        Email => "email",
        Chat => "chat",
        Portal => "portal",
        Phone => "phone",
    }
);

text_enum!(
    /// What an API token may do. Tokens never change anything but what
    /// their scope names.
    ApiScope {
        /// Read and export the audit log.
        AuditRead => "audit:read",
        /// Read staff, teams, accounts and contacts.
        DirectoryRead => "directory:read",
        /// Deliver inbound email (the email door for mail providers).
        MailIngest => "mail:ingest",
    }
);

text_enum!(
    /// A staff member's place in a team.
    TeamRole {
        Lead => "lead",
        Member => "member",
    }
);

/// An email domain of an account (`acme.example`): lowercase labels of
/// letters, digits and hyphens, at least two of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Domain(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a domain name such as acme.example")]
pub struct DomainError(pub String);

impl Domain {
    pub fn parse(raw: &str) -> Result<Domain, DomainError> {
        let d = raw.trim().trim_end_matches('.').to_lowercase();
        let ok = d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if ok {
            Ok(Domain(d))
        } else {
            Err(DomainError(raw.chars().take(100).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for stage in LifecycleStage::ALL {
            assert_eq!(LifecycleStage::parse(stage.as_str()), Some(*stage));
        }
        assert_eq!(
            ContactVisibility::parse("own_cases"),
            Some(ContactVisibility::OwnCases)
        );
        assert_eq!(
            ContactFunction::parse("Finance"),
            None,
            "text forms are exact"
        );
        assert_eq!(TeamRole::choices(), "lead, member");
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            Domain::parse(" ACME.example. ").expect("valid").as_str(),
            "acme.example"
        );
        for bad in [
            "acme",
            "acme..example",
            "-acme.example",
            "acme.example/x",
            "a b.example",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }
}
