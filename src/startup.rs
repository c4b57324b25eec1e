//! Builds the application from `Settings`: used by `main.rs` and, on port 0, by the tests.

use std::{net::TcpListener, path::PathBuf, sync::Arc};

use tokio::sync::Notify;

use actix_cors::Cors;
use actix_web::{
    App, HttpMessage, HttpServer,
    dev::Server,
    http::{Method, header},
    middleware::{DefaultHeaders, ErrorHandlers, Logger, from_fn},
    web,
};

use crate::{
    account::{passkeys, second_factor},
    auth::{keys, password::Passwords, password_policy::PasswordPolicy, token::TokenKeys},
    cpu_pool::{self, CpuPool, QueueLimits},
    db::{self, cache_listener, sessions::SessionRules},
    error::{self, ApiError},
    federation::Providers,
    mail::{
        delivery::Delivery,
        templates::{TemplateError, Templates},
        transport::{MailTransport, Transport},
    },
    metrics::{self, Metrics},
    request_body::{self, BodyDeadline},
    request_id::{self, RequestId},
    routes::{self, metrics::MetricsListener},
    settings::Settings,
    state::{AppState, FederationRules, MailRules, MetricsAccess, UploadRules},
    sweeper::Sweeper,
    uploads::{
        bucket::{self, Bucket, BucketError},
        receive,
        storage::{PictureStorage, StorageSettings},
    },
    webhooks::delivery::WebhookWorker,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create UPLOAD_DIR {path:?}: {source}")]
    UploadDir { path: PathBuf, source: std::io::Error },
    #[error("DATABASE_URL: {0}")]
    Database(#[from] db::BuildPoolError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("cannot start the bcrypt threads: {0}")]
    Threads(std::io::Error),
    #[error("cannot hash with BCRYPT_COST: {0}")]
    Bcrypt(bcrypt::BcryptError),
    #[error("{0}")]
    Keys(#[from] keys::KeyError),
    #[error("{0}")]
    Templates(#[from] TemplateError),
    #[error("{variable}: {problem}")]
    Mail { variable: &'static str, problem: String },
    #[error("MFA_ENCRYPTION_KEY: {0}")]
    MfaKey(String),
    #[error("STORAGE=s3: {0}")]
    Storage(#[from] BucketError),
    #[error("OIDC_PROVIDERS: cannot build the HTTP client: {0}")]
    Federation(reqwest::Error),
}

pub struct Application {
    port: u16,
    state: web::Data<AppState>,
    server: Server,
    delivery: Delivery,
    webhooks: WebhookWorker,
    /// The `METRICS_ADDR` listener, when metrics are kept off the public port.
    metrics: Option<(u16, Server)>,
}

impl Application {
    /// Opens the database, runs pending migrations, binds `HOST:PORT` and builds the server.
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        bucket::install_tls_provider();
        let state = web::Data::new(app_state(&settings)?);
        sweep_abandoned_uploads(&settings)?;
        let delivery = delivery(&settings, &state)?;
        let metrics = web::Data::from(Arc::clone(&state.metrics));
        let proxies = web::Data::new(settings.trusted_proxies.clone());
        let body_deadline =
            BodyDeadline(std::time::Duration::from_secs(settings.server.request_body_timeout_secs));

        let server_settings = &settings.server;
        let address = format!("{}:{}", server_settings.host, server_settings.port);
        let (listener, port) = bind(&address)?;
        let origins = server_settings.cors_allowed_origins.clone();
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(body_deadline)
                .wrap(ErrorHandlers::new().default_handler(error::json_error_body))
                // Outside the error handler, so its replacement bodies get the header too.
                .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
                .wrap(cors(&origins))
                .wrap(request_logger())
                .wrap(from_fn(metrics::middleware))
                // Outermost: every response carries the id, and the logger inside sees it.
                .wrap(from_fn(request_id::middleware))
                .app_data(app_state.clone())
                .app_data(metrics.clone())
                .app_data(proxies.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(request_body::MAX_BYTES)
                        .error_handler(|error, _| ApiError::from(error).into()),
                )
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|_, _| ApiError::MalformedQuery.into()),
                )
                .configure(routes::configure)
                .default_service(web::to(error::not_found))
        });
        // On a stop signal the server stops accepting, lets in-flight requests finish for this
        // long, then drops them (an unfinished upload's temporary file goes with its handler).
        let shutdown_timeout_secs = server_settings.shutdown_timeout_secs;
        server = server.shutdown_signal(stop_signal()).shutdown_timeout(shutdown_timeout_secs);
        if let Some(workers) = server_settings.workers {
            server = server.workers(workers);
        }
        let server =
            server.listen(listener).map_err(|source| listen_error(&address, source))?.run();
        let metrics = match &settings.metrics.addr {
            Some(address) => Some(metrics_server(address, state.clone(), shutdown_timeout_secs)?),
            None => None,
        };
        let webhooks = WebhookWorker {
            db: state.db.clone(),
            settings: settings.webhooks.clone(),
            metrics: Arc::clone(&state.metrics),
        };
        Ok(Application { port, state, server, delivery, webhooks, metrics })
    }

    /// What every request shares (the tests reach the pools through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The bound port (the one the OS chose when `PORT` is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `METRICS_ADDR` listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until a stop signal; the mail delivery worker runs alongside and stops with
    /// the server (a message it was sending is sent again by the next start or another
    /// replica once its lease ends).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let delivery = tokio::spawn(self.delivery.run());
        let webhooks = tokio::spawn(self.webhooks.run());
        let cache_listener = cache_listener::start(&self.state.db)?;
        let sweeper = tokio::spawn(Sweeper { state: self.state.clone() }.run());
        let served = match self.metrics {
            Some((_, metrics)) => {
                futures_util::future::try_join(self.server, metrics).await.map(drop)
            }
            None => self.server.await,
        };
        delivery.abort();
        webhooks.abort();
        sweeper.abort();
        if let Some(cache_listener) = cache_listener {
            cache_listener.abort();
        }
        served
    }
}

