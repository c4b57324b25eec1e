//! `WEBAUTHN_*`: the relying party passkeys are made for.

use url::Url;

use super::{
    server::ServerSettings,
    source::{SettingsError, Source, invalid},
};

#[derive(Debug, Clone)]
pub struct PasskeySettings {
    /// The domain passkeys are bound to.
    pub rp_id: String,
    /// The name an authenticator shows.
    pub rp_name: String,
    /// The pages allowed to run a ceremony (their origin, exactly).
    pub origins: Vec<Url>,
    /// How long a ceremony's `challenge_id` lives.
    pub ceremony_ttl_secs: u64,
    /// The variable left unset whose default is a development machine's (production refuses
    /// to start with it).
    pub(super) defaulted: Option<&'static str>,
}

impl PasskeySettings {
    pub(super) fn read(source: &Source, server: &ServerSettings) -> Result<Self, SettingsError> {
        let rp_id: Option<String> = source.optional("WEBAUTHN_RP_ID")?;
        let mut origins: Vec<String> = source.list("WEBAUTHN_ORIGINS")?;
        let defaulted = match (&rp_id, origins.is_empty()) {
            (None, _) => Some("WEBAUTHN_RP_ID"),
            (Some(_), true) => Some("WEBAUTHN_ORIGINS"),
            _ => None,
        };
        if origins.is_empty() {
            // PUBLIC_URL when a browser would run a ceremony there (https on a domain, or
            // localhost), else this machine's own server: a development default never stops
            // the start.
            let usable = |url: &&str| {
                page_origin(url).is_ok_and(|url| domain(url.host_str().unwrap_or_default()).is_ok())
            };
            let own = server.public_base_url().filter(usable).map(str::to_owned);
            origins.push(own.unwrap_or_else(|| format!("http://localhost:{}", server.port)));
        }
        let origins = origins
            .iter()
            .map(|origin| {
                page_origin(origin).map_err(|problem| invalid("WEBAUTHN_ORIGINS", problem))
            })
            .collect::<Result<Vec<Url>, _>>()?;
        let rp_id = match rp_id {
            Some(rp_id) => rp_id,
            None => origins[0].host_str().unwrap_or_default().to_owned(),
        };
        domain(&rp_id).map_err(|problem| invalid("WEBAUTHN_RP_ID", problem))?;
        // A browser refuses a ceremony whose RP ID is not the page's host or a parent of it.
        if let Some(stray) = origins.iter().find(|origin| !on_domain(origin, &rp_id)) {
            return Err(invalid(
                "WEBAUTHN_ORIGINS",
                format!("{stray} is not on the domain of WEBAUTHN_RP_ID ({rp_id})"),
            ));
        }
        Ok(PasskeySettings {
            rp_id,
            rp_name: source.parsed("WEBAUTHN_RP_NAME")?,
            origins,
            ceremony_ttl_secs: source.positive("WEBAUTHN_CEREMONY_TTL_SECS")?,
            defaulted,
        })
    }
}

/// An origin a page can have: https (or http on localhost, which browsers treat as secure),
/// a host, no path, query or fragment.
fn page_origin(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("{text:?} is not a URL: {error}"))?;
    let local = url.host_str() == Some("localhost");
    let secure = url.scheme() == "https" || (url.scheme() == "http" && local);
    if !secure {
        return Err(format!("{text:?} must be https (http only on localhost)"));
    }
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !bare || url.host_str().is_none() || !url.username().is_empty() {
        return Err(format!("{text:?} must be an origin: scheme, host and port only"));
    }
    Ok(url)
}

/// An RP ID is a domain: lowercase, no scheme, port or path, and not an IP address (WebAuthn
/// refuses those).
fn domain(rp_id: &str) -> Result<(), String> {
    let labels_ok = rp_id.split('.').all(|label| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    let ip = rp_id.parse::<std::net::IpAddr>().is_ok();
    if !labels_ok || ip {
        return Err(format!("{rp_id:?} must be a lowercase domain name, e.g. example.com"));
    }
    Ok(())
}

fn on_domain(origin: &Url, rp_id: &str) -> bool {
    let host = origin.host_str().unwrap_or_default();
    host == rp_id || host.ends_with(&format!(".{rp_id}"))
}
