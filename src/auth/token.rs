//! Access tokens: JWTs with `sub`, `email`, `iat`, `exp`, `jti` and `sid` claims, signed with
//! the current key (HS256 or EdDSA) and a `kid` header naming it.

use jsonwebtoken::{
    Algorithm, Header, Validation,
    jwk::{Jwk, JwkSet},
};
use serde::{Deserialize, Serialize};

use super::keys::{self, KeyError, SigningKey, VerifyingKey};
use crate::settings::TokenSettings;

/// Clock skew tolerated on `exp` and `nbf`. jsonwebtoken's default is 60 s; tokens are issued
/// and checked by replicas of this service on synchronised clocks, so a few seconds suffice.
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a string (RFC 7519 §4.1.2).
    pub sub: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    /// A UUID naming this token, so that logout can revoke exactly it.
    pub jti: String,
    /// The session (refresh family) the token belongs to. Tokens issued before sessions existed
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token's kid names no configured key")]
    UnknownKid,
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// One key a token may be checked with, and the rules that go with its algorithm.
struct Verifier {
    key: VerifyingKey,
    validation: Validation,
}

impl Verifier {
    fn new(key: VerifyingKey) -> Self {
        // Built explicitly rather than from defaults (RFC 8725 §3.1, §3.2): the key's own
        // algorithm only, `exp` required, `nbf` honoured when present.
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Verifier { key, validation }
    }
}

pub struct TokenKeys {
    signing: SigningKey,
    /// The current key first, then the previous ones.
    verifiers: Vec<Verifier>,
    /// Which verifier checks a token without `kid` (v1 issued none): the first HS256 key.
    without_kid: Option<usize>,
    jwks: String,
    ttl_secs: u64,
}

impl TokenKeys {
    /// Signs with `signing`; also accepts tokens signed by any of `previous`, found by `kid`.
    pub fn new(
        signing: SigningKey,
        previous: Vec<VerifyingKey>,
        ttl_secs: u64,
    ) -> Result<Self, KeyError> {
        let current = signing.verifying.clone();
        let mut verifiers: Vec<Verifier> = Vec::with_capacity(previous.len() + 1);
        for key in std::iter::once(current).chain(previous) {
            if verifiers.iter().any(|known| known.key.kid == key.kid) {
                return Err(KeyError::DuplicateKid {
                    variable: "JWT_PREVIOUS_KEY_FILES/JWT_PREVIOUS_SECRETS",
                    kid: key.kid,
                });
            }
            verifiers.push(Verifier::new(key));
        }
        let without_kid = verifiers.iter().position(|v| v.key.algorithm == Algorithm::HS256);
        let keys: Vec<Jwk> = verifiers.iter().filter_map(|v| v.key.public_jwk.clone()).collect();
        let jwks = serde_json::to_string(&JwkSet { keys }).expect("a JWK set serialises");
        Ok(TokenKeys { signing, verifiers, without_kid, jwks, ttl_secs })
    }

    /// The keys `JWT_*` configure (`keys::load_configured`).
    pub fn load(settings: &TokenSettings) -> Result<Self, KeyError> {
        let (signing, previous) = keys::load_configured(settings)?;
        TokenKeys::new(signing, previous, settings.access_token_ttl_secs)
    }

    /// HS256 with one secret and no previous keys.
    pub fn from_secret(secret: &[u8], ttl_secs: u64) -> Self {
        TokenKeys::new(SigningKey::from_secret(secret), Vec::new(), ttl_secs)
            .expect("one key cannot clash with itself")
    }

    /// The key refresh-token successors are derived under.
    pub fn successor_key(&self) -> &[u8; 32] {
        &self.signing.successor_key
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// `{"keys":[…]}`: the public keys of the current and previous Ed25519 keys (RFC 7517).
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    pub fn issue(
        &self,
        user_id: i64,
        email: &str,
        session_id: &str,
    ) -> jsonwebtoken::errors::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            iat: now,
            exp: now + self.ttl_secs as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: Some(session_id.to_owned()),
        };
        let mut header = Header::new(self.signing.algorithm);
        header.kid = Some(self.signing.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing.encoding)
    }

    /// The claims of an unexpired token signed by the key its `kid` names, with that key's
    /// algorithm. `jku`, `jwk` and `x5u` are never looked at (nothing is fetched).
    pub fn validate(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let verifier = match header.kid.as_deref() {
            Some(kid) => self.verifiers.iter().find(|v| v.key.kid == kid),
            None => self.without_kid.map(|index| &self.verifiers[index]),
        }
        .ok_or(TokenError::UnknownKid)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &verifier.key.decoding, &verifier.validation)?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_token_validates_with_its_claims() {
        let keys = TokenKeys::from_secret(SECRET, 60);
        let token = keys.issue(7, "a@example.com", "session-1").unwrap();
        let claims = keys.validate(&token).unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!(claims.email, "a@example.com");
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.sid.as_deref(), Some("session-1"));
        assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some(keys.signing.kid.as_str()));
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let ours = TokenKeys::from_secret(SECRET, 60);
        let theirs = TokenKeys::from_secret(b"another secret of thirty-two byt", 60);
        let token = theirs.issue(7, "a@example.com", "s").unwrap();
        assert!(matches!(ours.validate(&token), Err(TokenError::UnknownKid)));
    }

    #[test]
    fn previous_secret_is_accepted_by_kid_and_a_removed_one_is_not() {
        let old = TokenKeys::from_secret(SECRET, 60);
        let token = old.issue(7, "a@example.com", "s").unwrap();
        let rotated = TokenKeys::new(
            SigningKey::from_secret(b"the new secret, thirty-two bytes"),
            vec![VerifyingKey::from_secret(SECRET)],
            60,
        )
        .unwrap();
        assert_eq!(rotated.validate(&token).unwrap().sub, "7");
        let dropped = TokenKeys::from_secret(b"the new secret, thirty-two bytes", 60);
        assert!(dropped.validate(&token).is_err());
    }

    #[test]
    fn hs256_publishes_no_key() {
        let keys = TokenKeys::from_secret(SECRET, 60);
        assert_eq!(keys.jwks_json(), r#"{"keys":[]}"#);
    }

    #[test]
    fn the_same_key_twice_is_refused() {
        let clash = TokenKeys::new(
            SigningKey::from_secret(SECRET),
            vec![VerifyingKey::from_secret(SECRET)],
            60,
        );
        assert!(clash.is_err());
    }
}
