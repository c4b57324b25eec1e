//! One typed `Settings`, read once at start: `config/default.toml` (compiled in), then
//! `config/{APP_ENV}.toml`, then the environment. A bad value stops the start with an error
//! naming the variable. Each variable is named once, where its field is read.

use std::{collections::HashMap, fmt, path::PathBuf, str::FromStr};

use config::{Config, File, FileFormat};
use ipnet::IpNet;

use crate::{
    client_ip::{ProxyHeader, TrustedProxies},
    db::{DatabaseOptions, DatabaseUrl},
    logging::LogFormat,
    mail::transport::MailTransport,
    throttle::{Limits, RateLimit},
};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// The environments there are: `config/{APP_ENV}.toml` and the production rules follow it.
const APP_ENVS: [&str; 2] = ["development", "production"];
/// OWASP's floor for bcrypt's work factor; lower costs are for tests and development.
const MIN_PRODUCTION_BCRYPT_COST: u32 = 10;

/// bcrypt's own bounds; 4 is for tests only (the default, 12, is the production cost).
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// RFC 8725 §3.5 / OWASP: an HMAC key needs at least as many bytes as the hash output.
pub const MIN_SECRET_BYTES: usize = 32;

/// How access tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with `JWT_SECRET`: only holders of the secret can verify.
    Hs256,
    /// Ed25519 with `JWT_PRIVATE_KEY_FILE`: anyone can verify with the published public key.
    EdDsa,
}

impl FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "HS256" => Ok(JwtAlgorithm::Hs256),
            "EdDSA" => Ok(JwtAlgorithm::EdDsa),
            other => Err(format!("{other:?} is not HS256 or EdDSA")),
        }
    }
}

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
    /// Log lines as readable text or as one JSON object each.
    pub log_format: LogFormat,
}

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
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    /// How long a request waits for a database connection before answering 503.
    pub pool_timeout_secs: u64,
    /// How long one statement may run (PostgreSQL) or wait for a lock (SQLite) before the
    /// request answers 503.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: named prepared statements, cached per connection. Off for a pooler that
    /// does not keep them per client (PgBouncer before 1.21 in transaction mode).
    pub prepared_statements: bool,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub jwt_secret: Option<String>,
    pub jwt_algorithm: JwtAlgorithm,
    /// The Ed25519 private key (PKCS#8 PEM) when `jwt_algorithm` is EdDSA.
    pub jwt_private_key_file: Option<PathBuf>,
    /// Ed25519 keys (private or public PEM) whose tokens are still accepted, never used to sign.
    pub jwt_previous_key_files: Vec<PathBuf>,
    /// HS256 secrets whose tokens are still accepted, never used to sign.
    pub jwt_previous_secrets: Vec<String>,
    /// The `iss` of every access token: `JWT_ISSUER`, else `PUBLIC_URL`, else `auth-service`.
    pub issuer: String,
    /// The `aud` of every access token (`JWT_AUDIENCE`): what verifiers check it is for.
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// How long after a refresh token is spent a second use still gets a successor (a
    /// concurrent request of the same client) instead of ending the session.
    pub refresh_reuse_interval_secs: u64,
    /// From a login on, how long its session may be extended by refreshing.
    pub session_max_lifetime_secs: u64,
}

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub bcrypt_cost: u32,
    /// bcrypt jobs that may wait for a thread; one more is answered 503 at once.
    pub bcrypt_queue_capacity: usize,
    /// How long a bcrypt job may wait for a thread before it is dropped with 503.
    pub bcrypt_max_wait_ms: u64,
    /// Refuse the 10,000 most common passwords at registration and password change.
    pub reject_common: bool,
}

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// How long an upload may take from its first byte to its last (slow clients hold a
    /// connection and a temporary file).
    pub timeout_secs: u64,
    /// Threads pictures are decoded on; unset, one per core.
    pub image_threads: Option<usize>,
    /// Pictures that may wait for a thread; one more is answered 503 at once.
    pub image_queue_capacity: usize,
    /// How long a picture may wait for a thread before it is dropped with 503.
    pub image_max_wait_ms: u64,
}

/// `STORAGE`: the pictures in `UPLOAD_DIR` (`fs`) or in an S3-compatible bucket (`s3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSettings {
    Fs,
    S3(S3Settings),
}

