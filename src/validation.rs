//! The registration rules of the contract, applied to register's (and login's) input.

use std::{collections::HashSet, sync::OnceLock};

use serde::{Deserialize, Deserializer};

use crate::{auth::password::MAX_PASSWORD_BYTES, error::ApiError};

const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 100;
const MIN_PASSWORD_CHARS: usize = 8;

/// Deserializes any JSON value, keeping it only if it is a string: a field that is missing,
/// null or of another type is then answered with the same "required" message, not a parse
/// error.
pub fn string_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// The field, unless it is missing, not a string, or blank.
pub fn required(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.trim().is_empty())
}

/// Emails are trimmed and lower-cased before they are stored and before they are looked up.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A normalised email that looks like an address: one `@`, a non-empty local part, a domain
/// with a dot, no whitespace or control characters, at most 254 characters (RFC 5321 §4.5.3).
pub fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = normalize_email(email);
    let looks_valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    looks_valid.then_some(email).ok_or(ApiError::InvalidEmail)
}

/// A trimmed name of 1 to 100 characters. Control characters (NUL among them, which
/// PostgreSQL refuses in text) are rejected before they reach the database.
pub fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidName);
    }
    Ok(name.to_owned())
}

/// At least 8 characters and at most 72 bytes; never trimmed or otherwise changed.
pub fn valid_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::PasswordTooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::PasswordTooLong);
    }
    Ok(())
}

/// The registration rules for a new password (registration and password change).
pub fn acceptable_new_password(password: &str, reject_common: bool) -> Result<(), ApiError> {
    valid_password(password)?;
    if reject_common && is_common_password(password) {
        return Err(ApiError::PasswordTooCommon);
    }
    Ok(())
}

/// Whether the password is one of the 10,000 most common ones (NIST SP 800-63B §5.1.1.2:
/// refuse values known to be commonly used), compared case-insensitively. The list is compiled
/// in: no network call.
pub fn is_common_password(password: &str) -> bool {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let common = COMMON.get_or_init(|| {
        include_str!("auth/common_passwords.txt")
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect()
    });
    common.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            valid_email("  Bob@Example.COM ").unwrap(),
            "bob@example.com"
        );
        for bad in [
            "bob",
            "@example.com",
            "bob@example",
            "bob@@example.com",
            "a@b@c.com",
            "bob@.com",
            "bob@example.",
            "bo b@example.com",
            "bob\0@example.com",
        ] {
            assert!(valid_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long.len(), 255);
        assert!(valid_email(&long).is_err());
        assert!(valid_email(&long[1..]).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Arun CS ").unwrap(), "Arun CS");
        assert!(valid_name(&"x".repeat(100)).is_ok());
        assert!(valid_name(&"x".repeat(101)).is_err());
        assert!(valid_name("a\u{0}b").is_err());
        assert!(valid_name("a\nb").is_err());
    }

    #[test]
    fn passwords_are_bounded_in_characters_and_bytes() {
        assert!(valid_password("1234567").is_err());
        assert!(valid_password("12345678").is_ok());
        assert!(valid_password(&"p".repeat(72)).is_ok());
        assert!(matches!(
            valid_password(&"p".repeat(73)),
            Err(ApiError::PasswordTooLong)
        ));
        // 25 three-byte characters: 25 characters but 75 bytes.
        assert!(valid_password(&"€".repeat(25)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_judged_without_panic(input in "\\PC*|\\p{Cc}*") {
            if let Ok(email) = valid_email(&input) {
                proptest::prop_assert_eq!(email.matches('@').count(), 1);
                proptest::prop_assert!(email.chars().count() <= MAX_EMAIL_CHARS);
                proptest::prop_assert!(!email.chars().any(|c| c.is_control() || c.is_whitespace()));
                proptest::prop_assert_eq!(email.clone(), normalize_email(&email));
            }
            if let Ok(name) = valid_name(&input) {
                proptest::prop_assert!((1..=MAX_NAME_CHARS).contains(&name.chars().count()));
                proptest::prop_assert!(!name.chars().any(char::is_control));
                proptest::prop_assert_eq!(name.trim(), name.as_str());
            }
            if valid_password(&input).is_ok() {
                proptest::prop_assert!(input.len() <= MAX_PASSWORD_BYTES);
                proptest::prop_assert!(input.chars().count() >= MIN_PASSWORD_CHARS);
            }
            let _ = is_common_password(&input);
        }
    }

    #[test]
    fn common_passwords_are_recognised_in_any_case() {
        assert!(is_common_password("password1"));
        assert!(is_common_password("PaSsWoRd1"));
        assert!(is_common_password("pass1234"));
        assert!(!is_common_password("correct horse battery"));
        assert!(!is_common_password("password1 "));
    }
}
