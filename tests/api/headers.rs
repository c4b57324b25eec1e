//! Headers every client relies on: no cache keeps a token, no browser sniffs a type, and CORS
//! allows what the API uses and nothing else.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

async fn token_responses_are_never_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "cache@example.com", PASSWORD).await;
    let login = app.login("cache@example.com", PASSWORD).await;
    assert_eq!(
        (header(&login, "cache-control"), header(&login, "pragma")),
        (Some("no-store"), Some("no-cache"))
    );
    let tokens = Tokens::from_body(&login.json().await.unwrap());
    let refresh = app.refresh(&tokens.refresh).await;
    assert_eq!(refresh.status(), 200);
    assert_eq!(header(&refresh, "cache-control"), Some("no-store"));
    let body =
        json!({"current_password": PASSWORD, "new_password": "staple battery horse correct"});
    let refreshed = Tokens::from_body(&refresh.json().await.unwrap());
    let changed = app
        .client
        .put(app.url("/api/password"))
        .bearer_auth(&refreshed.access)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(header(&changed, "cache-control"), Some("no-store"));
}

async fn every_response_says_nosniff(backend: Backend) {
    let app = spawn_app(backend).await;
    let requests = [
        app.client.get(app.url("/healthz")),
        app.client.get(app.url("/no/such/path")),
        app.client.post(app.url("/healthz")),
        app.client.get(app.url("/")),
        app.client.post(app.url("/api/login")).body("not json"),
        app.client.post(app.url("/api/login")).json(&json!({})),
        app.client.get(app.url("/api/openapi.json")),
        app.client.get(app.url("/metrics")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let seen = (response.url().path().to_owned(), response.status().as_u16());
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"), "{seen:?}");
    }
}

async fn cors_preflight_allows_what_the_api_uses_only(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.cors_allowed_origins = vec!["https://www.example.com".into()]
    })
    .await;
    let preflight = |method: &str, headers: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/login"))
            .header("Origin", "https://www.example.com")
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .send()
    };
    let allowed = preflight("POST", "content-type, authorization").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(header(&allowed, "access-control-allow-origin"), Some("https://www.example.com"));
    let mut methods: Vec<&str> = header(&allowed, "access-control-allow-methods")
        .unwrap()
        .split(',')
        .map(str::trim)
        .collect();
    methods.sort();
    assert_eq!(methods, ["DELETE", "GET", "PATCH", "POST", "PUT"]);
    for (method, headers) in
        [("OPTIONS", "content-type"), ("POST", "x-anything-else"), ("TRACE", "")]
    {
        let refused = preflight(method, headers).await.unwrap();
        assert!(refused.status().is_client_error(), "{method} {headers}: {}", refused.status());
        assert_eq!(header(&refused, "access-control-allow-origin"), None, "{method} {headers}");
    }
    // A simple request from the website reads the headers a fetch client needs.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "https://www.example.com")
        .send()
        .await
        .unwrap();
    let exposed = header(&response, "access-control-expose-headers").unwrap().to_ascii_lowercase();
    assert!(exposed.contains("retry-after") && exposed.contains("x-request-id"), "{exposed}");
}

both_backends!(
    token_responses_are_never_cached,
    every_response_says_nosniff,
    cors_preflight_allows_what_the_api_uses_only
);
