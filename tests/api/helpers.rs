//! `spawn_app`: the real application on port 0 with a database of its own.

pub use std::future::ready;
use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use auth_service::{
    db::{
        AnyConnection, DatabaseUrl, establish,
        users::{User, find_user_by_email},
    },
    settings::Settings,
    startup::Application,
};
use diesel::{Connection, PgConnection, RunQueryDsl};
use jsonwebtoken::{Algorithm, EncodingKey, crypto};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Signs the tokens of every test app, so tests can forge tokens with or without it.
pub const TEST_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
/// `MFA_ENCRYPTION_KEY` of the tests: 32 bytes, base64.
pub const TEST_MFA_KEY: &str = "dGVzdC1rZXktb2YtMzItYnl0ZXMtZm9yLWFlcy1nY20=";
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` as two tests, `name::sqlite` and
/// `name::postgres`. The PostgreSQL ones are ignored unless asked for: `scripts/test` runs them
/// with `--include-ignored` and `TEST_DATABASE_URL`, and without it they fail, never pass.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test]
            #[ignore = "needs PostgreSQL: TEST_DATABASE_URL and --include-ignored (scripts/test)"]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_base_url() -> String {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty()).expect(
        "TEST_DATABASE_URL is not set: PostgreSQL tests need a server (scripts/test starts one)",
    )
}

/// The Python the tests' servers run on: the project's `.venv` (made by `scripts/test`, with
/// tests/requirements.txt), else the one on PATH.
pub fn python() -> PathBuf {
    let venv = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python3"));
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

/// How long a poll waits for its condition before the test goes on (and fails).
pub const POLL_DEADLINE: Duration = Duration::from_secs(10);

/// Asks `condition` every 20 ms until it holds or `POLL_DEADLINE` has passed, and says whether
/// it held: the wait ends as soon as it holds, so only a broken server makes a test slow.
/// A condition that is no future is given as `|| ready(…)`.
pub async fn eventually<F: Future<Output = bool>>(mut condition: impl FnMut() -> F) -> bool {
    let deadline = Instant::now() + POLL_DEADLINE;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    _pg: Option<PgTestDatabase>,
    _dir: TempDir,
}

/// Test settings: the contract's defaults, then port 0, a fresh database, a temporary
/// UPLOAD_DIR, the lowest bcrypt cost and a known secret.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
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
    let upload_dir = settings.uploads.dir.clone();
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
        database_url,
        upload_dir,
        state,
        settings: built_with,
        _pg: pg,
        _dir: dir,
    }
}

/// `header.payload.signature`, signed by HMAC `algorithm` with `secret` whatever the header
/// claims: a token as an attacker (or another service holding the secret) would make it.
pub fn forge_hmac(header: &Value, claims: &Value, secret: &[u8], algorithm: Algorithm) -> String {
    let message = format!("{}.{}", jwt_segment_of(header), jwt_segment_of(claims));
    let signature =
        crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), algorithm).unwrap();
    format!("{message}.{signature}")
}

/// An HS256 access token with these claims, signed with `secret` under the test secret's `kid`.
pub fn forge_hs256(claims: &Value, secret: &[u8]) -> String {
    forge_hmac(&access_header("HS256"), claims, secret, Algorithm::HS256)
}

/// The `kid` the service names an HS256 secret by, computed here from its definition: an
/// HMAC-SHA256 of a label under the secret (not a bare hash anyone could test guesses against).
pub fn hs256_kid(secret: &[u8]) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(b"auth-service HS256 kid v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The header of an access token signed with the test secret, but for its `alg`.
pub fn access_header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": hs256_kid(TEST_SECRET.as_bytes())})
}

/// One base64url segment of a JWT.
pub fn jwt_segment_of(value: &Value) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The boundary of the multipart bodies tests write by hand (for bodies reqwest would not send,
/// or sends too fast).
pub const BOUNDARY: &str = "B0UNDARY";

/// The boundary line and headers of a file part, up to its first byte.
pub fn part_head(name: &str, filename: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
}

/// One whole file part.
pub fn file_part(name: &str, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let mut part = part_head(name, filename).into_bytes();
    part.extend_from_slice(bytes);
    part.extend_from_slice(b"\r\n");
    part
}

/// The end of a multipart body.
pub fn closing_boundary() -> String {
    format!("--{BOUNDARY}--\r\n")
}

/// The head of an upload request written to a socket by hand, announcing `content_length`.
pub fn upload_request_head(token: &str, content_length: usize) -> String {
    format!(
        "POST /api/upload_profile_pic HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {content_length}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    )
}

/// The names in a folder, sorted, temporary files included.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The decoded header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    jwt_segment(token, 0)
}

/// The decoded claims of a JWT.
pub fn jwt_claims(token: &str) -> Value {
    jwt_segment(token, 1)
}

fn jwt_segment(token: &str, index: usize) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let segment = token.split('.').nth(index).expect("JWT segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// A response's status and JSON body.
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
    (status, body)
}

pub fn error_body(message: &str) -> Value {
    json!({"status": "error", "message": message})
}

/// `GET /readyz` when the database and the picture store answer.
pub fn ready_body() -> Value {
    json!({"status": "ok", "checks": {"database": "ok", "storage": "ok"}})
}

/// `GET /readyz` (503) when the database does not answer.
pub fn database_down_body() -> Value {
    json!({
        "status": "error",
        "message": "Database unavailable",
        "checks": {"database": "down", "storage": "ok"}
    })
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

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    pub async fn register(&self, name: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/register",
            &json!({"name": name, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/api/login", &json!({"email": email, "password": password})).await
    }

    /// Registers `email` with `PASSWORD` and returns a fresh access token.
    pub async fn register_and_login(&self, email: &str) -> String {
        let response = self.register("Test User", email, PASSWORD).await;
        assert_eq!(response.status().as_u16(), 201, "register {email}");
        self.token_for(email).await
    }

    pub async fn token_for(&self, email: &str) -> String {
        self.session_for(email).await.access
    }

    /// Logs `email` in with `PASSWORD`: a new session.
    pub async fn session_for(&self, email: &str) -> Tokens {
        let (status, body) = status_and_json(self.login(email, PASSWORD).await).await;
        assert_eq!(status, 200, "login {email}: {body}");
        Tokens::from_body(&body)
    }

    /// Logs `email` in with another password and returns the access token.
    pub async fn token_for_password(&self, email: &str, password: &str) -> String {
        let (status, body) = status_and_json(self.login(email, password).await).await;
        assert_eq!(status, 200, "login {email}: {body}");
        Tokens::from_body(&body).access
    }

    /// A JSON request with a bearer token, and its status and JSON body.
    pub async fn bearer_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        status_and_json(response).await
    }

    /// The status of `GET /` with this access token.
    pub async fn me_status(&self, access_token: &str) -> u16 {
        self.get_me(Some(&format!("Bearer {access_token}"))).await.status().as_u16()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/api/token/refresh", &json!({"refresh_token": refresh_token})).await
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

    pub async fn get_me(&self, authorization: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url("/"));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send().await.expect("request")
    }

    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned());
        let form = reqwest::multipart::Form::new().part("profile_pic", part);
        self.upload_form(path, token, form).await
    }

    /// A multipart form of the test's own making, posted with a bearer token.
    pub async fn upload_form(
        &self,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn logout(&self, token: &str) -> reqwest::Response {
        self.client.post(self.url("/api/logout")).bearer_auth(token).send().await.expect("request")
    }

    /// The names in UPLOAD_DIR, temporary files included.
    pub fn stored_files(&self) -> Vec<String> {
        files_in(&self.upload_dir)
    }
}

/// The access and refresh token of a login, refresh or password change response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_body(body: &Value) -> Tokens {
        Tokens {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access)
    }

    /// The body of login, refresh and password change that carries these tokens.
    pub fn body(&self, message: &str) -> Value {
        json!({
            "status": "success",
            "message": message,
            "access_token": self.access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": self.refresh
        })
    }
}

/// A real picture of `width`×`height` pixels in `format`. The pixels are noise, so PNG cannot
/// compress it much: about 3 bytes a pixel.
pub fn image_bytes(format: image::ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let picture = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut bytes, format).expect("encode test picture");
    bytes.into_inner()
}

/// A real SMTP server (aiosmtpd, `tests/smtp/catcher.py`) on 127.0.0.1, keeping each message
/// it accepts as a file; stopped when dropped. `./scripts/test` makes sure aiosmtpd is there.
pub struct SmtpServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = SmtpServer { port, dir: TempDir::new().unwrap(), child: None };
        server.restart();
        server
    }

    /// Starts it (again) on its port, keeping the messages it has.
    pub fn restart(&mut self) {
        let mut child = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/catcher.py"))
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/smtp/catcher.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "listening",
            "the SMTP server did not start (./scripts/test installs aiosmtpd into .venv)"
        );
        self.child = Some(child);
    }

    /// Stops it: connections to its port are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first, as received (headers and body).
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> =
            files_in(self.dir.path()).into_iter().filter(|name| name.ends_with(".eml")).collect();
        names.sort();
        names
            .iter()
            .map(|name| readable(&std::fs::read_to_string(self.dir.path().join(name)).unwrap()))
            .collect()
    }

    /// The messages whose subject is `subject`, once there are at least `count` of them.
    pub async fn wait_for_subject(&self, subject: &str, count: usize) -> Vec<String> {
        let header = format!("\r\nSubject: {subject}\r\n");
        let matching = || -> Vec<String> {
            self.messages().into_iter().filter(|m| format!("\r\n{m}").contains(&header)).collect()
        };
        assert!(eventually(|| ready(matching().len() >= count)).await, "{:?}", self.messages());
        matching()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message with its body decoded as a mail client would (lettre sends a text with long lines
/// as quoted-printable).
pub fn readable(message: &str) -> String {
    let (head, body) = message.split_once("\r\n\r\n").expect("headers, then a body");
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return message.to_owned();
    }
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut decoded = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes.get(at + 1..at + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[at], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    format!("{head}\r\n\r\n{}", String::from_utf8(decoded).unwrap())
}

/// The six-digit code after "code: " in a message.
pub fn code_in(message: &str) -> String {
    let at = message.find("code: ").expect("a code in the message") + "code: ".len();
    message[at..at + 6].to_owned()
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

/// Takes the one picture thread (the test sets `IMAGE_THREADS` to 1) with a job of the test's
/// own, running once this returns; dropping the returned sender ends it.
pub async fn hold_the_picture_thread(app: &TestApp) -> std::sync::mpsc::Sender<()> {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel();
    let state = app.state.clone();
    tokio::spawn(async move {
        let job = move || {
            let _ = started.send(());
            let _ = hold.recv();
        };
        state.uploads.images.run(job).await.unwrap();
    });
    running.await.unwrap();
    release
}

pub fn png_image(width: u32, height: u32) -> Vec<u8> {
    image_bytes(image::ImageFormat::Png, width, height)
}

pub fn jpeg_image(width: u32, height: u32) -> Vec<u8> {
    image_bytes(image::ImageFormat::Jpeg, width, height)
}

/// The pixels of an encoded picture, to compare a re-encoded picture with what was sent.
pub fn pixels(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("a decodable picture").into_rgba8()
}

/// PNG magic bytes followed by `len - 8` filler bytes: passes the type sniff, but is no
/// picture (for the checks that come before decoding: size, type, streaming).
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len.saturating_sub(8)).map(|i| (i % 251) as u8));
    bytes
}

pub fn jpeg_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
    bytes.extend((0..len.saturating_sub(11)).map(|i| (i % 241) as u8));
    bytes
}

/// The service's binary in a process of its own, started as the Dockerfile starts it (its
/// environment only), on a port the OS chose; killed when dropped.
pub struct ServiceProcess {
    child: Child,
    pub port: u16,
    pub upload_dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _dir: TempDir,
}

impl ServiceProcess {
    pub fn start(extra_env: &[(&str, &str)]) -> ServiceProcess {
        // The test's own reqwest clients share the service's TLS build (no provider of its own).
        auth_service::uploads::bucket::install_tls_provider();
        let dir = TempDir::new().unwrap();
        let upload_dir = dir.path().join("uploads");
        let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
            .current_dir(dir.path())
            .env_clear()
            .env("DATABASE_URL", format!("sqlite://{}/auth.db", dir.path().display()))
            .env("PORT", "0")
            .env("UPLOAD_DIR", &upload_dir)
            .env("BCRYPT_COST", "4")
            .env("JWT_SECRET", TEST_SECRET)
            .env("WORKERS", "2")
            .env("RUST_LOG", "info")
            .envs(extra_env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start auth-service");
        // The port the OS chose is in the start-up log line; the rest of the log is kept for
        // `log_lines`, read as it comes so the server never blocks on a full pipe.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let (_, rest) = line.split_once("listening on port ")?;
                rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            })
            .expect("auth-service logs its port");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        ServiceProcess { child, port, upload_dir, log, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The log lines written so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log lines written since the start, once one satisfies `until` (or the poll
    /// deadline has passed): a line is written after its response is sent.
    pub async fn log_lines_until(&self, until: impl Fn(&str) -> bool) -> Vec<String> {
        let log = &self.log;
        eventually(|| ready(log.lock().unwrap().iter().any(|line| until(line)))).await;
        log.lock().unwrap().clone()
    }

    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (a minute at most: a hang is a failure, not a wait).
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "auth-service did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn upload_dir_entries(&self) -> Vec<String> {
        files_in(&self.upload_dir)
    }

    pub async fn token(&self, client: &reqwest::Client, email: &str) -> String {
        let user = json!({"name": "Slow Uploader", "email": email, "password": PASSWORD});
        let response = client.post(self.url("/api/register")).json(&user).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let response = client.post(self.url("/api/login")).json(&user).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
