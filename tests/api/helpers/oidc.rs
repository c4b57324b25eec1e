//! The real OpenID provider the federation tests sign in against (npm's oidc-provider,
//! `tests/oidc/provider.mjs`), and a browser's part of the redirect flow: following the
//! service's redirect to the provider and the provider's back, with the provider's cookies.

use auth_service::settings::{
    ClientCredential, GitHubUrls, ProviderKind, ProviderSettings, Settings,
};
use serde_json::{Value, json};

use super::{TestApp, status_and_json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
pub const OIDC_CLIENT_ID: &str = "auth-service";
pub const OIDC_CLIENT_SECRET: &str = "auth-service-test-secret-0123456789";
/// The page of the website the tests' sign-ins come back to.
pub const SIGNED_IN_PAGE: &str = "http://localhost:3000/signed-in";

pub struct OidcProvider {
    pub port: u16,
    _server: super::NodeServer,
}

impl OidcProvider {
    /// Starts the provider on a free port (its dependencies installed first, once, if a plain
    /// `cargo test` runs before `./scripts/test` did).
    pub fn start() -> OidcProvider {
        let server = super::NodeServer::start(DIR, "oidc-provider", "provider.mjs");
        OidcProvider { port: server.port, _server: server }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A provider setting named `name` of `kind` for this provider (its discovery standing in
    /// for a built-in one's issuer).
    /// Apple's stands in with its own client, which takes only a client secret signed with
    /// Apple's key (`apple_key`).
    pub fn settings(&self, name: &str, kind: ProviderKind, trust_email: bool) -> ProviderSettings {
        let base = self.issuer();
        let (client_id, credential) = match kind {
            ProviderKind::Apple => (format!("{OIDC_CLIENT_ID}-apple"), apple_key("TEAMID0001")),
            _ => (OIDC_CLIENT_ID.into(), ClientCredential::Secret(OIDC_CLIENT_SECRET.into())),
        };
        ProviderSettings {
            name: name.into(),
            kind,
            client_id,
            credential,
            issuer: Some(base.clone()),
            github: GitHubUrls {
                authorize: format!("{base}/auth"),
                token: format!("{base}/token"),
                api: format!("{base}/github"),
            },
            trust_email,
            trust_mfa: false,
        }
    }

    /// Configures `settings` to sign in with this provider as the generic provider `oidc`
    /// (its `email_verified` trusted) and to come back to `SIGNED_IN_PAGE`.
    pub fn configure(&self, settings: &mut Settings) {
        settings.federation.providers = vec![self.settings("oidc", ProviderKind::OpenId, true)];
        settings.federation.redirect_allowlist = vec![SIGNED_IN_PAGE.into()];
    }

    /// An account at the provider: its subject and claims.
    pub async fn account(&self, sub: &str, claims: Value) {
        let mut account = claims;
        account["sub"] = json!(sub);
        let url = format!("{}/test/accounts", self.issuer());
        let response = reqwest::Client::new().post(url).json(&account).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }

    /// Spoils the next ID token the provider issues: `other-key`, `alg-none`,
    /// `wrong-audience`, `expired`, `other-nonce`.
    pub async fn spoil(&self, how: &str) {
        let url = format!("{}/test/spoil", self.issuer());
        let response =
            reqwest::Client::new().post(url).json(&json!({"how": how})).send().await.unwrap();
        assert_eq!(response.status(), 204);
    }
}

/// The key the provider's Apple stand-in checks client secrets with, as a team's.
pub fn apple_key(team_id: &str) -> ClientCredential {
    ClientCredential::AppleKey {
        team_id: team_id.into(),
        key_id: "APPLEKEY01".into(),
        private_key_pem: std::fs::read_to_string(format!("{DIR}/apple-test-key.p8")).unwrap(),
    }
}

/// Where the service's callback sends the browser.
async fn came_back(response: reqwest::Response) -> (u16, Result<CameBack, Value>) {
    let status = response.status().as_u16();
    let Some(location) = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned())
    else {
        return (status, Err(response.json().await.unwrap_or(Value::Null)));
    };
    let fragment = location.split_once('#').map(|(_, f)| f).unwrap_or_default();
    let fragment = url::form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    (status, Ok(CameBack { location, fragment }))
}

/// A `form_post` page's form: its action and its hidden fields.
fn form_post(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].replace("&amp;", "&"))
    };
    let form = &page[page.find("<form")?..];
    let action = attribute(&form[..form.find('>')?], "action")?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value")?)))
        .collect();
    Some((action, fields))
}

