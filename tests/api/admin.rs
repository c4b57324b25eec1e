//! `/api/admin/*` with admin keys, and what a disabled account is refused. The CLI that calls
//! the same functions is `admin_cli.rs`.

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const EMAIL: &str = "ada@example.com";

async fn app_with_ada(backend: Backend) -> (TestApp, SmtpServer, i64) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", EMAIL, PASSWORD).await;
    let id = app.user_id(EMAIL);
    (app, smtp, id)
}

async fn admin_calls_need_a_key_with_the_scope(backend: Backend) {
    let (app, _smtp, id) = app_with_ada(backend).await;
    let user_token = app.token_for(EMAIL).await;
    let path = format!("/users/{id}");
    let unauthorized = (401, error_body("Unauthorized"));
    assert_eq!(app.admin(Method::GET, &path, None, None).await, unauthorized);
    assert_eq!(app.admin(Method::GET, &path, Some(&user_token), None).await, unauthorized);
    assert_eq!(app.admin_get(&path, "ask_not-a-key").await, unauthorized);

    let reader = app.admin_key("users:read").await;
    assert_eq!(app.admin_get(&path, &reader).await.0, 200);
    let refused = (403, error_body("Admin key lacks the scope this needs"));
    assert_eq!(app.admin_post(&format!("{path}/disable"), &reader, None).await, refused);
    let (status, _) = app.admin(Method::DELETE, &path, Some(&reader), None).await;
    assert_eq!(status, 403);
    let webhooks_only = app.admin_key("webhooks:write").await;
    assert_eq!(app.admin_get(&path, &webhooks_only).await, refused);

    // users:write includes users:read.
    let writer = app.admin_key("users:write").await;
    assert_eq!(app.admin_get(&path, &writer).await.0, 200);
    assert_eq!(app.user(EMAIL).disabled_at, None, "nothing changed");

    // A revoked key is refused from its next call on.
    let revoked = app.cli(&["keys", "list", "--json"]);
    let keys: Value = serde_json::from_str(&revoked.stdout).unwrap();
    let reader_id = keys["keys"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.cli(&["keys", "revoke", &reader_id]).code, 0);
    assert_eq!(app.admin_get(&path, &reader).await, unauthorized);
    assert_eq!(app.admin_get(&path, &writer).await.0, 200);
}

