//! The registration rules of the contract for names and emails, applied to register's (and
//! login's) input. The password rules are `auth::password_policy`.

use serde::{Deserialize, Deserializer};
use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

use crate::error::ApiError;

const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 100;

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

/// Emails are trimmed, NFKC-normalised (the fullwidth `ａ` is `a`, `é` is one code point
/// whichever way it was typed) and lower-cased before they are stored and before they are
/// looked up.
pub fn normalize_email(email: &str) -> String {
    email.trim().nfkc().collect::<String>().to_lowercase()
}

/// A normalised email that is a plain address and cannot pass for another one: an addr-spec of
/// RFC 5322 §3.4.1 without quoting, comments or a display name (`Support<victim@example.org>`,
/// `victim(x)@…` and `a,b@…` are refused: mail would go elsewhere, or nowhere), its local part a
/// dot-atom whose atoms may hold any non-ASCII character (RFC 6531), its domain a name IDNA
/// accepts (UTS #46, strict) with a dot; no whitespace, control, invisible or
/// direction-changing characters; the local part and each domain label in one script (UTS #39:
/// `alіce` with a Cyrillic `і` is refused); at most 254 characters (RFC 5321 §4.5.3).
pub fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = normalize_email(email);
    let looks_valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_control() || c.is_whitespace() || is_invisible(c))
        && email.split(['@', '.']).all(|part| part.is_single_script())
        && match email.split_once('@') {
            Some((local, domain)) => is_dot_atom(local) && is_domain_name(domain),
            None => false,
        };
    looks_valid.then_some(email).ok_or(ApiError::InvalidEmail)
}

/// Atoms of RFC 5322 §3.2.3's `atext` (letters, digits and ``!#$%&'*+-/=?^_`{|}~``) or any
/// non-ASCII character (RFC 6531 §3.3), joined by single dots.
fn is_dot_atom(text: &str) -> bool {
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    text.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// A host name of at least two labels that IDNA turns into ASCII under its strict rules (no
/// `_`, no label starting or ending with `-`, no address literal).
fn is_domain_name(domain: &str) -> bool {
    domain.contains('.')
        && !domain.ends_with('.')
        && idna::domain_to_ascii_strict(domain).is_ok_and(|ascii| !ascii.is_empty())
}

/// Default-ignorable code points (zero-width spaces and joiners, soft hyphens, variation
/// selectors, tags: Unicode's DerivedCoreProperties) and bidirectional controls (`RLO` and the
/// like): they change how an address looks, or whether it shows at all, not what it is.
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(valid_email("  Bob@Example.COM ").unwrap(), "bob@example.com");
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
            // Mailbox syntax, not an address: a display name, a comment, a list, a group,
            // quoting, a route, a domain literal.
            "support<victim@example.org>",
            "victim(x)@example.org",
            "a,b@example.org",
            "team:a@example.org;",
            "a;b@example.org",
            "\"bob\"@example.com",
            "@host:bob@example.com",
            "bob@[127.0.0.1]",
            "bob@exa_mple.com",
            "bob@-example.com",
            ".bob@example.com",
            "bob.@example.com",
            "b..ob@example.com",
        ] {
            assert!(valid_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long.len(), 255);
        assert!(valid_email(&long).is_err());
        assert!(valid_email(&long[1..]).is_ok());
    }

    #[test]
    fn look_alike_addresses_are_one_address_or_refused() {
        // The review's accounts: each registered as a distinct one.
        assert_eq!(valid_email("ａlice@example.com").unwrap(), "alice@example.com");
        assert_eq!(valid_email("ALICE@EXAMPLE.COM").unwrap(), "alice@example.com");
        let nfd = "jose\u{301}@example.com";
        assert_eq!(valid_email(nfd).unwrap(), valid_email("jos\u{e9}@example.com").unwrap());
        for look_alike in [
            "alice\u{200b}@example.com",
            "alice@example.com\u{202e}",
            "\u{202e}alice@example.com",
            "al\u{456}ce@example.com",
            "alice@ex\u{430}mple.com",
            "alice\u{feff}@example.com",
        ] {
            assert!(valid_email(look_alike).is_err(), "{look_alike:?} accepted");
        }
        // One script a part is fine, whichever script it is.
        assert!(valid_email("\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}@example.com").is_ok());
        assert!(valid_email("user+tag_1@sub.example.com").is_ok());
        assert!(valid_email("o'neil.{x}@example.co.uk").is_ok());
        assert_eq!(valid_email("Jürgen@Bücher.de").unwrap(), "jürgen@bücher.de");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Arun CS ").unwrap(), "Arun CS");
        assert!(valid_name(&"x".repeat(100)).is_ok());
        assert!(valid_name(&"x".repeat(101)).is_err());
        assert!(valid_name("a\u{0}b").is_err());
        assert!(valid_name("a\nb").is_err());
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
        }
    }
}
