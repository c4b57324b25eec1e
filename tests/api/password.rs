//! `PUT /api/password`

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const NEW_PASSWORD: &str = "staple battery horse correct";

async fn password_change_ends_every_other_session_and_starts_a_new_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "pw@example.com", PASSWORD).await;
    let this = app.session_for("pw@example.com").await;
    let other = app.session_for("pw@example.com").await;

    let (status, body) = app
        .change_password(
            &this.access,
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let fresh = Tokens::from_body(&body);
    assert_eq!(body, fresh.body("Password changed"));
    // Every token from before the change is dead, this client's old ones included; the
    // response's tokens carry on.
    for old in [&this, &other] {
        assert_eq!(app.me_status(&old.access).await, 401);
        assert_eq!(app.refresh(&old.refresh).await.status().as_u16(), 401);
    }
    assert_eq!(app.session_count("pw@example.com"), 1);
    assert_eq!(app.me_status(&fresh.access).await, 200);
    assert_eq!(app.refresh(&fresh.refresh).await.status().as_u16(), 200);
    assert_eq!(
        status_and_json(app.login("pw@example.com", PASSWORD).await).await,
        (401, error_body("Invalid credentials"))
    );
    assert_eq!(app.login("pw@example.com", NEW_PASSWORD).await.status().as_u16(), 200);
}

async fn wrong_current_password_is_403_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "pw@example.com", PASSWORD).await;
    let session = app.session_for("pw@example.com").await;
    let (status, body) = app
        .change_password(
            &session.access,
            &json!({"current_password": "not the password", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!((status, body), (403, error_body("Password is incorrect")));
    assert_eq!(app.me_status(&session.access).await, 200);
    assert_eq!(app.login("pw@example.com", PASSWORD).await.status().as_u16(), 200);
}

async fn new_password_follows_the_registration_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "pw@example.com", PASSWORD).await;
    let session = app.session_for("pw@example.com").await;
    let cases = [
        (json!({"current_password": PASSWORD}), "All fields are required"),
        (
            json!({"current_password": PASSWORD, "new_password": 12345678}),
            "All fields are required",
        ),
        (json!({"new_password": NEW_PASSWORD}), "All fields are required"),
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "Password must be at least 8 characters",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "x".repeat(73)}),
            "Password must be at most 72 bytes",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "password123"}),
            "Password is too common, choose another",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            app.change_password(&session.access, &body).await,
            (400, error_body(message)),
            "{body}"
        );
    }
    assert_eq!(app.me_status(&session.access).await, 200);
    assert_eq!(app.login("pw@example.com", PASSWORD).await.status().as_u16(), 200);
}

async fn password_change_needs_a_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .put(app.url("/api/password"))
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
}

async fn password_guesses_through_a_stolen_token_are_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.enabled = true;
        s.rate_limits.login_per_ip = "1000/1h".parse().unwrap();
        s.rate_limits.password.per_network = "1000/1h".parse().unwrap();
        s.rate_limits.password.free = "2/1h".parse().unwrap();
    })
    .await;
    app.register("A", "pw@example.com", PASSWORD).await;
    let session = app.session_for("pw@example.com").await;
    let guess = json!({"current_password": "guess 1234", "new_password": NEW_PASSWORD});
    assert_eq!(app.change_password(&session.access, &guess).await.0, 403);
    assert_eq!(app.change_password(&session.access, &guess).await.0, 403);
    let (status, body) = app.change_password(&session.access, &guess).await;
    assert_eq!((status, body), (429, error_body("Too many requests, try again later")));
    // One budget with the logins: the owner is slowed as the guesser is, never locked out.
    let response = app.login("pw@example.com", PASSWORD).await;
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait <= 2, "Retry-After {wait}");
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    assert_eq!(app.login("pw@example.com", PASSWORD).await.status(), 200);
}

both_backends!(
    password_change_ends_every_other_session_and_starts_a_new_one,
    wrong_current_password_is_403_and_changes_nothing,
    new_password_follows_the_registration_rules,
    password_change_needs_a_bearer_token,
    password_guesses_through_a_stolen_token_are_throttled
);
