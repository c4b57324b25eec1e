//! Forged and malformed tokens an attacker would try (RFC 8725, OWASP JWT cheat sheet): each is
//! 401 with the contract's body on every protected route, and changes nothing.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, crypto};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// `header.payload.signature`, the signature made with `secret` by HMAC `algorithm` whatever
/// the header claims.
fn forge(header: &Value, claims: &Value, secret: &[u8], algorithm: Algorithm) -> String {
    let message = format!("{}.{}", segment(header), segment(claims));
    let signature =
        crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), algorithm).unwrap();
    format!("{message}.{signature}")
}

fn hs256(header: &Value, claims: &Value) -> String {
    forge(header, claims, TEST_SECRET.as_bytes(), Algorithm::HS256)
}

async fn victim(app: &TestApp) -> Value {
    app.register_and_login("victim@example.com").await;
    let id = auth_service::db::users::find_user_by_email(&mut app.db(), "victim@example.com")
        .unwrap()
        .unwrap()
        .id;
    let now = chrono::Utc::now().timestamp();
    json!({"sub": id.to_string(), "email": "victim@example.com", "iat": now, "exp": now + 600,
           "jti": uuid::Uuid::new_v4().to_string()})
}

/// The checks of tokens.rs (401 with `WWW-Authenticate` on `GET /`, logout and upload; no file).
async fn assert_refused(app: &TestApp, token: &str) {
    crate::tokens::assert_refused(app, &format!("Bearer {token}")).await;
}

both_backends! {
    async fn control_a_forged_hs256_token_with_the_right_secret_is_accepted(backend: Backend) {
        // The forging helpers themselves work: every refusal below is for the attack alone.
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        let token = hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims);
        assert_eq!(app.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 200);
    }

    async fn hs384_and_hs512_with_the_right_secret_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        for (name, algorithm) in [("HS384", Algorithm::HS384), ("HS512", Algorithm::HS512)] {
            let token = forge(&json!({"alg": name, "typ": "JWT"}), &claims, TEST_SECRET.as_bytes(), algorithm);
            assert_refused(&app, &token).await;
        }
    }

    async fn asymmetric_headers_and_key_confusion_are_refused(backend: Backend) {
        // An RS256/ES256/EdDSA header over an HMAC signature: the classic key-confusion attack
        // signs with whatever the verifier would use as the "public key".
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        for alg in ["RS256", "ES256", "PS256", "EdDSA"] {
            let token = hs256(&json!({"alg": alg, "typ": "JWT"}), &claims);
            assert_refused(&app, &token).await;
        }
    }

    async fn alg_none_in_any_spelling_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        for alg in ["none", "None", "nOnE"] {
            let unsigned = format!("{}.{}.", segment(&json!({"alg": alg})), segment(&claims));
            assert_refused(&app, &unsigned).await;
            // Unsigned but with an HS256 signature stripped from a valid token.
            let signed = hs256(&json!({"alg": alg}), &claims);
            assert_refused(&app, &signed).await;
        }
    }

    async fn kid_injection_signed_with_a_guessable_key_is_refused(backend: Backend) {
        // An attacker points kid at a file or a query whose "key" they know (empty, /dev/null).
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        for kid in ["../../../../dev/null", "' UNION SELECT 'key' --", "/proc/self/environ"] {
            let header = json!({"alg": "HS256", "kid": kid});
            for key in [&b""[..], b"\0", b"key"] {
                assert_refused(&app, &forge(&header, &claims, key, Algorithm::HS256)).await;
            }
        }
    }

    async fn key_url_headers_are_ignored_never_fetched(backend: Backend) {
        // jku/x5u point at an attacker's server, jwk embeds an attacker's key: a token signed
        // with that key is refused, and one signed with the service's secret is accepted
        // because the headers are ignored (nothing is fetched). `kid` does select a key, among
        // the configured ones only: a name of no configured key is refused.
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        let named_by_attacker = json!({"alg": "HS256", "kid": "attacker"});
        assert_refused(&app, &hs256(&named_by_attacker, &claims)).await;
        let header = json!({"alg": "HS256", "jku": "http://127.0.0.1:9/jwks.json",
                            "x5u": "http://127.0.0.1:9/cert.pem",
                            "jwk": {"kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"attacker-key")}});
        assert_refused(&app, &forge(&header, &claims, b"attacker-key", Algorithm::HS256)).await;
        let honest = hs256(&header, &claims);
        assert_eq!(app.get_me(Some(&format!("Bearer {honest}"))).await.status().as_u16(), 200);
    }

    async fn malformed_exp_claims_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let claims = victim(&app).await;
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let far = chrono::Utc::now().timestamp() + 600;
        for exp in [json!(far.to_string()), json!(1e300), json!(u64::MAX), json!(-1), json!(null),
                    json!(true), json!([far])] {
            let mut claims = claims.clone();
            claims["exp"] = exp.clone();
            assert_refused(&app, &hs256(&header, &claims)).await;
        }
    }

    async fn wrong_segment_counts_and_non_canonical_base64_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut claims = victim(&app).await;
        // Five '?' hold an aligned 0x3F3F3F, which base64url writes with a '_' ("Pz8_").
        claims["note"] = json!("?????");
        let token = hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims);
        let parts: Vec<&str> = token.split('.').collect();
        let (header, payload, signature) = (parts[0], parts[1], parts[2]);
        // 43 characters carry 258 bits for a 256-bit signature: the last one's low 2 bits are
        // padding that a lax decoder ignores. Flipping them keeps the bytes, not the text.
        let last = signature.chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.find(last).unwrap();
        let sibling = alphabet.chars().nth(index ^ 1).unwrap();
        let non_canonical = format!("{}{sibling}", &signature[..signature.len() - 1]);
        let standard_alphabet = payload.replace('-', "+").replace('_', "/");
        assert_ne!(standard_alphabet, payload);
        for forged in [
            format!("{header}.{payload}"),
            format!("{header}.{payload}.{signature}.{signature}"),
            format!("{header}.{payload}.{signature}="),
            format!("{header}=.{payload}.{signature}"),
            format!("{header}.{payload}.{non_canonical}"),
            format!("{header}.{standard_alphabet}.{signature}"),
            format!(" {token}x"),
        ] {
            assert_refused(&app, &forged).await;
        }
        assert_eq!(app.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 200);
    }
}
