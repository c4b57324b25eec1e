//! Signing and verification keys: the current one (HS256 secret or Ed25519 private key) and the
//! verify-only previous ones, each named by its `kid`, the RFC 7638 thumbprint of its JWK.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
        OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
    },
};

/// RFC 8725 §3.5 / OWASP: an HMAC key needs at least as many bytes as the hash output.
pub const MIN_SECRET_BYTES: usize = 32;

/// How access tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with `JWT_SECRET`: only holders of the secret can verify.
    Hs256,
    /// Ed25519 with `JWT_PRIVATE_KEY_FILE`: anyone can verify with the published public key.
    EdDsa,
}

impl FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "HS256" => Ok(JwtAlgorithm::Hs256),
            "EdDSA" => Ok(JwtAlgorithm::EdDsa),
            other => Err(format!("{other:?} is not HS256 or EdDSA")),
        }
    }
}

/// `JWT_*`, `ACCESS_TOKEN_TTL_SECS`, `REFRESH_*` and `SESSION_MAX_LIFETIME_SECS`: how access
/// tokens are signed and checked, and how long tokens and sessions live.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub jwt_secret: Option<String>,
    pub jwt_algorithm: JwtAlgorithm,
    /// The Ed25519 private key (PKCS#8 PEM) when `jwt_algorithm` is EdDSA.
    pub jwt_private_key_file: Option<PathBuf>,
    /// Ed25519 keys (private or public PEM) whose tokens are still accepted, never used to sign.
    pub jwt_previous_key_files: Vec<PathBuf>,
    /// HS256 secrets whose tokens are still accepted, never used to sign.
    pub jwt_previous_secrets: Vec<String>,
    /// The `iss` of every access token: `JWT_ISSUER`, else `PUBLIC_URL`, else `auth-service`.
    pub issuer: String,
    /// The `aud` of every access token (`JWT_AUDIENCE`): what verifiers check it is for.
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// How long after a refresh token is spent a second use still gets a successor (a
    /// concurrent request of the same client) instead of ending the session.
    pub refresh_reuse_interval_secs: u64,
    /// From a login on, how long its session may be extended by refreshing.
    pub session_max_lifetime_secs: u64,
}

/// Where keys come from, as the operator configured them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeySource {
    /// `JWT_ALGORITHM=HS256` with `JWT_SECRET`.
    Secret(Vec<u8>),
    /// `JWT_ALGORITHM=EdDSA` with `JWT_PRIVATE_KEY_FILE` (PKCS#8 PEM).
    Ed25519PrivateKeyFile(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{variable}: cannot read {path:?}: {source}")]
    Read { variable: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{variable}: {path:?} is not an Ed25519 key in PEM (PKCS#8 private or SPKI public)")]
    NotEd25519 { variable: &'static str, path: PathBuf },
    #[error("{variable}: two keys have the same kid {kid}")]
    DuplicateKid { variable: &'static str, kid: String },
    #[error("cannot make a random JWT secret: {0}")]
    Random(getrandom::Error),
}

const GENERATED_SECRET_BYTES: usize = 32;

/// The configured signing key and the previous keys still accepted. Without `JWT_SECRET` (and
/// without EdDSA) a random secret is made, so a fresh `cargo run` needs no configuration.
pub fn load_configured(
    settings: &TokenSettings,
) -> Result<(SigningKey, Vec<VerifyingKey>), KeyError> {
    let source = match (settings.jwt_algorithm, &settings.jwt_private_key_file) {
        (JwtAlgorithm::EdDsa, Some(path)) => SigningKeySource::Ed25519PrivateKeyFile(path.clone()),
        _ => SigningKeySource::Secret(match &settings.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                log::warn!(
                    "JWT_SECRET is not set: using a random secret; tokens stop working when \
                     this process exits and are not accepted by other replicas"
                );
                let mut secret = vec![0; GENERATED_SECRET_BYTES];
                getrandom::fill(&mut secret).map_err(KeyError::Random)?;
                secret
            }
        }),
    };
    let mut previous = settings
        .jwt_previous_key_files
        .iter()
        .map(|path| VerifyingKey::load_ed25519(path))
        .collect::<Result<Vec<_>, _>>()?;
    previous.extend(
        settings
            .jwt_previous_secrets
            .iter()
            .map(|secret| VerifyingKey::from_secret(secret.as_bytes())),
    );
    Ok((SigningKey::load(&source)?, previous))
}

/// The key tokens are signed with.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    pub verifying: VerifyingKey,
}

/// A key of its own for one purpose, from a signing key's secret material (HMAC-SHA256 of a
/// label under the secret, as HKDF's extract step does), so neither use weakens the other.
fn derived_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

const KID_PURPOSE: &str = "auth-service HS256 kid v1";

/// A key tokens are checked with; `public_jwk` is what JWKS publishes (none for a secret).
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    pub public_jwk: Option<Jwk>,
}

