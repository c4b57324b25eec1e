use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn register_creates_user_with_bcrypt_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) =
        status_and_json(app.register("  Arun CS ", " ArunCS31ss@Proton.me ", PASSWORD).await).await;
    assert_eq!(status, 201);
    assert_eq!(body, json!({"status": "success", "message": "User registered successfully"}));

    let user = app.user("aruncs31ss@proton.me");
    assert_eq!(user.name, "Arun CS");
    assert_eq!(user.email, "aruncs31ss@proton.me");
    assert_eq!(user.profile_pic, None);
    assert!(user.password_hash.starts_with("$2b$04$"), "{}", user.password_hash);
    assert!(bcrypt::verify(PASSWORD, &user.password_hash).unwrap());
}

async fn register_rejects_missing_null_non_string_or_blank_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        json!({"email": "a@example.com", "password": PASSWORD}),
        json!({"name": "A", "password": PASSWORD}),
        json!({"name": "A", "email": "a@example.com"}),
        json!({"name": null, "email": "a@example.com", "password": PASSWORD}),
        json!({"name": 42, "email": "a@example.com", "password": PASSWORD}),
        json!({"name": "A", "email": ["a@example.com"], "password": PASSWORD}),
        json!({"name": "   ", "email": "a@example.com", "password": PASSWORD}),
        json!({"name": "A", "email": "a@example.com", "password": "          "}),
        json!({}),
    ];
    for case in cases {
        let (status, body) = status_and_json(app.post_json("/api/register", &case).await).await;
        assert_eq!((status, body), (400, error_body("All fields are required")), "{case}");
    }
    assert_eq!(app.user_count(), 0);
}

async fn register_rejects_invalid_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = format!("{}@example.com", "a".repeat(243));
    for email in [
        "not-an-email",
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "a\u{0}b@example.com",
        too_long.as_str(),
        // Mailbox syntax that would register one address and mail another, or none.
        "Support<victim@example.org>",
        "victim(x)@example.org",
        "a,b@example.org",
        "\"quoted\"@example.org",
    ] {
        let (status, body) = status_and_json(app.register("A", email, PASSWORD).await).await;
        assert_eq!((status, body), (400, error_body("Invalid email address")), "{email:?}");
    }
    assert_eq!(app.user_count(), 0);
}

async fn register_rejects_invalid_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "n".repeat(101);
    for name in [too_long.as_str(), "nul\u{0}byte", "new\nline"] {
        let (status, body) =
            status_and_json(app.register(name, "a@example.com", PASSWORD).await).await;
        assert_eq!(
            (status, body),
            (400, error_body("Name must be 1 to 100 characters, without control characters")),
            "{name:?}"
        );
    }
    assert_eq!(app.user_count(), 0);
    let hundred = "n".repeat(100);
    assert_eq!(app.register(&hundred, "a@example.com", PASSWORD).await.status().as_u16(), 201);
}

async fn register_applies_password_length_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = status_and_json(app.register("A", "a@example.com", "1234567").await).await;
    assert_eq!((status, body), (400, error_body("Password must be at least 8 characters")));
    let (status, body) =
        status_and_json(app.register("A", "a@example.com", &"p".repeat(73)).await).await;
    assert_eq!((status, body), (400, error_body("Password must be at most 72 bytes")));
    assert_eq!(app.user_count(), 0);

    let exactly_72 = "p".repeat(72);
    assert_eq!(app.register("A", "a@example.com", &exactly_72).await.status().as_u16(), 201);
    assert_eq!(app.login("a@example.com", &exactly_72).await.status().as_u16(), 200);
}

async fn register_rejects_common_passwords_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    for common in ["password1", "PassWord1", "pass1234", "qwertyuiop"] {
        let (status, body) =
            status_and_json(app.register("A", "a@example.com", common).await).await;
        assert_eq!(
            (status, body),
            (400, error_body("Password is too common, choose another")),
            "{common}"
        );
    }
    assert_eq!(app.user_count(), 0);
    // Never trimmed: with a trailing space it is another password.
    assert_eq!(app.register("A", "a@example.com", "pass1234 ").await.status().as_u16(), 201);
    assert_eq!(app.login("a@example.com", "pass1234").await.status().as_u16(), 401);
    assert_eq!(app.login("a@example.com", "pass1234 ").await.status().as_u16(), 200);
}

async fn register_accepts_common_passwords_when_the_check_is_off(backend: Backend) {
    // The seed's own curl example registers with pass1234.
    let app = spawn_app_with(backend, |s| s.passwords.reject_common = false).await;
    let (status, body) =
        status_and_json(app.register("Arun CS", "aruncs31ss@proton.me", "pass1234").await).await;
    assert_eq!(
        (status, body),
        (201, json!({"status": "success", "message": "User registered successfully"}))
    );
}

async fn register_rejects_duplicate_email_case_insensitive(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.register("A", "dup@example.com", PASSWORD).await.status().as_u16(), 201);
    let (status, body) =
        status_and_json(app.register("B", "  DUP@Example.com", "another password").await).await;
    assert_eq!((status, body), (400, error_body("Email already registered")));
    assert_eq!(app.user_count(), 1);
    let user = app.user("dup@example.com");
    assert_eq!(user.name, "A");
}

