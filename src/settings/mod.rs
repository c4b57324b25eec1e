//! One typed `Settings`, read once at start: `config/default.toml` (compiled in), then
//! `config/{APP_ENV}.toml`, then the environment. A bad value stops the start with an error
//! naming the variable. Each variable is named once, where its field is read: a file per
//! concern (as crates.io splits its `src/config/`); the types a module takes from the settings
//! (tokens, the bucket, rate limits, proxies, transports) are that module's own.

mod database;
mod federation;
mod mail;
mod mfa;
mod passkeys;
mod passwords;
mod server;
mod source;
mod tokens;
mod uploads;
mod webhooks;

#[cfg(test)]
mod tests;

use std::{collections::HashMap, path::Path};

use config::{Config, File, FileFormat};

pub use database::DatabaseSettings;
pub use federation::{
    ClientCredential, FederationSettings, GitHubUrls, ProviderKind, ProviderSettings,
};
pub use mail::MailSettings;
pub use mfa::MfaSettings;
pub use passkeys::PasskeySettings;
pub use passwords::PasswordSettings;
pub use server::{MetricsSettings, ServerSettings};
pub use source::{Setting, SettingsError};
pub use uploads::UploadSettings;
pub use webhooks::WebhookSettings;

use passwords::MIN_PRODUCTION_BCRYPT_COST;
use source::{Source, invalid};

/// Seconds in a day: the window of an account's free wrong tries.
const DAY: u64 = 24 * 60 * 60;

use crate::{
    auth::keys::{JwtAlgorithm, MIN_SECRET_BYTES, TokenSettings},
    client_ip::TrustedProxies,
    db::DatabaseUrl,
    logging::LogFormat,
    mail::transport::MailTransport,
    throttle::{Lane, Limits},
    uploads::storage::StorageSettings,
};

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// The environments there are: `config/{APP_ENV}.toml` and the production rules follow it.
const APP_ENVS: [&str; 2] = ["development", "production"];

#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub passwords: PasswordSettings,
    pub uploads: UploadSettings,
    /// Where stored pictures live: `UPLOAD_DIR` or a bucket.
    pub storage: StorageSettings,
    pub rate_limits: Limits,
    /// Peers whose forwarding header is believed, and which header that is.
    pub trusted_proxies: TrustedProxies,
    pub metrics: MetricsSettings,
    pub mail: MailSettings,
    pub mfa: MfaSettings,
    pub passkeys: PasskeySettings,
    pub federation: FederationSettings,
    pub webhooks: WebhookSettings,
    /// Log lines as readable text or as one JSON object each.
    pub log_format: LogFormat,
}

