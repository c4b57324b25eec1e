//! TOTP secrets at rest: AES-256-GCM under `MFA_ENCRYPTION_KEY`, a random 96-bit nonce per
//! secret, the user's id as associated data (a sealed secret copied onto another account's row
//! does not open there). Stored as `v1.` and base64url of nonce and ciphertext.

use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};

const VERSION: &str = "v1.";
const NONCE_BYTES: usize = 12;

#[derive(Clone)]
pub struct SecretBox(Aes256Gcm);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(…)")
    }
}

impl SecretBox {
    /// From the setting's value: 32 bytes in base64 (`openssl rand -base64 32`).
    pub fn from_base64(key: &str) -> Result<Self, &'static str> {
        let bytes =
            STANDARD.decode(key.trim()).map_err(|_| "must be base64 (openssl rand -base64 32)")?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| "must be 32 bytes (openssl rand -base64 32)")?;
        Ok(SecretBox(Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))))
    }

    /// A new random key, in the setting's form.
    pub fn new_key() -> Result<String, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(STANDARD.encode(key))
    }

    /// The key in `path`, made there (readable by its owner only) when there is none: a
    /// development machine's key, kept beside the database it seals secrets in.
    pub fn from_key_file(path: &std::path::Path) -> Result<Self, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if !path.exists() {
            let key = SecretBox::new_key().map_err(|error| error.to_string())?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|error| error.to_string())?;
            file.write_all(key.as_bytes()).map_err(|error| error.to_string())?;
        }
        let key = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
        SecretBox::from_base64(&key).map_err(str::to_owned)
    }

    pub fn seal(&self, user_id: i64, secret: &[u8]) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)?;
        let aad = associated_data(user_id);
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad: &aad })
            .expect("AES-GCM seals any secret of a sane length");
        Ok(format!("{VERSION}{}", URL_SAFE_NO_PAD.encode([&nonce[..], &sealed].concat())))
    }

    /// The secret, if `sealed` was sealed for `user_id` under this key.
    pub fn open(&self, user_id: i64, sealed: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(VERSION)?).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let aad = associated_data(user_id);
        self.0.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: &aad }).ok()
    }
}

fn associated_data(user_id: i64) -> Vec<u8> {
    format!("totp-secret:user:{user_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_for_its_user_under_its_key() {
        let key = SecretBox::from_base64(&SecretBox::new_key().unwrap()).unwrap();
        let sealed = key.seal(7, b"12345678901234567890").unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("MTIzNDU2"), "{sealed}");
        assert_ne!(sealed, key.seal(7, b"12345678901234567890").unwrap(), "a nonce per seal");
        assert_eq!(key.open(7, &sealed).unwrap(), b"12345678901234567890");
        assert_eq!(key.open(8, &sealed), None);
        let other = SecretBox::from_base64(&SecretBox::new_key().unwrap()).unwrap();
        assert_eq!(other.open(7, &sealed), None);
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(7, &tampered), None);
        for broken in ["", "v1.", "v2.AAAA", "v1.!!!!"] {
            assert_eq!(key.open(7, broken), None, "{broken:?}");
        }
    }

    #[test]
    fn the_key_is_32_bytes_of_base64() {
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
        assert!(SecretBox::from_base64("not base64 at all!").is_err());
        assert!(SecretBox::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
    }
}
