use auth_service::db::{revoked_tokens, schema::revoked_tokens as table};
use diesel::{QueryDsl, RunQueryDsl};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    async fn logout_revokes_only_the_presented_token(backend: Backend) {
        let app = spawn_app(backend).await;
        let token = app.register_and_login("out@example.com").await;
        let other_session = app.token_for("out@example.com").await;

        let (status, body) = status_and_json(app.logout(&token).await).await;
        assert_eq!((status, body), (200, json!({"status": "success", "message": "Logged out"})));

        let claims: serde_json::Value = {
            use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
        };
        assert!(revoked_tokens::is_revoked(&mut app.db(), claims["jti"].as_str().unwrap()).unwrap());

        assert_eq!(app.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 401);
        assert_eq!(status_and_json(app.logout(&token).await).await, (401, error_body("Unauthorized")));
        assert_eq!(app.get_me(Some(&format!("Bearer {other_session}"))).await.status().as_u16(), 200);
    }

    async fn logout_is_seen_by_every_replica(backend: Backend) {
        // Two app instances sharing one database and secret stand for two replicas.
        let first = spawn_app(backend).await;
        let database_url = first.database_url.clone();
        let second = spawn_app_with(backend, |s| s.database_url = database_url).await;
        let token = first.register_and_login("replica@example.com").await;
        assert_eq!(second.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 200);
        assert_eq!(first.logout(&token).await.status().as_u16(), 200);
        assert_eq!(second.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 401);
    }

    async fn logout_without_token_is_401_unauthorized(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.client.post(app.url("/api/logout")).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
    }

    async fn logout_prunes_expired_revocations(backend: Backend) {
        let app = spawn_app(backend).await;
        let long_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(2);
        revoked_tokens::revoke(&mut app.db(), "expired-jti", long_ago).unwrap();
        let token = app.register_and_login("prune@example.com").await;
        app.logout(&token).await;
        assert!(!revoked_tokens::is_revoked(&mut app.db(), "expired-jti").unwrap());
        let rows: i64 = table::table.count().get_result(&mut app.db()).unwrap();
        assert_eq!(rows, 1);
    }
}
