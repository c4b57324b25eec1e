//! Access tokens (RFC 9068): JWTs of type `at+jwt` with `iss`, `aud`, `sub`, `email`, `iat`,
//! `exp`, `jti`, `sid`, `amr` and `aal` claims, signed with the current key (HS256 or EdDSA) and a `kid`
//! header naming it.

use jsonwebtoken::{
    Header, Validation,
    jwk::{Jwk, JwkSet},
};
use serde::{Deserialize, Serialize};

use super::keys::{self, KeyError, SigningKey, TokenSettings, VerifyingKey};

/// Clock skew tolerated on `exp` and `nbf`. jsonwebtoken's default is 60 s; tokens are issued
/// and checked by replicas of this service on synchronised clocks, so a few seconds suffice.
pub const LEEWAY_SECS: u64 = 5;

/// The header `typ` of an access token (RFC 9068 §2.1), so that no other JWT signed with the
/// same key (an ID token, another service's) passes for one.
pub const TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Who issued it: `JWT_ISSUER`.
    pub iss: String,
    /// Who it is for: `JWT_AUDIENCE`.
    pub aud: String,
    /// The user id, as a string (RFC 7519 §4.1.2).
    pub sub: String,
    pub email: String,
    /// Whether a code mailed to `email` came back: a relying service treats the address as
    /// the user's only when it is true. Tokens of before it was added have none: false.
    #[serde(default)]
    pub email_verified: bool,
    pub iat: i64,
    pub exp: i64,
    /// A UUID naming this token, so that logout can revoke exactly it.
    pub jti: String,
    /// The session (refresh family) the token belongs to: it is refused once that ends.
    pub sid: String,
    /// How the session was signed in to (RFC 8176): `["pwd"]`, `["pwd","otp"]` or
    /// `["pwd","recovery"]`. Tokens of before the second factor have none: `["pwd"]`.
    #[serde(default)]
    pub amr: Vec<String>,
    /// `aal1` (a password) or `aal2` (a password and a second factor); none is `aal1`.
    #[serde(default)]
    pub aal: String,
}

/// Whom an access token names, and the session it belongs to.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user_id: i64,
    pub email: String,
    pub email_verified: bool,
    pub session_id: String,
    /// How the session was signed in to: the tokens' `amr` and `aal`.
    pub sign_in: SignIn,
    /// When the session ends for good (its login plus `SESSION_MAX_LIFETIME_SECS`), in Unix
    /// seconds.
    pub session_ends_at: i64,
}

impl Claims {
    /// Whether the session proved a second factor.
    pub fn is_aal2(&self) -> bool {
        self.aal == "aal2"
    }

    pub fn sign_in(&self) -> SignIn {
        SignIn::of_amr(&self.amr)
    }
}

/// How a session was signed in to, kept with it (a refresh keeps its level): a first factor
/// (the password, or a code by mail), and maybe a second (a TOTP code, a recovery code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Password,
    Otp,
    RecoveryCode,
    /// A code mailed to the account's address, instead of the password.
    EmailCode,
    EmailCodeOtp,
    EmailCodeRecovery,
    /// A passkey whose authenticator checked only that someone was present: one factor.
    Passkey,
    /// A passkey whose authenticator verified its user (PIN, biometrics): two factors.
    PasskeyVerified,
    /// A passkey as the second factor, after the password; after a mailed code.
    PasswordPasskey,
    EmailCodePasskey,
    /// A presence-only passkey, then a TOTP code or a recovery code.
    PasskeyOtp,
    PasskeyRecovery,
    /// An outside provider (`fed`); with a second factor it asserted and the operator trusts;
    /// then a TOTP code, a recovery code or a passkey.
    Federated,
    FederatedMfa,
    FederatedOtp,
    FederatedRecovery,
    FederatedPasskey,
}

impl SignIn {
    pub const ALL: [SignIn; 17] = [
        SignIn::Password,
        SignIn::Otp,
        SignIn::RecoveryCode,
        SignIn::EmailCode,
        SignIn::EmailCodeOtp,
        SignIn::EmailCodeRecovery,
        SignIn::Passkey,
        SignIn::PasskeyVerified,
        SignIn::PasswordPasskey,
        SignIn::EmailCodePasskey,
        SignIn::PasskeyOtp,
        SignIn::PasskeyRecovery,
        SignIn::Federated,
        SignIn::FederatedMfa,
        SignIn::FederatedOtp,
        SignIn::FederatedRecovery,
        SignIn::FederatedPasskey,
    ];

