use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

async fn login_returns_bearer_token_with_contract_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Arun CS", "aruncs31ss@proton.me", PASSWORD).await;
    let (status, body) = status_and_json(app.login("aruncs31ss@proton.me", PASSWORD).await).await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert_eq!(
        body,
        json!({
            "status": "success",
            "message": "Login successful!",
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh_token
        })
    );
    // 256 bits, base64url without padding.
    assert_eq!(URL_SAFE_NO_PAD.decode(refresh_token).unwrap().len(), 32);

    assert_eq!(token.split('.').count(), 3);
    assert_eq!(
        jwt_header(token),
        json!({"alg": "HS256", "typ": "at+jwt", "kid": hs256_kid(TEST_SECRET.as_bytes())})
    );
    let claims = jwt_claims(token);
    let user = app.user("aruncs31ss@proton.me");
    assert_eq!(claims["sub"], json!(user.id.to_string()));
    assert_eq!(claims["email"], json!("aruncs31ss@proton.me"));
    assert_eq!((&claims["iss"], &claims["aud"]), (&json!("auth-service"), &json!("auth-service")));
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(claims["sid"].as_str().unwrap()).is_ok());

    // Verifiable by another service holding the secret, checking issuer and audience.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&["auth-service"]);
    validation.set_audience(&["auth-service"]);
    let decoded = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(TEST_SECRET.as_bytes()),
        &validation,
    );
    assert!(decoded.is_ok());
}

async fn login_answers_unknown_email_and_wrong_password_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "known@example.com", PASSWORD).await;
    let wrong_password =
        status_and_json(app.login("known@example.com", "wrong password").await).await;
    let unknown_email = status_and_json(app.login("unknown@example.com", PASSWORD).await).await;
    assert_eq!(wrong_password, (401, error_body("Invalid credentials")));
    assert_eq!(unknown_email, wrong_password);
}

async fn login_rejects_missing_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    for case in [
        json!({"email": "a@example.com"}),
        json!({"password": PASSWORD}),
        json!({"email": null, "password": PASSWORD}),
        json!({}),
    ] {
        let (status, body) = status_and_json(app.post_json("/api/login", &case).await).await;
        assert_eq!((status, body), (400, error_body("All fields are required")), "{case}");
    }
}

async fn login_rejects_password_over_72_bytes_whose_prefix_matches(backend: Backend) {
    let app = spawn_app(backend).await;
    let password = "p".repeat(72);
    app.register("A", "long@example.com", &password).await;
    // bcrypt would compare only the first 72 bytes and let this in.
    let longer = format!("{password}extra");
    let (status, body) = status_and_json(app.login("long@example.com", &longer).await).await;
    assert_eq!((status, body), (401, error_body("Invalid credentials")));
    assert_eq!(app.login("long@example.com", &password).await.status().as_u16(), 200);
}

async fn login_normalises_email_but_not_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "case@example.com", PASSWORD).await;
    assert_eq!(app.login("  CASE@Example.COM ", PASSWORD).await.status().as_u16(), 200);
    let padded = format!(" {PASSWORD} ");
    assert_eq!(app.login("case@example.com", &padded).await.status().as_u16(), 401);
    assert_eq!(
        app.login("case@example.com", &PASSWORD.to_uppercase()).await.status().as_u16(),
        401
    );
}

async fn login_with_an_address_that_cannot_exist_is_401_before_the_database(backend: Backend) {
    // A NUL in text was a 500 on PostgreSQL ("invalid byte sequence for encoding UTF8: 0x00").
    let app = spawn_app_with(backend, |s| s.rate_limits.enabled = true).await;
    app.register("A", "real@example.com", PASSWORD).await;
    for email in ["real\u{0}@example.com", "real@example.com\u{0}", "re\u{1}al@example.com", "real"]
    {
        let response = app.login(email, PASSWORD).await;
        assert_eq!(
            status_and_json(response).await,
            (401, error_body("Invalid credentials")),
            "{email:?}"
        );
    }
    assert_eq!(app.login("real@example.com", PASSWORD).await.status(), 200);
}

