//! The listener, what every response shares, and `/metrics`.

use super::source::{SettingsError, Source, http_url};

/// The listener and what every response shares.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: Option<usize>,
    /// How long a stopping server lets in-flight requests finish (SIGTERM, SIGINT).
    pub shutdown_timeout_secs: u64,
    /// How long a request body (but an upload's) may take to arrive.
    pub request_body_timeout_secs: u64,
    /// The base of picture URLs; unset, the request's own scheme and host.
    pub public_url: Option<String>,
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// The bearer token `GET /metrics` asks for; unset, it is open.
    pub token: Option<String>,
    /// `HOST:PORT` of a listener of its own for `/metrics`; unset, the main port serves it.
    pub addr: Option<String>,
}

impl ServerSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        Ok(ServerSettings {
            host: source.parsed("HOST")?,
            port: source.parsed("PORT")?,
            workers: source.optional_positive("WORKERS")?,
            shutdown_timeout_secs: source.parsed("SHUTDOWN_TIMEOUT_SECS")?,
            request_body_timeout_secs: source.positive("REQUEST_BODY_TIMEOUT_SECS")?,
            public_url: source.optional_checked("PUBLIC_URL", |url: &String| http_url(url))?,
            cors_allowed_origins: source.list("CORS_ALLOWED_ORIGINS")?,
        })
    }

    /// `PUBLIC_URL` without its trailing slash.
    pub fn public_base_url(&self) -> Option<&str> {
        self.public_url.as_deref().map(|url| url.trim_end_matches('/'))
    }
}

impl MetricsSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        Ok(MetricsSettings {
            token: source.optional("METRICS_TOKEN")?,
            addr: source.optional("METRICS_ADDR")?,
        })
    }
}
