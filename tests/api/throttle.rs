//! Rate limits on login, register, upload and refresh: 429 in the contract's shape with Retry-After,
//! counted in the database (so shared by replicas), never spoofable by a client's headers.

use auth_service::{
    db::{rate_limits, schema::rate_limits as table},
    settings::Settings,
    throttle::{Lane, RateLimit},
};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const THROTTLED: &str = "Too many requests, try again later";

fn limit(value: &str) -> RateLimit {
    value.parse().unwrap()
}

/// Limits on, each one generous unless the test lowers it.
fn limits(settings: &mut Settings) {
    settings.rate_limits.enabled = true;
    settings.rate_limits.login_per_ip = limit("1000/1h");
    settings.rate_limits.password = Lane::of((1000, 3600), (1000, 3600), 900);
    settings.rate_limits.register_per_ip = limit("1000/1h");
    settings.rate_limits.upload_per_ip = limit("1000/1h");
    settings.rate_limits.refresh_per_ip = limit("1000/1h");
}

/// A login as if relayed by a proxy for `client` (believed only when the peer is trusted).
async fn login_via(app: &TestApp, client: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/login"))
        .header("X-Forwarded-For", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 in the contract's shape whose Retry-After is within the window.
async fn assert_throttled(response: reqwest::Response, window_secs: u64) {
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=window_secs).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(status_and_json(response).await, (429, error_body(THROTTLED)));
}

async fn login_over_the_per_ip_limit_is_429_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.login_per_ip = limit("3/1h");
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.login("a@example.com", "wrong password").await.status().as_u16(), 401);
    }
    // Even the right password: the limit is on attempts, not failures.
    assert_throttled(app.login("a@example.com", PASSWORD).await, 3600).await;
    // Another account from the same address is throttled too.
    assert_throttled(app.login("b@example.com", PASSWORD).await, 3600).await;
}

async fn login_limit_cannot_be_escaped_by_forging_x_forwarded_for(backend: Backend) {
    // No trusted proxies: the socket's peer is the client whatever the header says.
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.login_per_ip = limit("2/1h");
    })
    .await;
    for i in 0..2 {
        let response = login_via(&app, &format!("198.51.100.{i}"), "x@example.com", PASSWORD).await;
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_throttled(login_via(&app, "198.51.100.99", "x@example.com", PASSWORD).await, 3600).await;
}

async fn login_behind_a_trusted_proxy_is_counted_per_forwarded_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.login_per_ip = limit("2/1h");
        s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    for _ in 0..2 {
        let response = login_via(&app, "198.51.100.1", "a@example.com", "wrong password").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_throttled(login_via(&app, "198.51.100.1", "a@example.com", PASSWORD).await, 3600).await;
    // A forged entry left of the proxy's own does not help the throttled client...
    let forged = login_via(&app, "203.0.113.5, 198.51.100.1", "a@example.com", PASSWORD).await;
    assert_throttled(forged, 3600).await;
    // ...and another client behind the same proxy still logs in.
    let other = login_via(&app, "198.51.100.2", "a@example.com", PASSWORD).await;
    assert_eq!(other.status().as_u16(), 200);
}

async fn forwarded_clients_with_ports_and_ipv6_sites_are_counted_apart(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.login_per_ip = limit("2/1h");
        s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // A proxy that writes the client's port: each client is still its own (it was the proxy,
    // so everyone behind it shared one bucket).
    for client in ["198.51.100.1:40001", "198.51.100.2:40002", "[2001:db8:9::1]:443"] {
        for _ in 0..2 {
            let response = login_via(&app, client, "p@example.com", "wrong password").await;
            assert_eq!(response.status().as_u16(), 401, "{client}");
        }
        assert_throttled(login_via(&app, client, "p@example.com", PASSWORD).await, 3600).await;
    }
    // One IPv6 site spreading its attempts over its /64s: 2 per /64, 32 per /48.
    let mut answered = Vec::new();
    for subnet in 0..20 {
        for _ in 0..2 {
            let client = format!("2001:db8:42:{subnet:x}::1");
            answered.push(
                login_via(&app, &client, "p@example.com", "wrong password").await.status().as_u16(),
            );
        }
    }
    assert_eq!(answered.iter().filter(|&&status| status == 401).count(), 32, "{answered:?}");
    assert_eq!(answered.iter().filter(|&&status| status == 429).count(), 8, "{answered:?}");
    // Another site is not affected.
    let elsewhere = login_via(&app, "2001:db8:43::1", "p@example.com", "wrong password").await;
    assert_eq!(elsewhere.status().as_u16(), 401);
}