impl SigningKey {
    pub fn load(source: &SigningKeySource) -> Result<Self, KeyError> {
        match source {
            SigningKeySource::Secret(secret) => Ok(SigningKey::from_secret(secret)),
            SigningKeySource::Ed25519PrivateKeyFile(path) => {
                let pem = read(path, "JWT_PRIVATE_KEY_FILE")?;
                let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
                    .map_err(|_| not_ed25519("JWT_PRIVATE_KEY_FILE", path))?;
                let der = private
                    .to_pkcs8_der()
                    .map_err(|_| not_ed25519("JWT_PRIVATE_KEY_FILE", path))?;
                let verifying = VerifyingKey::ed25519(&private.verifying_key());
                Ok(SigningKey {
                    kid: verifying.kid.clone(),
                    algorithm: Algorithm::EdDSA,
                    encoding: EncodingKey::from_ed_der(der.as_bytes()),
                    verifying,
                })
            }
        }
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        let verifying = VerifyingKey::from_secret(secret);
        SigningKey {
            kid: verifying.kid.clone(),
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            verifying,
        }
    }
}

impl VerifyingKey {
    pub fn from_secret(secret: &[u8]) -> Self {
        // Not the RFC 7638 thumbprint, a bare SHA-256 of the secret that anyone could test
        // guesses against: an HMAC under the secret, as hard to test as the signature itself.
        let kid = URL_SAFE_NO_PAD.encode(derived_key(secret, KID_PURPOSE));
        VerifyingKey {
            kid,
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        }
    }

    /// A previous Ed25519 key from `JWT_PREVIOUS_KEY_FILES`: its private key (the old
    /// `JWT_PRIVATE_KEY_FILE` as it was) or only its public half.
    pub fn load_ed25519(path: &Path) -> Result<Self, KeyError> {
        const VARIABLE: &str = "JWT_PREVIOUS_KEY_FILES";
        let pem = read(path, VARIABLE)?;
        let public = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map(|private| private.verifying_key())
            .or_else(|_| ed25519_dalek::VerifyingKey::from_public_key_pem(&pem))
            .map_err(|_| not_ed25519(VARIABLE, path))?;
        Ok(VerifyingKey::ed25519(&public))
    }

    /// The verifying key and published JWK of an Ed25519 public key (RFC 8037).
    fn ed25519(public: &ed25519_dalek::VerifyingKey) -> Self {
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            }),
        };
        let kid =
            jwk.thumbprint(ThumbprintHash::SHA256).expect("an Ed25519 JWK always has a thumbprint");
        jwk.common.key_id = Some(kid.clone());
        VerifyingKey {
            kid,
            algorithm: Algorithm::EdDSA,
            decoding: DecodingKey::from_ed_der(public.as_bytes()),
            public_jwk: Some(jwk),
        }
    }
}

fn read(path: &Path, variable: &'static str) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        variable,
        path: path.to_owned(),
        source,
    })
}

fn not_ed25519(variable: &'static str, path: &Path) -> KeyError {
    KeyError::NotEd25519 { variable, path: path.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8410 §10.3's private key (PKCS#8 v1, as `openssl genpkey -algorithm ed25519` writes)
    /// and §10.1's public key, which is its public half.
    const RFC_8410_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----
";
    const RFC_8410_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----
";

    fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn private_and_public_pem_of_one_key_give_one_kid() {
        let dir = tempfile::TempDir::new().unwrap();
        let private = write(&dir, "key.pem", RFC_8410_PRIVATE);
        let public = write(&dir, "key.pub.pem", RFC_8410_PUBLIC);
        let signing =
            SigningKey::load(&SigningKeySource::Ed25519PrivateKeyFile(private.clone())).unwrap();
        let from_private = VerifyingKey::load_ed25519(&private).unwrap();
        let from_public = VerifyingKey::load_ed25519(&public).unwrap();
        assert_eq!(signing.kid, from_public.kid);
        assert_eq!(from_private.kid, from_public.kid);
        let jwk = serde_json::to_value(from_public.public_jwk.unwrap()).unwrap();
        assert_eq!(jwk["x"], "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE");
        assert_eq!(jwk["kty"], "OKP");
    }

    #[test]
    fn pkcs8_v2_private_keys_are_read_too() {
        let dir = tempfile::TempDir::new().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pem = key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap();
        let path = write(&dir, "v2.pem", &pem);
        let signing = SigningKey::load(&SigningKeySource::Ed25519PrivateKeyFile(path)).unwrap();
        assert_eq!(
            signing.verifying.public_jwk.unwrap().algorithm,
            AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            })
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_variable() {
        let dir = tempfile::TempDir::new().unwrap();
        let secret = write(&dir, "secret.txt", "not a key");
        let error = SigningKey::load(&SigningKeySource::Ed25519PrivateKeyFile(secret.clone()))
            .err()
            .unwrap();
        assert!(error.to_string().starts_with("JWT_PRIVATE_KEY_FILE: "), "{error}");
        let error = VerifyingKey::load_ed25519(&secret).err().unwrap();
        assert!(error.to_string().starts_with("JWT_PREVIOUS_KEY_FILES: "), "{error}");
        let missing = VerifyingKey::load_ed25519(&dir.path().join("missing.pem")).err().unwrap();
        assert!(matches!(missing, KeyError::Read { .. }));
    }
}