/// The bucket of `STORAGE=s3`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Any S3-compatible server; unset, AWS's endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// Prepended to every object's key (`pictures/` gives `pictures/7_a.png`).
    pub prefix: String,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (most
    /// self-hosted servers want it).
    pub force_path_style: bool,
    /// Unset, the instance's or container's role (AWS's metadata endpoint) is asked.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Where browsers fetch pictures straight from the store or a CDN in front of it:
    /// `profile_pic_url` is this followed by the object's key.
    pub public_url: Option<String>,
}

/// Keys stay out of logs and error messages.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("force_path_style", &self.force_path_style)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Where mail goes, what it says, and the codes it carries.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `SMTP_URL`, in lettre's form (`smtp://user:pass@host:587?tls=required`).
    pub smtp_url: Option<String>,
    /// `smtp` with `SMTP_URL`, else `file` (`.eml` files in `dir`).
    pub transport: MailTransport,
    pub from: String,
    pub dir: PathBuf,
    /// An operator's templates, replacing the built-in ones of the same name.
    pub template_dir: Option<PathBuf>,
    /// The website's base, for the links in messages; `PUBLIC_URL` unless set.
    pub app_url: Option<String>,
    pub code_ttl_secs: u64,
    pub code_max_tries: u32,
    /// The wait before a failed delivery's first retry; each next one doubles it.
    pub retry_first_ms: u64,
    /// Logins of accounts whose address is unverified are refused (403).
    pub require_verification: bool,
}

/// The TOTP second factor.
#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// `MFA_ENCRYPTION_KEY`: 32 bytes, base64, sealing TOTP secrets at rest. Unset outside
    /// production on SQLite, a key file beside the database is made and kept.
    pub encryption_key: Option<String>,
    /// The name authenticator apps show the account under.
    pub issuer: String,
    /// How long the `mfa_token` of a login waiting for its second factor lives.
    pub challenge_ttl_secs: u64,
}

#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// The bearer token `GET /metrics` asks for; unset, it is open.
    pub token: Option<String>,
    /// `HOST:PORT` of a listener of its own for `/metrics`; unset, the main port serves it.
    pub addr: Option<String>,
}

/// A setting that cannot be used, named as the operator sets it.
#[derive(Debug, PartialEq, Eq)]
pub struct SettingsError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for SettingsError {}

fn invalid(variable: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError { variable: variable.to_owned(), problem: problem.into() }
}

/// A type a setting's text is read as, with the problem an operator is told when it is not one.
pub trait Setting: Sized {
    fn parse_setting(value: &str) -> Result<Self, String>;
}

macro_rules! numeric_settings {
    ($($number:ty),*) => {$(
        impl Setting for $number {
            fn parse_setting(value: &str) -> Result<Self, String> {
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{value:?} is not a valid number for this setting"))
            }
        }
    )*};
}
numeric_settings!(u16, u32, u64, usize);

impl Setting for bool {
    fn parse_setting(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{value:?} is not true or false")),
        }
    }
}

impl Setting for String {
    fn parse_setting(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
}

impl Setting for PathBuf {
    fn parse_setting(value: &str) -> Result<Self, String> {
        Ok(PathBuf::from(value))
    }
}

/// An address (`10.0.0.2`) or a block (`10.0.0.0/8`).
impl Setting for IpNet {
    fn parse_setting(entry: &str) -> Result<Self, String> {
        entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))
    }
}

macro_rules! from_str_settings {
    ($($type:ty),*) => {$(
        impl Setting for $type {
            fn parse_setting(value: &str) -> Result<Self, String> {
                value.parse().map_err(|problem| format!("{problem}"))
            }
        }
    )*};
}
from_str_settings!(DatabaseUrl, JwtAlgorithm, LogFormat, MailTransport, ProxyHeader, RateLimit);

/// The secrets, which may also come from a file named by `<NAME>_FILE` (a Docker or Kubernetes
/// secret mounted in the container), as the official postgres image reads its own.
const SECRETS: [&str; 8] = [
    "DATABASE_URL",
    "JWT_SECRET",
    "JWT_PREVIOUS_SECRETS",
    "METRICS_TOKEN",
    "SMTP_URL",
    "MFA_ENCRYPTION_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// The layered sources, read one variable at a time.
struct Source<'a> {
    env: &'a HashMap<String, String>,
    files: Config,
}

