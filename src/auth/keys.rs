//! Signing and verification keys: the current one (HS256 secret or Ed25519 private key) and the
//! verify-only previous ones, each named by its `kid`, the RFC 7638 thumbprint of its JWK.

use std::path::{Path, PathBuf};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
};

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
    Read {
        variable: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{variable}: {path:?} is not an Ed25519 key in PEM (PKCS#8 private or SPKI public)")]
    NotEd25519 {
        variable: &'static str,
        path: PathBuf,
    },
    #[error("{variable}: two keys have the same kid {kid}")]
    DuplicateKid { variable: &'static str, kid: String },
}

/// The key tokens are signed with.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    pub verifying: VerifyingKey,
}

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
                let encoding = EncodingKey::from_ed_pem(&pem).map_err(|_| not_ed25519(path))?;
                let verifying = ed25519_from_private(&encoding).ok_or_else(|| not_ed25519(path))?;
                Ok(SigningKey {
                    kid: verifying.kid.clone(),
                    algorithm: Algorithm::EdDSA,
                    encoding,
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
        // The thumbprint is a SHA-256 over the secret: it reveals no more than any HS256
        // signature already does (both allow only a brute-force search of the secret).
        let kid = Jwk::from_encoding_key(&EncodingKey::from_secret(secret), Algorithm::HS256)
            .and_then(|jwk| jwk.thumbprint(ThumbprintHash::SHA256))
            .expect("an HMAC key always has a thumbprint");
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
        if let Ok(encoding) = EncodingKey::from_ed_pem(&pem) {
            return ed25519_from_private(&encoding).ok_or_else(|| KeyError::NotEd25519 {
                variable: VARIABLE,
                path: path.to_owned(),
            });
        }
        DecodingKey::from_ed_pem(&pem)
            .ok()
            .and_then(|decoding| {
                let jwk = Jwk::from_decoding_key(&decoding, Some(Algorithm::EdDSA)).ok()?;
                ed25519_from_jwk(jwk)
            })
            .ok_or_else(|| KeyError::NotEd25519 {
                variable: VARIABLE,
                path: path.to_owned(),
            })
    }
}

fn ed25519_from_private(encoding: &EncodingKey) -> Option<VerifyingKey> {
    ed25519_from_jwk(Jwk::from_encoding_key(encoding, Algorithm::EdDSA).ok()?)
}

/// The verifying key and published JWK of an Ed25519 public key (RFC 8037).
fn ed25519_from_jwk(mut jwk: Jwk) -> Option<VerifyingKey> {
    let kid = jwk.thumbprint(ThumbprintHash::SHA256).ok()?;
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Some(VerifyingKey {
        kid,
        algorithm: Algorithm::EdDSA,
        decoding,
        public_jwk: Some(jwk),
    })
}

fn read(path: &Path, variable: &'static str) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        variable,
        path: path.to_owned(),
        source,
    })
}

fn not_ed25519(path: &Path) -> KeyError {
    KeyError::NotEd25519 {
        variable: "JWT_PRIVATE_KEY_FILE",
        path: path.to_owned(),
    }
}
