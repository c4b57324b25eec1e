//! Codes mailed to a user (address verification, password reset, email change): six digits the
//! user types, drawn uniformly, stored as a salted SHA-256. Six digits are guessable offline
//! from the hash by anyone who can read the database; what protects a code is its lifetime
//! (`EMAIL_CODE_TTL_SECS`) and its tries (`EMAIL_CODE_MAX_TRIES`), as it protects the mail.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::opaque_token;

const DIGITS: u32 = 6;

/// A new code and what the database keeps of it.
pub fn generate() -> Result<(String, String), getrandom::Error> {
    let range = 10u32.pow(DIGITS);
    // Rejection sampling: u32::MAX is not a multiple of 10^6, so the top values would favour
    // the low codes.
    let limit = u32::MAX - u32::MAX % range;
    let number = loop {
        let candidate = getrandom::u32()?;
        if candidate < limit {
            break candidate % range;
        }
    };
    let code = format!("{number:0width$}", width = DIGITS as usize);
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    let salt = URL_SAFE_NO_PAD.encode(salt);
    let stored = format!("{salt}${}", digest(&salt, &code));
    Ok((code, stored))
}

/// Whether `code` (as typed: surrounding spaces and inner spaces or dashes are forgiven) is the
/// one `stored` was made from.
pub fn matches(stored: &str, code: &str) -> bool {
    let typed: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    match stored.split_once('$') {
        Some((salt, hash)) => digest(salt, &typed) == hash,
        None => false,
    }
}

/// SHA-256 of the salted code, hex.
fn digest(salt: &str, code: &str) -> String {
    opaque_token::hash(&format!("{salt}${code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_six_digits_and_matches_only_its_hash() {
        let (code, stored) = generate().unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert!(matches(&stored, &code));
        assert!(matches(&stored, &format!(" {}-{} ", &code[..3], &code[3..])));
        let other = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert!(!matches(&stored, &other));
        let (again, stored_again) = generate().unwrap();
        assert!(!matches(&stored_again, &code) || again == code);
    }
}
