//! The support organisation's people.

use std::fmt;

/// What a staff member may do in general; what they may do on a given
/// account is decided by [`crate::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Everything, including staff, teams and settings.
    Admin,
    /// Works the cases of the accounts their teams serve.
    Agent,
    /// Reads and exports everything; changes nothing.
    Auditor,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Agent => "agent",
            StaffRole::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<StaffRole> {
        match s {
            "admin" => Some(StaffRole::Admin),
            "agent" => Some(StaffRole::Agent),
            "auditor" => Some(StaffRole::Auditor),
            _ => None,
        }
    }
}

impl TryFrom<String> for StaffRole {
    type Error = crate::text_enum::UnknownText;

    fn try_from(text: String) -> Result<StaffRole, crate::text_enum::UnknownText> {
        StaffRole::parse(&text).ok_or_else(|| crate::text_enum::UnknownText {
            kind: "StaffRole",
            text: text.chars().take(64).collect(),
        })
    }
}

impl From<StaffRole> for String {
    fn from(role: StaffRole) -> String {
        role.as_str().to_owned()
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's name as shown to others: 1 to 100 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 100 characters without control characters")]
pub struct PersonNameError;

impl TryFrom<String> for PersonName {
    type Error = PersonNameError;

    fn try_from(raw: String) -> Result<PersonName, PersonNameError> {
        PersonName::parse(&raw)
    }
}

impl From<PersonName> for String {
    fn from(name: PersonName) -> String {
        name.0
    }
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, PersonNameError> {
        let name = raw.trim();
        let count = name.chars().count();
        if (1..=100).contains(&count) && !name.chars().any(char::is_control) {
            Ok(PersonName(name.to_owned()))
        } else {
            Err(PersonNameError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Up to two initials, the default avatar: "Anna Berg" gives "AB".
    pub fn initials(&self) -> String {
        self.0
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .flat_map(char::to_uppercase)
            .take(2)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_the_first_two_words() {
        assert_eq!(
            PersonName::parse("anna maria berg")
                .expect("valid")
                .initials(),
            "AM"
        );
        assert_eq!(PersonName::parse("Émile").expect("valid").initials(), "É");
    }

    #[test]
    fn names_are_bounded() {
        assert!(PersonName::parse("  ").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
    }
}