/// Where a sign-in came back to: the page's fragment as pairs.
#[derive(Debug)]
pub struct CameBack {
    pub location: String,
    pub fragment: Vec<(String, String)>,
}

impl CameBack {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fragment.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl TestApp {
    /// `GET /api/oauth/{provider}/authorize`, not followed: its status and Location.
    pub async fn oauth_authorize(&self, provider: &str, redirect_to: &str) -> (u16, String) {
        let url = reqwest::Url::parse_with_params(
            &self.url(&format!("/api/oauth/{provider}/authorize")),
            &[("redirect_to", redirect_to)],
        )
        .unwrap();
        let response = self.client.get(url).send().await.expect("request");
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        (response.status().as_u16(), location.unwrap_or_default())
    }

    /// `GET /api/oauth/{provider}/authorize?mode=link` from the signed-in page (`token`).
    pub async fn oauth_authorize_link(&self, provider: &str, token: Option<&str>) -> (u16, Value) {
        let url = reqwest::Url::parse_with_params(
            &self.url(&format!("/api/oauth/{provider}/authorize")),
            &[("redirect_to", SIGNED_IN_PAGE), ("mode", "link")],
        )
        .unwrap();
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        status_and_json(request.send().await.expect("request")).await
    }

    /// A browser at the provider's authorization URL `at`, signing in as `sub`: every redirect
    /// followed (the provider's cookies kept) up to the service's callback, which is not taken:
    /// its URL, and the fields of the form a `form_post` provider's page would submit to it.
    pub async fn at_provider_form(
        &self,
        at: &str,
        sub: &str,
    ) -> (String, Option<Vec<(String, String)>>) {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        let mut url = reqwest::Url::parse(at).unwrap();
        url.query_pairs_mut().append_pair("login_hint", sub);
        for _ in 0..10 {
            let response = browser.get(url.clone()).send().await.expect("the provider answers");
            let Some(location) = response.headers().get("location") else {
                let status = response.status();
                let page = response.text().await.unwrap();
                return match form_post(&page) {
                    Some((action, fields)) => (action, Some(fields)),
                    None => panic!("the provider stopped at {url} with {status}: {page}"),
                };
            };
            url = url.join(location.to_str().unwrap()).unwrap();
            if url.path().contains("/api/oauth/") {
                return (url.to_string(), None);
            }
        }
        panic!("too many redirects");
    }

    /// As `at_provider_form`, for a provider that redirects back.
    pub async fn at_provider(&self, at: &str, sub: &str) -> String {
        let (url, form) = self.at_provider_form(at, sub).await;
        assert!(form.is_none(), "a form_post answer");
        url
    }

    /// The service's callback at `url` (a GET): where it sends the browser.
    pub async fn oauth_callback(&self, url: &str) -> (u16, Result<CameBack, Value>) {
        came_back(self.client.get(url).send().await.expect("request")).await
    }

    /// The callback as a `form_post` provider's page submits it.
    pub async fn oauth_callback_form(
        &self,
        url: &str,
        fields: &[(String, String)],
    ) -> (u16, Result<CameBack, Value>) {
        came_back(self.client.post(url).form(fields).send().await.expect("request")).await
    }

    /// The whole redirect flow with `provider` as `sub`, to the website's page.
    pub async fn oauth_sign_in(&self, provider: &str, sub: &str) -> CameBack {
        let (status, at) = self.oauth_authorize(provider, SIGNED_IN_PAGE).await;
        assert_eq!(status, 302, "{at}");
        let (status, back) = match self.at_provider_form(&at, sub).await {
            (callback, None) => self.oauth_callback(&callback).await,
            (callback, Some(fields)) => self.oauth_callback_form(&callback, &fields).await,
        };
        assert_eq!(status, 302, "{back:?}");
        back.unwrap()
    }

    pub async fn oauth_exchange(&self, code: &str) -> (u16, Value) {
        status_and_json(self.post_json("/api/oauth/exchange", &json!({ "code": code })).await).await
    }

    pub async fn list_identities(&self, token: &str) -> (u16, Value) {
        let request = self.client.get(self.url("/api/identities")).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    pub async fn unlink_identity(&self, token: &str, id: &str) -> (u16, Value) {
        let request =
            self.client.delete(self.url(&format!("/api/identities/{id}"))).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    pub async fn link_identity(&self, token: &str, link_token: &str) -> (u16, Value) {
        let body = json!({ "link_token": link_token });
        self.bearer_json(reqwest::Method::POST, "/api/identities/link", token, &body).await
    }
}