impl Settings {
    /// The process's settings: files under `./config`, then the process environment.
    pub fn load() -> Result<Self, SettingsError> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::load_from(&env)
    }

    /// Settings from the compiled-in defaults, the `config/` files and the given environment.
    /// Tests pass their own map so they never touch the shared process environment.
    pub fn load_from(env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let app_env = env.get("APP_ENV").cloned().unwrap_or_else(|| "development".to_owned());
        // Matched exactly: `Production` or `prod` must not quietly skip every production rule.
        if !APP_ENVS.contains(&app_env.as_str()) {
            return Err(invalid(
                "APP_ENV",
                format!("{app_env:?} is neither development nor production"),
            ));
        }
        let files = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::with_name(&format!("config/{app_env}")).required(false))
            .build()
            .map_err(|e| invalid(&format!("config/{app_env}.toml"), e.to_string()))?;
        let source = Source { env, files };

        let server = ServerSettings::read(&source)?;
        let default_issuer = server.public_base_url().unwrap_or("auth-service").to_owned();
        let settings = Settings {
            database: DatabaseSettings::read(&source)?,
            tokens: tokens::read(&source, &default_issuer)?,
            passwords: PasswordSettings::read(&source)?,
            uploads: UploadSettings::read(&source)?,
            storage: uploads::storage(&source)?,
            rate_limits: Limits {
                enabled: source.parsed("RATE_LIMIT_ENABLED")?,
                login_per_ip: source.parsed("RATE_LIMIT_LOGIN_PER_IP")?,
                password: Lane {
                    per_network: source.parsed("RATE_LIMIT_LOGIN_PER_ACCOUNT_AND_IP")?,
                    free: source.parsed("RATE_LIMIT_LOGIN_PER_ACCOUNT")?,
                    longest_wait_secs: 15 * 60,
                },
                totp_code: Lane::of((5, 15 * 60), (10, DAY), 60 * 60),
                recovery_code: Lane::of((5, 15 * 60), (10, DAY), 15 * 60),
                mailed_code: Lane::of((5, 15 * 60), (20, DAY), 60 * 60),
                passkey: Lane::of((20, 15 * 60), (20, DAY), 15 * 60),
                register_per_ip: source.parsed("RATE_LIMIT_REGISTER_PER_IP")?,
                upload_per_ip: source.parsed("RATE_LIMIT_UPLOAD_PER_IP")?,
                refresh_per_ip: source.parsed("RATE_LIMIT_REFRESH_PER_IP")?,
                admin_per_ip: source.parsed("RATE_LIMIT_ADMIN_PER_IP")?,
                mail_per_ip: source.parsed("RATE_LIMIT_MAIL_PER_IP")?,
                mail_per_address: source.parsed("RATE_LIMIT_MAIL_PER_ADDRESS")?,
            },
            trusted_proxies: TrustedProxies {
                networks: source.list("TRUSTED_PROXIES")?,
                header: source.parsed("TRUSTED_PROXY_HEADER")?,
            },
            metrics: MetricsSettings::read(&source)?,
            mail: MailSettings::read(&source, server.public_base_url())?,
            mfa: MfaSettings::read(&source)?,
            passkeys: PasskeySettings::read(&source, &server)?,
            federation: FederationSettings::read(&source, &server)?,
            webhooks: WebhookSettings::read(&source)?,
            log_format: source.parsed::<LogFormat>("LOG_FORMAT")?,
            server,
            app_env,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The rules that tie two settings together (each setting's own rule is checked where it
    /// is read).
    fn validate(&self) -> Result<(), SettingsError> {
        // `UPLOAD_DIR` is served: the database and the MFA key file beside it must not be in it.
        if let DatabaseUrl::Sqlite(database) = &self.database.url {
            let absolute = |path: &Path| std::path::absolute(path).unwrap_or(path.to_path_buf());
            let database_folder = absolute(database).parent().map(Path::to_path_buf);
            if database_folder.is_some_and(|folder| folder.starts_with(absolute(&self.uploads.dir)))
            {
                return Err(invalid(
                    "UPLOAD_DIR",
                    format!("must not hold the SQLite database ({})", database.display()),
                ));
            }
        }
        if self.tokens.jwt_algorithm == JwtAlgorithm::EdDsa
            && self.tokens.jwt_private_key_file.is_none()
        {
            return Err(invalid("JWT_PRIVATE_KEY_FILE", "is required when JWT_ALGORITHM=EdDSA"));
        }
        let hs256 = self.tokens.jwt_algorithm == JwtAlgorithm::Hs256;
        if self.app_env == "production" && hs256 && self.tokens.jwt_secret.is_none() {
            return Err(invalid("JWT_SECRET", "is required when APP_ENV=production"));
        }
        // Anyone holding one token can test guesses of an HMAC secret offline: in every mode,
        // each secret needs as many bytes as the hash output.
        let short = |secret: &String| secret.len() < MIN_SECRET_BYTES;
        let must = format!("must be at least {MIN_SECRET_BYTES} bytes");
        if self.tokens.jwt_secret.as_ref().is_some_and(short) {
            return Err(invalid("JWT_SECRET", must));
        }
        if self.tokens.jwt_previous_secrets.iter().any(short) {
            return Err(invalid("JWT_PREVIOUS_SECRETS", format!("{must} each")));
        }
        if !hs256 && !self.tokens.jwt_previous_secrets.is_empty() {
            return Err(invalid(
                "JWT_PREVIOUS_SECRETS",
                "is for JWT_ALGORITHM=HS256 only (EdDSA tokens are checked with public keys; \
                 refresh tokens outlive the switch)",
            ));
        }
        // A session row outlives the access tokens issued from it only if refresh tokens live
        // at least as long; an access token whose session is gone is refused.
        if self.tokens.refresh_token_ttl_secs < self.tokens.access_token_ttl_secs {
            return Err(invalid(
                "REFRESH_TOKEN_TTL_SECS",
                "must be at least ACCESS_TOKEN_TTL_SECS",
            ));
        }
        if self.app_env == "production" {
            self.validate_production()?;
        }
        if self.server.cors_allowed_origins.is_empty() {
            return Err(invalid("CORS_ALLOWED_ORIGINS", "lists no origin (use * for any)"));
        }
        Ok(())
    }

    /// What a development machine may do and a production service must not: each refusal
    /// names the variable to change.
    fn validate_production(&self) -> Result<(), SettingsError> {
        const WHEN: &str = "when APP_ENV=production";
        // /metrics tells anyone who asks what the service is doing (and how much).
        if self.metrics.token.is_none() && self.metrics.addr.is_none() {
            return Err(invalid(
                "METRICS_TOKEN",
                format!("or METRICS_ADDR is required {WHEN} (GET /metrics would be public)"),
            ));
        }
        if self.passwords.bcrypt_cost < MIN_PRODUCTION_BCRYPT_COST {
            return Err(invalid(
                "BCRYPT_COST",
                format!("must be at least {MIN_PRODUCTION_BCRYPT_COST} {WHEN}"),
            ));
        }
        if !self.rate_limits.enabled {
            return Err(invalid("RATE_LIMIT_ENABLED", format!("must be true {WHEN}")));
        }
        if self.server.cors_allowed_origins.iter().any(|origin| origin == "*") {
            return Err(invalid(
                "CORS_ALLOWED_ORIGINS",
                format!("must list the website's origins, not *, {WHEN}"),
            ));
        }
        // Without it, picture URLs are built from the request's Host header.
        if self.server.public_url.is_none() {
            return Err(invalid("PUBLIC_URL", format!("is required {WHEN}")));
        }
        // A passkey is bound to its RP ID for good: a guessed default would strand them all.
        if let Some(variable) = self.passkeys.defaulted {
            return Err(invalid(variable, format!("is required {WHEN}")));
        }
        // Files in a container's folder reach nobody: codes and notices would be lost.
        if self.mail.smtp_url.is_none() || self.mail.transport != MailTransport::Smtp {
            return Err(invalid("SMTP_URL", format!("is required {WHEN}")));
        }
        Ok(())
    }
}
