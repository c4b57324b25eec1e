//! Outside identity providers, as the protocol sees them: the redirect that starts a sign-in
//! (state, PKCE S256, nonce) and the callback's code turned into a proved identity (the ID token
//! checked against the provider's keys with the algorithm pinned, `iss`, `aud`, `exp`, the
//! nonce), with each provider's quirks. What an identity then does to accounts is
//! `account::federation`'s.
//!
//! Built on `openidconnect` (discovery, ID token checks) over the service's own reqwest and
//! rustls: no redirect is followed (a provider's answer is read where it was asked for),
//! every request is bounded in time and size.

mod apple;
mod github;
mod http;

use std::time::{Duration, Instant};

use openidconnect::{
    AuthType, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
    core::{
        CoreClient, CoreClientAuthMethod, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreResponseType,
    },
};
use tokio::sync::RwLock;

use crate::settings::{ClientCredential, FederationSettings, ProviderKind, ProviderSettings};

/// How long a provider's discovery document (and its keys) is kept before it is read again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The ID token signatures accepted: the providers' asymmetric ones. Never `none`, never an
/// HMAC (whose key would be the client secret, which the provider shares).
const SIGNING_ALGORITHMS: [CoreJwsSigningAlgorithm; 5] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Why a provider's sign-in did not give an identity.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The provider could not be reached, or answered nonsense: worth a retry later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's answer does not prove who the user is (a bad ID token, a refused code).
    #[error("sign-in refused: {0}")]
    Refused(String),
}

/// Who a provider says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proved {
    pub subject: String,
    pub email: Option<String>,
    /// The provider proves the address (by its own rules and the operator's trust).
    pub email_proved: bool,
    pub name: Option<String>,
    /// The provider asserted a second factor, and the operator trusts it for that.
    pub mfa: bool,
}

/// A sign-in's start: the provider's URL, and what its callback is checked against.
pub struct Start {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The configured providers, and the HTTP client every one of them is reached with.
pub struct Providers {
    providers: Vec<Provider>,
    http: reqwest::Client,
}

pub struct Provider {
    pub settings: ProviderSettings,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

impl Providers {
    pub fn new(settings: &FederationSettings) -> Result<Providers, reqwest::Error> {
        let providers = settings
            .providers
            .iter()
            .map(|settings| Provider { settings: settings.clone(), metadata: RwLock::new(None) })
            .collect();
        Ok(Providers { providers, http: http::client()? })
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|provider| provider.settings.name == name)
    }

    /// Starts a sign-in with `provider`, whose callback is `callback_url`.
    pub async fn start(
        &self,
        provider: &Provider,
        callback_url: &str,
    ) -> Result<Start, FederationError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        if provider.settings.kind == ProviderKind::GitHub {
            return github::start(&provider.settings, callback_url, challenge, verifier);
        }
        let client = self.client(provider, callback_url).await?;
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        // Apple has no `profile` scope, and sends the name and email only by form_post.
        request = match provider.settings.kind {
            ProviderKind::Apple => request
                .add_scope(Scope::new("name".into()))
                .add_scope(Scope::new("email".into()))
                .add_extra_param("response_mode", "form_post"),
            _ => request
                .add_scope(Scope::new("email".into()))
                .add_scope(Scope::new("profile".into())),
        };
        let (url, state, nonce) = request.url();
        Ok(Start {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Turns the callback's `code` into who the user is: the code exchanged with the PKCE
    /// verifier, the ID token checked (signature with a pinned algorithm, issuer, audience,
    /// expiry, `nonce`), the address's proof read by the provider's rules.
    pub async fn finish(
        &self,
        provider: &Provider,
        callback_url: &str,
        code: &str,
        (pkce_verifier, nonce): (&str, &str),
    ) -> Result<Proved, FederationError> {
        let settings = &provider.settings;
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        if settings.kind == ProviderKind::GitHub {
            let secret = client_secret(settings)?;
            return github::finish(&self.http, (settings, secret), callback_url, code, verifier)
                .await;
        }
        let client = self.client(provider, callback_url).await?;
        let http = |request| http::send(&self.http, request);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| FederationError::Unavailable(e.to_string()))?
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .map_err(|e| FederationError::Refused(format!("code exchange: {e}")))?;
        let id_token =
            response.id_token().ok_or_else(|| FederationError::Refused("no ID token".into()))?;
        let checks = client.id_token_verifier().set_allowed_algs(SIGNING_ALGORITHMS);
        let claims = id_token
            .claims(&checks, &Nonce::new(nonce.to_owned()))
            .map_err(|e| FederationError::Refused(format!("ID token: {e}")))?;
        let _ = response.access_token();
        // Checked: the claims the library does not model (Apple's string booleans,
        // Microsoft's `xms_edov`, `amr`) are read from its payload.
        let raw = payload(&id_token.to_string())?;
        let email = claims.email().map(|email| email.as_str().to_owned());
        let email_verified = claims.email_verified().unwrap_or(false);
        Ok(Proved {
            subject: claims.subject().as_str().to_owned(),
            email_proved: email.is_some() && proves_email(settings, email_verified, &raw),
            email,
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.as_str().to_owned()),
            mfa: settings.trust_mfa && names_mfa(&raw),
        })
    }

