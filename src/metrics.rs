//! Prometheus metrics of one running service (`GET /metrics`): requests by route pattern,
//! method and status with their latency, the outcomes of logins, registrations, refreshes and
//! uploads, and the state of the bcrypt, picture and database pools. Each application has its own
//! registry, so tests running several in one process count separately.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use prometheus::{
    Counter, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder, core::Collector,
};

use crate::{
    cpu_pool::{CpuPool, JobStats},
    db::PoolStats,
};

/// The route label of a request no route matched: scanning random paths adds one series, not
/// one per path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method label: the methods of RFC 9110 by name, any other (a client may send any token
/// as a method) as `other`, so made-up methods cannot grow the series without bound.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub logins: IntCounterVec,
    pub registrations: IntCounterVec,
    pub refreshes: IntCounterVec,
    /// Wrong codes, by the event that checked them.
    pub code_failures: IntCounterVec,
    pub uploads: IntCounter,
    pub upload_bytes: IntCounter,
    pub mail_outbox_pending: IntGauge,
    pub mail_sent: IntCounter,
    pub mail_failed: IntCounterVec,
    /// Authenticated requests by where their user came from: `hit` (the session cache),
    /// `miss` (the database, then cached), `bypass` (the database: the cache is off or not
    /// trusted now).
    pub session_cache_lookups: IntCounterVec,
    session_cache_entries: IntGauge,
    session_cache_trusted: IntGauge,
    pub webhook_backlog: IntGauge,
    /// Tries, by what the endpoint answered.
    pub webhook_attempts: IntCounterVec,
    /// Deliveries given up on, by why.
    pub webhook_failures: IntCounterVec,
    bcrypt: CpuPoolSeries,
    images: CpuPoolSeries,
    db_connections: IntGauge,
    db_idle: IntGauge,
    db_checkouts: IntCounter,
    db_wait_seconds: Counter,
    /// The pools keep their own totals; a scrape copies them in, one scrape at a time.
    render: Mutex<()>,
}

