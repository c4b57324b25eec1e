//! `DELETE /api/user`

use auth_service::db::schema::refresh_tokens;
use diesel::{QueryDsl, RunQueryDsl};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn deletion_removes_the_row_the_picture_and_every_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "gone@example.com", PASSWORD).await;
    app.register("B", "stays@example.com", PASSWORD).await;
    let this = app.session_for("gone@example.com").await;
    let other = app.session_for("gone@example.com").await;
    let bystander = app.session_for("stays@example.com").await;
    let uploaded =
        app.upload("/api/upload_profile_pic", &this.access, "me.png", png_image(8, 8)).await;
    assert_eq!(uploaded.status().as_u16(), 200);
    assert_eq!(app.stored_files().len(), 1);

    let (status, body) = app.delete_user(&this.access, &json!({"password": PASSWORD})).await;
    assert_eq!((status, body), (200, json!({"status": "success", "message": "Account deleted"})));

    assert_eq!(app.user_count(), 1);
    assert!(app.stored_files().is_empty());
    assert_eq!(app.session_count("gone@example.com"), 0);
    let refresh_rows: i64 = refresh_tokens::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(refresh_rows, 1, "only the bystander's refresh token is left");
    // Its tokens stop working at once, with the contract's answers for a deleted user.
    assert_eq!(
        status_and_json(app.get_me(Some(&this.bearer())).await).await,
        (401, error_body("Not logged in"))
    );
    let upload =
        app.upload("/api/upload_profile_pic", &other.access, "me.png", png_image(8, 8)).await;
    assert_eq!(status_and_json(upload).await, (404, error_body("User not found")));
    assert!(app.stored_files().is_empty());
    assert_eq!(
        status_and_json(app.refresh(&other.refresh).await).await,
        (401, error_body("Invalid refresh token"))
    );
    assert_eq!(app.login("gone@example.com", PASSWORD).await.status().as_u16(), 401);
    // The address is free again, and nobody else was touched.
    assert_eq!(app.register("A again", "gone@example.com", PASSWORD).await.status().as_u16(), 201);
    assert_eq!(app.me_status(&bystander.access).await, 200);
}

async fn deletion_with_a_wrong_password_is_403_and_deletes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("keep@example.com").await;
    app.upload("/api/upload_profile_pic", &token, "me.png", png_image(8, 8)).await;
    let (status, body) = app.delete_user(&token, &json!({"password": "not the password"})).await;
    assert_eq!((status, body), (403, error_body("Password is incorrect")));
    let (status, body) = app.delete_user(&token, &json!({})).await;
    assert_eq!((status, body), (400, error_body("All fields are required")));
    assert_eq!(app.user_count(), 1);
    assert_eq!(app.stored_files().len(), 1);
    assert_eq!(app.me_status(&token).await, 200);
}

async fn deletion_needs_a_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "keep@example.com", PASSWORD).await;
    let response = app
        .client
        .delete(app.url("/api/user"))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
    assert_eq!(app.user_count(), 1);
}

both_backends!(
    deletion_removes_the_row_the_picture_and_every_token,
    deletion_with_a_wrong_password_is_403_and_deletes_nothing,
    deletion_needs_a_bearer_token
);
