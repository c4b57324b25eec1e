//! `spawn_app`: the real application on port 0 with a database of its own; `replica`: a
//! second application on the same database, as a second replica behind a load balancer.

use std::{collections::HashMap, path::PathBuf};

use auth_service::{
    db::{
        AnyConnection, DatabaseUrl, establish,
        users::{User, find_user_by_email},
    },
    settings::Settings,
    startup::Application,
};
use diesel::{Connection, PgConnection, RunQueryDsl};
use tempfile::TempDir;

use super::{Backend, SmtpServer, TEST_MFA_KEY, TEST_SECRET, files_in};

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_base_url() -> String {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty()).expect(
        "TEST_DATABASE_URL is not set: PostgreSQL tests need a server (scripts/test starts one)",
    )
}

/// How long a change may take to reach another replica's session cache, in these tests: the
/// documented bound (docs/SCALING.md) with room for a busy test machine.
pub const REVOCATION_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

/// How long until `holds` is true, asked every 2 ms for at most `REVOCATION_BOUND`: `None` if
/// it never was.
pub async fn time_until<F: Future<Output = bool>>(
    mut holds: impl FnMut() -> F,
) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < REVOCATION_BOUND {
        if holds().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    None
}

/// A database created for one test and dropped with it.
pub struct PgTestDatabase {
    base_url: String,
    name: String,
}

impl PgTestDatabase {
    pub fn create() -> (Self, String) {
        let (db, url) = Self::not_yet_created();
        db.create_now();
        (db, url)
    }

    /// A fresh name and its URL, for a database that does not exist until `create_now`.
    pub fn not_yet_created() -> (Self, String) {
        let base_url = postgres_base_url();
        let name = format!("auth_test_{}", uuid::Uuid::new_v4().simple());
        let (server, _) = base_url.rsplit_once('/').expect("TEST_DATABASE_URL names a database");
        let url = format!("{server}/{name}");
        (PgTestDatabase { base_url, name }, url)
    }

    pub fn create_now(&self) {
        let mut conn =
            PgConnection::establish(&self.base_url).expect("connect to TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE {}", self.name))
            .execute(&mut conn)
            .expect("create test database");
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.base_url) {
            // FORCE ends the app's pooled connections, which outlive the test body.
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                    .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The `METRICS_ADDR` listener's port, when the test set one.
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    pub database_url: DatabaseUrl,
    pub upload_dir: PathBuf,
    /// The running application's shared state.
    pub state: actix_web::web::Data<auth_service::state::AppState>,
    /// The settings it was built with, for a second start against its database.
    pub settings: Settings,
    /// What it owns and drops with it: its database and its folder (a replica owns neither).
    _pg: Option<PgTestDatabase>,
    _dir: Option<TempDir>,
}

/// Test settings: the contract's defaults, then port 0, a fresh database, a temporary
/// UPLOAD_DIR, the lowest bcrypt cost and a known secret.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    // TEST_LOG=1: the apps' log lines (RUST_LOG filters) on the test's output, to see why.
    static LOGGING: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("TEST_LOG").is_some() {
        LOGGING.call_once(|| auth_service::logging::init(auth_service::logging::LogFormat::Text));
    }
    let dir = TempDir::new().expect("temp dir");
    let (pg, database_url) = match backend {
        Backend::Sqlite => (None, DatabaseUrl::Sqlite(dir.path().join("data/auth.db"))),
        Backend::Postgres => {
            let (db, url) = PgTestDatabase::create();
            (Some(db), DatabaseUrl::Postgres(url))
        }
    };
    let mut settings = Settings::load_from(&HashMap::new()).expect("default settings");
    settings.database.url = database_url.clone();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.uploads.dir = dir.path().join("uploads");
    // Without an SMTP server, messages are .eml files in the test's own folder.
    settings.mail.dir = dir.path().join("mail");
    // A failed delivery is retried within the test's patience.
    settings.mail.retry_first_ms = 100;
    settings.passwords.bcrypt_cost = 4;
    settings.tokens.jwt_secret = Some(TEST_SECRET.into());
    settings.mfa.encryption_key = Some(TEST_MFA_KEY.into());
    settings.server.workers = Some(1);
    // Tests make many requests from one address; the throttling tests turn limits back on.
    settings.rate_limits.enabled = false;
    configure(&mut settings);
    start(settings, pg, Some(dir))
}

