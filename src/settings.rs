//! One typed `Settings`, read once at start: `config/default.toml` (compiled in), then
//! `config/{APP_ENV}.toml`, then the environment. A bad value stops the start with an error
//! naming the variable.

use std::{collections::HashMap, fmt, path::PathBuf};

use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;

use crate::{
    logging::LogFormat,
    throttle::{Limits, ProxyHeader, RateLimit},
};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// The variables of the contract (plus `WORKERS`), by the name an operator sets.
const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "HOST",
    "PORT",
    "JWT_SECRET",
    "JWT_ALGORITHM",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_PREVIOUS_KEY_FILES",
    "JWT_PREVIOUS_SECRETS",
    "ACCESS_TOKEN_TTL_SECS",
    "REFRESH_TOKEN_TTL_SECS",
    "REFRESH_REUSE_INTERVAL_SECS",
    "BCRYPT_COST",
    "UPLOAD_DIR",
    "MAX_UPLOAD_BYTES",
    "PUBLIC_URL",
    "CORS_ALLOWED_ORIGINS",
    "WORKERS",
    "SHUTDOWN_TIMEOUT_SECS",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_LOGIN_PER_IP",
    "RATE_LIMIT_LOGIN_PER_ACCOUNT",
    "RATE_LIMIT_REGISTER_PER_IP",
    "RATE_LIMIT_UPLOAD_PER_IP",
    "TRUSTED_PROXIES",
    "TRUSTED_PROXY_HEADER",
    "PASSWORD_REJECT_COMMON",
    "UPLOAD_TIMEOUT_SECS",
    "DATABASE_POOL_TIMEOUT_SECS",
    "DATABASE_STATEMENT_TIMEOUT_MS",
    "LOG_FORMAT",
    "METRICS_TOKEN",
    "METRICS_ADDR",
];

/// RFC 8725 §3.5 / OWASP: an HMAC key needs at least as many bytes as the hash output.
pub const MIN_PRODUCTION_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

/// How access tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with `JWT_SECRET`: only holders of the secret can verify.
    Hs256,
    /// Ed25519 with `JWT_PRIVATE_KEY_FILE`: anyone can verify with the published public key.
    EdDsa,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: String,
    pub database_url: DatabaseUrl,
    /// How long a request waits for a database connection before answering 503.
    pub database_pool_timeout_secs: u64,
    /// How long one statement may run (PostgreSQL) or wait for a lock (SQLite) before the
    /// request answers 503.
    pub database_statement_timeout_ms: u64,
    pub host: String,
    pub port: u16,
    pub jwt_secret: Option<String>,
    pub jwt_algorithm: JwtAlgorithm,
    /// The Ed25519 private key (PKCS#8 PEM) when `jwt_algorithm` is EdDSA.
    pub jwt_private_key_file: Option<PathBuf>,
    /// Ed25519 keys (private or public PEM) whose tokens are still accepted, never used to sign.
    pub jwt_previous_key_files: Vec<PathBuf>,
    /// HS256 secrets whose tokens are still accepted, never used to sign.
    pub jwt_previous_secrets: Vec<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// How long after a refresh token is spent a second use still gets a successor (a
    /// concurrent request of the same client) instead of ending the session.
    pub refresh_reuse_interval_secs: u64,
    pub bcrypt_cost: u32,
    pub upload_dir: PathBuf,
    pub max_upload_bytes: u64,
    /// How long an upload may take from its first byte to its last (slow clients hold a
    /// connection and a temporary file).
    pub upload_timeout_secs: u64,
    pub public_url: Option<String>,
    pub cors_allowed_origins: Vec<String>,
    pub workers: Option<usize>,
    /// How long a stopping server lets in-flight requests finish (SIGTERM, SIGINT).
    pub shutdown_timeout_secs: u64,
    /// `false` turns every rate limit off (benchmarks, test tools hammering from one address).
    pub rate_limit_enabled: bool,
    pub rate_limits: Limits,
    /// Peers whose `X-Forwarded-For` is believed (addresses or CIDR blocks).
    pub trusted_proxies: Vec<IpNet>,
    /// The header those proxies write the client's address to.
    pub trusted_proxy_header: ProxyHeader,
    /// Refuse the 10,000 most common passwords at registration.
    pub password_reject_common: bool,
    /// Log lines as readable text or as one JSON object each.
    pub log_format: LogFormat,
    /// The bearer token `GET /metrics` asks for; unset, it is open.
    pub metrics_token: Option<String>,
    /// `HOST:PORT` of a listener of its own for `/metrics`; unset, the main port serves it.
    pub metrics_addr: Option<String>,
}

