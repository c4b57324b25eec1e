//! The binary as Docker runs it: its HEALTHCHECK subcommand, and graceful shutdown on SIGTERM.
//! SQLite only: stopping is the HTTP server's business, the same whatever the backend.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{PASSWORD, pixels, png_bytes, png_image};

const BOUNDARY: &str = "shutdown-test-boundary";

/// The release-like binary, started as the Dockerfile starts it, on a free port.
struct Server {
    child: Child,
    port: u16,
    upload_dir: PathBuf,
    _dir: TempDir,
}

impl Server {
    fn start(extra_env: &[(&str, &str)]) -> Server {
        let dir = TempDir::new().unwrap();
        let upload_dir = dir.path().join("uploads");
        let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
            .current_dir(dir.path())
            .env_clear()
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/auth.db", dir.path().display()),
            )
            .env("PORT", "0")
            .env("UPLOAD_DIR", &upload_dir)
            .env("BCRYPT_COST", "4")
            .env("JWT_SECRET", crate::helpers::TEST_SECRET)
            .env("WORKERS", "2")
            .env("RUST_LOG", "info")
            .envs(extra_env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start auth-service");
        // The port the OS chose is in the start-up log line; the rest of the log is drained so
        // the server never blocks on a full pipe.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.rsplit_once("listening on port ")?.1.parse().ok())
            .expect("auth-service logs its port");
        std::thread::spawn(move || lines.for_each(drop));
        Server {
            child,
            port,
            upload_dir,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (a minute at most: a hang is a failure, not a wait).
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "auth-service did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn upload_dir_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.upload_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    async fn token(&self, client: &reqwest::Client, email: &str) -> String {
        let user = json!({"name": "Slow Uploader", "email": email, "password": PASSWORD});
        let response = client
            .post(self.url("/api/register"))
            .json(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let response = client
            .post(self.url("/api/login"))
            .json(&user)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An upload whose body is sent in two halves, so it can be held open across a signal.
struct SlowUpload {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowUpload {
    /// Sends the request head and the first half of the multipart body.
    async fn start(port: u16, token: &str, filename: &str, picture: &[u8]) -> SlowUpload {
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"profile_pic\"; \
             filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(picture);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let head = format!(
            "POST /api/upload_profile_pic HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n",
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let rest = body.split_off(body.len() / 2);
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        SlowUpload { stream, rest }
    }

    /// Sends the second half and returns the status line and the JSON body.
    async fn finish(mut self) -> (String, Value) {
        self.stream.write_all(&self.rest).await.unwrap();
        let mut response = Vec::new();
        self.stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response
            .split_once("\r\n\r\n")
            .expect("a complete response");
        let status_line = head.lines().next().unwrap().to_owned();
        (status_line, serde_json::from_str(body).expect("JSON body"))
    }
}

/// Polls (without a deadline of its own: the test harness's timeout is the backstop) until
/// `ready` holds.
async fn until(mut ready: impl FnMut() -> bool) {
    while !ready() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn temp_files(server: &Server) -> usize {
    server
        .upload_dir_entries()
        .iter()
        .filter(|name| name.starts_with(".upload-"))
        .count()
}

fn healthcheck(port: u16) -> bool {
    Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("healthcheck")
        .env_clear()
        .env("PORT", port.to_string())
        .env("HOST", "0.0.0.0")
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[tokio::test]
async fn healthcheck_subcommand_exits_0_only_when_healthz_answers() {
    let mut server = Server::start(&[]);
    assert!(
        healthcheck(server.port),
        "healthy server reported unhealthy"
    );
    server.signal("-TERM");
    assert!(server.wait().success());
    assert!(!healthcheck(server.port), "stopped server reported healthy");
}

/// What `docker stop` (SIGTERM) and Ctrl-C (SIGINT) must do: stop accepting, finish every
/// accepted request, exit 0.
async fn signal_finishes_in_flight_uploads_and_refuses_new_connections(signal: &str) {
    let mut server = Server::start(&[]);
    let client = reqwest::Client::new();
    // About 270 KB: the body is sent in two halves around the signal.
    let picture = png_image(300, 300);
    let mut uploads = Vec::new();
    for i in 0..4 {
        let token = server.token(&client, &format!("slow{i}@example.com")).await;
        uploads
            .push(SlowUpload::start(server.port, &token, &format!("slow{i}.png"), &picture).await);
    }
    // Every handler is streaming into its temporary file: these requests were accepted.
    until(|| temp_files(&server) == uploads.len()).await;

    server.signal(signal);
    let port = server.port;
    until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_err()).await;
    // Held past actix's first shutdown check (1 s after the signal): a server that dropped
    // in-flight requests at once would have done so by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for (i, upload) in uploads.into_iter().enumerate() {
        let (status_line, body) = upload.finish().await;
        assert_eq!(status_line, "HTTP/1.1 200 OK", "upload {i}: {body}");
        assert_eq!(body["message"], "Profile picture updated");
    }
    assert_eq!(server.wait().code(), Some(0));
    let stored = server.upload_dir_entries();
    assert_eq!(stored.len(), 4, "{stored:?}");
    for name in &stored {
        assert!(
            name.starts_with(|c: char| c.is_ascii_digit()) && name.ends_with(".png"),
            "{name}"
        );
        let stored = std::fs::read(server.upload_dir.join(name)).unwrap();
        assert_eq!(pixels(&stored), pixels(&picture));
    }
}

#[tokio::test]
async fn sigterm_finishes_in_flight_uploads_refuses_new_connections_and_exits_0() {
    signal_finishes_in_flight_uploads_and_refuses_new_connections("-TERM").await;
}

#[tokio::test]
async fn sigint_finishes_in_flight_uploads_refuses_new_connections_and_exits_0() {
    signal_finishes_in_flight_uploads_and_refuses_new_connections("-INT").await;
}

#[tokio::test]
async fn sigterm_drops_an_upload_stalled_past_the_shutdown_timeout_leaving_no_file() {
    let mut server = Server::start(&[("SHUTDOWN_TIMEOUT_SECS", "1")]);
    let client = reqwest::Client::new();
    let token = server.token(&client, "stalled@example.com").await;
    let mut upload =
        SlowUpload::start(server.port, &token, "stalled.png", &png_bytes(64 * 1024)).await;
    until(|| temp_files(&server) == 1).await;

    server.signal("-TERM");
    assert_eq!(server.wait().code(), Some(0));
    assert_eq!(server.upload_dir_entries(), Vec::<String>::new());
    // The client sees its connection closed without a response.
    let mut rest = Vec::new();
    let _ = upload.stream.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