async fn users_are_found_by_the_start_of_their_address_or_name_a_page_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    for (name, email) in [
        ("Ada Lovelace", "ada@example.com"),
        ("Grace Hopper", "grace@example.com"),
        ("Alan Turing", "turing@example.com"),
        ("Adele", "adele@example.org"),
        ("%Percent", "percent@example.com"),
    ] {
        assert_eq!(app.register(name, email, PASSWORD).await.status(), 201);
    }
    let key = app.admin_key("users:read").await;
    let emails = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    // "ad" starts two addresses; "a" starts an address and a name ("Alan Turing").
    let (status, body) = app.admin_get("/users?q=AD", &key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(emails(&body), ["ada@example.com", "adele@example.org"]);
    let (_, body) = app.admin_get("/users?q=a&limit=2", &key).await;
    assert_eq!(emails(&body), ["ada@example.com", "turing@example.com"]);
    let cursor = body["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, body) = app.admin_get(&format!("/users?q=a&limit=2&cursor={cursor}"), &key).await;
    assert_eq!(emails(&body), ["adele@example.org"]);
    assert_eq!(body["next_cursor"], Value::Null);
    // LIKE's wildcards are the text's own: "%" finds the name that starts with it, not all.
    let (_, body) = app.admin_get("/users?q=%25", &key).await;
    assert_eq!(emails(&body), ["percent@example.com"]);
    let (_, body) = app.admin_get("/users?q=_", &key).await;
    assert_eq!(emails(&body), Vec::<String>::new());
    // The whole list, and one user as it is listed.
    let (_, body) = app.admin_get("/users", &key).await;
    assert_eq!(emails(&body).len(), 5);
    let ada = &body["users"][0];
    let id = app.user_id("ada@example.com");
    assert_eq!(
        ada,
        &json!({
            "id": id, "name": "Ada Lovelace", "email": "ada@example.com",
            "email_verified": false, "mfa": false, "status": "active",
            "disabled_at": null, "disabled_until": null, "disabled_reason": null,
            "created_at": ada["created_at"],
        })
    );
    for bad in ["/users?limit=0", "/users?limit=101", "/users?cursor=abc"] {
        assert_eq!(app.admin_get(bad, &key).await.0, 400, "{bad}");
    }
    assert_eq!(app.admin_get("/users/999999", &key).await, (404, error_body("User not found")));
    assert_eq!(app.admin_get("/users/ada", &key).await, (404, error_body("User not found")));
}

async fn a_disabled_account_signs_in_nowhere_and_its_tokens_die_on_every_replica(backend: Backend) {
    let (app, smtp, id) = app_with_ada(backend).await;
    app.mark_verified(EMAIL);
    let other = app.replica();
    let session = app.session_for(EMAIL).await;
    assert_eq!(app.me_status(&session.access).await, 200);
    let key = app.admin_key("users:write").await;
    let body = json!({"reason": "spam", "until": "2099-01-01T00:00:00Z"});
    let (status, detail) =
        other.admin_post(&format!("/users/{id}/disable"), &key, Some(&body)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["user"]["status"], "disabled");
    assert_eq!(detail["user"]["disabled_until"], "2099-01-01T00:00:00Z");
    assert_eq!(detail["user"]["disabled_reason"], "spam");
    assert_eq!(detail["sessions"], json!([]));
    // Disabled on one replica, refused by the other once the change reached it (its session
    // cache: within REVOCATION_BOUND).
    assert!(app.time_to_refusal(&session.access).await.is_some());
    let disabled = (403, error_body("Account disabled"));
    // Its refresh token is told why, on any replica.
    assert_eq!(status_and_json(app.refresh(&session.refresh).await).await, disabled);
    // The same answer whatever the password.
    assert_eq!(status_and_json(app.login(EMAIL, PASSWORD).await).await, disabled);
    assert_eq!(status_and_json(app.login(EMAIL, "not the password").await).await, disabled);
    // A mailed code neither.
    assert_eq!(app.request_sign_in_code(EMAIL).await.0, 202);
    let message = smtp.wait_for_subject("Your sign-in code", 1).await.remove(0);
    assert_eq!(app.verify_sign_in_code(EMAIL, &code_in(&message)).await, disabled);
    let message = smtp.wait_for_subject("Your account was disabled", 1).await.remove(0);
    assert!(message.contains("until 2099-01-01 00:00 UTC"), "{message}");

    // Enabled: signs in again (the ended sessions stay ended).
    let (status, detail) = app.admin_post(&format!("/users/{id}/enable"), &key, None).await;
    assert_eq!((status, &detail["user"]["status"]), (200, &json!("active")));
    smtp.wait_for_subject("Your account is enabled again", 1).await;
    assert_eq!(app.me_status(&session.access).await, 401);
    let ended = (401, error_body("Invalid refresh token"));
    assert_eq!(status_and_json(app.refresh(&session.refresh).await).await, ended);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status(), 200);

    // An `until` lifts it by itself once it has passed.
    let (status, _) =
        app.admin_post(&format!("/users/{id}/disable"), &key, Some(&json!({"until": "1h"}))).await;
    assert_eq!(status, 200);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status(), 403);
    {
        use auth_service::db::schema::users;
        let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
        diesel::update(users::table.find(id))
            .set(users::disabled_until.eq(past))
            .execute(&mut app.db())
            .unwrap();
        app.forget_cached();
    }
    assert_eq!(app.login(EMAIL, PASSWORD).await.status(), 200);
    let (_, detail) = app.admin_get(&format!("/users/{id}"), &key).await;
    assert_eq!(detail["user"]["status"], "active");

    for (body, problem) in [
        (
            json!({"until": "yesterday"}),
            "until \"yesterday\" is neither an RFC 3339 time nor a span like 12h or 7d",
        ),
        (json!({"until": "2001-01-01T00:00:00Z"}), "until must be in the future"),
        (json!({"reason": "x".repeat(501)}), "reason must be at most 500 characters"),
    ] {
        let answer = app.admin_post(&format!("/users/{id}/disable"), &key, Some(&body)).await;
        assert_eq!(answer, (400, error_body(problem)), "{body}");
    }
    assert_eq!(
        app.login(EMAIL, PASSWORD).await.status(),
        200,
        "a refused disabling changed nothing"
    );
}

