//! GitHub: OAuth 2.0 without OpenID Connect. The user is its numeric id; the address is the
//! primary one of `GET /user/emails`, proved only when GitHub says it is verified.

use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use serde::Deserialize;

use super::{FederationError, Proved, Start, http};
use crate::settings::ProviderSettings;

pub fn start(
    settings: &ProviderSettings,
    callback_url: &str,
    challenge: PkceCodeChallenge,
    verifier: PkceCodeVerifier,
) -> Result<Start, FederationError> {
    let state = openidconnect::CsrfToken::new_random().secret().clone();
    let mut url = url::Url::parse(&settings.github.authorize)
        .map_err(|e| FederationError::Unavailable(e.to_string()))?;
    url.query_pairs_mut()
        // RFC 6749 §4.1.1's response_type, which GitHub does not need and does not mind.
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", callback_url)
        .append_pair("scope", "read:user user:email")
        .append_pair("state", &state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    Ok(Start {
        url: url.to_string(),
        state,
        nonce: String::new(),
        pkce_verifier: verifier.secret().clone(),
    })
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

pub async fn finish(
    client: &reqwest::Client,
    (settings, secret): (&ProviderSettings, String),
    callback_url: &str,
    code: &str,
    verifier: PkceCodeVerifier,
) -> Result<Proved, FederationError> {
    let urls = &settings.github;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", settings.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("code", code),
        ("redirect_uri", callback_url),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let request = client.post(&urls.token).header("Accept", "application/json").form(&form);
    let token: Token =
        json(request).await.map_err(|e| FederationError::Refused(format!("code exchange: {e}")))?;
    let api = |path: &str| {
        client
            .get(format!("{}{path}", urls.api))
            .bearer_auth(&token.access_token)
            .header("Accept", "application/vnd.github+json")
    };
    let user: User = json(api("/user")).await.map_err(FederationError::Unavailable)?;
    let emails: Vec<Email> =
        json(api("/user/emails")).await.map_err(FederationError::Unavailable)?;
    let primary = emails.into_iter().find(|email| email.primary);
    Ok(Proved {
        subject: user.id.to_string(),
        email_proved: primary.as_ref().is_some_and(|email| email.verified),
        email: primary.map(|email| email.email),
        name: user.name.or(Some(user.login)),
        mfa: false,
    })
}

/// A JSON answer of a 2xx status, read within the size bound.
async fn json<T: for<'de> Deserialize<'de>>(request: reqwest::RequestBuilder) -> Result<T, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = http::limited(response).await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("status {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}
