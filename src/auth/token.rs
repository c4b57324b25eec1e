//! Access tokens: HS256 JWTs with `sub`, `email`, `iat`, `exp` and `jti` claims.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

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
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8], ttl_secs: u64) -> Self {
        // Built explicitly rather than from defaults (RFC 8725 §3.1, §3.2): one algorithm
        // only, `exp` required, `nbf` honoured when present.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(&self, user_id: i64, email: &str) -> jsonwebtoken::errors::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            iat: now,
            exp: now + self.ttl_secs as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a token signed by this key with HS256 and not expired.
    pub fn validate(&self, token: &str) -> jsonwebtoken::errors::Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_validates_with_its_claims() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef", 60);
        let token = keys.issue(7, "a@example.com").unwrap();
        let claims = keys.validate(&token).unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!(claims.email, "a@example.com");
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let ours = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef", 60);
        let theirs = TokenKeys::from_secret(b"another secret of thirty-two byt", 60);
        let token = theirs.issue(7, "a@example.com").unwrap();
        assert!(ours.validate(&token).is_err());
    }
}
