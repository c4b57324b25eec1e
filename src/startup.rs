//! Builds the application from `Settings`: used by `main.rs` and, on port 0, by the tests.

use std::{net::TcpListener, path::PathBuf};

use actix_cors::Cors;
use actix_web::{
    App, HttpMessage, HttpServer, ResponseError,
    body::MessageBody,
    dev::{Server, ServiceResponse},
    http::header,
    middleware::{ErrorHandlerResponse, ErrorHandlers, Logger, from_fn},
    web,
};

use crate::{
    auth::{
        bcrypt_pool::BcryptPool,
        keys::{KeyError, SigningKey, SigningKeySource, VerifyingKey},
        password::Passwords,
        token::TokenKeys,
    },
    db::{self, Pool},
    error::ApiError,
    metrics::{self, Metrics},
    request_id::{self, RequestId},
    routes,
    settings::{JwtAlgorithm, Settings},
    throttle::{Throttle, TrustedProxies},
};

/// JSON bodies are small (three strings at most); anything larger is refused early.
const JSON_BODY_LIMIT: usize = 16 * 1024;
const GENERATED_SECRET_BYTES: usize = 32;

/// What every handler shares.
pub struct AppState {
    pub pool: Pool,
    pub tokens: TokenKeys,
    pub refresh_token_ttl: chrono::Duration,
    pub refresh_reuse_interval: chrono::Duration,
    pub passwords: Passwords,
    pub upload_dir: PathBuf,
    pub max_upload_bytes: u64,
    pub upload_timeout: std::time::Duration,
    pub public_base_url: Option<String>,
    pub throttle: Throttle,
    pub trusted_proxies: TrustedProxies,
    pub password_reject_common: bool,
    pub metrics: Metrics,
    /// When set, `GET /metrics` wants `Authorization: Bearer <it>`.
    pub metrics_token: Option<String>,
    /// False when `METRICS_ADDR` is set: the main port then answers `/metrics` with 404.
    pub metrics_on_main_port: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create UPLOAD_DIR {path:?}: {source}")]
    UploadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("DATABASE_URL: {0}")]
    Database(#[from] db::BuildPoolError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot start the bcrypt threads: {0}")]
    Threads(std::io::Error),
    #[error("cannot make a random JWT secret: {0}")]
    Random(getrandom::Error),
    #[error("{0}")]
    Keys(#[from] KeyError),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The `METRICS_ADDR` listener, when metrics are kept off the public port.
    metrics: Option<(u16, Server)>,
}

/// Marks the `METRICS_ADDR` listener's application, the only one that serves `/metrics` when
/// that address is set.
#[derive(Debug, Clone, Copy)]
pub struct MetricsListener;

impl Application {
    /// Opens the database, runs pending migrations, binds `HOST:PORT` and builds the server.
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        // actix-files once served the working directory when its folder was missing.
        std::fs::create_dir_all(&settings.upload_dir).map_err(|source| {
            StartupError::UploadDir {
                path: settings.upload_dir.clone(),
                source,
            }
        })?;
        let pool = db::build_pool(&settings.database_url, &settings.database_options())?;

        let tokens = token_keys(&settings)?;
        let state = web::Data::new(AppState {
            pool,
            tokens,
            refresh_token_ttl: seconds(settings.refresh_token_ttl_secs),
            refresh_reuse_interval: seconds(settings.refresh_reuse_interval_secs),
            passwords: Passwords::new(
                settings.bcrypt_cost,
                BcryptPool::per_core().map_err(StartupError::Threads)?,
            ),
            upload_dir: settings.upload_dir.clone(),
            max_upload_bytes: settings.max_upload_bytes,
            upload_timeout: std::time::Duration::from_secs(settings.upload_timeout_secs),
            public_base_url: settings.public_base_url().map(str::to_owned),
            throttle: Throttle::new(
                settings
                    .rate_limit_enabled
                    .then(|| settings.rate_limits.clone()),
            ),
            trusted_proxies: TrustedProxies {
                networks: settings.trusted_proxies.clone(),
                header: settings.trusted_proxy_header,
            },
            password_reject_common: settings.password_reject_common,
            metrics: Metrics::new(),
            metrics_token: settings.metrics_token.clone(),
            metrics_on_main_port: settings.metrics_addr.is_none(),
        });

        let address = format!("{}:{}", settings.host, settings.port);
        let (listener, port) = bind(&address)?;

        let metrics_state = state.clone();
        let origins = settings.cors_allowed_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(ErrorHandlers::new().default_handler(json_error_body))
                .wrap(cors(&origins))
                .wrap(request_logger())
                .wrap(from_fn(metrics::middleware))
                // Outermost: every response carries the id, and the logger inside sees it.
                .wrap(from_fn(request_id::middleware))
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_BODY_LIMIT)
                        .error_handler(|error, _| ApiError::from(error).into()),
                )
                .configure(routes::configure)
                .default_service(web::to(|| async { ApiError::NotFound.error_response() }))
        });
        // On a stop signal the server stops accepting, lets in-flight requests finish for this
        // long, then drops them (an unfinished upload's temporary file goes with its handler).
        server = server
            .shutdown_signal(stop_signal())
            .shutdown_timeout(settings.shutdown_timeout_secs);
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| listen_error(&address, source))?
            .run();
        let metrics = match &settings.metrics_addr {
            Some(address) => Some(metrics_server(
                address,
                metrics_state,
                settings.shutdown_timeout_secs,
            )?),
            None => None,
        };
        Ok(Application {
            port,
            server,
            metrics,
        })
    }

    /// The bound port (the one the OS chose when `PORT` is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `METRICS_ADDR` listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((_, metrics)) => futures_util::future::try_join(self.server, metrics)
                .await
                .map(drop),
            None => self.server.await,
        }
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
            .default_service(web::to(|| async { ApiError::NotFound.error_response() }))
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
    let port = listener
        .local_addr()
        .map_err(|source| listen_error(address, source))?
        .port();
    Ok((listener, port))
}

