//! The service's binary in a process of its own, as the Dockerfile starts it.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{PASSWORD, TEST_SECRET, eventually, files_in, ready};

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

    /// Registers `name` at `email` (with the tests' password) through this process: 201.
    pub async fn register(&self, client: &reqwest::Client, name: &str, email: &str) {
        let user = json!({"name": name, "email": email, "password": PASSWORD});
        let response = client.post(self.url("/api/register")).json(&user).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }

    pub async fn token(&self, client: &reqwest::Client, email: &str) -> String {
        self.register(client, "Slow Uploader", email).await;
        let user = json!({"email": email, "password": PASSWORD});
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
