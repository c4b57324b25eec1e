//! Framework errors answer in the contract's JSON shape too.

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

both_backends!(
    unknown_route_is_404_json,
    wrong_method_is_405_json,
    oversized_json_body_is_413_json
);
