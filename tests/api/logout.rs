use auth_service::db::schema::users;
use diesel::{QueryDsl, RunQueryDsl};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn logout_ends_only_this_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "out@example.com", PASSWORD).await;
    let this = app.session_for("out@example.com").await;
    let other = app.session_for("out@example.com").await;
    // An access token of this session from before its last refresh dies with it too.
    let (_, refreshed) = status_and_json(app.refresh(&this.refresh).await).await;
    let this_now = Tokens::from_body(&refreshed);

    let (status, body) = status_and_json(app.logout(&this_now.access).await).await;
    assert_eq!((status, body), (200, json!({"status": "success", "message": "Logged out"})));

    for token in [&this.access, &this_now.access] {
        assert_eq!(app.me_status(token).await, 401);
    }
    assert_eq!(
        status_and_json(app.logout(&this_now.access).await).await,
        (401, error_body("Unauthorized"))
    );
    assert_eq!(
        status_and_json(app.refresh(&this_now.refresh).await).await,
        (401, error_body("Invalid refresh token"))
    );
    assert_eq!(app.session_count("out@example.com"), 1);
    assert_eq!(app.me_status(&other.access).await, 200);
    assert_eq!(app.refresh(&other.refresh).await.status().as_u16(), 200);
}

async fn logout_is_seen_by_every_replica(backend: Backend) {
    // Two app instances sharing one database and secret stand for two replicas.
    let first = spawn_app(backend).await;
    let second = first.replica();
    let token = first.register_and_login("replica@example.com").await;
    assert_eq!(second.me_status(&token).await, 200);
    assert_eq!(first.logout(&token).await.status().as_u16(), 200);
    assert_eq!(first.me_status(&token).await, 401, "at once where it was made");
    assert!(second.time_to_refusal(&token).await.is_some(), "within the bound elsewhere");
}

async fn logout_without_token_is_401_unauthorized(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.post(app.url("/api/logout")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
}

async fn logout_everywhere_ends_every_session_on_every_replica(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = first.replica();
    first.register("A", "all@example.com", PASSWORD).await;
    let laptop = first.session_for("all@example.com").await;
    let phone = second.session_for("all@example.com").await;
    let id = first.user_id("all@example.com");
    second.register("B", "bystander@example.com", PASSWORD).await;
    let bystander = second.session_for("bystander@example.com").await;

    let (status, body) = second.logout_scope(&phone.access, "all").await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "success", "message": "Logged out everywhere"}))
    );

    for app in [&first, &second] {
        for token in [&laptop.access, &phone.access] {
            assert_eq!(app.me_status(token).await, 401);
        }
    }
    for refresh in [&laptop.refresh, &phone.refresh] {
        assert_eq!(
            status_and_json(first.refresh(refresh).await).await,
            (401, error_body("Invalid refresh token"))
        );
    }
    assert_eq!(first.session_count("all@example.com"), 0);
    let valid_after: Option<i64> =
        users::table.find(id).select(users::tokens_valid_after_ms).first(&mut first.db()).unwrap();
    assert!(valid_after.is_some());

    // A login right after (within the same second) works, and other users were untouched.
    let again = first.session_for("all@example.com").await;
    assert_eq!(second.me_status(&again.access).await, 200);
    assert_eq!(first.me_status(&bystander.access).await, 200);
}

async fn unknown_logout_scope_is_400_and_ends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("scope@example.com").await;
    for query in ["scope=everything", "scope=", "scope=ALL"] {
        let response = app
            .client
            .post(app.url(&format!("/api/logout?{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_json(response).await,
            (400, error_body("Unknown logout scope")),
            "{query}"
        );
    }
    assert_eq!(app.me_status(&token).await, 200);
    assert_eq!(app.session_count("scope@example.com"), 1);
}

async fn malformed_logout_query_is_400_of_its_own_and_ends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("query@example.com").await;
    let response = app
        .client
        .post(app.url("/api/logout?scope=all&scope=all"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(response).await, (400, error_body("Malformed query string")));
    assert_eq!(app.me_status(&token).await, 200);
    assert_eq!(app.session_count("query@example.com"), 1);
}

both_backends!(
    malformed_logout_query_is_400_of_its_own_and_ends_nothing,
    logout_ends_only_this_session,
    logout_is_seen_by_every_replica,
    logout_without_token_is_401_unauthorized,
    logout_everywhere_ends_every_session_on_every_replica,
    unknown_logout_scope_is_400_and_ends_nothing
);
