//! Every way a token can be wrong, and the forgeries an attacker would try (RFC 8725, OWASP JWT
//! cheat sheet): each is 401, `Not logged in` on `GET /` and `Unauthorized` on the other
//! protected routes, and changes nothing.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: &Value, secret: &str) -> String {
    forge_hs256(claims, secret.as_bytes())
}

fn hs256(header: &Value, claims: &Value) -> String {
    forge_hmac(header, claims, TEST_SECRET.as_bytes(), Algorithm::HS256)
}

/// Registers a user and returns its id (as the `sub` claim holds it) and a valid token.
async fn user(app: &TestApp) -> (String, String) {
    let token = app.register_and_login("victim@example.com").await;
    (app.user_id("victim@example.com").to_string(), token)
}

/// Registers a user and returns the claims of a valid token of a live session for it, to forge
/// tokens from: each forgery below is valid but for the one attack it tries.
async fn victim(app: &TestApp) -> Value {
    let (_, token) = user(app).await;
    let mut claims = jwt_claims(&token);
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    claims
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

async fn token_signed_with_another_key_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    let token = sign(&claims, "some-other-secret-of-enough-length!!");
    assert_refused(&app, &format!("Bearer {token}")).await;
}

async fn expired_token_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = victim(&app).await;
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    assert_refused(&app, &format!("Bearer {}", sign(&claims, TEST_SECRET))).await;
}

async fn token_without_exp_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = victim(&app).await;
    claims.as_object_mut().unwrap().remove("exp");
    assert_refused(&app, &format!("Bearer {}", sign(&claims, TEST_SECRET))).await;
}

async fn token_not_yet_valid_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = victim(&app).await;
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
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(now() + 86_400 * 365);
    let tampered = format!("{}.{}.{}", parts[0], jwt_segment_of(&claims), parts[2]);
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
    for garbage in [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ",
        "Bearer",
        "Bearer ....",
        "Bearer eyJhbGciOiJIUzI1NiJ9",
    ] {
        assert_refused(&app, garbage).await;
    }
}

async fn token_with_sub_that_is_not_a_user_id_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = victim(&app).await;
    claims["sub"] = json!("not-a-number");
    let token = sign(&claims, TEST_SECRET);
    assert_refused(&app, &format!("Bearer {token}")).await;
}

async fn token_under_another_scheme_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = user(&app).await;
    for authorization in [
        format!("Basic {token}"),
        format!("Token {token}"),
        token.clone(),
        format!("Bearer{token}"),
    ] {
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
    let response = app
        .client
        .get(app.url("/"))
        .header("Cookie", format!("session={token}; access_token={token}"))
        .send()
        .await
        .unwrap();
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
    let (status, body) = status_and_json(
        app.upload("/api/upload_profile_pic", &token, "a.png", png_bytes(64)).await,
    )
    .await;
    assert_eq!((status, body), (404, error_body("User not found")));
    assert!(app.stored_files().is_empty());
}

async fn control_a_forged_hs256_token_with_the_right_secret_is_accepted(backend: Backend) {
    // The forging helpers themselves work: every refusal below is for the attack alone.
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    let token = hs256(&access_header("HS256"), &claims);
    assert_eq!(app.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 200);
}

async fn hs384_and_hs512_with_the_right_secret_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    for (name, algorithm) in [("HS384", Algorithm::HS384), ("HS512", Algorithm::HS512)] {
        let token = forge_hmac(&access_header(name), &claims, TEST_SECRET.as_bytes(), algorithm);
        assert_refused(&app, &format!("Bearer {token}")).await;
    }
}

async fn asymmetric_headers_and_key_confusion_are_refused(backend: Backend) {
    // An RS256/ES256/EdDSA header over an HMAC signature: the classic key-confusion attack
    // signs with whatever the verifier would use as the "public key".
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    for alg in ["RS256", "ES256", "PS256", "EdDSA"] {
        let token = hs256(&access_header(alg), &claims);
        assert_refused(&app, &format!("Bearer {token}")).await;
    }
}

async fn alg_none_in_any_spelling_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        for header in [json!({"alg": alg}), access_header(alg)] {
            let unsigned = format!("{}.{}.", jwt_segment_of(&header), jwt_segment_of(&claims));
            assert_refused(&app, &format!("Bearer {unsigned}")).await;
            // Unsigned but with an HS256 signature stripped from a valid token.
            let signed = hs256(&header, &claims);
            assert_refused(&app, &format!("Bearer {signed}")).await;
        }
    }
}

async fn kid_injection_signed_with_a_guessable_key_is_refused(backend: Backend) {
    // An attacker points kid at a file or a query whose "key" they know (empty, /dev/null).
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    for kid in ["../../../../dev/null", "' UNION SELECT 'key' --", "/proc/self/environ"] {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        for key in [&b""[..], b"\0", b"key"] {
            assert_refused(
                &app,
                &format!("Bearer {}", forge_hmac(&header, &claims, key, Algorithm::HS256)),
            )
            .await;
        }
    }
}

