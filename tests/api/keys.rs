//! EdDSA signing, `/.well-known/jwks.json`, and key rotation without logging anyone out.

use std::path::{Path, PathBuf};

use auth_service::{auth::keys::JwtAlgorithm, settings::Settings};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::both_backends;
use crate::helpers::*;

/// An Ed25519 key pair written as the operator would (`openssl genpkey -algorithm ed25519`,
/// `openssl pkey -pubout`): PKCS#8 private key and SPKI public key, PEM.
struct KeyPair {
    key: ed25519_dalek::SigningKey,
    private_pem: PathBuf,
    public_pem: PathBuf,
}

impl KeyPair {
    fn new(dir: &Path, name: &str, seed: u8) -> KeyPair {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let private_pem = dir.join(format!("{name}.pem"));
        let public_pem = dir.join(format!("{name}.pub.pem"));
        std::fs::write(&private_pem, key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
        std::fs::write(&public_pem, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap())
            .unwrap();
        KeyPair { key, private_pem, public_pem }
    }

    fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The RFC 7638 thumbprint, computed here from the RFC.
    fn kid(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x());
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The JWK a verifier expects to find (RFC 8037).
    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "x": self.x(), "kid": self.kid(), "use": "sig",
            "alg": "EdDSA"
        })
    }
}

async fn eddsa_app(
    backend: Backend,
    current: &KeyPair,
    previous: &[&Path],
    database: Option<&TestApp>,
) -> TestApp {
    let private = current.private_pem.clone();
    let previous: Vec<PathBuf> = previous.iter().map(|p| p.to_path_buf()).collect();
    let configure = move |s: &mut Settings| {
        s.tokens.jwt_algorithm = JwtAlgorithm::EdDsa;
        s.tokens.jwt_private_key_file = Some(private);
        s.tokens.jwt_previous_key_files = previous;
    };
    match database {
        Some(app) => app.replica_with(configure),
        None => spawn_app_with(backend, configure).await,
    }
}

async fn eddsa_tokens_verify_with_the_published_key_alone(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let key = KeyPair::new(dir.path(), "current", 1);
    let app = eddsa_app(backend, &key, &[], None).await;
    let tokens = {
        app.register("A", "ed@example.com", PASSWORD).await;
        app.session_for("ed@example.com").await
    };
    assert_eq!(
        jwt_header(&tokens.access),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid()})
    );
    assert_eq!(app.me_status(&tokens.access).await, 200);

    let (status, cache, body) = app.jwks().await;
    assert_eq!(status, 200);
    assert_eq!(cache, "public, max-age=300");
    assert_eq!(body, json!({"keys": [key.jwk()]}));

    // A verifier holding only the published x checks the signature and exp.
    let published = body["keys"][0]["x"].as_str().unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_ed_components(published).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["auth-service"]);
    validation.set_audience(&["auth-service"]);
    let claims =
        jsonwebtoken::decode::<Value>(&tokens.access, &decoding, &validation).unwrap().claims;
    assert_eq!(claims["email"], json!("ed@example.com"));
}

async fn hs256_publishes_an_empty_key_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, cache, body) = app.jwks().await;
    assert_eq!((status, cache.as_str(), body), (200, "public, max-age=300", json!({"keys": []})));
}

