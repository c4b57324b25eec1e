//! What the integration tests share, by concern: `spawn` (the application on port 0 with a
//! database of its own, and its replicas), `endpoints` (a `TestApp` method per endpoint),
//! `tokens` (forging and reading JWTs), `pictures` (images and multipart bodies), `mail` (the
//! SMTP server), `mfa` (an account with TOTP on), `s3` (the S3 API server) and `process` (the binary in a process of its own), `admin` (admin keys, the admin API, the
//! CLI).

mod admin;
mod endpoints;
mod mail;
mod mfa;
mod oidc;
mod passkey;
mod pictures;
mod process;
pub mod s3;
mod spawn;
mod tokens;
mod webhooks;

pub use std::future::ready;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use admin::*;
pub use mail::*;
pub use mfa::*;
pub use oidc::*;
pub use passkey::*;
pub use pictures::*;
pub use process::*;
pub use spawn::*;
pub use tokens::*;
pub use webhooks::*;

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

/// The names in a folder, sorted, temporary files included.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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

/// `npm ci` in `dir` when its `package` is missing, one test process at a time (a plain
/// `cargo test` may come before `./scripts/test` installed the tests' Node servers).
pub fn npm_ci(dir: &str, package: &str) {
    use std::{os::fd::AsRawFd, path::Path, process::Command};
    let installed = || Path::new(dir).join("node_modules").join(package).exists();
    if installed() {
        return;
    }
    let lock = std::fs::File::create(std::env::temp_dir().join("auth-service-npm.lock"))
        .expect("the npm lock file");
    // SAFETY: flock on a file descriptor this function owns; released when it is closed.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    if !installed() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in {dir} failed");
    }
}

/// A Node server of the tests (`script` in `dir`, its `package` installed first): started on a
/// free port, which it prints as `listening on PORT`; killed when the `NodeServer` is dropped.
pub struct NodeServer {
    pub port: u16,
    child: std::process::Child,
}

impl NodeServer {
    pub fn start(dir: &str, package: &str, script: &str) -> NodeServer {
        use std::{
            io::{BufRead, BufReader},
            process::{Command, Stdio},
        };
        npm_ci(dir, package);
        let mut child = Command::new("node")
            .arg(format!("{dir}/{script}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node runs {dir}/{script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening on ").and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("{script} did not start: {line:?}"));
        NodeServer { port, child }
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