async fn key_url_headers_are_ignored_never_fetched(backend: Backend) {
    // jku/x5u point at an attacker's server, jwk embeds an attacker's key: a token signed
    // with that key is refused, and one signed with the service's secret is accepted
    // because the headers are ignored (nothing is fetched). `kid` does select a key, among
    // the configured ones only: a name of no configured key is refused.
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    let named_by_attacker = json!({"alg": "HS256", "typ": "at+jwt", "kid": "attacker"});
    assert_refused(&app, &format!("Bearer {}", hs256(&named_by_attacker, &claims))).await;
    let mut header = access_header("HS256");
    let attacker = json!({"jku": "http://127.0.0.1:9/jwks.json",
                        "x5u": "http://127.0.0.1:9/cert.pem",
                        "jwk": {"kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"attacker-key")}});
    header.as_object_mut().unwrap().extend(attacker.as_object().unwrap().clone());
    assert_refused(
        &app,
        &format!("Bearer {}", forge_hmac(&header, &claims, b"attacker-key", Algorithm::HS256)),
    )
    .await;
    let honest = hs256(&header, &claims);
    assert_eq!(app.get_me(Some(&format!("Bearer {honest}"))).await.status().as_u16(), 200);
}

async fn malformed_exp_claims_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    let header = access_header("HS256");
    let far = chrono::Utc::now().timestamp() + 600;
    for exp in [
        json!(far.to_string()),
        json!(1e300),
        json!(u64::MAX),
        json!(-1),
        json!(null),
        json!(true),
        json!([far]),
    ] {
        let mut claims = claims.clone();
        claims["exp"] = exp.clone();
        assert_refused(&app, &format!("Bearer {}", hs256(&header, &claims))).await;
    }
}

async fn wrong_segment_counts_and_non_canonical_base64_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = victim(&app).await;
    // Five '?' hold an aligned 0x3F3F3F, which base64url writes with a '_' ("Pz8_").
    claims["note"] = json!("?????");
    let token = hs256(&access_header("HS256"), &claims);
    let parts: Vec<&str> = token.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);
    // 43 characters carry 258 bits for a 256-bit signature: the last one's low 2 bits are
    // padding that a lax decoder ignores. Flipping them keeps the bytes, not the text.
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let sibling = alphabet.chars().nth(index ^ 1).unwrap();
    let non_canonical = format!("{}{sibling}", &signature[..signature.len() - 1]);
    let standard_alphabet = payload.replace('-', "+").replace('_', "/");
    assert_ne!(standard_alphabet, payload);
    for forged in [
        format!("{header}.{payload}"),
        format!("{header}.{payload}.{signature}.{signature}"),
        format!("{header}.{payload}.{signature}="),
        format!("{header}=.{payload}.{signature}"),
        format!("{header}.{payload}.{non_canonical}"),
        format!("{header}.{standard_alphabet}.{signature}"),
        format!(" {token}x"),
    ] {
        assert_refused(&app, &format!("Bearer {forged}")).await;
    }
    assert_eq!(app.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 200);
}

async fn tokens_of_another_issuer_audience_or_type_are_refused(backend: Backend) {
    // A token with "iss":"https://evil.example" was accepted.
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    assert_eq!(app.me_status(&sign(&claims, TEST_SECRET)).await, 200, "the control passes");
    for (claim, value) in [
        ("iss", json!("https://evil.example")),
        ("aud", json!("another-service")),
        ("aud", json!(["another-service"])),
    ] {
        let mut forged = claims.clone();
        forged[claim] = value;
        assert_refused(&app, &format!("Bearer {}", sign(&forged, TEST_SECRET))).await;
    }
    for claim in ["iss", "aud", "sid"] {
        let mut forged = claims.clone();
        forged.as_object_mut().unwrap().remove(claim);
        assert_refused(&app, &format!("Bearer {}", sign(&forged, TEST_SECRET))).await;
    }
    // Another kind of JWT made with the same key (an ID token, "typ":"JWT") is no access token.
    for typ in [json!("JWT"), json!("id_token+jwt"), Value::Null] {
        let mut header = access_header("HS256");
        header["typ"] = typ;
        assert_refused(&app, &format!("Bearer {}", hs256(&header, &claims))).await;
    }
}

async fn a_token_naming_another_users_session_or_living_too_long_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = victim(&app).await;
    let other = app.register_and_login("other@example.com").await;
    // The victim's sub with the other user's (live) session.
    let mut forged = claims.clone();
    forged["sid"] = jwt_claims(&other)["sid"].clone();
    assert_refused(&app, &format!("Bearer {}", sign(&forged, TEST_SECRET))).await;
    // exp ten years out: no token of this service lives longer than ACCESS_TOKEN_TTL_SECS.
    let mut forged = claims.clone();
    forged["exp"] = json!(now() + 10 * 365 * 86_400);
    assert_refused(&app, &format!("Bearer {}", sign(&forged, TEST_SECRET))).await;
    // A v1-style token (no kid, no sid) signed with the right secret.
    let mut v1 = claims.clone();
    v1.as_object_mut().unwrap().remove("sid");
    let header = json!({"alg": "HS256", "typ": "JWT"});
    assert_refused(&app, &format!("Bearer {}", hs256(&header, &v1))).await;
}

both_backends!(
    tokens_of_another_issuer_audience_or_type_are_refused,
    a_token_naming_another_users_session_or_living_too_long_is_refused,
    control_a_forged_hs256_token_with_the_right_secret_is_accepted,
    hs384_and_hs512_with_the_right_secret_are_refused,
    asymmetric_headers_and_key_confusion_are_refused,
    alg_none_in_any_spelling_is_refused,
    kid_injection_signed_with_a_guessable_key_is_refused,
    key_url_headers_are_ignored_never_fetched,
    malformed_exp_claims_are_refused,
    wrong_segment_counts_and_non_canonical_base64_are_refused,
    token_signed_with_another_key_is_refused,
    expired_token_is_refused,
    token_without_exp_is_refused,
    token_not_yet_valid_is_refused,
    token_with_tampered_payload_is_refused,
    revoked_token_is_refused,
    garbage_tokens_are_refused,
    token_with_sub_that_is_not_a_user_id_is_refused,
    token_under_another_scheme_is_refused,
    token_in_query_string_or_cookie_is_ignored,
    token_of_deleted_user_is_refused
);