async fn every_way_in_is_refused_to_a_disabled_account(backend: Backend) {
    let smtp = SmtpServer::start();
    let provider = OidcProvider::start();
    let app =
        spawn_app_with_smtp_and(backend, &smtp, |settings| provider.configure(settings)).await;
    app.register("Ada", EMAIL, PASSWORD).await;
    app.mark_verified(EMAIL);
    let id = app.user_id(EMAIL);
    let token = app.token_for(EMAIL).await;
    let mut key = SoftKey::new();
    app.add_passkey(&token, &mut key, "laptop").await;
    provider.account("ada-oidc", json!({"email": EMAIL, "email_verified": true})).await;
    let back = app.oauth_sign_in("oidc", "ada-oidc").await;
    assert_eq!(app.oauth_exchange(back.get("code").unwrap()).await.0, 200, "linked");
    // A login waiting for its second step when the disabling comes.
    let (secret, _, _) = with_mfa(&app).await;
    let waiting = mfa_token(&app).await;

    let admin = app.admin_key("users:write").await;
    for user in [id, app.user_id(MFA_EMAIL)] {
        assert_eq!(app.admin_post(&format!("/users/{user}/disable"), &admin, None).await.0, 200);
    }
    let disabled = (403, error_body("Account disabled"));
    assert_eq!(app.sign_in_with(&mut key).await, disabled, "passkey");
    let back = app.oauth_sign_in("oidc", "ada-oidc").await;
    assert_eq!(app.oauth_exchange(back.get("code").unwrap()).await, disabled, "provider");
    let step = json!({"mfa_token": waiting, "code": totp_code(&secret)});
    // The waiting second step ended with the disabling.
    assert_eq!(app.login_mfa(&step).await, (401, error_body("Invalid code")), "second step");
    app.forgot_password(EMAIL).await;
    let message = smtp.wait_for_subject("Your password reset code", 1).await.remove(0);
    let reset =
        json!({"email": EMAIL, "code": code_in(&message), "new_password": "another passphrase"});
    assert_eq!(app.reset_password(&reset).await, disabled, "reset");
    let admin_reader = app.admin_key("users:read").await;
    let (_, detail) = app.admin_get(&format!("/users/{id}"), &admin_reader).await;
    assert_eq!((&detail["user"]["status"], &detail["sessions"]), (&json!("disabled"), &json!([])));
    assert_eq!(app.admin_post(&format!("/users/{id}/enable"), &admin, None).await.0, 200);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status(), 200, "the reset changed nothing");
}

async fn operators_log_out_verify_reset_the_second_factor_of_and_delete_users(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let (_, _, session) = with_mfa(&app).await;
    let id = app.user_id(MFA_EMAIL);
    let key = app.admin_key("users:write").await;
    let (_, detail) = app.admin_get(&format!("/users/{id}"), &key).await;
    assert_eq!(detail["sessions"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(
        (&detail["user"]["mfa"], &detail["recovery_codes_left"]),
        (&json!(true), &json!(10))
    );

    let (status, detail) = app.admin_post(&format!("/users/{id}/logout"), &key, None).await;
    assert_eq!((status, &detail["sessions"]), (200, &json!([])));
    assert_eq!(app.me_status(&session.access).await, 401);

    let (status, detail) = app.admin_post(&format!("/users/{id}/reset-mfa"), &key, None).await;
    assert_eq!((status, &detail["user"]["mfa"]), (200, &json!(false)));
    smtp.wait_for_subject("Two-step sign-in was reset", 1).await;
    let (status, body) = status_and_json(app.login(MFA_EMAIL, PASSWORD).await).await;
    assert_eq!((status, body.get("mfa_required")), (200, None), "{body}");
    let again = app.admin_post(&format!("/users/{id}/reset-mfa"), &key, None).await;
    assert_eq!(again, (400, error_body("MFA not enabled")));

    app.register("Bob", "bob@example.com", PASSWORD).await;
    let bob = app.user_id("bob@example.com");
    let (status, detail) = app.admin_post(&format!("/users/{bob}/verify-email"), &key, None).await;
    assert_eq!((status, &detail["user"]["email_verified"]), (200, &json!(true)));

    let (status, body) = app.admin(Method::DELETE, &format!("/users/{id}"), Some(&key), None).await;
    assert_eq!((status, body), (200, json!({"status": "success", "message": "User deleted"})));
    smtp.wait_for_subject("Your account was deleted", 1).await;
    assert_eq!(app.user_count(), 1);
    assert_eq!(app.login(MFA_EMAIL, PASSWORD).await.status(), 401);
    let gone = app.admin(Method::DELETE, &format!("/users/{id}"), Some(&key), None).await;
    assert_eq!(gone, (404, error_body("User not found")));
}

both_backends!(
    admin_calls_need_a_key_with_the_scope,
    users_are_found_by_the_start_of_their_address_or_name_a_page_at_a_time,
    a_disabled_account_signs_in_nowhere_and_its_tokens_die_on_every_replica,
    every_way_in_is_refused_to_a_disabled_account,
    operators_log_out_verify_reset_the_second_factor_of_and_delete_users,
);
