use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn current_user_returns_profile_for_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("me@example.com").await;
    let (status, body) = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "status": "success",
            "user": {"name": "Test User", "email": "me@example.com", "profile_pic_url": null, "email_verified": false}
        })
    );
}

async fn current_user_without_token_is_401_not_logged_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_me(None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(status_and_json(response).await, (401, error_body("Not logged in")));
}

async fn current_user_accepts_scheme_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("case@example.com").await;
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = app.get_me(Some(&format!("{scheme} {token}"))).await;
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
}

both_backends!(
    current_user_returns_profile_for_bearer_token,
    current_user_without_token_is_401_not_logged_in,
    current_user_accepts_scheme_in_any_case
);
