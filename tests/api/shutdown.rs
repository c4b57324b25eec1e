//! The binary as Docker runs it: its HEALTHCHECK subcommand, and graceful shutdown on SIGTERM.
//! SQLite only: stopping is the HTTP server's business, the same whatever the backend.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{
    ServiceProcess as Server, closing_boundary, eventually, file_part, pixels, png_bytes,
    png_image, ready, upload_request_head,
};

/// An upload whose body is sent in two halves, so it can be held open across a signal.
struct SlowUpload {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowUpload {
    /// Sends the request head and the first half of the multipart body.
    async fn start(port: u16, token: &str, filename: &str, picture: &[u8]) -> SlowUpload {
        let mut body = file_part("profile_pic", filename, picture);
        body.extend(closing_boundary().into_bytes());
        let head = upload_request_head(token, body.len());
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
        let (head, body) = response.split_once("\r\n\r\n").expect("a complete response");
        let status_line = head.lines().next().unwrap().to_owned();
        (status_line, serde_json::from_str(body).expect("JSON body"))
    }
}

fn temp_files(server: &Server) -> usize {
    server.upload_dir_entries().iter().filter(|name| name.starts_with(".upload-")).count()
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
    assert!(healthcheck(server.port), "healthy server reported unhealthy");
    server.signal("-TERM");
    assert!(server.wait().success());
    assert!(!healthcheck(server.port), "stopped server reported healthy");
}

/// What `docker stop` (SIGTERM) and Ctrl-C (SIGINT) must do: stop accepting, finish every
/// accepted request, exit 0.
async fn signal_finishes_in_flight_uploads_and_refuses_new_connections(signal: &str) {
    // Twenty accounts from one address: past the registration limit.
    let mut server = Server::start(&[("RATE_LIMIT_ENABLED", "false")]);
    let client = reqwest::Client::new();
    // About 12 KB, sent in two halves around the signal: small enough that twenty decode at
    // once on a busy machine (the picture threads run at idle priority) within the shutdown
    // timeout.
    let picture = png_image(64, 64);
    let mut uploads = Vec::new();
    // The review's count: on SQLite one of 20 answered 503 when the signal came.
    for i in 0..20 {
        let token = server.token(&client, &format!("slow{i}@example.com")).await;
        uploads
            .push(SlowUpload::start(server.port, &token, &format!("slow{i}.png"), &picture).await);
    }
    // Every handler is streaming into its temporary file: these requests were accepted.
    assert!(eventually(|| ready(temp_files(&server) == uploads.len())).await, "not streaming");

    server.signal(signal);
    let port = server.port;
    let closed = || ready(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(eventually(closed).await, "still accepting connections after {signal}");
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
    assert_eq!(stored.len(), 20, "{stored:?}");
    for name in &stored {
        assert!(name.starts_with(|c: char| c.is_ascii_digit()) && name.ends_with(".png"), "{name}");
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
    assert!(eventually(|| ready(temp_files(&server) == 1)).await, "not streaming");

    server.signal("-TERM");
    assert_eq!(server.wait().code(), Some(0));
    assert_eq!(server.upload_dir_entries(), Vec::<String>::new());
    // The client sees its connection closed without a response.
    let mut rest = Vec::new();
    let _ = upload.stream.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