async fn eddsa_rotation_keeps_old_tokens_until_the_old_key_is_dropped(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let old = KeyPair::new(dir.path(), "old", 1);
    let new = KeyPair::new(dir.path(), "new", 2);
    let before = eddsa_app(backend, &old, &[], None).await;
    before.register("A", "rot@example.com", PASSWORD).await;
    let session = before.session_for("rot@example.com").await;

    // Step 1: the new key signs, the old one (its private key file, or only its public
    // half) still verifies.
    for previous in [&old.private_pem, &old.public_pem] {
        let rotated = eddsa_app(backend, &new, &[previous.as_path()], Some(&before)).await;
        assert_eq!(rotated.me_status(&session.access).await, 200);
        let (_, _, body) = rotated.jwks().await;
        assert_eq!(body, json!({"keys": [new.jwk(), old.jwk()]}));
        let fresh = rotated.session_for("rot@example.com").await;
        assert_eq!(jwt_header(&fresh.access)["kid"], json!(new.kid()));
        // The old-only replica, still running during the rollout, refuses the new kid.
        assert_eq!(before.me_status(&fresh.access).await, 401);
    }

    // Step 2, one access-token lifetime later: the old key is dropped. Its tokens are 401,
    // but nobody is logged out: refresh tokens are not signed, and the session goes on.
    let after = eddsa_app(backend, &new, &[], Some(&before)).await;
    assert_eq!(
        status_and_json(after.get_me(Some(&format!("Bearer {}", session.access))).await).await,
        (401, error_body("Not logged in"))
    );
    let (status, body) = status_and_json(after.refresh(&session.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let renewed = Tokens::from_body(&body);
    assert_eq!(jwt_header(&renewed.access)["kid"], json!(new.kid()));
    assert_eq!(after.me_status(&renewed.access).await, 200);
    let (_, _, body) = after.jwks().await;
    assert_eq!(body, json!({"keys": [new.jwk()]}));
}

async fn hs256_rotation_with_previous_secrets(backend: Backend) {
    const NEW_SECRET: &str = "the-next-secret-also-at-least-32-bytes";
    let before = spawn_app(backend).await;
    let token = before.register_and_login("hs@example.com").await;
    let rotated = before.replica_with(|s| {
        s.tokens.jwt_secret = Some(NEW_SECRET.into());
        s.tokens.jwt_previous_secrets = vec![TEST_SECRET.into()];
    });
    assert_eq!(rotated.me_status(&token).await, 200);
    let fresh = rotated.token_for("hs@example.com").await;
    assert_ne!(jwt_header(&fresh)["kid"], jwt_header(&token)["kid"]);
    // A secret is never published, current or previous.
    assert_eq!(rotated.jwks().await.2, json!({"keys": []}));
    let after = before.replica_with(|s| s.tokens.jwt_secret = Some(NEW_SECRET.into()));
    assert_eq!(after.me_status(&token).await, 401);
    assert_eq!(after.me_status(&fresh).await, 200);
}

async fn switching_from_hs256_to_eddsa_logs_nobody_out(backend: Backend) {
    // HS256 secrets are not accepted beside EdDSA (JWT_PREVIOUS_SECRETS is for HS256 only):
    // an HS256 access token is refused after the switch, and its session's refresh token gets
    // the client an EdDSA pair.
    let dir = TempDir::new().unwrap();
    let key = KeyPair::new(dir.path(), "ed", 3);
    let before = spawn_app(backend).await;
    before.register("A", "switch@example.com", PASSWORD).await;
    let tokens = before.session_for("switch@example.com").await;
    let private = key.private_pem.clone();
    let switched = before.replica_with(move |s| {
        s.tokens.jwt_algorithm = JwtAlgorithm::EdDsa;
        s.tokens.jwt_private_key_file = Some(private);
        s.tokens.jwt_secret = None;
    });
    assert_eq!(switched.me_status(&tokens.access).await, 401);
    let (status, body) = status_and_json(switched.refresh(&tokens.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let renewed = Tokens::from_body(&body);
    assert_eq!(jwt_header(&renewed.access)["alg"], json!("EdDSA"));
    assert_eq!(switched.me_status(&renewed.access).await, 200);
    assert_eq!(switched.jwks().await.2, json!({"keys": [key.jwk()]}));
}

async fn hmac_signed_with_the_public_key_under_its_kid_is_refused(backend: Backend) {
    // Key confusion across algorithms: the attacker knows the published key and signs
    // HS256 with it, naming its kid. The kid's key only verifies EdDSA.
    let dir = TempDir::new().unwrap();
    let key = KeyPair::new(dir.path(), "ed", 4);
    let app = eddsa_app(backend, &key, &[], None).await;
    let honest = app.register_and_login("conf@example.com").await;
    let claims = jwt_claims(&honest);
    let public_pem = std::fs::read(&key.public_pem).unwrap();
    for secret in [&key.key.verifying_key().as_bytes()[..], &public_pem[..], key.x().as_bytes()] {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid()});
        let forged = forge_hmac(&header, &claims, secret, jsonwebtoken::Algorithm::HS256);
        crate::tokens::assert_refused(&app, &format!("Bearer {forged}")).await;
    }
    assert_eq!(app.me_status(&honest).await, 200);
}

both_backends!(
    eddsa_tokens_verify_with_the_published_key_alone,
    hs256_publishes_an_empty_key_set,
    eddsa_rotation_keeps_old_tokens_until_the_old_key_is_dropped,
    hs256_rotation_with_previous_secrets,
    switching_from_hs256_to_eddsa_logs_nobody_out,
    hmac_signed_with_the_public_key_under_its_kid_is_refused
);