/// A setting that cannot be used, named as the operator sets it.
#[derive(Debug, PartialEq, Eq)]
pub struct SettingsError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {}: {}",
            self.variable, self.problem
        )
    }
}

impl std::error::Error for SettingsError {}

fn invalid(variable: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        variable: variable.to_owned(),
        problem: problem.into(),
    }
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
        let app_env = env
            .get("APP_ENV")
            .cloned()
            .unwrap_or_else(|| "development".to_owned());
        let overrides: config::Map<String, String> = VARIABLES
            .iter()
            .filter_map(|name| Some((name.to_string(), env.get(*name)?.clone())))
            .collect();
        let layered = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::with_name(&format!("config/{app_env}")).required(false))
            .add_source(Environment::default().source(Some(overrides)))
            .build()
            .map_err(|e| invalid(&format!("config/{app_env}.toml"), e.to_string()))?;
        let get = |name: &str| -> Option<String> { layered.get_string(&name.to_lowercase()).ok() };
        let required = |name: &str| get(name).ok_or_else(|| invalid(name, "is not set"));

        let settings = Settings {
            database_url: parse_database_url(&required("DATABASE_URL")?)?,
            database_pool_timeout_secs: parse_number(
                "DATABASE_POOL_TIMEOUT_SECS",
                &required("DATABASE_POOL_TIMEOUT_SECS")?,
            )?,
            database_statement_timeout_ms: parse_number(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                &required("DATABASE_STATEMENT_TIMEOUT_MS")?,
            )?,
            host: required("HOST")?,
            port: parse_number("PORT", &required("PORT")?)?,
            jwt_secret: get("JWT_SECRET").filter(|s| !s.is_empty()),
            jwt_algorithm: parse_jwt_algorithm(&required("JWT_ALGORITHM")?)?,
            jwt_private_key_file: get("JWT_PRIVATE_KEY_FILE")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            jwt_previous_key_files: comma_list(get("JWT_PREVIOUS_KEY_FILES"))
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            jwt_previous_secrets: comma_list(get("JWT_PREVIOUS_SECRETS")),
            access_token_ttl_secs: parse_number(
                "ACCESS_TOKEN_TTL_SECS",
                &required("ACCESS_TOKEN_TTL_SECS")?,
            )?,
            refresh_token_ttl_secs: parse_number(
                "REFRESH_TOKEN_TTL_SECS",
                &required("REFRESH_TOKEN_TTL_SECS")?,
            )?,
            refresh_reuse_interval_secs: parse_number(
                "REFRESH_REUSE_INTERVAL_SECS",
                &required("REFRESH_REUSE_INTERVAL_SECS")?,
            )?,
            bcrypt_cost: parse_number("BCRYPT_COST", &required("BCRYPT_COST")?)?,
            upload_dir: PathBuf::from(required("UPLOAD_DIR")?),
            max_upload_bytes: parse_number("MAX_UPLOAD_BYTES", &required("MAX_UPLOAD_BYTES")?)?,
            upload_timeout_secs: parse_number(
                "UPLOAD_TIMEOUT_SECS",
                &required("UPLOAD_TIMEOUT_SECS")?,
            )?,
            public_url: get("PUBLIC_URL").filter(|s| !s.is_empty()),
            cors_allowed_origins: required("CORS_ALLOWED_ORIGINS")?
                .split(',')
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            workers: get("WORKERS")
                .map(|w| parse_number("WORKERS", &w))
                .transpose()?,
            shutdown_timeout_secs: parse_number(
                "SHUTDOWN_TIMEOUT_SECS",
                &required("SHUTDOWN_TIMEOUT_SECS")?,
            )?,
            rate_limit_enabled: parse_bool("RATE_LIMIT_ENABLED", &required("RATE_LIMIT_ENABLED")?)?,
            rate_limits: Limits {
                login_per_ip: parse_rate(
                    "RATE_LIMIT_LOGIN_PER_IP",
                    &required("RATE_LIMIT_LOGIN_PER_IP")?,
                )?,
                login_per_account: parse_rate(
                    "RATE_LIMIT_LOGIN_PER_ACCOUNT",
                    &required("RATE_LIMIT_LOGIN_PER_ACCOUNT")?,
                )?,
                register_per_ip: parse_rate(
                    "RATE_LIMIT_REGISTER_PER_IP",
                    &required("RATE_LIMIT_REGISTER_PER_IP")?,
                )?,
                upload_per_ip: parse_rate(
                    "RATE_LIMIT_UPLOAD_PER_IP",
                    &required("RATE_LIMIT_UPLOAD_PER_IP")?,
                )?,
            },
            trusted_proxies: comma_list(get("TRUSTED_PROXIES"))
                .iter()
                .map(|entry| parse_network(entry))
                .collect::<Result<_, _>>()?,
            trusted_proxy_header: required("TRUSTED_PROXY_HEADER")?
                .parse()
                .map_err(|problem| invalid("TRUSTED_PROXY_HEADER", problem))?,
            password_reject_common: parse_bool(
                "PASSWORD_REJECT_COMMON",
                &required("PASSWORD_REJECT_COMMON")?,
            )?,
            metrics_token: get("METRICS_TOKEN").filter(|s| !s.is_empty()),
            metrics_addr: get("METRICS_ADDR").filter(|s| !s.is_empty()),
            log_format: required("LOG_FORMAT")?
                .parse()
                .map_err(|problem| invalid("LOG_FORMAT", problem))?,
            app_env,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.jwt_algorithm == JwtAlgorithm::EdDsa && self.jwt_private_key_file.is_none() {
            return Err(invalid(
                "JWT_PRIVATE_KEY_FILE",
                "is required when JWT_ALGORITHM=EdDSA",
            ));
        }
        if self.app_env == "production" && self.jwt_algorithm == JwtAlgorithm::Hs256 {
            match &self.jwt_secret {
                None => return Err(invalid("JWT_SECRET", "is required when APP_ENV=production")),
                Some(secret) if secret.len() < MIN_PRODUCTION_SECRET_BYTES => {
                    return Err(invalid(
                        "JWT_SECRET",
                        format!(
                            "must be at least {MIN_PRODUCTION_SECRET_BYTES} bytes when APP_ENV=production"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if self.database_pool_timeout_secs == 0 {
            return Err(invalid("DATABASE_POOL_TIMEOUT_SECS", "must be at least 1"));
        }
        if self.database_statement_timeout_ms == 0 {
            return Err(invalid(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                "must be at least 1",
            ));
        }
        if self.access_token_ttl_secs == 0 {
            return Err(invalid("ACCESS_TOKEN_TTL_SECS", "must be at least 1"));
        }
        // A session row outlives the access tokens issued from it only if refresh tokens live
        // at least as long; an access token whose session is gone is refused.
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(invalid(
                "REFRESH_TOKEN_TTL_SECS",
                "must be at least ACCESS_TOKEN_TTL_SECS",
            ));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(invalid("BCRYPT_COST", "must be between 4 and 31"));
        }
        if self.max_upload_bytes == 0 {
            return Err(invalid("MAX_UPLOAD_BYTES", "must be at least 1"));
        }
        if self.upload_timeout_secs == 0 {
            return Err(invalid("UPLOAD_TIMEOUT_SECS", "must be at least 1"));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("PUBLIC_URL", "must start with http:// or https://"));
        }
        if self.cors_allowed_origins.is_empty() {
            return Err(invalid(
                "CORS_ALLOWED_ORIGINS",
                "lists no origin (use * for any)",
            ));
        }
        if self.workers == Some(0) {
            return Err(invalid("WORKERS", "must be at least 1"));
        }
        Ok(())
    }

    pub fn database_options(&self) -> crate::db::DatabaseOptions {
        crate::db::DatabaseOptions {
            pool_timeout: std::time::Duration::from_secs(self.database_pool_timeout_secs),
            statement_timeout: std::time::Duration::from_millis(self.database_statement_timeout_ms),
        }
    }

    /// `PUBLIC_URL` without its trailing slash.
    pub fn public_base_url(&self) -> Option<&str> {
        self.public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/'))
    }
}

fn parse_number<T: std::str::FromStr>(variable: &str, value: &str) -> Result<T, SettingsError> {
    value.trim().parse().map_err(|_| {
        invalid(
            variable,
            format!("{value:?} is not a valid number for this setting"),
        )
    })
}

fn parse_bool(variable: &str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(variable, format!("{value:?} is not true or false"))),
    }
}

fn parse_jwt_algorithm(value: &str) -> Result<JwtAlgorithm, SettingsError> {
    match value.trim() {
        "HS256" => Ok(JwtAlgorithm::Hs256),
        "EdDSA" => Ok(JwtAlgorithm::EdDsa),
        other => Err(invalid(
            "JWT_ALGORITHM",
            format!("{other:?} is not HS256 or EdDSA"),
        )),
    }
}

/// The non-empty, trimmed entries of a comma-separated setting.
fn comma_list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn parse_rate(variable: &str, value: &str) -> Result<RateLimit, SettingsError> {
    value.parse().map_err(|problem| invalid(variable, problem))
}

/// An address (`10.0.0.2`) or a block (`10.0.0.0/8`).
fn parse_network(entry: &str) -> Result<IpNet, SettingsError> {
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            invalid(
                "TRUSTED_PROXIES",
                format!("{entry:?} is not an IP address or CIDR block"),
            )
        })
}