/// Builds and runs the application with `settings` on port 0.
fn start(settings: Settings, pg: Option<PgTestDatabase>, dir: Option<TempDir>) -> TestApp {
    let built_with = settings.clone();
    let app = Application::build(settings).expect("application builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        database_url: built_with.database.url.clone(),
        upload_dir: built_with.uploads.dir.clone(),
        state,
        settings: built_with,
        _pg: pg,
        _dir: dir,
    }
}

impl TestApp {
    /// A second replica of this app: its database and settings, on a port of its own, as a
    /// second instance behind a load balancer.
    pub fn replica(&self) -> TestApp {
        self.replica_with(|_| {})
    }

    /// A second replica with settings of its own (a rotated key, another limit).
    pub fn replica_with(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        start(settings, None, None)
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A connection of the test's own to the app's database, to check rows.
    pub fn db(&self) -> AnyConnection {
        establish(&self.database_url).expect("test connection")
    }

    /// The row of the user with this (normalised) email.
    pub fn user(&self, email: &str) -> User {
        find_user_by_email(&mut self.db(), email).expect("query users").expect("the user exists")
    }

    /// Marks the address of `email` proved, as its verification code would (set-up for a test
    /// about something else).
    pub fn mark_verified(&self, email: &str) {
        use auth_service::db::schema::users;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        diesel::update(users::table.filter(users::email.eq(email)))
            .set(users::email_verified_at.eq(chrono::Utc::now().naive_utc()))
            .execute(&mut self.db())
            .expect("mark the address verified");
        self.forget_cached();
    }

    /// Empties this app's session cache: for a test that wrote a user's row itself, which the
    /// service's own writes would have told it.
    pub fn forget_cached(&self) {
        if let Some(cache) = self.state.db.session_cache() {
            cache.settle(auth_service::db::changes::Pending::Everyone);
        }
    }

    /// How long until this app refuses `token` (401), within `REVOCATION_BOUND`.
    pub async fn time_to_refusal(&self, token: &str) -> Option<std::time::Duration> {
        time_until(|| async { self.me_status(token).await == 401 }).await
    }

    pub fn user_id(&self, email: &str) -> i64 {
        self.user(email).id
    }

    /// Rows in `users`.
    pub fn user_count(&self) -> i64 {
        use diesel::QueryDsl;
        auth_service::db::schema::users::table
            .count()
            .get_result(&mut self.db())
            .expect("count users")
    }

    /// Rows in `sessions` for the user with this email.
    pub fn session_count(&self, email: &str) -> i64 {
        use auth_service::db::schema::{sessions, users};
        use diesel::{ExpressionMethods, QueryDsl};
        sessions::table
            .inner_join(users::table)
            .filter(users::email.eq(email))
            .count()
            .get_result(&mut self.db())
            .expect("count sessions")
    }

    /// The names in UPLOAD_DIR, temporary files included.
    pub fn stored_files(&self) -> Vec<String> {
        files_in(&self.upload_dir)
    }
}

/// A test app sending its mail to `smtp`.
pub async fn spawn_app_with_smtp(backend: Backend, smtp: &SmtpServer) -> TestApp {
    spawn_app_with_smtp_and(backend, smtp, |_| {}).await
}

pub async fn spawn_app_with_smtp_and(
    backend: Backend,
    smtp: &SmtpServer,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let url = smtp.url();
    spawn_app_with(backend, |s| {
        s.mail.smtp_url = Some(url);
        s.mail.transport = auth_service::mail::transport::MailTransport::Smtp;
        configure(s);
    })
    .await
}
