//! Recovery codes: ten per user, each 60 random bits written as `xxxx-xxxx-xxxx` in lower-case
//! base32, stored only as a SHA-256 salted with the user's id, each usable once.

use crate::auth::opaque_token;

pub const COUNT: usize = 10;
/// 12 base32 characters of 5 bits each.
const CHARS: usize = 12;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new set: the codes to show once, and their hashes to store.
pub fn generate(user_id: i64) -> Result<Vec<(String, String)>, getrandom::Error> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; CHARS];
            getrandom::fill(&mut bytes)?;
            let plain: String =
                bytes.iter().map(|byte| ALPHABET[usize::from(byte & 31)] as char).collect();
            let hash = hash(user_id, &plain).expect("a generated code is well formed");
            let shown = format!("{}-{}-{}", &plain[..4], &plain[4..8], &plain[8..]);
            Ok((shown, hash))
        })
        .collect()
}

/// What a code typed in is stored as, read leniently (any case, hyphens and spaces ignored);
/// `None` when it cannot be a code.
pub fn hash(user_id: i64, typed: &str) -> Option<String> {
    let plain: String =
        typed.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_lowercase()).collect();
    let well_formed = plain.len() == CHARS && plain.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then(|| opaque_token::hash(&format!("recovery:{user_id}:{plain}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_each_hashed_for_its_user() {
        let codes = generate(7).unwrap();
        assert_eq!(codes.len(), COUNT);
        let distinct: std::collections::BTreeSet<_> = codes.iter().map(|(c, _)| c).collect();
        assert_eq!(distinct.len(), COUNT);
        for (shown, stored) in &codes {
            assert_eq!(shown.len(), 14, "{shown}");
            assert_eq!(hash(7, shown).as_ref(), Some(stored));
            assert_eq!(hash(7, &shown.to_uppercase().replace('-', " ")).as_ref(), Some(stored));
            assert_ne!(hash(8, shown).as_ref(), Some(stored));
        }
        assert_eq!(hash(7, "abcd-efgh-ijk"), None);
        assert_eq!(hash(7, "abcd-efgh-ijk1"), None);
    }
}