fn parse_database_url(url: &str) -> Result<DatabaseUrl, SettingsError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DatabaseUrl::Postgres(url.to_owned()))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid("DATABASE_URL", "sqlite:// needs a file path"));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    } else {
        Err(invalid(
            "DATABASE_URL",
            "unknown scheme; expected postgres://… or sqlite://PATH",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(&env)
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = load(&[]).unwrap();
        assert_eq!(s.database_url, DatabaseUrl::Sqlite("data/auth.db".into()));
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 5000));
        assert_eq!(s.jwt_secret, None);
        assert_eq!(s.access_token_ttl_secs, 3600);
        assert_eq!(s.jwt_algorithm, JwtAlgorithm::Hs256);
        assert_eq!(s.refresh_token_ttl_secs, 30 * 24 * 3600);
        assert_eq!(s.refresh_reuse_interval_secs, 10);
        assert!(s.jwt_previous_key_files.is_empty() && s.jwt_previous_secrets.is_empty());
        assert_eq!(s.bcrypt_cost, 12);
        assert_eq!(s.upload_dir, PathBuf::from("uploads"));
        assert_eq!(s.max_upload_bytes, 5_242_880);
        assert_eq!(s.public_url, None);
        assert_eq!(s.cors_allowed_origins, vec!["*"]);
        assert_eq!(s.shutdown_timeout_secs, 30);
        assert!(s.rate_limit_enabled);
        assert_eq!(s.rate_limits.login_per_ip, "20/1m".parse().unwrap());
        assert_eq!(s.rate_limits.login_per_account, "10/15m".parse().unwrap());
        assert_eq!(s.rate_limits.register_per_ip, "10/1h".parse().unwrap());
        assert_eq!(s.rate_limits.upload_per_ip, "30/1h".parse().unwrap());
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.trusted_proxy_header, ProxyHeader::XForwardedFor);
        assert!(s.password_reject_common);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(
            load(&[("LOG_FORMAT", "JSON")]).unwrap().log_format,
            LogFormat::Json
        );
        assert_eq!(
            load(&[("LOG_FORMAT", "xml")]).unwrap_err().variable,
            "LOG_FORMAT"
        );
    }

    #[test]
    fn rate_limit_settings_are_parsed_and_named_when_bad() {
        let s = load(&[
            ("RATE_LIMIT_ENABLED", "false"),
            ("RATE_LIMIT_LOGIN_PER_IP", "5/30s"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1"),
        ])
        .unwrap();
        assert!(!s.rate_limit_enabled);
        assert_eq!(
            s.rate_limits.login_per_ip,
            RateLimit {
                max: 5,
                period_secs: 30
            }
        );
        assert_eq!(s.trusted_proxies.len(), 3);
        assert_eq!(
            load(&[("RATE_LIMIT_ENABLED", "maybe")])
                .unwrap_err()
                .variable,
            "RATE_LIMIT_ENABLED"
        );
        assert_eq!(
            load(&[("RATE_LIMIT_UPLOAD_PER_IP", "lots")])
                .unwrap_err()
                .variable,
            "RATE_LIMIT_UPLOAD_PER_IP"
        );
        assert_eq!(
            load(&[("TRUSTED_PROXIES", "proxy.local")])
                .unwrap_err()
                .variable,
            "TRUSTED_PROXIES"
        );
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = load(&[
            ("DATABASE_URL", "postgres://u@db/auth"),
            ("PORT", "8080"),
            ("BCRYPT_COST", "4"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            ),
            ("PUBLIC_URL", "https://auth.example/"),
        ])
        .unwrap();
        assert_eq!(
            s.database_url,
            DatabaseUrl::Postgres("postgres://u@db/auth".into())
        );
        assert_eq!(s.port, 8080);
        assert_eq!(s.bcrypt_cost, 4);
        assert_eq!(
            s.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(s.public_base_url(), Some("https://auth.example"));
    }

    #[test]
    fn unparsable_port_names_the_variable() {
        let err = load(&[("PORT", "fivethousand")]).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert_eq!(
            err.to_string(),
            "invalid configuration: PORT: \"fivethousand\" is not a valid number for this setting"
        );
    }

    #[test]
    fn unknown_database_scheme_names_the_variable() {
        let err = load(&[("DATABASE_URL", "mysql://x/y")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }

    #[test]
    fn production_requires_a_long_secret() {
        let err = load(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: JWT_SECRET: is required when APP_ENV=production"
        );
        let err = load(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET");
        let long = "x".repeat(32);
        assert!(load(&[("APP_ENV", "production"), ("JWT_SECRET", &long)]).is_ok());
    }

    #[test]
    fn eddsa_needs_a_key_file_and_no_secret_in_production() {
        let err = load(&[("JWT_ALGORITHM", "EdDSA")]).unwrap_err();
        assert_eq!(err.variable, "JWT_PRIVATE_KEY_FILE");
        let s = load(&[
            ("APP_ENV", "production"),
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_FILE", "/run/secrets/jwt.pem"),
            ("JWT_PREVIOUS_KEY_FILES", "/a.pem, /b.pem"),
            ("JWT_PREVIOUS_SECRETS", "old-secret"),
        ])
        .unwrap();
        assert_eq!(s.jwt_previous_key_files.len(), 2);
        assert_eq!(s.jwt_previous_secrets, vec!["old-secret"]);
        assert_eq!(
            load(&[("JWT_ALGORITHM", "RS256")]).unwrap_err().variable,
            "JWT_ALGORITHM"
        );
    }

    #[test]
    fn refresh_tokens_cannot_die_before_access_tokens() {
        let err = load(&[("REFRESH_TOKEN_TTL_SECS", "60")]).unwrap_err();
        assert_eq!(err.variable, "REFRESH_TOKEN_TTL_SECS");
    }

    #[test]
    fn bcrypt_cost_out_of_range_is_refused() {
        assert_eq!(
            load(&[("BCRYPT_COST", "3")]).unwrap_err().variable,
            "BCRYPT_COST"
        );
        assert_eq!(
            load(&[("BCRYPT_COST", "32")]).unwrap_err().variable,
            "BCRYPT_COST"
        );
    }
}
