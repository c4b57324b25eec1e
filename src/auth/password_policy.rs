//! The password policy, in one place: how long a password may be, and which are too common.

use std::{collections::HashSet, sync::OnceLock};

use crate::error::ApiError;

const MIN_PASSWORD_CHARS: usize = 8;
/// bcrypt reads at most 72 bytes and silently ignores the rest; longer passwords are refused
/// rather than truncated. (The crate's `non_truncating_*` functions refuse exactly 72 too.)
pub const MAX_PASSWORD_BYTES: usize = 72;

/// The rules a new password (registration, password change) must follow.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// `PASSWORD_REJECT_COMMON`.
    pub reject_common: bool,
}

impl PasswordPolicy {
    /// At least 8 characters, at most 72 bytes, and (unless turned off) not a common one.
    pub fn check_new(&self, password: &str) -> Result<(), ApiError> {
        valid_password(password)?;
        if self.reject_common && is_common_password(password) {
            return Err(ApiError::PasswordTooCommon);
        }
        Ok(())
    }
}

/// Whether a presented password (login, confirmation) can be one this service stored: one
/// longer than bcrypt reads never was, and refusing it unhashed also keeps bcrypt from
/// comparing only its first 72 bytes.
pub fn could_be_stored(password: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
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

/// Whether the password is one of the 10,000 most common ones (NIST SP 800-63B §5.1.1.2:
/// refuse values known to be commonly used), compared case-insensitively. The list is compiled
/// in: no network call.
pub fn is_common_password(password: &str) -> bool {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let common = COMMON.get_or_init(|| {
        include_str!("common_passwords.txt").lines().filter(|line| !line.starts_with('#')).collect()
    });
    common.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_bounded_in_characters_and_bytes() {
        assert!(valid_password("1234567").is_err());
        assert!(valid_password("12345678").is_ok());
        assert!(valid_password(&"p".repeat(72)).is_ok());
        assert!(matches!(valid_password(&"p".repeat(73)), Err(ApiError::PasswordTooLong)));
        // 25 three-byte characters: 25 characters but 75 bytes.
        assert!(valid_password(&"€".repeat(25)).is_err());
    }

    #[test]
    fn common_passwords_are_recognised_in_any_case() {
        assert!(is_common_password("password1"));
        assert!(is_common_password("PaSsWoRd1"));
        assert!(is_common_password("pass1234"));
        assert!(!is_common_password("correct horse battery"));
        assert!(!is_common_password("password1 "));
    }

    proptest::proptest! {
        #[test]
        fn any_password_is_judged_without_panic(input in "\\PC*|\\p{Cc}*") {
            if valid_password(&input).is_ok() {
                proptest::prop_assert!(input.len() <= MAX_PASSWORD_BYTES);
                proptest::prop_assert!(input.chars().count() >= MIN_PASSWORD_CHARS);
            }
            let _ = is_common_password(&input);
        }
    }
}
