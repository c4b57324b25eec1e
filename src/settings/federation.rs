//! `OIDC_*` and `OAUTH_*`: signing in with outside providers.

use url::Url;

use super::{
    server::ServerSettings,
    source::{SettingsError, Source, invalid},
};

/// The providers built in, by the name `OIDC_PROVIDERS` gives them; any other name is an OpenID
/// provider found by its issuer's discovery document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Google,
    Apple,
    Microsoft,
    GitHub,
    OpenId,
}

impl ProviderKind {
    fn of(name: &str) -> ProviderKind {
        match name {
            "google" => ProviderKind::Google,
            "apple" => ProviderKind::Apple,
            "microsoft" => ProviderKind::Microsoft,
            "github" => ProviderKind::GitHub,
            _ => ProviderKind::OpenId,
        }
    }

    /// The issuer of a built-in OpenID provider (Microsoft's names the tenant: none built in).
    fn issuer(self) -> Option<&'static str> {
        match self {
            ProviderKind::Google => Some("https://accounts.google.com"),
            ProviderKind::Apple => Some("https://appleid.apple.com"),
            _ => None,
        }
    }
}

/// GitHub's OAuth endpoints and API (it has no OpenID discovery).
#[derive(Debug, Clone)]
pub struct GitHubUrls {
    pub authorize: String,
    pub token: String,
    pub api: String,
}