    /// The provider's client, from its discovery document (read again once an hour, so that
    /// rotated keys are found).
    async fn client(
        &self,
        provider: &Provider,
        callback_url: &str,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        FederationError,
    > {
        let metadata = self.metadata(provider).await?;
        let settings = &provider.settings;
        let redirect = RedirectUrl::new(callback_url.to_owned())
            .map_err(|e| FederationError::Unavailable(e.to_string()))?;
        let auth_type = auth_type(settings.kind, &metadata);
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(client_secret(settings)?)),
        )
        .set_auth_type(auth_type)
        .set_redirect_uri(redirect))
    }

    async fn metadata(&self, provider: &Provider) -> Result<CoreProviderMetadata, FederationError> {
        if let Some((read_at, metadata)) = provider.metadata.read().await.as_ref()
            && read_at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = provider.settings.issuer.clone().unwrap_or_default();
        let issuer =
            IssuerUrl::new(issuer).map_err(|e| FederationError::Unavailable(e.to_string()))?;
        let http = |request| http::send(&self.http, request);
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| FederationError::Unavailable(format!("discovery: {e}")))?;
        *provider.metadata.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// The secret the provider's token endpoint is given.
fn client_secret(settings: &ProviderSettings) -> Result<String, FederationError> {
    match &settings.credential {
        ClientCredential::Secret(secret) => Ok(secret.clone()),
        ClientCredential::AppleKey { team_id, key_id, private_key_pem } => {
            apple::client_secret(&settings.client_id, (team_id, key_id, private_key_pem))
        }
    }
}

/// How the client secret goes to the token endpoint: in the form for Apple (the only way it
/// takes it) and for a provider whose discovery document offers only that; else HTTP Basic,
/// the default OpenID Connect Discovery gives when the document names none.
fn auth_type(kind: ProviderKind, metadata: &CoreProviderMetadata) -> AuthType {
    let methods = metadata.token_endpoint_auth_methods_supported();
    let offers = |method: &CoreClientAuthMethod| methods.is_some_and(|m| m.contains(method));
    let post_only = methods.is_some()
        && !offers(&CoreClientAuthMethod::ClientSecretBasic)
        && offers(&CoreClientAuthMethod::ClientSecretPost);
    if kind == ProviderKind::Apple || post_only {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    }
}

/// Whether the provider proves the address it gives, by its own rules: Google's and Apple's
/// `email_verified`; Microsoft's only with `xms_edov` (the domain's owner verified it: its
/// `email` is otherwise whatever the user typed); a configured provider's only when the
/// operator trusts its `email_verified` (`OIDC_{NAME}_TRUST_EMAIL`).
fn proves_email(
    settings: &ProviderSettings,
    email_verified: bool,
    raw: &serde_json::Value,
) -> bool {
    match settings.kind {
        ProviderKind::Google | ProviderKind::Apple => email_verified,
        ProviderKind::Microsoft => is_true(&raw["xms_edov"]),
        ProviderKind::OpenId => settings.trust_email && email_verified,
        ProviderKind::GitHub => false,
    }
}

/// `true`, or Apple's `"true"`.
fn is_true(value: &serde_json::Value) -> bool {
    value.as_bool() == Some(true) || value.as_str() == Some("true")
}

/// Whether the token's `amr` names a second factor (RFC 8176's `mfa`).
fn names_mfa(raw: &serde_json::Value) -> bool {
    raw["amr"].as_array().is_some_and(|amr| amr.iter().any(|value| value == "mfa"))
}

/// A checked JWT's payload as JSON.
fn payload(jwt: &str) -> Result<serde_json::Value, FederationError> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let refused = || FederationError::Refused("unreadable ID token".into());
    let segment = jwt.split('.').nth(1).ok_or_else(refused)?;
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| refused())?;
    serde_json::from_slice(&bytes).map_err(|_| refused())
}
