//! Apple's client secret: not a fixed string but a JWT the client signs (ES256, with the key
//! made in Apple's developer account), naming the team as issuer and the Services ID as
//! subject. Made for each code exchange and good for five minutes, so no long-lived secret
//! exists to leak or to expire.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::FederationError;

/// The audience Apple's token endpoint expects, whatever issuer URL the settings give.
const AUDIENCE: &str = "https://appleid.apple.com";
const LIFETIME_SECS: i64 = 300;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The client secret for one exchange.
pub fn client_secret(
    client_id: &str,
    (team_id, key_id, private_key_pem): (&str, &str, &str),
) -> Result<String, FederationError> {
    let key = EncodingKey::from_ec_pem(private_key_pem.as_bytes())
        .map_err(|e| FederationError::Unavailable(format!("Apple's key: {e}")))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let now = chrono::Utc::now().timestamp();
    let claims =
        Claims { iss: team_id, sub: client_id, aud: AUDIENCE, iat: now, exp: now + LIFETIME_SECS };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| FederationError::Unavailable(format!("Apple's client secret: {e}")))
}
