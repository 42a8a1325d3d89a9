//! Turning request fields into domain values, naming the field at fault.

use std::fmt::Display;

use super::UseCaseError;

/// Wraps a parse error as a validation error of `field`.
pub(crate) fn field<T, E: Display>(
    field: &'static str,
    result: Result<T, E>,
) -> Result<T, UseCaseError> {
    result.map_err(|e| UseCaseError::Validation {
        field,
        message: e.to_string(),
    })
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> UseCaseError {
    UseCaseError::Validation {
        field,
        message: message.into(),
    }
}

/// Trimmed text of at most `max` characters without control characters
/// other than newlines (`multiline`); empty becomes `None`.
pub(crate) fn optional_text(
    name: &'static str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, UseCaseError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(invalid(name, format!("must be at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    {
        return Err(invalid(name, "must not contain control characters"));
    }
    Ok(Some(value.to_owned()))
}

/// Like [`optional_text`] but required.
pub(crate) fn text(name: &'static str, value: &str, max: usize) -> Result<String, UseCaseError> {
    optional_text(name, Some(value), max, false)?.ok_or_else(|| invalid(name, "must not be empty"))
}

/// A phone number as people write it: digits, spaces and + ( ) - . /
pub(crate) fn phone(value: Option<&str>) -> Result<Option<String>, UseCaseError> {
    let phone = optional_text("phone", value, 40, false)?;
    if let Some(p) = &phone
        && (!p
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-./".contains(c))
            || !p.chars().any(|c| c.is_ascii_digit()))
    {
        return Err(invalid(
            "phone",
            "must be a phone number such as +49 30 1234567",
        ));
    }
    Ok(phone)
}

/// An http(s) URL, for avatars.
pub(crate) fn url(name: &'static str, value: Option<&str>) -> Result<Option<String>, UseCaseError> {
    let url = optional_text(name, value, 500, false)?;
    if let Some(u) = &url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(invalid(name, "must be an http(s) URL"));
    }
    Ok(url)
}