fn listen_error(address: &str, source: std::io::Error) -> StartupError {
    StartupError::Listen {
        address: address.to_owned(),
        source,
    }
}

/// The current signing key and the previous keys still accepted.
fn token_keys(settings: &Settings) -> Result<TokenKeys, StartupError> {
    let source = match (settings.jwt_algorithm, &settings.jwt_private_key_file) {
        (JwtAlgorithm::EdDsa, Some(path)) => SigningKeySource::Ed25519PrivateKeyFile(path.clone()),
        _ => SigningKeySource::Secret(match &settings.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                log::warn!(
                    "JWT_SECRET is not set: using a random secret; tokens stop working when \
                     this process exits and are not accepted by other replicas"
                );
                let mut secret = vec![0; GENERATED_SECRET_BYTES];
                getrandom::fill(&mut secret).map_err(StartupError::Random)?;
                secret
            }
        }),
    };
    let mut previous = settings
        .jwt_previous_key_files
        .iter()
        .map(|path| VerifyingKey::load_ed25519(path))
        .collect::<Result<Vec<_>, _>>()?;
    previous.extend(
        settings
            .jwt_previous_secrets
            .iter()
            .map(|secret| VerifyingKey::from_secret(secret.as_bytes())),
    );
    Ok(TokenKeys::new(
        SigningKey::load(&source)?,
        previous,
        settings.access_token_ttl_secs,
    )?)
}

fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(secs.try_into().unwrap_or(i64::MAX))
}

/// SIGTERM (`docker stop`) or SIGINT (Ctrl-C). actix's own handlers treat SIGINT as a forced
/// stop that drops in-flight requests; here both stop gracefully.
async fn stop_signal() {
    use futures_util::future::{Either, select};
    use tokio::signal::unix::{SignalKind, signal};

    let (mut terminate, mut interrupt) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
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
    // Tokens travel in the Authorization header, never in cookies, so no credentials mode.
    let cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .max_age(3600);
    if origins.iter().any(|origin| origin == "*") {
        cors.allow_any_origin().send_wildcard()
    } else {
        origins
            .iter()
            .fold(cors, |cors, origin| cors.allowed_origin(origin))
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
            req.extensions()
                .get::<RequestId>()
                .map(|id| id.0.clone())
                .unwrap_or_default()
        })
}

/// Gives framework errors that carry no JSON body (unknown method, payload limits, extractor
/// failures) the contract's error shape.
fn json_error_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, response) = res.into_parts();
    let replacement = ApiError::from_status(response.status()).error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, replacement).map_into_right_body(),
    ))
}
