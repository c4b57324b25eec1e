//! Standard Webhooks' signature: HMAC-SHA256, keyed with the base64 after the secret's
//! `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`, written `v1,<base64>`; several,
//! space-separated, while a rotated secret is still signed with.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The `webhook-signature` header's value for `secrets` (a secret that is not `whsec_` and
/// base64 signs nothing: the service only makes ones that are).
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| {
            let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signature_per_secret_each_over_id_timestamp_and_body() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert!(a.starts_with("whsec_") && a != b);
        let one = header(&[&a], "msg_1", 1_700_000_000, "{}");
        assert!(one.starts_with("v1,") && !one.contains(' '));
        let two = header(&[&a, &b], "msg_1", 1_700_000_000, "{}");
        assert_eq!(two.split(' ').next(), Some(one.as_str()));
        assert_eq!(two.split(' ').count(), 2);
        for other in [
            header(&[&a], "msg_2", 1_700_000_000, "{}"),
            header(&[&a], "msg_1", 1_700_000_001, "{}"),
            header(&[&a], "msg_1", 1_700_000_000, "{ }"),
        ] {
            assert_ne!(other, one);
        }
        assert_eq!(header(&["not-a-secret"], "msg_1", 1, "{}"), "");
    }
}