/// What the pools report at scrape time.
pub struct PoolReadings<'a> {
    pub bcrypt: &'a CpuPool,
    pub images: &'a CpuPool,
    pub db_connections: u32,
    pub db_idle: u32,
    pub db: &'a PoolStats,
    /// Users cached and whether the cache is trusted, if there is one.
    pub session_cache: Option<(u64, bool)>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let counter = |name: &str, help: &str| registered(&registry, IntCounter::new(name, help));
        let seconds = |name: &str, help: &str| registered(&registry, Counter::new(name, help));
        let gauge = |name: &str, help: &str| registered(&registry, IntGauge::new(name, help));
        let latency = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "Time from request to response head, by route pattern",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]),
                &["route"],
            ),
        );
        Metrics {
            requests: counter_vec(
                "http_requests_total",
                "Requests by route pattern, method and status",
                &["route", "method", "status"],
            ),
            latency,
            logins: counter_vec(
                "auth_logins_total",
                "Login attempts by outcome (ok, bad_credentials, throttled)",
                &["outcome"],
            ),
            registrations: counter_vec(
                "auth_registrations_total",
                "Registrations by outcome (ok, email_taken, throttled)",
                &["outcome"],
            ),
            refreshes: counter_vec(
                "auth_refreshes_total",
                "Refresh token uses by outcome (rotated, reused, expired, invalid)",
                &["outcome"],
            ),
            code_failures: counter_vec(
                "auth_code_failures_total",
                "Wrong codes by purpose (password_reset, email_verification, email_change, mfa_enable, mfa_login, mfa_disable)",
                &["purpose"],
            ),
            uploads: counter("auth_uploads_total", "Profile pictures stored"),
            upload_bytes: counter("auth_upload_bytes_total", "Bytes of profile pictures stored"),
            mail_outbox_pending: gauge(
                "mail_outbox_pending",
                "Messages in the outbox neither delivered nor given up on",
            ),
            mail_sent: counter("mail_sent_total", "Messages delivered (to SMTP or to a file)"),
            mail_failed: counter_vec(
                "mail_failed_total",
                "Messages given up on, by reason (rejected, invalid, and after a day: timeout, deferred, unreachable, file)",
                &["reason"],
            ),
            session_cache_lookups: counter_vec(
                "session_cache_lookups_total",
                "Authenticated requests by where the user and session came from (hit: this replica's session cache; miss: the database, then cached; bypass: the database, the cache being off or not trusted while its change feed is down)",
                &["result"],
            ),
            session_cache_entries: gauge("session_cache_entries", "Users in the session cache"),
            session_cache_trusted: gauge(
                "session_cache_trusted",
                "1 while the session cache hears every change (its LISTEN connection is up), else 0",
            ),
            webhook_backlog: gauge(
                "webhook_backlog",
                "Webhook deliveries neither delivered nor given up on (of every replica)",
            ),
            webhook_attempts: counter_vec(
                "webhook_attempts_total",
                "Webhook delivery tries by answer (2xx, 3xx, 4xx, 5xx, none: no answer within the timeout, no connection, or a refused address)",
                &["answer"],
            ),
            webhook_failures: counter_vec(
                "webhook_failures_total",
                "Webhook deliveries given up on, by reason (retries_exhausted, gone: the endpoint answered 410, endpoint_disabled)",
                &["reason"],
            ),
            bcrypt: CpuPoolSeries::new(&registry, "bcrypt", "bcrypt hashes and verifications"),
            images: CpuPoolSeries::new(&registry, "image", "picture decodings and re-encodings"),
            db_connections: gauge("db_pool_connections", "Open database connections"),
            db_idle: gauge("db_pool_idle_connections", "Idle database connections"),
            db_checkouts: counter("db_pool_checkouts_total", "Database connections handed out"),
            db_wait_seconds: seconds(
                "db_pool_wait_seconds_total",
                "Time requests waited for a database connection",
            ),
            render: Mutex::new(()),
            registry,
        }
    }

    /// Counts one answered request under its route pattern (`/uploads/{filename}`).
    pub fn observe_request(&self, route: &str, method: &str, status: &str, elapsed: Duration) {
        self.requests.with_label_values(&[route, method, status]).inc();
        self.latency.with_label_values(&[route]).observe(elapsed.as_secs_f64());
    }

    /// The text exposition format, with the pools' readings of this moment.
    pub fn render(&self, pools: PoolReadings) -> String {
        let _one_at_a_time = self.render.lock().unwrap_or_else(|e| e.into_inner());
        let total = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let secs = |nanos: &AtomicU64| total(nanos) as f64 / 1e9;
        self.bcrypt.set(pools.bcrypt);
        self.images.set(pools.images);
        self.db_connections.set(i64::from(pools.db_connections));
        self.db_idle.set(i64::from(pools.db_idle));
        if let Some((entries, trusted)) = pools.session_cache {
            self.session_cache_entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
            self.session_cache_trusted.set(i64::from(trusted));
        }
        set_counter(&self.db_checkouts, total(&pools.db.checkouts));
        set_seconds(&self.db_wait_seconds, secs(&pools.db.wait_nanos));
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("the text format encodes any metric");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

/// The series of one `CpuPool`, named `<prefix>_…`.
struct CpuPoolSeries {
    queue: IntGauge,
    jobs: IntCounter,
    wait_seconds: Counter,
    seconds: Counter,
    shed: IntCounterVec,
}

impl CpuPoolSeries {
    fn new(registry: &Registry, prefix: &str, jobs: &str) -> Self {
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        CpuPoolSeries {
            queue: registered(
                registry,
                IntGauge::new(
                    name("queue_depth"),
                    format!("{jobs} submitted and not finished (running or waiting for a thread)"),
                ),
            ),
            jobs: registered(registry, IntCounter::new(name("jobs_total"), format!("{jobs} done"))),
            wait_seconds: registered(
                registry,
                Counter::new(
                    name("wait_seconds_total"),
                    format!("Time {jobs} waited for a thread"),
                ),
            ),
            seconds: registered(
                registry,
                Counter::new(name("seconds_total"), format!("Time {prefix} threads spent working")),
            ),
            shed: registered(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        name("jobs_shed_total"),
                        format!("{jobs} not run: queue full, caller gone, waited too long"),
                    ),
                    &["reason"],
                ),
            ),
        }
    }

    fn set(&self, pool: &CpuPool) {
        let stats: &JobStats = pool.stats();
        self.queue.set(pool.in_flight() as i64);
        set_counter(&self.jobs, stats.jobs.load(Ordering::Relaxed));
        set_seconds(&self.wait_seconds, stats.wait_nanos.load(Ordering::Relaxed) as f64 / 1e9);
        set_seconds(&self.seconds, stats.work_nanos.load(Ordering::Relaxed) as f64 / 1e9);
        for (reason, shed) in [
            ("queue_full", &stats.refused_full),
            ("caller_gone", &stats.skipped_abandoned),
            ("waited_too_long", &stats.dropped_late),
        ] {
            set_counter(&self.shed.with_label_values(&[reason]), shed.load(Ordering::Relaxed));
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// `metric`, registered. Names and help texts are constants here: an invalid or repeated one is
/// a bug, not a runtime condition.
fn registered<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique metric");
    metric
}

/// A counter whose total the pool keeps (monotonic since start), copied in at scrape time.
fn set_counter(counter: &IntCounter, total: u64) {
    counter.reset();
    counter.inc_by(total);
}

fn set_seconds(counter: &Counter, total: f64) {
    counter.reset();
    counter.inc_by(total);
}

/// Counts every request under the route pattern it matched, once the response head is ready.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let request = response.request();
        let route = request.match_pattern();
        metrics.observe_request(
            route.as_deref().unwrap_or(UNMATCHED_ROUTE),
            method_label(request.method()),
            response.status().as_str(),
            started.elapsed(),
        );
    }
    Ok(response)
}
