//! Threading keys on outbound mail: a signed reply address that names the
//! case (`support+1042-3f9a0c1d2b4e6a7c@desk.example`) and a `[#1042]`
//! subject tag. The signature makes a guessed address useless: only mail
//! we sent can thread into a case by its reply address.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks reply tokens with a server secret.
#[derive(Clone)]
pub struct ReplyTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for ReplyTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyTokens(..)")
    }
}

impl ReplyTokens {
    pub fn new(key: &[u8]) -> ReplyTokens {
        ReplyTokens { key: key.to_vec() }
    }

    /// 16 hex digits of the HMAC of `text`.
    fn mac(&self, text: &str) -> String {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(text.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    fn signature(&self, case_number: i64) -> String {
        self.mac(&format!("rapport-reply:{case_number}"))
    }

    /// `1042-3f9a0c1d2b4e6a7c`.
    pub fn token(&self, case_number: i64) -> String {
        format!("{case_number}-{}", self.signature(case_number))
    }

    /// The case number a token names, if its signature is ours.
    pub fn verify(&self, token: &str) -> Option<i64> {
        let (number, sig) = token.split_once('-')?;
        let number: i64 = number.parse().ok()?;
        same_hex(sig, &self.signature(number)).then_some(number)
    }

    /// `local+token@domain` for the case.
    pub fn reply_address(&self, address: &str, case_number: i64) -> String {
        match address.split_once('@') {
            Some((local, domain)) => format!("{local}+{}@{domain}", self.token(case_number)),
            None => address.to_owned(),
        }
    }

    /// The case named by a signed reply address among `addresses`, which
    /// must be of our mailbox (`address`: `local@domain`).
    pub fn find<'a>(
        &self,
        address: &str,
        addresses: impl IntoIterator<Item = &'a str>,
    ) -> Option<i64> {
        tokens_of(address, addresses)
            .into_iter()
            .find_map(|token| self.verify(token))
    }

    /// Shorter than a case's: the address must fit in 64 characters, and
    /// a guessed one only ever files mail under a company the sender is
    /// a contact of anyway.
    fn account_signature(&self, account: &str) -> String {
        let mut mac = self.mac(&format!("rapport-account:{account}"));
        mac.truncate(8);
        mac
    }

    /// An account's own address (`support+a<32 hex>-<8 hex>@domain`):
    /// mail to it is about that account, for a person who is a contact of
    /// several. `account` is the account id's 32 hex digits. It fits the
    /// 64 characters of a local part for mailbox names of up to 21.
    pub fn account_address(&self, address: &str, account: &str) -> String {
        match address.split_once('@') {
            Some((local, domain)) => format!(
                "{local}+a{account}-{}@{domain}",
                self.account_signature(account)
            ),
            None => address.to_owned(),
        }
    }

    /// The account (32 hex digits) named by a signed account address among
    /// `addresses`.
    pub fn find_account<'a>(
        &self,
        address: &str,
        addresses: impl IntoIterator<Item = &'a str>,
    ) -> Option<String> {
        tokens_of(address, addresses).into_iter().find_map(|token| {
            let (account, sig) = token.strip_prefix(['a', 'A'])?.split_once('-')?;
            let account = account.to_ascii_lowercase();
            (account.len() == 32
                && account.bytes().all(|b| b.is_ascii_hexdigit())
                && same_hex(sig, &self.account_signature(&account)))
            .then_some(account)
        })
    }
}

/// Constant-time comparison of a presented signature with ours.
fn same_hex(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a.to_ascii_lowercase() ^ b))
            == 0
}

/// The `+token` parts of those `addresses` that are of our mailbox.
fn tokens_of<'a>(address: &str, addresses: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    addresses
        .into_iter()
        .filter_map(|a| match of_mailbox(address, a)? {
            Mailbox::Plus(token) => Some(token),
            Mailbox::Itself => None,
        })
        .collect()
}

/// How `candidate` is an address of the mailbox `address`.
enum Mailbox<'a> {
    Itself,
    /// `local+token@domain`.
    Plus(&'a str),
}

