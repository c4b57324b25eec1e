//! Framework errors answer in the contract's JSON shape too.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::helpers::*;

async fn unknown_route_is_404_json(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/nope", "/api", "/api/registerx", "/uploads/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(status_and_json(response).await, (404, error_body("Not found")), "{path}");
    }
}

async fn wrong_method_is_405_json(backend: Backend) {
    let app = spawn_app(backend).await;
    for (method, path) in [
        ("GET", "/api/login"),
        ("DELETE", "/api/register"),
        ("POST", "/"),
        ("PUT", "/api/upload_profile_pic"),
        ("GET", "/api/logout"),
        ("POST", "/healthz"),
    ] {
        let response =
            app.client.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
        assert_eq!(
            status_and_json(response).await,
            (405, error_body("Method not allowed")),
            "{method} {path}"
        );
    }
}

async fn oversized_json_body_is_413_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let body =
        serde_json::json!({"name": "A", "email": "a@example.com", "password": "p".repeat(100_000)});
    let response = app.post_json("/api/register", &body).await;
    assert_eq!(status_and_json(response).await, (413, error_body("Request body too large")));
}

/// A body that trickles in: the head promises 16,000 bytes, one arrives, then nothing.
async fn trickle(app: &TestApp) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 16000\r\nConnection: close\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // Without a deadline the server would wait for ever; the test waits ten seconds.
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers a trickling body")
        .unwrap();
    String::from_utf8(response).unwrap()
}

async fn a_json_body_slower_than_its_deadline_is_408_and_holds_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.request_body_timeout_secs = 1).await;
    let responses = futures_util::future::join_all((0..20).map(|_| trickle(&app))).await;
    for response in responses {
        assert!(response.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{response}");
        let body = response.split_once("\r\n\r\n").unwrap().1;
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body, error_body("Request body took too long"));
    }
    app.register("A", "after@example.com", PASSWORD).await;
    assert_eq!(app.login("after@example.com", PASSWORD).await.status(), 200);
}

both_backends!(
    a_json_body_slower_than_its_deadline_is_408_and_holds_nothing,
    unknown_route_is_404_json,
    wrong_method_is_405_json,
    oversized_json_body_is_413_json
);