async fn login_behind_a_forwarded_proxy_reads_only_forwarded(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.login_per_ip = limit("1/1h");
        s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
        s.trusted_proxies.header = "Forwarded".parse().unwrap();
    })
    .await;
    let login = |forwarded: &'static str, x_forwarded_for: &'static str| {
        app.client
            .post(app.url("/api/login"))
            .header("Forwarded", forwarded)
            .header("X-Forwarded-For", x_forwarded_for)
            .json(&json!({"email": "a@example.com", "password": PASSWORD}))
            .send()
    };
    assert_eq!(login("for=198.51.100.1", "203.0.113.1").await.unwrap().status().as_u16(), 401);
    // The client changes the header the proxy does not write: still the same client.
    assert_throttled(login("for=198.51.100.1", "203.0.113.2").await.unwrap(), 3600).await;
    // Another client, as the proxy reports it, has its own count.
    assert_eq!(
        login("for=\"[2001:db8::7]:4711\"", "203.0.113.2").await.unwrap().status().as_u16(),
        401
    );
}

async fn one_address_failing_on_an_account_is_refused_on_it_alone(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.password.per_network = limit("2/15m");
        s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    app.register("B", "b@example.com", PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(login_via(&app, "198.51.100.1", "a@example.com", "wrong").await.status(), 401);
    }
    assert_throttled(login_via(&app, "198.51.100.1", "a@example.com", PASSWORD).await, 900).await;
    assert_eq!(login_via(&app, "198.51.100.2", "a@example.com", PASSWORD).await.status(), 200);
    assert_eq!(login_via(&app, "198.51.100.1", "b@example.com", PASSWORD).await.status(), 200);
    // Successes count nothing: the owner logs in as often as it likes.
    for _ in 0..5 {
        assert_eq!(login_via(&app, "198.51.100.2", "a@example.com", PASSWORD).await.status(), 200);
    }
}

async fn throttled_login_never_reaches_bcrypt(backend: Backend) {
    use auth_service::db::schema::users;
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.password.free = limit("1/1h");
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    assert_eq!(app.login("a@example.com", "wrong password").await.status().as_u16(), 401);
    // A hash bcrypt cannot parse: verifying against it would be a 500.
    diesel::update(users::table)
        .set(users::password_hash.eq("not a bcrypt hash"))
        .execute(&mut app.db())
        .unwrap();
    app.forget_cached();
    assert_throttled(app.login("a@example.com", PASSWORD).await, 3600).await;
}

async fn register_over_the_per_ip_limit_is_429_and_creates_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.register_per_ip = limit("2/1h");
    })
    .await;
    for i in 0..2 {
        let response = app.register("A", &format!("r{i}@example.com"), PASSWORD).await;
        assert_eq!(response.status().as_u16(), 201);
    }
    assert_throttled(app.register("A", "r9@example.com", PASSWORD).await, 3600).await;
    assert_eq!(app.user_count(), 2);
}

async fn upload_over_the_per_ip_limit_is_429_and_stores_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.upload_per_ip = limit("1/1h");
    })
    .await;
    let token = app.register_and_login("up@example.com").await;
    let first = app.upload("/api/upload_profile_pic", &token, "one.png", png_image(2, 2)).await;
    assert_eq!(first.status().as_u16(), 200);
    let files = app.stored_files();
    assert_throttled(
        app.upload("/upload_profile_pic", &token, "two.png", png_bytes(100)).await,
        3600,
    )
    .await;
    assert_eq!(app.stored_files(), files);
}

