//! Opaque tokens: 256 random bits, given to the client once, stored only as their SHA-256 —
//! refresh tokens, a login's `mfa_token`; and the hash every other secret the service keeps
//! only a digest of (mailed codes, recovery codes, device keys) is stored by.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// The length of an encoded token; anything else cannot be one and is refused unhashed.
pub const TOKEN_CHARS: usize = 43;

/// A new token and the hash to store for it.
pub fn generate() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

/// The successor of a presented token: HMAC-SHA256 of it under the service's `key`. Presenting
/// one token twice (two tabs, a retried request) so gets the same successor, never a second
/// chain (RFC 9700 §4.14.2), and nobody without the key can compute it from the token.
pub fn successor(key: &[u8; 32], presented: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(presented.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// What the database knows a token by. A plain hash suffices (no salt, no stretching): the
/// token is 256 random bits, so there is nothing to guess from a leaked hash.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_url_safe_and_hashed() {
        let (a, hash_a) = generate().unwrap();
        let (b, _) = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(hash_a, hash(&a));
        assert_eq!(hash_a.len(), 64);
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_token_has_one_successor_under_one_key() {
        let (presented, _) = generate().unwrap();
        let next = successor(&[7; 32], &presented);
        assert_eq!(next, successor(&[7; 32], &presented));
        assert_ne!(next, successor(&[8; 32], &presented));
        assert_ne!(next, successor(&[7; 32], &next));
        assert_eq!(next.len(), TOKEN_CHARS);
    }
}