async fn register_twenty_concurrent_duplicates_give_one_201(backend: Backend) {
    let app = spawn_app(backend).await;
    let requests = (0..20).map(|i| {
        let app = &app;
        async move {
            status_and_json(app.register(&format!("User {i}"), "race@example.com", PASSWORD).await)
                .await
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let duplicates = results
        .iter()
        .filter(|(status, body)| *status == 400 && *body == error_body("Email already registered"))
        .count();
    assert_eq!((created, duplicates), (1, 19), "{results:?}");
    assert_eq!(app.user_count(), 1);
}

async fn register_rejects_non_json_and_malformed_bodies(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/register"))
        .header("Content-Type", "text/plain")
        .body(r#"{"name":"A","email":"a@example.com","password":"correct horse"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!((status, body), (415, error_body("Content-Type must be application/json")));

    for malformed in ["{\"name\": ", "\"text\"", "42", ""] {
        let response = app
            .client
            .post(app.url("/api/register"))
            .header("Content-Type", "application/json")
            .body(malformed)
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_json(response).await;
        assert_eq!((status, body), (400, error_body("Malformed JSON body")), "{malformed:?}");
    }
    // serde reads an array as a struct's fields in order; none of these is a string.
    let response = app
        .client
        .post(app.url("/api/register"))
        .header("Content-Type", "application/json")
        .body("[1, 2, 3]")
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(response).await, (400, error_body("All fields are required")));
    assert_eq!(app.user_count(), 0);
}

async fn look_alike_addresses_are_one_account_or_refused(backend: Backend) {
    // alice@, alice<ZWSP>@, fullwidth ａlice@, Cyrillic alіce@, josé in NFC and NFD, a trailing
    // RLO: all registered as distinct accounts.
    let app = spawn_app(backend).await;
    assert_eq!(app.register("A", "alice@example.com", PASSWORD).await.status(), 201);
    let taken = (400, error_body("Email already registered"));
    assert_eq!(
        status_and_json(app.register("A", "\u{ff41}lice@example.com", PASSWORD).await).await,
        taken
    );
    for look_alike in
        ["alice\u{200b}@example.com", "al\u{456}ce@example.com", "alice@example.com\u{202e}"]
    {
        let response = app.register("A", look_alike, PASSWORD).await;
        assert_eq!(
            status_and_json(response).await,
            (400, error_body("Invalid email address")),
            "{look_alike:?}"
        );
    }
    assert_eq!(app.register("J", "jos\u{e9}@example.com", PASSWORD).await.status(), 201);
    assert_eq!(
        status_and_json(app.register("J", "jose\u{301}@example.com", PASSWORD).await).await,
        taken
    );
    assert_eq!(app.user_count(), 2);
    // The fullwidth spelling logs in to the one account.
    assert_eq!(app.login("\u{ff41}lice@example.com", PASSWORD).await.status(), 200);
}

async fn stored_addresses_are_renormalised_once_and_collisions_reported(backend: Backend) {
    use auth_service::db::{
        migrations::{Collision, renormalize_emails},
        schema::users,
    };
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let app = spawn_app(backend).await;
    // Rows as an older version stored them: lower-cased, not NFKC.
    for (name, email) in [
        ("F", "\u{ff46}ull@example.com"),
        ("N", "jos\u{e9}@example.com"),
        ("D", "jose\u{301}@example.com"),
    ] {
        assert_eq!(app.register(name, "placeholder@example.com", PASSWORD).await.status(), 201);
        let row = users::table.filter(users::email.eq("placeholder@example.com"));
        diesel::update(row).set(users::email.eq(email)).execute(&mut app.db()).unwrap();
    }
    let ids: Vec<i64> =
        users::table.select(users::id).order(users::id).load(&mut app.db()).unwrap();
    let collisions = renormalize_emails(&mut app.db()).unwrap();
    assert_eq!(
        collisions,
        [Collision {
            kept_id: ids[1],
            other_id: ids[2],
            normalized: "jos\u{e9}@example.com".into()
        }]
    );
    let emails: Vec<String> =
        users::table.select(users::email).order(users::id).load(&mut app.db()).unwrap();
    assert_eq!(emails, ["full@example.com", "jos\u{e9}@example.com", "jose\u{301}@example.com"]);
    assert_eq!(app.login("full@example.com", PASSWORD).await.status(), 200);
}

both_backends!(
    look_alike_addresses_are_one_account_or_refused,
    stored_addresses_are_renormalised_once_and_collisions_reported,
    register_creates_user_with_bcrypt_hash,
    register_rejects_missing_null_non_string_or_blank_fields,
    register_rejects_invalid_email,
    register_rejects_invalid_name,
    register_applies_password_length_rules,
    register_rejects_common_passwords_in_any_case,
    register_accepts_common_passwords_when_the_check_is_off,
    register_rejects_duplicate_email_case_insensitive,
    register_twenty_concurrent_duplicates_give_one_201,
    register_rejects_non_json_and_malformed_bodies
);