async fn refresh_over_the_per_ip_limit_is_429_and_spends_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.refresh_per_ip = limit("2/1h");
    })
    .await;
    app.register("A", "refresh@example.com", PASSWORD).await;
    let session = app.session_for("refresh@example.com").await;
    for _ in 0..2 {
        let garbage = app.refresh(&"x".repeat(43)).await;
        assert_eq!(status_and_json(garbage).await, (401, error_body("Invalid refresh token")));
    }
    assert_throttled(app.refresh(&session.refresh).await, 3600).await;
    // The throttled request spent nothing: the token is still the session's live one.
    use auth_service::db::schema::refresh_tokens;
    let spent: Option<chrono::NaiveDateTime> = refresh_tokens::table
        .filter(
            refresh_tokens::token_hash.eq(auth_service::auth::opaque_token::hash(&session.refresh)),
        )
        .select(refresh_tokens::spent_at)
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(spent, None);
    assert_eq!(app.me_status(&session.access).await, 200);
}

async fn limits_are_shared_by_replicas(backend: Backend) {
    let first = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.login_per_ip = limit("2/1h");
    })
    .await;
    let second = first.replica();
    assert_eq!(first.login("a@example.com", PASSWORD).await.status().as_u16(), 401);
    assert_eq!(second.login("a@example.com", PASSWORD).await.status().as_u16(), 401);
    assert_throttled(first.login("a@example.com", PASSWORD).await, 3600).await;
    assert_throttled(second.login("a@example.com", PASSWORD).await, 3600).await;
}

async fn disabled_rate_limits_never_answer_429(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        limits(s);
        s.rate_limits.enabled = false;
        s.rate_limits.login_per_ip = limit("1/1h");
        s.rate_limits.password.free = limit("1/1h");
    })
    .await;
    for _ in 0..5 {
        assert_eq!(app.login("a@example.com", PASSWORD).await.status().as_u16(), 401);
    }
    let rows: i64 = table::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(rows, 0);
}

async fn counters_of_ended_windows_are_pruned(backend: Backend) {
    let app = spawn_app_with(backend, limits).await;
    let now = chrono::Utc::now().naive_utc();
    let ended = now - chrono::Duration::minutes(5);
    rate_limits::record_hit(&mut app.db(), "login-ip:old:1", ended).unwrap();
    // A failed login (no such account): its address's attempt and the account's two counters.
    app.login("a@example.com", PASSWORD).await;
    auth_service::sweeper::sweep(&mut app.db(), now).unwrap();
    let keys: Vec<String> =
        table::table.select(table::key).order(table::key).load(&mut app.db()).unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let prefixes = [
        "login-ip:127.0.0.1:",
        "try-ip:password:a@example.com:127.0.0.1:",
        "try:password:a@example.com:",
    ];
    assert!(keys.iter().zip(prefixes).all(|(key, prefix)| key.starts_with(prefix)), "{keys:?}");
}

both_backends!(
    login_over_the_per_ip_limit_is_429_with_retry_after,
    login_limit_cannot_be_escaped_by_forging_x_forwarded_for,
    login_behind_a_trusted_proxy_is_counted_per_forwarded_client,
    login_behind_a_forwarded_proxy_reads_only_forwarded,
    forwarded_clients_with_ports_and_ipv6_sites_are_counted_apart,
    one_address_failing_on_an_account_is_refused_on_it_alone,
    throttled_login_never_reaches_bcrypt,
    register_over_the_per_ip_limit_is_429_and_creates_nothing,
    upload_over_the_per_ip_limit_is_429_and_stores_nothing,
    refresh_over_the_per_ip_limit_is_429_and_spends_nothing,
    limits_are_shared_by_replicas,
    disabled_rate_limits_never_answer_429,
    counters_of_ended_windows_are_pruned
);

#[test]
fn concurrent_hits_on_one_key_are_all_counted() {
    // The upsert is atomic: 40 hits from 8 threads on one key count to exactly 40.
    let dir = tempfile::TempDir::new().unwrap();
    let url = auth_service::db::DatabaseUrl::Sqlite(dir.path().join("limits.db"));
    let settings = Settings::load_from(&Default::default()).unwrap();
    let pool = auth_service::db::build_pool(&url, &settings.database.options()).unwrap();
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::hours(1);
    let counts: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                scope.spawn(move || {
                    (0..5)
                        .map(|_| {
                            rate_limits::record_hit(&mut pool.get().unwrap(), "k", later).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = counts.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=40).collect::<Vec<i64>>());
}