    /// RFC 8176's values: `otp` alone is the mailed code (one factor); after a first factor it
    /// is the TOTP code; `mfa` says a mailed code was followed by a second factor, or that a
    /// passkey (`hwk`, proof of a key) verified its user as well.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            SignIn::Password => &["pwd"],
            SignIn::Otp => &["pwd", "otp"],
            SignIn::RecoveryCode => &["pwd", "recovery"],
            SignIn::EmailCode => &["otp"],
            SignIn::EmailCodeOtp => &["otp", "mfa"],
            SignIn::EmailCodeRecovery => &["otp", "recovery"],
            SignIn::Passkey => &["hwk"],
            SignIn::PasskeyVerified => &["hwk", "mfa"],
            SignIn::PasswordPasskey => &["pwd", "hwk"],
            SignIn::EmailCodePasskey => &["otp", "hwk"],
            SignIn::PasskeyOtp => &["hwk", "otp"],
            SignIn::PasskeyRecovery => &["hwk", "recovery"],
            SignIn::Federated => &["fed"],
            SignIn::FederatedMfa => &["fed", "mfa"],
            SignIn::FederatedOtp => &["fed", "otp"],
            SignIn::FederatedRecovery => &["fed", "recovery"],
            SignIn::FederatedPasskey => &["fed", "hwk"],
        }
    }

    pub fn aal(self) -> &'static str {
        match self {
            SignIn::Password | SignIn::EmailCode | SignIn::Passkey | SignIn::Federated => "aal1",
            _ => "aal2",
        }
    }

    /// The `sessions.amr` column, space-separated names of its own ("email" for the mailed
    /// code, so that no stored value reads as another).
    pub fn stored(self) -> &'static str {
        match self {
            SignIn::Password => "pwd",
            SignIn::Otp => "pwd otp",
            SignIn::RecoveryCode => "pwd recovery",
            SignIn::EmailCode => "email",
            SignIn::EmailCodeOtp => "email otp",
            SignIn::EmailCodeRecovery => "email recovery",
            SignIn::Passkey => "passkey",
            SignIn::PasskeyVerified => "passkey uv",
            SignIn::PasswordPasskey => "pwd passkey",
            SignIn::EmailCodePasskey => "email passkey",
            SignIn::PasskeyOtp => "passkey otp",
            SignIn::PasskeyRecovery => "passkey recovery",
            SignIn::Federated => "fed",
            SignIn::FederatedMfa => "fed mfa",
            SignIn::FederatedOtp => "fed otp",
            SignIn::FederatedRecovery => "fed recovery",
            SignIn::FederatedPasskey => "fed passkey",
        }
    }

    /// A stored value read back; anything unknown is the weakest, a password alone.
    pub fn from_stored(stored: &str) -> SignIn {
        SignIn::ALL
            .into_iter()
            .find(|sign_in| sign_in.stored() == stored)
            .unwrap_or(SignIn::Password)
    }

    /// The sign-in a token's `amr` names exactly; anything else is a password alone.
    fn of_amr<S: AsRef<str>>(amr: &[S]) -> SignIn {
        let named = |sign_in: &SignIn| {
            sign_in.amr().len() == amr.len()
                && sign_in.amr().iter().zip(amr).all(|(a, b)| *a == b.as_ref())
        };
        SignIn::ALL.into_iter().find(named).unwrap_or(SignIn::Password)
    }

    /// What a first step leads to once a second factor is proved: `second` is `Otp`,
    /// `RecoveryCode` or `PasswordPasskey`, as after a password.
    pub fn then(self, second: SignIn) -> SignIn {
        match (self, second) {
            (SignIn::EmailCode, SignIn::Otp) => SignIn::EmailCodeOtp,
            (SignIn::EmailCode, SignIn::RecoveryCode) => SignIn::EmailCodeRecovery,
            (SignIn::EmailCode, SignIn::PasswordPasskey) => SignIn::EmailCodePasskey,
            (SignIn::Passkey, SignIn::Otp) => SignIn::PasskeyOtp,
            (SignIn::Passkey, SignIn::RecoveryCode) => SignIn::PasskeyRecovery,
            (SignIn::Federated, SignIn::Otp) => SignIn::FederatedOtp,
            (SignIn::Federated, SignIn::RecoveryCode) => SignIn::FederatedRecovery,
            (SignIn::Federated, SignIn::PasswordPasskey) => SignIn::FederatedPasskey,
            (_, second) => second,
        }
    }
}