impl Source<'_> {
    /// The text of `name`: the environment's (or, for a secret, that of the file its `_FILE`
    /// variable names), else the config files'.
    fn text(&self, name: &str) -> Result<Option<String>, SettingsError> {
        let file_variable = format!("{name}_FILE");
        let from_file = match self.env.get(&file_variable).filter(|_| SECRETS.contains(&name)) {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
                invalid(&file_variable, format!("cannot read {path:?}: {error}"))
            })?),
            None => None,
        };
        match (from_file, self.env.get(name)) {
            (Some(_), Some(_)) => Err(invalid(&file_variable, format!("and {name} are both set"))),
            // A file written by `echo` or an editor ends with a newline that is not the secret's.
            (Some(text), None) => Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned())),
            (None, Some(text)) => Ok(Some(text.clone())),
            (None, None) => Ok(self.files.get_string(&name.to_lowercase()).ok()),
        }
    }

    /// A setting that must be set.
    fn parsed<T: Setting>(&self, name: &str) -> Result<T, SettingsError> {
        let text = self.text(name)?.ok_or_else(|| invalid(name, "is not set"))?;
        T::parse_setting(&text).map_err(|problem| invalid(name, problem))
    }

    /// A setting that may be unset or empty.
    fn optional<T: Setting>(&self, name: &str) -> Result<Option<T>, SettingsError> {
        match self.text(name)?.filter(|text| !text.is_empty()) {
            Some(text) => {
                T::parse_setting(&text).map(Some).map_err(|problem| invalid(name, problem))
            }
            None => Ok(None),
        }
    }

    /// A number that must be set and at least 1 (a timeout, a size, a count).
    fn positive<T: Setting + PartialOrd + From<u8>>(&self, name: &str) -> Result<T, SettingsError> {
        let value = self.parsed(name)?;
        at_least_one(name, value)
    }

    /// A number that may be unset, and is at least 1 when set.
    fn optional_positive<T: Setting + PartialOrd + From<u8>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, SettingsError> {
        self.optional(name)?.map(|value| at_least_one(name, value)).transpose()
    }

    /// A setting that must be set and pass `check`, which names the problem otherwise.
    fn checked<T: Setting>(
        &self,
        name: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, SettingsError> {
        let value = self.parsed(name)?;
        check(&value).map_err(|problem| invalid(name, problem))?;
        Ok(value)
    }

    /// A setting that may be unset or empty, and passes `check` when set.
    fn optional_checked<T: Setting>(
        &self,
        name: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<Option<T>, SettingsError> {
        let value = self.optional(name)?;
        if let Some(value) = &value {
            check(value).map_err(|problem| invalid(name, problem))?;
        }
        Ok(value)
    }

    /// A comma-separated setting: its non-empty, trimmed entries.
    fn list<T: Setting>(&self, name: &str) -> Result<Vec<T>, SettingsError> {
        self.text(name)?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| T::parse_setting(entry).map_err(|problem| invalid(name, problem)))
            .collect()
    }
}

/// `PUBLIC_URL` is the base of absolute URLs.
fn http_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("must start with http:// or https://".into())
    }
}

fn storage_settings(source: &Source) -> Result<StorageSettings, SettingsError> {
    let kind: String = source.parsed("STORAGE")?;
    match kind.trim() {
        "fs" => Ok(StorageSettings::Fs),
        "s3" => {
            let bucket: String = source.parsed("S3_BUCKET")?;
            if bucket.trim().is_empty() {
                return Err(invalid("S3_BUCKET", "is required when STORAGE=s3"));
            }
            let access_key_id = source.optional("AWS_ACCESS_KEY_ID")?;
            let secret_access_key = source.optional("AWS_SECRET_ACCESS_KEY")?;
            if access_key_id.is_some() != secret_access_key.is_some() {
                return Err(invalid(
                    "AWS_SECRET_ACCESS_KEY",
                    "and AWS_ACCESS_KEY_ID must be set together",
                ));
            }
            Ok(StorageSettings::S3(S3Settings {
                bucket,
                endpoint: source.optional_checked("S3_ENDPOINT", |url: &String| http_url(url))?,
                region: source.parsed("S3_REGION")?,
                prefix: source.optional("S3_PREFIX")?.unwrap_or_default(),
                force_path_style: source.parsed("S3_FORCE_PATH_STYLE")?,
                access_key_id,
                secret_access_key,
                public_url: source
                    .optional_checked("S3_PUBLIC_URL", |url: &String| http_url(url))?
                    .map(|url| url.trim_end_matches('/').to_owned()),
            }))
        }
        other => Err(invalid("STORAGE", format!("{other:?} is neither fs nor s3"))),
    }
}

fn bcrypt_cost(cost: &u32) -> Result<(), String> {
    BCRYPT_COSTS.contains(cost).then_some(()).ok_or_else(|| "must be between 4 and 31".into())
}