async fn a_login_stores_a_hash_of_another_cost_at_todays_cost(backend: Backend) {
    use auth_service::db::schema::users;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    // The account was hashed at cost 4; the service now runs at 5.
    let app = spawn_app_with(backend, |s| s.passwords.bcrypt_cost = 5).await;
    app.register("A", "old@example.com", PASSWORD).await;
    let cheap = bcrypt::hash(PASSWORD, 4).unwrap();
    let row = users::table.filter(users::email.eq("old@example.com"));
    diesel::update(row).set(users::password_hash.eq(&cheap)).execute(&mut app.db()).unwrap();
    assert_eq!(app.login("old@example.com", "wrong password").await.status(), 401);
    assert_eq!(
        app.user("old@example.com").password_hash,
        cheap,
        "a wrong password changes nothing"
    );

    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 200);
    let stored = app.user("old@example.com").password_hash;
    assert!(stored.starts_with("$2b$05$"), "{stored}");
    assert!(bcrypt::verify(PASSWORD, &stored).unwrap());
    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.user("old@example.com").password_hash, stored, "rehashed once");
}

/// The race of a login with a password change, a logout everywhere or a deletion, frozen at
/// its worst moment: the password was checked (and the user read) before the other request,
/// the session is started after it.
async fn a_login_checked_before_its_sessions_were_ended_starts_none(backend: Backend) {
    use auth_service::db::sessions::{self, NewRefreshToken, NewSession, PasswordCheck, SeenFrom};
    let app = spawn_app(backend).await;
    let token = app.register_and_login("race@example.com").await;
    let start = |user_id: i64, hash: &str, checked_at: chrono::NaiveDateTime| {
        let now = chrono::Utc::now().naive_utc();
        let first = NewRefreshToken {
            token_hash: uuid::Uuid::new_v4().to_string(),
            expires_at: now + chrono::Duration::hours(1),
        };
        let seen = SeenFrom { ip: "127.0.0.0/24".into(), user_agent: None };
        let check = PasswordCheck { hash, at: checked_at };
        let new = NewSession { first: &first, seen: &seen, amr: "pwd" };
        sessions::start(&mut app.db(), user_id, check, new, now).unwrap()
    };
    let user = app.user("race@example.com");
    let checked_at = chrono::Utc::now().naive_utc();
    assert!(start(user.id, &user.password_hash, checked_at).is_some(), "the control case starts");

    // Logout everywhere between the check and the start.
    let checked_at = chrono::Utc::now().naive_utc();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (status, _) = app.logout_scope(&token, "all").await;
    assert_eq!(status, 200);
    assert_eq!(start(user.id, &user.password_hash, checked_at), None);
    // A check that began after it starts one (also within the same second).
    let after = chrono::Utc::now().naive_utc();
    let fresh = start(user.id, &user.password_hash, after);
    assert!(fresh.is_some());

    // A password change between the check and the start: the old hash no longer matches.
    let token = app.token_for("race@example.com").await;
    let change =
        json!({"current_password": PASSWORD, "new_password": "staple battery horse correct"});
    let (status, _) = app.change_password(&token, &change).await;
    assert_eq!(status, 200);
    assert_eq!(start(user.id, &user.password_hash, chrono::Utc::now().naive_utc()), None);

    // A deletion between them: no foreign-key error (a 500), no session.
    let changed = app.user("race@example.com");
    let token = app.token_for_password("race@example.com", "staple battery horse correct").await;
    let deletion = json!({"password": "staple battery horse correct"});
    let (status, _) = app.delete_user(&token, &deletion).await;
    assert_eq!(status, 200);
    assert_eq!(start(changed.id, &changed.password_hash, chrono::Utc::now().naive_utc()), None);
    assert_eq!(app.session_count("race@example.com"), 0);
}

both_backends!(
    a_login_checked_before_its_sessions_were_ended_starts_none,
    a_login_stores_a_hash_of_another_cost_at_todays_cost,
    login_with_an_address_that_cannot_exist_is_401_before_the_database,
    login_returns_bearer_token_with_contract_claims,
    login_answers_unknown_email_and_wrong_password_alike,
    login_rejects_missing_fields,
    login_rejects_password_over_72_bytes_whose_prefix_matches,
    login_normalises_email_but_not_password
);
