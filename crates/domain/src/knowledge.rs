//! Who may read a knowledge base article.

use crate::id::AccountId;
use crate::permission::Principal;
use crate::text_enum::text_enum;

text_enum!(
    /// Who an article is for.
    ArticleVisibility {
        /// Anyone, signed in or not.
        Public => "public",
        /// Every signed-in contact of every account.
        Contacts => "contacts",
        /// Contacts of the named tiers and accounts only.
        Restricted => "restricted",
    }
);

text_enum!(
    /// Where an article is in its life.
    ArticleStatus {
        /// Being written: staff only.
        Draft => "draft",
        Published => "published",
        /// Withdrawn: staff only, kept for its history.
        Archived => "archived",
    }
);

/// The readers of a `restricted` article.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleAudience {
    pub tiers: Vec<String>,
    pub accounts: Vec<AccountId>,
}

/// Whether `reader` may read an article. `reader` is `None` for someone
/// not signed in; `reader_tier` is the tier of a contact's account. Staff
/// read every article (drafts included); API tokens none.
pub fn can_read_article(
    reader: Option<&Principal>,
    reader_tier: Option<&str>,
    status: ArticleStatus,
    visibility: ArticleVisibility,
    audience: &ArticleAudience,
) -> bool {
    match reader {
        Some(Principal::Staff { .. }) => true,
        Some(Principal::ApiToken { .. }) => false,
        _ if status != ArticleStatus::Published => false,
        None => visibility == ArticleVisibility::Public,
        Some(Principal::Contact { account, .. }) => match visibility {
            ArticleVisibility::Public | ArticleVisibility::Contacts => true,
            ArticleVisibility::Restricted => {
                audience.accounts.contains(account)
                    || reader_tier.is_some_and(|t| audience.tiers.iter().any(|a| a == t))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ContactVisibility;
    use crate::id::ContactId;

    fn contact(account: AccountId) -> Principal {
        Principal::Contact {
            id: ContactId::new(),
            account,
            visibility: ContactVisibility::OwnCases,
            function: crate::account::ContactFunction::Other,
        }
    }

    #[test]
    fn restricted_articles_reach_their_tiers_and_accounts_only() {
        let named = AccountId::new();
        let audience = ArticleAudience {
            tiers: vec!["strategic".into()],
            accounts: vec![named],
        };
        let read = |who: &Principal, tier| {
            can_read_article(
                Some(who),
                Some(tier),
                ArticleStatus::Published,
                ArticleVisibility::Restricted,
                &audience,
            )
        };
        assert!(read(&contact(AccountId::new()), "strategic"));
        assert!(!read(&contact(AccountId::new()), "standard"));
        assert!(read(&contact(named), "standard"));
    }

    #[test]
    fn drafts_are_for_staff_and_public_articles_for_everyone() {
        let audience = ArticleAudience::default();
        let c = contact(AccountId::new());
        assert!(!can_read_article(
            Some(&c),
            Some("strategic"),
            ArticleStatus::Draft,
            ArticleVisibility::Public,
            &audience
        ));
        assert!(can_read_article(
            None,
            None,
            ArticleStatus::Published,
            ArticleVisibility::Public,
            &audience
        ));
        assert!(!can_read_article(
            None,
            None,
            ArticleStatus::Published,
            ArticleVisibility::Contacts,
            &audience
        ));
    }
}
