//! Every way a token can be wrong is 401, with `Not logged in` on `GET /` and `Unauthorized`
//! on the other protected routes.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims_for(user_id: &str, email: &str) -> Value {
    json!({"sub": user_id, "email": email, "iat": now(), "exp": now() + 600,
           "jti": uuid::Uuid::new_v4().to_string()})
}

fn sign(claims: &Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .unwrap()
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Registers a user and returns its id (as the `sub` claim holds it) and a valid token.
async fn user(app: &TestApp) -> (String, String) {
    let token = app.register_and_login("victim@example.com").await;
    let user = auth_service::db::users::find_user_by_email(&mut app.db(), "victim@example.com")
        .unwrap()
        .unwrap();
    (user.id.to_string(), token)
}

/// The token is refused on `GET /`, on upload and on logout, with the contract's bodies.
pub(crate) async fn assert_refused(app: &TestApp, authorization: &str) {
    let response = app.get_me(Some(authorization)).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer", "{authorization}");
    assert_eq!(
        status_and_json(response).await,
        (401, error_body("Not logged in")),
        "{authorization}"
    );

    let response = app
        .client
        .post(app.url("/api/logout"))
        .header("Authorization", authorization)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_json(response).await,
        (401, error_body("Unauthorized")),
        "{authorization}"
    );

    let form = reqwest::multipart::Form::new()
        .part("profile_pic", reqwest::multipart::Part::bytes(png_bytes(64)).file_name("a.png"));
    let response = app
        .client
        .post(app.url("/api/upload_profile_pic"))
        .header("Authorization", authorization)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_json(response).await,
        (401, error_body("Unauthorized")),
        "{authorization}"
    );
    assert!(app.stored_files().is_empty());
}

both_backends! {
    async fn token_with_alg_none_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (id, _) = user(&app).await;
        let claims = claims_for(&id, "victim@example.com");
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "typ": "JWT"});
            let token = format!("{}.{}.", segment(&header), segment(&claims));
            assert_refused(&app, &format!("Bearer {token}")).await;
        }
    }

    async fn token_with_another_algorithm_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (id, _) = user(&app).await;
        let claims = claims_for(&id, "victim@example.com");
        let token = encode(&Header::new(Algorithm::HS512), &claims,
                           &EncodingKey::from_secret(TEST_SECRET.as_bytes())).unwrap();
        assert_refused(&app, &format!("Bearer {token}")).await;
    }

    async fn token_signed_with_another_key_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (id, _) = user(&app).await;
        let token = sign(&claims_for(&id, "victim@example.com"), "some-other-secret-of-enough-length!!");
        assert_refused(&app, &format!("Bearer {token}")).await;
    }

    async fn expired_token_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (id, _) = user(&app).await;
        let mut claims = claims_for(&id, "victim@example.com");
        claims["iat"] = json!(now() - 7200);
        claims["exp"] = json!(now() - 3600);
        assert_refused(&app, &format!("Bearer {}", sign(&claims, TEST_SECRET))).await;
    }

    async fn token_without_exp_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (id, _) = user(&app).await;
        let mut claims = claims_for(&id, "victim@example.com");
        claims.as_object_mut().unwrap().remove("exp");
        assert_refused(&app, &format!("Bearer {}", sign(&claims, TEST_SECRET))).await;
    }

    async fn token_not_yet_valid_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (id, _) = user(&app).await;
        let mut claims = claims_for(&id, "victim@example.com");
        claims["nbf"] = json!(now() + 3600);
        assert_refused(&app, &format!("Bearer {}", sign(&claims, TEST_SECRET))).await;
    }

    async fn token_with_tampered_payload_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (_, token) = user(&app).await;
        let other = app.register_and_login("other@example.com").await;
        let parts: Vec<&str> = token.split('.').collect();
        let other_payload = other.split('.').nth(1).unwrap();
        let tampered = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
        assert_refused(&app, &format!("Bearer {tampered}")).await;
        // The same forgery with a payload edited by hand.
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["exp"] = json!(now() + 86_400 * 365);
        let tampered = format!("{}.{}.{}", parts[0], segment(&claims), parts[2]);
        assert_refused(&app, &format!("Bearer {tampered}")).await;
    }

    async fn revoked_token_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (_, token) = user(&app).await;
        assert_eq!(app.logout(&token).await.status().as_u16(), 200);
        assert_refused(&app, &format!("Bearer {token}")).await;
    }

    async fn garbage_tokens_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        user(&app).await;
        for garbage in ["Bearer garbage", "Bearer a.b.c", "Bearer ", "Bearer", "Bearer ....",
                        "Bearer eyJhbGciOiJIUzI1NiJ9"] {
            assert_refused(&app, garbage).await;
        }
    }

    async fn token_with_sub_that_is_not_a_user_id_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        user(&app).await;
        let token = sign(&claims_for("not-a-number", "victim@example.com"), TEST_SECRET);
        assert_refused(&app, &format!("Bearer {token}")).await;
    }

    async fn token_under_another_scheme_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let (_, token) = user(&app).await;
        for authorization in [format!("Basic {token}"), format!("Token {token}"), token.clone(),
                              format!("Bearer{token}")] {
            assert_refused(&app, &authorization).await;
        }
    }

    async fn token_in_query_string_or_cookie_is_ignored(backend: Backend) {
        let app = spawn_app(backend).await;
        let (_, token) = user(&app).await;
        for query in ["token", "access_token", "jwt"] {
            let response = app.client.get(app.url(&format!("/?{query}={token}"))).send().await.unwrap();
            assert_eq!(status_and_json(response).await, (401, error_body("Not logged in")));
        }
        let response = app.client.get(app.url("/"))
            .header("Cookie", format!("session={token}; access_token={token}"))
            .send().await.unwrap();
        assert_eq!(status_and_json(response).await, (401, error_body("Not logged in")));
    }

    async fn token_of_deleted_user_is_refused(backend: Backend) {
        use auth_service::db::schema::users;
        use diesel::RunQueryDsl;
        let app = spawn_app(backend).await;
        let (_, token) = user(&app).await;
        diesel::delete(users::table).execute(&mut app.db()).unwrap();
        let (status, body) = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
        assert_eq!((status, body), (401, error_body("Not logged in")));
        let (status, body) =
            status_and_json(app.upload("/api/upload_profile_pic", &token, "a.png", png_bytes(64)).await).await;
        assert_eq!((status, body), (404, error_body("User not found")));
        assert!(app.stored_files().is_empty());
    }
}