/// What every token says about itself beside its user: who issued it, for whom, for how long.
#[derive(Debug, Clone)]
pub struct TokenRules {
    pub ttl_secs: u64,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token's kid names no configured key")]
    UnknownKid,
    #[error("the token's typ is not at+jwt")]
    NotAnAccessToken,
    #[error("the token claims to live longer than this service issues them for")]
    TooLongLived,
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// One key a token may be checked with, and the rules that go with its algorithm.
struct Verifier {
    key: VerifyingKey,
    validation: Validation,
}

impl Verifier {
    fn new(key: VerifyingKey, rules: &TokenRules) -> Self {
        // Built explicitly rather than from defaults (RFC 8725 §3.1, §3.2, §3.9): the key's own
        // algorithm only, `exp` required, `nbf` honoured when present, this issuer and audience.
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&rules.issuer]);
        validation.set_audience(&[&rules.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Verifier { key, validation }
    }
}

pub struct TokenKeys {
    signing: SigningKey,
    /// The current key first, then the previous ones.
    verifiers: Vec<Verifier>,
    jwks: String,
    rules: TokenRules,
}

impl TokenKeys {
    /// Signs with `signing`; also accepts tokens signed by any of `previous`, found by `kid`.
    pub fn new(
        signing: SigningKey,
        previous: Vec<VerifyingKey>,
        rules: TokenRules,
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
            verifiers.push(Verifier::new(key, &rules));
        }
        let keys: Vec<Jwk> = verifiers.iter().filter_map(|v| v.key.public_jwk.clone()).collect();
        let jwks = serde_json::to_string(&JwkSet { keys }).expect("a JWK set serialises");
        Ok(TokenKeys { signing, verifiers, jwks, rules })
    }

    /// The keys `JWT_*` configure (`keys::load_configured`).
    pub fn load(settings: &TokenSettings) -> Result<Self, KeyError> {
        let (signing, previous) = keys::load_configured(settings)?;
        let rules = TokenRules {
            ttl_secs: settings.access_token_ttl_secs,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        };
        TokenKeys::new(signing, previous, rules)
    }

    /// HS256 with one secret and no previous keys, issuer and audience `auth-service`.
    pub fn from_secret(secret: &[u8], ttl_secs: u64) -> Self {
        let rules = TokenRules {
            ttl_secs,
            issuer: "auth-service".to_owned(),
            audience: "auth-service".to_owned(),
        };
        TokenKeys::new(SigningKey::from_secret(secret), Vec::new(), rules)
            .expect("one key cannot clash with itself")
    }

    pub fn ttl_secs(&self) -> u64 {
        self.rules.ttl_secs
    }