/// A listener of its own for `GET /metrics`, on an address that need not be public (one
/// worker: a scrape every few seconds is all it serves).
fn metrics_server(
    address: &str,
    state: web::Data<AppState>,
    shutdown_timeout_secs: u64,
) -> Result<(u16, Server), StartupError> {
    let (listener, port) = bind(address)?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::Data::new(MetricsListener))
            .service(web::resource("/metrics").route(web::get().to(routes::metrics::metrics)))
            .default_service(web::to(error::not_found))
    })
    .workers(1)
    .shutdown_signal(stop_signal())
    .shutdown_timeout(shutdown_timeout_secs)
    .listen(listener)
    .map_err(|source| listen_error(address, source))?
    .run();
    Ok((port, server))
}

/// A listener on `address` and the port it got (the one the OS chose for port 0).
fn bind(address: &str) -> Result<(TcpListener, u16), StartupError> {
    let listener = TcpListener::bind(address).map_err(|source| listen_error(address, source))?;
    let port = listener.local_addr().map_err(|source| listen_error(address, source))?.port();
    Ok((listener, port))
}

fn listen_error(address: &str, source: std::io::Error) -> StartupError {
    StartupError::Listen { address: address.to_owned(), source }
}

/// The state a command run beside the server works with (`auth-service admin …`): the
/// server's, with no listener, no delivery worker and no sweep (the server's own).
pub fn command_state(settings: &Settings) -> Result<web::Data<AppState>, StartupError> {
    bucket::install_tls_provider();
    Ok(web::Data::new(app_state(settings)?))
}

/// Temporary files of uploads a crash cut off: older than twice the longest an upload may
/// stream, plus its re-encoding.
fn sweep_abandoned_uploads(settings: &Settings) -> Result<(), StartupError> {
    let uploads = &settings.uploads;
    let folder_error = |source| StartupError::UploadDir { path: uploads.dir.clone(), source };
    let idle = std::time::Duration::from_secs(uploads.timeout_secs.saturating_mul(2).max(60));
    let swept = receive::sweep_abandoned(&uploads.dir, idle).map_err(folder_error)?;
    if swept > 0 {
        log::info!("removed {swept} temporary files of uploads cut off by a crash");
    }
    Ok(())
}

