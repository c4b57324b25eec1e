//! Access tokens as a client reads them and as an attacker forges them.

use jsonwebtoken::{Algorithm, EncodingKey, crypto};
use serde_json::{Value, json};

use super::TEST_SECRET;

/// `header.payload.signature`, signed by HMAC `algorithm` with `secret` whatever the header
/// claims: a token as an attacker (or another service holding the secret) would make it.
pub fn forge_hmac(header: &Value, claims: &Value, secret: &[u8], algorithm: Algorithm) -> String {
    let message = format!("{}.{}", jwt_segment_of(header), jwt_segment_of(claims));
    let signature =
        crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), algorithm).unwrap();
    format!("{message}.{signature}")
}

/// An HS256 access token with these claims, signed with `secret` under the test secret's `kid`.
pub fn forge_hs256(claims: &Value, secret: &[u8]) -> String {
    forge_hmac(&access_header("HS256"), claims, secret, Algorithm::HS256)
}

/// The `kid` the service names an HS256 secret by, computed here from its definition: an
/// HMAC-SHA256 of a label under the secret (not a bare hash anyone could test guesses against).
pub fn hs256_kid(secret: &[u8]) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(b"auth-service HS256 kid v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The header of an access token signed with the test secret, but for its `alg`.
pub fn access_header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": hs256_kid(TEST_SECRET.as_bytes())})
}

/// One base64url segment of a JWT.
pub fn jwt_segment_of(value: &Value) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The decoded header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    jwt_segment(token, 0)
}

/// The decoded claims of a JWT.
pub fn jwt_claims(token: &str) -> Value {
    jwt_segment(token, 1)
}

fn jwt_segment(token: &str, index: usize) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let segment = token.split('.').nth(index).expect("JWT segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// The access and refresh token of a login, refresh or password change response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_body(body: &Value) -> Tokens {
        Tokens {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access)
    }

    /// The body of login, refresh and password change that carries these tokens.
    pub fn body(&self, message: &str) -> Value {
        json!({
            "status": "success",
            "message": message,
            "access_token": self.access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": self.refresh
        })
    }
}