    /// `{"keys":[…]}`: the public keys of the current and previous Ed25519 keys (RFC 7517).
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// An access token for `subject`, living `ACCESS_TOKEN_TTL_SECS`, or less when its session
    /// ends sooner: no token outlives its session's absolute lifetime.
    pub fn issue(&self, subject: &Subject) -> jsonwebtoken::errors::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.rules.issuer.clone(),
            aud: self.rules.audience.clone(),
            sub: subject.user_id.to_string(),
            email: subject.email.clone(),
            email_verified: subject.email_verified,
            iat: now,
            exp: (now + self.rules.ttl_secs as i64).min(subject.session_ends_at),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: subject.session_id.clone(),
            amr: subject.sign_in.amr().iter().map(|method| (*method).to_owned()).collect(),
            aal: subject.sign_in.aal().to_owned(),
        };
        let mut header = Header::new(self.signing.algorithm);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(self.signing.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing.encoding)
    }

    /// The claims of an unexpired access token of this issuer for this audience, signed by the
    /// key its `kid` names, with that key's algorithm, living no longer than tokens are issued
    /// for. `jku`, `jwk` and `x5u` are never looked at (nothing is fetched).
    pub fn validate(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let typ = header.typ.as_deref().unwrap_or_default();
        // RFC 9068 §2.1 allows the media type's full name too, in any case.
        let typ = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        if !typ.eq_ignore_ascii_case(TOKEN_TYPE) {
            return Err(TokenError::NotAnAccessToken);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKid)?;
        let verifier =
            self.verifiers.iter().find(|v| v.key.kid == kid).ok_or(TokenError::UnknownKid)?;
        let claims =
            jsonwebtoken::decode::<Claims>(token, &verifier.key.decoding, &verifier.validation)?
                .claims;
        // A forged or leaked signing key could mint a token for ten years; none of ours lives
        // longer than ACCESS_TOKEN_TTL_SECS.
        if claims.exp.saturating_sub(claims.iat) > (self.rules.ttl_secs + LEEWAY_SECS) as i64 {
            return Err(TokenError::TooLongLived);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn each_sign_in_reads_back_as_itself_and_one_factor_is_aal1() {
        for sign_in in SignIn::ALL {
            assert_eq!(SignIn::from_stored(sign_in.stored()), sign_in);
            assert_eq!(SignIn::of_amr(sign_in.amr()), sign_in);
            let one_factor = crate::db::sessions::SINGLE_FACTOR.contains(&sign_in.stored());
            assert_eq!(one_factor, sign_in.aal() == "aal1", "{sign_in:?}");
        }
        // Nothing unknown reads as more than a password.
        assert_eq!(SignIn::from_stored("otp"), SignIn::Password);
        assert_eq!(SignIn::of_amr(&["otp", "pwd"]), SignIn::Password);
        assert_eq!(SignIn::EmailCode.then(SignIn::Otp).amr(), ["otp", "mfa"]);
        assert_eq!(SignIn::Password.then(SignIn::RecoveryCode), SignIn::RecoveryCode);
    }

    use jsonwebtoken::Algorithm;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// A subject whose session lives for a day more.
    fn subject(session_id: &str) -> Subject {
        Subject {
            user_id: 7,
            email: "a@example.com".into(),
            email_verified: true,
            session_id: session_id.into(),
            sign_in: SignIn::Password,
            session_ends_at: chrono::Utc::now().timestamp() + 86_400,
        }
    }

    #[test]
    fn issued_token_validates_with_its_claims() {
        let keys = TokenKeys::from_secret(SECRET, 60);
        let token = keys.issue(&subject("session-1")).unwrap();
        let claims = keys.validate(&token).unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!((claims.email.as_str(), claims.email_verified), ("a@example.com", true));
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.sid, "session-1");
        assert_eq!((claims.iss.as_str(), claims.aud.as_str()), ("auth-service", "auth-service"));
        assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        for typ in ["AT+JWT", "application/at+jwt", "Application/AT+JWT", "JWT", "application/jwt"]
        {
            let mut other = header.clone();
            other.typ = Some(typ.to_owned());
            let claims = keys.validate(&token).unwrap();
            let reissued = jsonwebtoken::encode(&other, &claims, &keys.signing.encoding).unwrap();
            let accepted = keys.validate(&reissued).is_ok();
            assert_eq!(accepted, typ.to_ascii_lowercase().ends_with("at+jwt"), "{typ}");
        }
        assert_eq!(header.kid.as_deref(), Some(keys.signing.kid.as_str()));
    }

    #[test]
    fn no_token_outlives_its_session() {
        let keys = TokenKeys::from_secret(SECRET, 3600);
        let ends_at = chrono::Utc::now().timestamp() + 5;
        let token = keys.issue(&Subject { session_ends_at: ends_at, ..subject("s") }).unwrap();
        assert_eq!(keys.validate(&token).unwrap().exp, ends_at);
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let ours = TokenKeys::from_secret(SECRET, 60);
        let theirs = TokenKeys::from_secret(b"another secret of thirty-two byt", 60);
        let token = theirs.issue(&subject("s")).unwrap();
        assert!(matches!(ours.validate(&token), Err(TokenError::UnknownKid)));
    }

    #[test]
    fn previous_secret_is_accepted_by_kid_and_a_removed_one_is_not() {
        let old = TokenKeys::from_secret(SECRET, 60);
        let token = old.issue(&subject("s")).unwrap();
        let rotated = TokenKeys::new(
            SigningKey::from_secret(b"the new secret, thirty-two bytes"),
            vec![VerifyingKey::from_secret(SECRET)],
            old.rules.clone(),
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
        let rules = TokenKeys::from_secret(SECRET, 60).rules;
        let clash = TokenKeys::new(
            SigningKey::from_secret(SECRET),
            vec![VerifyingKey::from_secret(SECRET)],
            rules,
        );
        assert!(clash.is_err());
    }
}