/// The shared state, from the settings: the database pool (migrated when the database
/// answers), the keys, the bcrypt and picture threads, and the upload folder (created).
fn app_state(settings: &Settings) -> Result<AppState, StartupError> {
    let uploads = &settings.uploads;
    // actix-files once served the working directory when its folder was missing.
    let folder_error = |source| StartupError::UploadDir { path: uploads.dir.clone(), source };
    std::fs::create_dir_all(&uploads.dir).map_err(folder_error)?;
    let tokens = &settings.tokens;
    let db = db::build_pool(&settings.database.url, &settings.database.options())?;
    Ok(AppState {
        tokens: TokenKeys::load(tokens)?,
        sessions: SessionRules {
            refresh_token_ttl: seconds(tokens.refresh_token_ttl_secs),
            refresh_reuse_interval: seconds(tokens.refresh_reuse_interval_secs),
            max_lifetime: seconds(tokens.session_max_lifetime_secs),
        },
        passwords: Passwords::new(
            settings.passwords.bcrypt_cost,
            CpuPool::per_core(
                "bcrypt",
                QueueLimits {
                    capacity: settings.passwords.bcrypt_queue_capacity,
                    max_wait: std::time::Duration::from_millis(
                        settings.passwords.bcrypt_max_wait_ms,
                    ),
                },
            )
            .map_err(StartupError::Threads)?,
        )
        .map_err(StartupError::Bcrypt)?,
        password_policy: PasswordPolicy { reject_common: settings.passwords.reject_common },
        uploads: UploadRules {
            dir: uploads.dir.clone(),
            storage: match &settings.storage {
                StorageSettings::Fs => PictureStorage::Disk(uploads.dir.clone()),
                StorageSettings::S3(s3) => PictureStorage::Bucket(Bucket::new(s3)?),
            },
            max_bytes: uploads.max_bytes,
            timeout: std::time::Duration::from_secs(uploads.timeout_secs),
            public_base_url: settings.server.public_base_url().map(str::to_owned),
            images: CpuPool::new(
                "image",
                uploads.image_threads.unwrap_or_else(cpu_pool::cores),
                QueueLimits {
                    capacity: uploads.image_queue_capacity,
                    max_wait: std::time::Duration::from_millis(uploads.image_max_wait_ms),
                },
            )
            .map_err(StartupError::Threads)?,
        },
        mail: MailRules {
            templates: Templates::load(settings.mail.template_dir.as_deref())?,
            wake: Arc::new(Notify::new()),
            app_url: settings.mail.app_url.clone().unwrap_or_else(|| {
                format!("http://{}:{}", settings.server.host, settings.server.port)
            }),
            code_ttl: seconds(settings.mail.code_ttl_secs),
            code_max_tries: i32::try_from(settings.mail.code_max_tries).unwrap_or(i32::MAX),
            require_verification: settings.mail.require_verification,
            passwordless: settings.mail.passwordless,
        },
        successor_key: tokio::sync::OnceCell::new(),
        mfa: second_factor::rules(settings, &db, seconds(settings.mfa.challenge_ttl_secs))
            .map_err(StartupError::MfaKey)?,
        passkeys: passkeys::rules(&settings.passkeys),
        webhooks: settings.webhooks.clone(),
        federation: Arc::new(FederationRules {
            providers: Providers::new(&settings.federation).map_err(StartupError::Federation)?,
            redirect_allowlist: settings.federation.redirect_allowlist.clone(),
            public_base_url: settings.federation.public_base_url.clone(),
            flow_ttl: seconds(settings.federation.flow_ttl_secs),
        }),
        db,
        rate_limits: settings.rate_limits.clone(),
        metrics: Arc::new(Metrics::new()),
        metrics_access: MetricsAccess {
            token: settings.metrics.token.clone(),
            on_main_port: settings.metrics.addr.is_none(),
        },
    })
}

/// The delivery worker, with the transport the settings name.
fn delivery(settings: &Settings, state: &AppState) -> Result<Delivery, StartupError> {
    let mail = &settings.mail;
    let transport = match (&mail.transport, &mail.smtp_url) {
        (MailTransport::Smtp, Some(url)) => Transport::smtp(url).map_err(|error| {
            StartupError::Mail { variable: "SMTP_URL", problem: error.to_string() }
        })?,
        _ => Transport::file(&mail.dir).map_err(|error| StartupError::Mail {
            variable: "MAIL_DIR",
            problem: format!("cannot create {:?}: {error}", mail.dir),
        })?,
    };
    let from = mail.from.parse().map_err(|error: lettre::address::AddressError| {
        StartupError::Mail { variable: "MAIL_FROM", problem: error.to_string() }
    })?;
    Ok(Delivery {
        db: state.db.clone(),
        transport,
        from,
        metrics: Arc::clone(&state.metrics),
        wake: Arc::clone(&state.mail.wake),
        first_retry: std::time::Duration::from_millis(mail.retry_first_ms),
    })
}

fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(secs.try_into().unwrap_or(i64::MAX))
}

/// SIGTERM (`docker stop`) or SIGINT (Ctrl-C). actix's own handlers treat SIGINT as a forced
/// stop that drops in-flight requests; here both stop gracefully.
async fn stop_signal() {
    use futures_util::future::{Either, select};
    use tokio::signal::unix::{SignalKind, signal};

    let (mut terminate, mut interrupt) =
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
            (Err(error), _) | (_, Err(error)) => {
                log::error!("cannot listen for SIGTERM/SIGINT: {error}");
                return std::future::pending().await;
            }
        };
    let name = match select(Box::pin(terminate.recv()), Box::pin(interrupt.recv())).await {
        Either::Left(_) => "SIGTERM",
        Either::Right(_) => "SIGINT",
    };
    log::info!("{name} received: finishing in-flight requests, then stopping");
}

fn cors(origins: &[String]) -> Cors {
    // Tokens travel in the Authorization header, never in cookies, so no credentials mode. Only
    // what the API uses is allowed; a client reads Retry-After on a 429 and the request id.
    let cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER, request_id::HEADER])
        .max_age(3600);
    if origins.iter().any(|origin| origin == "*") {
        cors.allow_any_origin().send_wildcard()
    } else {
        origins.iter().fold(cors, |cors, origin| cors.allowed_origin(origin))
    }
}

/// actix's default format logs the whole request line, query string included; a client that
/// puts a token in the query would have it written to the log. Only the path is logged. The
/// line is written after the response, outside the request's task, so it names the request id
/// itself.
fn request_logger() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms request_id=%{request_id}xi"#)
        .custom_request_replace("method", |req| req.method().to_string())
        .custom_request_replace("request_id", |req| {
            req.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default()
        })
}
