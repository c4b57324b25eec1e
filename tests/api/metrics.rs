//! `GET /metrics`: counters that move by exactly what was done, route labels that are patterns.

use std::collections::HashMap;

use crate::both_backends;
use crate::helpers::*;

/// `name{labels}` → value, from the text exposition format.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    parse(&response.text().await.unwrap())
}

fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

async fn counters_move_by_exactly_what_was_done(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = scrape(&app).await;
    app.register("A", "m@example.com", PASSWORD).await;
    app.register("A", "m@example.com", PASSWORD).await;
    let session = app.session_for("m@example.com").await;
    for _ in 0..2 {
        assert_eq!(app.login("m@example.com", "wrong password").await.status(), 401);
    }
    let upload =
        app.upload("/api/upload_profile_pic", &session.access, "me.png", png_image(8, 8)).await;
    assert_eq!(upload.status(), 200);
    assert_eq!(app.refresh(&session.refresh).await.status(), 200);
    assert_eq!(app.refresh("not a refresh token").await.status(), 401);
    let after = scrape(&app).await;

    let stored = std::fs::metadata(app.upload_dir.join(&app.stored_files()[0])).unwrap().len();
    for (series, delta) in [
        (r#"auth_registrations_total{outcome="ok"}"#, 1.0),
        (r#"auth_registrations_total{outcome="email_taken"}"#, 1.0),
        (r#"auth_logins_total{outcome="ok"}"#, 1.0),
        (r#"auth_logins_total{outcome="bad_credentials"}"#, 2.0),
        ("auth_uploads_total", 1.0),
        ("auth_upload_bytes_total", stored as f64),
        (r#"auth_refreshes_total{outcome="rotated"}"#, 1.0),
        (r#"auth_refreshes_total{outcome="invalid"}"#, 1.0),
        (r#"http_requests_total{method="POST",route="/api/login",status="200"}"#, 1.0),
        (r#"http_requests_total{method="POST",route="/api/login",status="401"}"#, 2.0),
        (r#"http_requests_total{method="POST",route="/api/register",status="400"}"#, 1.0),
        (r#"http_request_duration_seconds_count{route="/api/login"}"#, 3.0),
    ] {
        assert_eq!(moved(&before, &after, series), delta, "{series}");
    }
    assert_eq!(after["bcrypt_queue_depth"], 0.0);
    // Two registrations hash, three logins verify: five bcrypt jobs, each taking time.
    assert_eq!(moved(&before, &after, "bcrypt_jobs_total"), 5.0);
    assert!(moved(&before, &after, "bcrypt_seconds_total") > 0.0);
    // Waiting for a bcrypt thread may take no measurable time; the series must be there.
    assert!(after.contains_key("bcrypt_wait_seconds_total"), "no bcrypt wait series");
    assert!(moved(&before, &after, "db_pool_checkouts_total") >= 8.0);
    assert!(moved(&before, &after, "db_pool_wait_seconds_total") > 0.0);
    assert!(after["db_pool_connections"] >= 1.0);
    assert!(after["db_pool_idle_connections"] <= after["db_pool_connections"]);
}

async fn the_route_label_is_the_pattern_so_scans_add_one_series(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in ["a.png", "b.png"] {
        assert_eq!(
            app.client.get(app.url(&format!("/uploads/{name}"))).send().await.unwrap().status(),
            404
        );
    }
    for i in 0..20 {
        let path = format!("/scan/{i}/{}", uuid::Uuid::new_v4());
        assert_eq!(app.client.get(app.url(&path)).send().await.unwrap().status(), 404);
    }
    let after = scrape(&app).await;
    assert_eq!(
        after[r#"http_requests_total{method="GET",route="/uploads/{filename}",status="404"}"#],
        2.0
    );
    assert_eq!(after[r#"http_requests_total{method="GET",route="unmatched",status="404"}"#], 20.0);
    let routes: std::collections::BTreeSet<&str> = after
        .keys()
        .filter(|series| series.starts_with("http_requests_total{"))
        .filter_map(|series| series.split("route=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        !routes.iter().any(|route| route.contains(".png") || route.contains("/scan/")),
        "{routes:?}"
    );
}

async fn metrics_addr_moves_metrics_off_the_public_port(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics.addr = Some("127.0.0.1:0".into())).await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(status_and_json(public).await, (404, error_body("Not found")));
    let internal = format!("http://127.0.0.1:{}", app.metrics_port.unwrap());
    let scraped = app.client.get(format!("{internal}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let series = parse(&scraped.text().await.unwrap());
    // The refused request on the public port was counted; the internal one serves nothing else.
    assert_eq!(series[r#"http_requests_total{method="GET",route="/metrics",status="404"}"#], 1.0);
    let other = app.client.get(format!("{internal}/")).send().await.unwrap();
    assert_eq!(status_and_json(other).await, (404, error_body("Not found")));
}

async fn a_metrics_token_when_set_is_required(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics.token = Some("scrape-me".into())).await;
    let open = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(status_and_json(open).await, (401, error_body("Unauthorized")));
    let wrong = app.client.get(app.url("/metrics")).bearer_auth("scrape-you").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app.client.get(app.url("/metrics")).bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("# TYPE http_requests_total counter"));
}

async fn the_metrics_token_is_read_like_any_bearer_token(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics.token = Some("scrape-me".into())).await;
    // The scheme in any case (RFC 7235), as the AuthUser extractor reads it.
    for authorization in ["bearer scrape-me", "BEARER  scrape-me"] {
        let response =
            app.client.get(app.url("/metrics")).header("Authorization", authorization).send().await;
        assert_eq!(response.unwrap().status(), 200, "{authorization}");
    }
    for authorization in ["Basic scrape-me", "Bearerscrape-me", "scrape-me"] {
        let response =
            app.client.get(app.url("/metrics")).header("Authorization", authorization).send().await;
        let response = response.unwrap();
        assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
    }
}

async fn made_up_methods_are_counted_as_other_so_they_add_no_series(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = scrape(&app).await;
    for i in 0..30 {
        let method = reqwest::Method::from_bytes(format!("X{i}{}", "M".repeat(500)).as_bytes());
        let response = app.client.request(method.unwrap(), app.url("/")).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (405, error_body("Method not allowed")));
    }
    let after = scrape(&app).await;
    let other = r#"http_requests_total{method="other",route="/",status="405"}"#;
    assert_eq!(moved(&before, &after, other), 30.0);
    let new_series: std::collections::BTreeSet<&str> = after
        .keys()
        .filter(|series| series.starts_with("http_requests_total") && !before.contains_key(*series))
        .map(String::as_str)
        .collect();
    let scrape = r#"http_requests_total{method="GET",route="/metrics",status="200"}"#;
    assert_eq!(new_series, [other, scrape].into_iter().collect());
}

both_backends!(
    made_up_methods_are_counted_as_other_so_they_add_no_series,
    the_metrics_token_is_read_like_any_bearer_token,
    counters_move_by_exactly_what_was_done,
    the_route_label_is_the_pattern_so_scans_add_one_series,
    metrics_addr_moves_metrics_off_the_public_port,
    a_metrics_token_when_set_is_required
);