fn at_least_one<T: PartialOrd + From<u8>>(name: &str, value: T) -> Result<T, SettingsError> {
    if value < T::from(1) {
        return Err(invalid(name, "must be at least 1"));
    }
    Ok(value)
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

        let server = ServerSettings {
            host: source.parsed("HOST")?,
            port: source.parsed("PORT")?,
            workers: source.optional_positive("WORKERS")?,
            shutdown_timeout_secs: source.parsed("SHUTDOWN_TIMEOUT_SECS")?,
            request_body_timeout_secs: source.positive("REQUEST_BODY_TIMEOUT_SECS")?,
            public_url: source.optional_checked("PUBLIC_URL", |url: &String| http_url(url))?,
            cors_allowed_origins: source.list("CORS_ALLOWED_ORIGINS")?,
        };
        // The service's own URL names it best; without one, a fixed name.
        let default_issuer = server.public_base_url().unwrap_or("auth-service").to_owned();
        let settings = Settings {
            database: DatabaseSettings {
                url: source.parsed("DATABASE_URL")?,
                pool_timeout_secs: source.positive("DATABASE_POOL_TIMEOUT_SECS")?,
                statement_timeout_ms: source.positive("DATABASE_STATEMENT_TIMEOUT_MS")?,
                prepared_statements: source.parsed("DATABASE_PREPARED_STATEMENTS")?,
            },
            tokens: TokenSettings {
                jwt_secret: source.optional("JWT_SECRET")?,
                jwt_algorithm: source.parsed("JWT_ALGORITHM")?,
                jwt_private_key_file: source.optional("JWT_PRIVATE_KEY_FILE")?,
                jwt_previous_key_files: source.list("JWT_PREVIOUS_KEY_FILES")?,
                jwt_previous_secrets: source.list("JWT_PREVIOUS_SECRETS")?,
                issuer: source.optional("JWT_ISSUER")?.unwrap_or(default_issuer),
                audience: source.parsed("JWT_AUDIENCE")?,
                access_token_ttl_secs: source.positive("ACCESS_TOKEN_TTL_SECS")?,
                refresh_token_ttl_secs: source.parsed("REFRESH_TOKEN_TTL_SECS")?,
                refresh_reuse_interval_secs: source.parsed("REFRESH_REUSE_INTERVAL_SECS")?,
                session_max_lifetime_secs: source.positive("SESSION_MAX_LIFETIME_SECS")?,
            },
            passwords: PasswordSettings {
                bcrypt_cost: source.checked("BCRYPT_COST", bcrypt_cost)?,
                bcrypt_queue_capacity: source.positive("BCRYPT_QUEUE_CAPACITY")?,
                bcrypt_max_wait_ms: source.positive("BCRYPT_MAX_WAIT_MS")?,
                reject_common: source.parsed("PASSWORD_REJECT_COMMON")?,
            },
            uploads: UploadSettings {
                dir: source.parsed("UPLOAD_DIR")?,
                max_bytes: source.positive("MAX_UPLOAD_BYTES")?,
                timeout_secs: source.positive("UPLOAD_TIMEOUT_SECS")?,
                image_threads: source.optional_positive("IMAGE_THREADS")?,
                image_queue_capacity: source.positive("IMAGE_QUEUE_CAPACITY")?,
                image_max_wait_ms: source.positive("IMAGE_MAX_WAIT_MS")?,
            },
            storage: storage_settings(&source)?,
            rate_limits: Limits {
                enabled: source.parsed("RATE_LIMIT_ENABLED")?,
                login_per_ip: source.parsed("RATE_LIMIT_LOGIN_PER_IP")?,
                login_per_account: source.parsed("RATE_LIMIT_LOGIN_PER_ACCOUNT")?,
                login_per_account_and_ip: source.parsed("RATE_LIMIT_LOGIN_PER_ACCOUNT_AND_IP")?,
                confirm_per_account: source.parsed("RATE_LIMIT_CONFIRM_PER_ACCOUNT")?,
                register_per_ip: source.parsed("RATE_LIMIT_REGISTER_PER_IP")?,
                upload_per_ip: source.parsed("RATE_LIMIT_UPLOAD_PER_IP")?,
                refresh_per_ip: source.parsed("RATE_LIMIT_REFRESH_PER_IP")?,
                mail_per_ip: source.parsed("RATE_LIMIT_MAIL_PER_IP")?,
                mail_per_address: source.parsed("RATE_LIMIT_MAIL_PER_ADDRESS")?,
            },
            trusted_proxies: TrustedProxies {
                networks: source.list("TRUSTED_PROXIES")?,
                header: source.parsed("TRUSTED_PROXY_HEADER")?,
            },
            metrics: MetricsSettings {
                token: source.optional("METRICS_TOKEN")?,
                addr: source.optional("METRICS_ADDR")?,
            },
            mail: {
                let smtp_url: Option<String> = source.optional("SMTP_URL")?;
                let transport =
                    source.optional("MAIL_TRANSPORT")?.unwrap_or(if smtp_url.is_some() {
                        MailTransport::Smtp
                    } else {
                        MailTransport::File
                    });
                if transport == MailTransport::Smtp && smtp_url.is_none() {
                    return Err(invalid("SMTP_URL", "is required when MAIL_TRANSPORT=smtp"));
                }
                MailSettings {
                    smtp_url,
                    transport,
                    from: source.parsed("MAIL_FROM")?,
                    dir: source.parsed("MAIL_DIR")?,
                    template_dir: source.optional("MAIL_TEMPLATE_DIR")?,
                    app_url: source
                        .optional_checked("APP_URL", |url: &String| http_url(url))?
                        .or_else(|| server.public_base_url().map(str::to_owned)),
                    code_ttl_secs: source.positive("EMAIL_CODE_TTL_SECS")?,
                    code_max_tries: source.positive("EMAIL_CODE_MAX_TRIES")?,
                    retry_first_ms: source.positive("MAIL_RETRY_FIRST_MS")?,
                    require_verification: source.parsed("REQUIRE_EMAIL_VERIFICATION")?,
                }
            },
            mfa: MfaSettings {
                // Its form is checked where it is read (startup's `mfa_rules`).
                encryption_key: source.optional("MFA_ENCRYPTION_KEY")?,
                issuer: source.parsed("MFA_ISSUER")?,
                challenge_ttl_secs: source.positive("MFA_CHALLENGE_TTL_SECS")?,
            },
            log_format: source.parsed("LOG_FORMAT")?,
            server,
            app_env,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The rules that tie two settings together (each setting's own rule is checked where it
    /// is read).
    fn validate(&self) -> Result<(), SettingsError> {
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
}

impl Settings {
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
        // Files in a container's folder reach nobody: codes and notices would be lost.
        if self.mail.smtp_url.is_none() || self.mail.transport != MailTransport::Smtp {
            return Err(invalid("SMTP_URL", format!("is required {WHEN}")));
        }
        Ok(())
    }
}

impl DatabaseSettings {
    pub fn options(&self) -> DatabaseOptions {
        DatabaseOptions {
            pool_timeout: std::time::Duration::from_secs(self.pool_timeout_secs),
            statement_timeout: std::time::Duration::from_millis(self.statement_timeout_ms),
            prepared_statements: self.prepared_statements,
        }
    }
}

impl ServerSettings {
    /// `PUBLIC_URL` without its trailing slash.
    pub fn public_base_url(&self) -> Option<&str> {
        self.public_url.as_deref().map(|url| url.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load_from(&env)
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = load(&[]).unwrap();
        assert_eq!(s.database.url, DatabaseUrl::Sqlite("data/auth.db".into()));
        assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 5000));
        assert_eq!(s.tokens.jwt_secret, None);
        assert_eq!(s.tokens.access_token_ttl_secs, 3600);
        assert_eq!(s.tokens.jwt_algorithm, JwtAlgorithm::Hs256);
        assert_eq!(s.tokens.refresh_token_ttl_secs, 30 * 24 * 3600);
        assert_eq!(s.tokens.refresh_reuse_interval_secs, 10);
        assert_eq!(s.tokens.session_max_lifetime_secs, 90 * 24 * 3600);
        assert!(
            s.tokens.jwt_previous_key_files.is_empty() && s.tokens.jwt_previous_secrets.is_empty()
        );
        assert_eq!(s.passwords.bcrypt_cost, 12);
        assert_eq!((s.passwords.bcrypt_queue_capacity, s.passwords.bcrypt_max_wait_ms), (32, 3000));
        assert_eq!(s.uploads.dir, PathBuf::from("uploads"));
        assert_eq!(s.uploads.max_bytes, 5_242_880);
        assert!(s.database.prepared_statements);
        assert_eq!(s.server.public_url, None);
        assert_eq!(s.server.cors_allowed_origins, vec!["*"]);
        assert_eq!(s.server.shutdown_timeout_secs, 30);
        assert_eq!(s.server.request_body_timeout_secs, 5);
        assert!(s.rate_limits.enabled);
        assert_eq!(s.rate_limits.login_per_ip, "20/1m".parse().unwrap());
        assert_eq!(s.rate_limits.login_per_account, "10/15m".parse().unwrap());
        assert_eq!(s.rate_limits.login_per_account_and_ip, "5/15m".parse().unwrap());
        assert_eq!(s.rate_limits.confirm_per_account, "5/15m".parse().unwrap());
        assert_eq!(s.rate_limits.register_per_ip, "10/1h".parse().unwrap());
        assert_eq!(s.rate_limits.upload_per_ip, "30/1h".parse().unwrap());
        assert_eq!(s.rate_limits.refresh_per_ip, "60/1m".parse().unwrap());
        assert!(s.trusted_proxies.networks.is_empty());
        assert_eq!(s.trusted_proxies.header, ProxyHeader::XForwardedFor);
        assert!(s.passwords.reject_common);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(load(&[("LOG_FORMAT", "JSON")]).unwrap().log_format, LogFormat::Json);
        assert_eq!(load(&[("LOG_FORMAT", "xml")]).unwrap_err().variable, "LOG_FORMAT");
    }

    #[test]
    fn rate_limit_settings_are_parsed_and_named_when_bad() {
        let s = load(&[
            ("RATE_LIMIT_ENABLED", "false"),
            ("RATE_LIMIT_LOGIN_PER_IP", "5/30s"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1"),
        ])
        .unwrap();
        assert!(!s.rate_limits.enabled);
        assert_eq!(s.rate_limits.login_per_ip, RateLimit { max: 5, period_secs: 30 });
        assert_eq!(s.trusted_proxies.networks.len(), 3);
        assert_eq!(
            load(&[("RATE_LIMIT_ENABLED", "maybe")]).unwrap_err().variable,
            "RATE_LIMIT_ENABLED"
        );
        assert_eq!(
            load(&[("RATE_LIMIT_UPLOAD_PER_IP", "lots")]).unwrap_err().variable,
            "RATE_LIMIT_UPLOAD_PER_IP"
        );
        assert_eq!(
            load(&[("TRUSTED_PROXIES", "proxy.local")]).unwrap_err().variable,
            "TRUSTED_PROXIES"
        );
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = load(&[
            ("DATABASE_URL", "postgres://u@db/auth"),
            ("PORT", "8080"),
            ("BCRYPT_COST", "4"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example"),
            ("PUBLIC_URL", "https://auth.example/"),
        ])
        .unwrap();
        assert_eq!(s.database.url, DatabaseUrl::Postgres("postgres://u@db/auth".into()));
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.passwords.bcrypt_cost, 4);
        assert_eq!(s.server.cors_allowed_origins, vec!["https://a.example", "https://b.example"]);
        assert_eq!(s.server.public_base_url(), Some("https://auth.example"));
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
        let mut production = PRODUCTION.to_vec();
        production.push(("JWT_SECRET", &long));
        assert!(load(&production).is_ok());
    }

    /// A production configuration that passes every production rule (with a JWT key).
    const PRODUCTION: [(&str, &str); 5] = [
        ("APP_ENV", "production"),
        ("METRICS_ADDR", "10.0.0.5:9100"),
        ("CORS_ALLOWED_ORIGINS", "https://www.example.com"),
        ("PUBLIC_URL", "https://auth.example.com"),
        ("SMTP_URL", "smtps://mailer:secret@smtp.example.com:465"),
    ];

    #[test]
    fn app_env_is_matched_exactly() {
        for app_env in ["Production", "prod", "PRODUCTION", " production", "staging", ""] {
            let error = load(&[("APP_ENV", app_env)]).unwrap_err();
            let expected = format!("{app_env:?} is neither development nor production");
            assert_eq!(error, invalid("APP_ENV", expected));
        }
        assert_eq!(load(&[("APP_ENV", "development")]).unwrap().app_env, "development");
    }

    #[test]
    fn production_refuses_each_unsafe_setting_by_name() {
        let secret = "x".repeat(32);
        let with = |changes: &[(&'static str, &'static str)], without: &str| {
            let mut vars: Vec<(&str, &str)> =
                PRODUCTION.iter().copied().filter(|(name, _)| *name != without).collect();
            vars.push(("JWT_SECRET", secret.as_str()));
            vars.extend_from_slice(changes);
            load(&vars)
        };
        let when = "when APP_ENV=production";
        let metrics = format!("or METRICS_ADDR is required {when} (GET /metrics would be public)");
        let cors = format!("must list the website's origins, not *, {when}");
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, SettingsError);
        let cases: [Case; 7] = [
            (&[], "METRICS_ADDR", invalid("METRICS_TOKEN", metrics)),
            (
                &[("BCRYPT_COST", "9")],
                "",
                invalid("BCRYPT_COST", format!("must be at least 10 {when}")),
            ),
            (
                &[("RATE_LIMIT_ENABLED", "false")],
                "",
                invalid("RATE_LIMIT_ENABLED", format!("must be true {when}")),
            ),
            (
                &[("CORS_ALLOWED_ORIGINS", "https://a.example,*")],
                "CORS_ALLOWED_ORIGINS",
                invalid("CORS_ALLOWED_ORIGINS", cors),
            ),
            (&[], "PUBLIC_URL", invalid("PUBLIC_URL", format!("is required {when}"))),
            (&[], "SMTP_URL", invalid("SMTP_URL", format!("is required {when}"))),
            (&[("MAIL_TRANSPORT", "file")], "", invalid("SMTP_URL", format!("is required {when}"))),
        ];
        for (changes, without, expected) in cases {
            assert_eq!(with(changes, without).unwrap_err(), expected);
        }
        assert!(with(&[("METRICS_TOKEN", "scrape-token")], "METRICS_ADDR").is_ok());
        assert!(with(&[("BCRYPT_COST", "10")], "").is_ok());
    }

    #[test]
    fn eddsa_needs_a_key_file_and_no_secret_in_production() {
        let err = load(&[("JWT_ALGORITHM", "EdDSA")]).unwrap_err();
        assert_eq!(err.variable, "JWT_PRIVATE_KEY_FILE");
        let mut vars = PRODUCTION.to_vec();
        vars.extend([
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_FILE", "/run/secrets/jwt.pem"),
            ("JWT_PREVIOUS_KEY_FILES", "/a.pem, /b.pem"),
        ]);
        let s = load(&vars).unwrap();
        assert_eq!(s.tokens.jwt_previous_key_files.len(), 2);
        // HS256 secrets are for HS256 alone: with EdDSA, a token signed by one is refused.
        let old_secret = "an-old-hs256-secret-of-32-bytes-x";
        vars.push(("JWT_PREVIOUS_SECRETS", old_secret));
        assert_eq!(load(&vars).unwrap_err().variable, "JWT_PREVIOUS_SECRETS");
        assert_eq!(load(&[("JWT_ALGORITHM", "RS256")]).unwrap_err().variable, "JWT_ALGORITHM");
    }

    #[test]
    fn every_hs256_secret_is_long_in_every_mode() {
        let must = "must be at least 32 bytes";
        assert_eq!(load(&[("JWT_SECRET", "short")]).unwrap_err(), invalid("JWT_SECRET", must));
        let long = "x".repeat(32);
        let previous = format!("{long},three");
        assert_eq!(
            load(&[("JWT_SECRET", &long), ("JWT_PREVIOUS_SECRETS", &previous)]).unwrap_err(),
            invalid("JWT_PREVIOUS_SECRETS", format!("{must} each"))
        );
        assert!(load(&[("JWT_SECRET", &long), ("JWT_PREVIOUS_SECRETS", &long)]).is_ok());
    }

    #[test]
    fn tokens_name_their_issuer_and_audience() {
        let s = load(&[]).unwrap();
        assert_eq!(
            (s.tokens.issuer.as_str(), s.tokens.audience.as_str()),
            ("auth-service", "auth-service")
        );
        let s = load(&[("PUBLIC_URL", "https://auth.example.com/")]).unwrap();
        assert_eq!(s.tokens.issuer, "https://auth.example.com");
        let s = load(&[
            ("PUBLIC_URL", "https://a.example"),
            ("JWT_ISSUER", "urn:example:auth"),
            ("JWT_AUDIENCE", "api"),
        ])
        .unwrap();
        assert_eq!(
            (s.tokens.issuer.as_str(), s.tokens.audience.as_str()),
            ("urn:example:auth", "api")
        );
    }

    #[test]
    fn refresh_tokens_cannot_die_before_access_tokens() {
        let err = load(&[("REFRESH_TOKEN_TTL_SECS", "60")]).unwrap_err();
        assert_eq!(err.variable, "REFRESH_TOKEN_TTL_SECS");
    }

    #[test]
    fn each_setting_is_checked_where_it_is_read() {
        for name in [
            "DATABASE_POOL_TIMEOUT_SECS",
            "DATABASE_STATEMENT_TIMEOUT_MS",
            "ACCESS_TOKEN_TTL_SECS",
            "MAX_UPLOAD_BYTES",
            "UPLOAD_TIMEOUT_SECS",
            "IMAGE_THREADS",
            "IMAGE_QUEUE_CAPACITY",
            "IMAGE_MAX_WAIT_MS",
            "WORKERS",
        ] {
            let error = load(&[(name, "0")]).unwrap_err();
            assert_eq!(error, invalid(name, "must be at least 1"));
        }
        assert_eq!(load(&[("WORKERS", "")]).unwrap().server.workers, None);
        assert_eq!(load(&[("WORKERS", "3")]).unwrap().server.workers, Some(3));
        assert_eq!(
            load(&[("PUBLIC_URL", "ftp://files.example")]).unwrap_err(),
            invalid("PUBLIC_URL", "must start with http:// or https://")
        );
        assert_eq!(
            load(&[("CORS_ALLOWED_ORIGINS", " , ")]).unwrap_err().variable,
            "CORS_ALLOWED_ORIGINS"
        );
    }

    #[test]
    fn storage_is_the_folder_unless_a_bucket_is_named() {
        assert_eq!(load(&[]).unwrap().storage, StorageSettings::Fs);
        let s3 = [
            ("STORAGE", "s3"),
            ("S3_BUCKET", "pictures"),
            ("S3_ENDPOINT", "http://127.0.0.1:8333"),
            ("S3_PREFIX", "avatars/"),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("S3_PUBLIC_URL", "https://cdn.example.com/"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        assert_eq!(
            load(&s3).unwrap().storage,
            StorageSettings::S3(S3Settings {
                bucket: "pictures".into(),
                endpoint: Some("http://127.0.0.1:8333".into()),
                region: "us-east-1".into(),
                prefix: "avatars/".into(),
                force_path_style: true,
                access_key_id: Some("id".into()),
                secret_access_key: Some("secret".into()),
                public_url: Some("https://cdn.example.com".into()),
            })
        );
        // The keys never reach a log line.
        let shown = format!("{:?}", load(&s3).unwrap().storage);
        assert!(!shown.contains("secret") && !shown.contains("\"id\""), "{shown}");
        assert_eq!(
            load(&[("STORAGE", "s3")]).unwrap_err(),
            invalid("S3_BUCKET", "is required when STORAGE=s3")
        );
        assert_eq!(
            load(&[("STORAGE", "s3"), ("S3_BUCKET", "b"), ("AWS_ACCESS_KEY_ID", "id")])
                .unwrap_err()
                .variable,
            "AWS_SECRET_ACCESS_KEY"
        );
        assert_eq!(
            load(&[("STORAGE", "gcs")]).unwrap_err(),
            invalid("STORAGE", "\"gcs\" is neither fs nor s3")
        );
        assert_eq!(
            load(&[("STORAGE", "s3"), ("S3_BUCKET", "b"), ("S3_ENDPOINT", "minio:9000")])
                .unwrap_err()
                .variable,
            "S3_ENDPOINT"
        );
    }

    #[test]
    fn secrets_may_come_from_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("jwt_secret");
        std::fs::write(&path, "from-a-file-secret-of-32-bytes-or-more\n").unwrap();
        let path = path.to_str().unwrap();
        let s = load(&[("JWT_SECRET_FILE", path), ("METRICS_TOKEN_FILE", path)]).unwrap();
        assert_eq!(s.tokens.jwt_secret.as_deref(), Some("from-a-file-secret-of-32-bytes-or-more"));
        assert_eq!(s.metrics.token.as_deref(), Some("from-a-file-secret-of-32-bytes-or-more"));
        assert_eq!(
            load(&[("JWT_SECRET_FILE", path), ("JWT_SECRET", "x")]).unwrap_err(),
            invalid("JWT_SECRET_FILE", "and JWT_SECRET are both set")
        );
        let missing = load(&[("JWT_SECRET_FILE", "/nonexistent/secret")]).unwrap_err();
        assert_eq!(missing.variable, "JWT_SECRET_FILE");
        // Only secrets: other variables have no _FILE form.
        assert_eq!(load(&[("PORT_FILE", path)]).unwrap().server.port, 5000);
    }

    #[test]
    fn bcrypt_cost_out_of_range_is_refused() {
        assert_eq!(load(&[("BCRYPT_COST", "3")]).unwrap_err().variable, "BCRYPT_COST");
        assert_eq!(load(&[("BCRYPT_COST", "32")]).unwrap_err().variable, "BCRYPT_COST");
    }
}