fn of_mailbox<'a>(address: &str, candidate: &'a str) -> Option<Mailbox<'a>> {
    let (local, domain) = address.rsplit_once('@')?;
    let (l, d) = candidate.rsplit_once('@')?;
    if !d.eq_ignore_ascii_case(domain) {
        return None;
    }
    if l.eq_ignore_ascii_case(local) {
        return Some(Mailbox::Itself);
    }
    // By prefix, not at the first `+`: our own local part may hold one.
    let head = l.get(..local.len())?;
    let token = l.get(local.len()..)?.strip_prefix('+')?;
    head.eq_ignore_ascii_case(local)
        .then_some(Mailbox::Plus(token))
}

/// Whether `candidate` is the mailbox `address` itself or one of its plus
/// addresses (reply and account addresses): mail to it is mail to us.
pub fn is_our_mailbox(address: &str, candidate: &str) -> bool {
    of_mailbox(address, candidate).is_some()
}

/// `[#1042]`.
pub fn subject_tag(case_number: i64) -> String {
    format!("[#{case_number}]")
}

/// The case number of the first `[#N]` tag in a subject.
pub fn parse_subject_tag(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(start) = rest.find("[#") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find(']') {
            if let Ok(n) = after[..end].parse::<i64>()
                && n > 0
            {
                return Some(n);
            }
            rest = &after[end..];
        } else {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_mailbox_is_the_address_and_its_plus_addresses_only() {
        let ours = "support@desk.example";
        for a in [
            "support@desk.example",
            "Support@Desk.Example",
            "support+c1042-abc@desk.example",
            "SUPPORT+a0123@desk.example",
        ] {
            assert!(is_our_mailbox(ours, a), "{a}");
        }
        assert!(is_our_mailbox(
            "help+desk@x.example",
            "help+desk+c7-ab@x.example"
        ));
        assert!(!is_our_mailbox("help+desk@x.example", "help@x.example"));
        for a in [
            "supporter@desk.example",
            "support@desk.example.org",
            "sales+support@desk.example",
            "anna@acme.example",
            "support",
            "",
        ] {
            assert!(!is_our_mailbox(ours, a), "{a}");
        }
    }

    #[test]
    fn account_addresses_name_their_account_and_forgeries_do_not() {
        let t = ReplyTokens::new(b"secret");
        let account = "0123456789abcdef0123456789abcdef";
        let addr = t.account_address("support@desk.example", account);
        assert!(addr.starts_with("support+a0123456789abcdef"), "{addr}");
        assert!(addr.split('@').next().is_some_and(|l| l.len() <= 64));
        assert_eq!(
            t.find_account("support@desk.example", [addr.to_uppercase().as_str()]),
            Some(account.to_owned()),
            "case does not matter"
        );
        let forged = addr.replace("a0123", "a1123");
        assert_eq!(
            t.find_account("support@desk.example", [forged.as_str()]),
            None
        );
        let other_mailbox = addr.replace("support+", "sales+");
        assert_eq!(
            t.find_account("support@desk.example", [other_mailbox.as_str()]),
            None
        );
        assert_eq!(
            ReplyTokens::new(b"other").find_account("support@desk.example", [addr.as_str()]),
            None
        );
        assert_eq!(
            t.find("support@desk.example", [addr.as_str()]),
            None,
            "not a case"
        );
    }

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        let t = ReplyTokens::new(b"secret");
        let addr = t.reply_address("support@desk.example", 1042);
        assert!(addr.starts_with("support+1042-"));
        assert_eq!(t.find("support@desk.example", [addr.as_str()]), Some(1042));
        assert_eq!(
            t.find(
                "support@desk.example",
                ["support+1043-0000000000000000@desk.example"]
            ),
            None
        );
        assert_eq!(
            t.find(
                "support@desk.example",
                [addr.replace("desk", "evil").as_str()]
            ),
            None
        );
        let other = ReplyTokens::new(b"other");
        assert_eq!(other.find("support@desk.example", [addr.as_str()]), None);
    }

    #[test]
    fn subject_tags_are_found() {
        assert_eq!(parse_subject_tag("Re: [#1042] Invoice"), Some(1042));
        assert_eq!(parse_subject_tag("AW: [#x] [#7] y"), Some(7));
        assert_eq!(parse_subject_tag("No tag [#] here"), None);
        assert_eq!(subject_tag(5), "[#5]");
    }
}