/// How the service proves itself to a provider's token endpoint.
#[derive(Clone)]
pub enum ClientCredential {
    /// The secret the provider gave (`OIDC_{NAME}_CLIENT_SECRET`).
    Secret(String),
    /// Apple's: a short-lived ES256 JWT, signed for each exchange with the key Apple gave
    /// (`OIDC_APPLE_TEAM_ID`, `OIDC_APPLE_KEY_ID`, `OIDC_APPLE_PRIVATE_KEY`), so that no
    /// six-month secret has to be made and replaced by hand.
    AppleKey { team_id: String, key_id: String, private_key_pem: String },
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("Secret(..)"),
            ClientCredential::AppleKey { team_id, key_id, .. } => {
                write!(f, "AppleKey {{ team_id: {team_id:?}, key_id: {key_id:?}, .. }}")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// As `OIDC_PROVIDERS` names it, and as paths and identities name it.
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub credential: ClientCredential,
    /// Where discovery starts (`{issuer}/.well-known/openid-configuration`); none for GitHub.
    pub issuer: Option<String>,
    pub github: GitHubUrls,
    /// A configured provider's `email_verified: true` proves the address (never by default).
    pub trust_email: bool,
    /// The provider's `amr` naming `mfa` counts as this service's second factor.
    pub trust_mfa: bool,
}

#[derive(Debug, Clone)]
pub struct FederationSettings {
    pub providers: Vec<ProviderSettings>,
    /// `OAUTH_REDIRECT_ALLOWLIST`: where a flow may send the user back, matched exactly.
    pub redirect_allowlist: Vec<String>,
    /// The base of the callback URL given to providers: `PUBLIC_URL`; unset, the request's own.
    pub public_base_url: Option<String>,
    pub flow_ttl_secs: u64,
}

impl FederationSettings {
    pub(super) fn read(source: &Source, server: &ServerSettings) -> Result<Self, SettingsError> {
        let names: Vec<String> = source.list("OIDC_PROVIDERS")?;
        let providers =
            names.iter().map(|name| provider(source, name)).collect::<Result<Vec<_>, _>>()?;
        let redirect_allowlist: Vec<String> = source.list("OAUTH_REDIRECT_ALLOWLIST")?;
        for target in &redirect_allowlist {
            redirect_target(target)
                .map_err(|problem| invalid("OAUTH_REDIRECT_ALLOWLIST", problem))?;
        }
        if !providers.is_empty() && redirect_allowlist.is_empty() {
            return Err(invalid(
                "OAUTH_REDIRECT_ALLOWLIST",
                "lists no page to send the user back to, and OIDC_PROVIDERS names providers",
            ));
        }
        Ok(FederationSettings {
            providers,
            redirect_allowlist,
            public_base_url: server.public_base_url().map(str::to_owned),
            flow_ttl_secs: source.positive("OAUTH_FLOW_TTL_SECS")?,
        })
    }
}

fn provider(source: &Source, name: &str) -> Result<ProviderSettings, SettingsError> {
    let named = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !named || name.is_empty() || name.len() > 32 {
        return Err(invalid(
            "OIDC_PROVIDERS",
            format!("{name:?}: lowercase letters, digits and -"),
        ));
    }
    let kind = ProviderKind::of(name);
    let variable = |field: &str| format!("OIDC_{}_{field}", name.to_uppercase().replace('-', "_"));
    let issuer: Option<String> = source.optional(&variable("ISSUER"))?;
    let issuer = issuer.or(kind.issuer().map(str::to_owned));
    if let Some(issuer) = &issuer {
        Url::parse(issuer).map_err(|e| invalid(&variable("ISSUER"), format!("{issuer:?}: {e}")))?;
    }
    if issuer.is_none() && kind != ProviderKind::GitHub {
        return Err(invalid(&variable("ISSUER"), "is required (the provider's issuer URL)"));
    }
    let github = GitHubUrls {
        authorize: url_or(
            source,
            &variable("AUTHORIZE_URL"),
            "https://github.com/login/oauth/authorize",
        )?,
        token: url_or(
            source,
            &variable("TOKEN_URL"),
            "https://github.com/login/oauth/access_token",
        )?,
        api: url_or(source, &variable("API_URL"), "https://api.github.com")?,
    };
    let trust_email: Option<bool> = source.optional(&variable("TRUST_EMAIL"))?;
    let trust_mfa: Option<bool> = source.optional(&variable("TRUST_MFA"))?;
    Ok(ProviderSettings {
        name: name.to_owned(),
        kind,
        client_id: source.parsed(&variable("CLIENT_ID"))?,
        credential: credential(source, kind, &variable)?,
        issuer,
        github,
        trust_email: trust_email.unwrap_or(false),
        trust_mfa: trust_mfa.unwrap_or(false),
    })
}

/// The client secret, or for Apple the key that signs one.
fn credential(
    source: &Source,
    kind: ProviderKind,
    variable: &dyn Fn(&str) -> String,
) -> Result<ClientCredential, SettingsError> {
    let key: Option<String> = source.optional(&variable("PRIVATE_KEY"))?;
    let Some(private_key_pem) = key.filter(|_| kind == ProviderKind::Apple) else {
        return Ok(ClientCredential::Secret(source.parsed(&variable("CLIENT_SECRET"))?));
    };
    let secret: Option<String> = source.optional(&variable("CLIENT_SECRET"))?;
    if secret.is_some() {
        return Err(invalid(&variable("CLIENT_SECRET"), "and OIDC_APPLE_PRIVATE_KEY are both set"));
    }
    jsonwebtoken::EncodingKey::from_ec_pem(private_key_pem.as_bytes()).map_err(|e| {
        invalid(&variable("PRIVATE_KEY"), format!("is not the PEM of a P-256 key (a .p8): {e}"))
    })?;
    Ok(ClientCredential::AppleKey {
        team_id: source.parsed(&variable("TEAM_ID"))?,
        key_id: source.parsed(&variable("KEY_ID"))?,
        private_key_pem,
    })
}

fn url_or(source: &Source, variable: &str, default: &str) -> Result<String, SettingsError> {
    let url: Option<String> = source.optional(variable)?;
    let url = url.unwrap_or_else(|| default.to_owned());
    Url::parse(&url).map_err(|e| invalid(variable, format!("{url:?}: {e}")))?;
    Ok(url.trim_end_matches('/').to_owned())
}

/// A page the user may be sent back to: an absolute http(s) URL without a fragment (the
/// service writes the fragment).
fn redirect_target(target: &str) -> Result<(), String> {
    let url = Url::parse(target).map_err(|e| format!("{target:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.fragment().is_some() || url.host().is_none()
    {
        return Err(format!("{target:?} must be an http(s) URL without a fragment"));
    }
    Ok(())
}
