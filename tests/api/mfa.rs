//! The TOTP second factor: enrolment, confirmation, the login's second step (a code or a
//! recovery code), what an aal1 token may not do, disabling, and the key its secrets are
//! sealed with. Codes are computed as an authenticator app would (totp-rs); a used step is
//! forgotten through the database where a test needs two logins in one 30-second step.

use auth_service::db::schema::{mail_outbox, mfa_challenges, users};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::helpers::{totp_code as code, wrong_code as wrong};

const EMAIL: &str = MFA_EMAIL;

fn notices(app: &TestApp, kind: &str) -> i64 {
    mail_outbox::table.filter(mail_outbox::kind.eq(kind)).count().get_result(&mut app.db()).unwrap()
}

async fn enrolment_shows_a_secret_and_a_confirmed_code_turns_mfa_on(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Ada", EMAIL, PASSWORD).await;
    let this = app.session_for(EMAIL).await;
    let other = app.session_for(EMAIL).await;
    // A factor is set up only on a proved address: else a squatter keeps it from its owner.
    assert_eq!(
        app.enrol_totp(&this.access, &json!({"password": PASSWORD})).await,
        (403, error_body("Email not verified"))
    );
    let pending: Option<String> = users::table
        .filter(users::email.eq(EMAIL))
        .select(users::totp_secret)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(pending, None);
    app.mark_verified(EMAIL);
    let wrong_password = json!({"password": "not the password"});
    assert_eq!(
        app.enrol_totp(&this.access, &wrong_password).await,
        (403, error_body("Password is incorrect"))
    );

    let response = app
        .client
        .post(app.url("/api/mfa/totp"))
        .bearer_auth(&this.access)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits of base32: {secret}");
    assert_eq!(
        body,
        json!({
            "status": "success",
            "secret": secret,
            "otpauth_uri": format!("otpauth://totp/auth-service:ada%40example.com?secret={secret}&issuer=auth-service"),
        })
    );
    // Not on until confirmed: a login still gets its tokens at once.
    assert!(status_and_json(app.login(EMAIL, PASSWORD).await).await.1["access_token"].is_string());

    // Sealed at rest: neither the base32 nor the raw bytes are in the row.
    let (stored, enabled): (Option<String>, Option<chrono::NaiveDateTime>) = users::table
        .filter(users::email.eq(EMAIL))
        .select((users::totp_secret, users::totp_enabled_at))
        .first(&mut app.db())
        .unwrap();
    let stored = stored.unwrap();
    let raw = totp_rs::Secret::try_from_base32(&secret).unwrap().to_vec();
    assert!(stored.starts_with("v1.") && !stored.contains(&secret), "{stored}");
    assert!(!stored.as_bytes().windows(raw.len()).any(|w| w == raw.as_slice()));
    assert_eq!(enabled, None);

    let (app_ref, access) = (&app, &this.access);
    let confirm =
        |code: String| async move { app_ref.confirm_totp(access, &json!({"code": code})).await };
    assert_eq!(confirm(wrong(&code(&secret))).await, (400, error_body("Invalid code")));
    let (status, body) = confirm(code(&secret)).await;
    assert_eq!(status, 200, "{body}");
    let recovery = body["recovery_codes"].as_array().unwrap();
    assert_eq!(recovery.len(), 10);
    let distinct: std::collections::BTreeSet<_> =
        recovery.iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 10);
    assert!(distinct.iter().all(|c| c.len() == 14 && c.chars().filter(|&c| c == '-').count() == 2));
    let fresh = Tokens::from_body(&body);
    let mut expected = fresh.body("MFA enabled");
    expected["recovery_codes"] = json!(recovery);
    assert_eq!(body, expected);
    assert_eq!(jwt_claims(&fresh.access)["aal"], "aal2");
    assert_eq!(jwt_claims(&fresh.access)["amr"], json!(["pwd", "otp"]));

    // Every session ended, the calling one too: no copy of its refresh token mints aal2 tokens.
    for ended in [&other, &this] {
        assert_eq!(app.me_status(&ended.access).await, 401);
        assert_eq!(app.refresh(&ended.refresh).await.status(), 401);
    }
    assert_eq!(app.me_status(&fresh.access).await, 200);
    assert_eq!(notices(&app, "mfa_enabled"), 1);
    assert_eq!(
        app.enrol_totp(&fresh.access, &json!({"password": PASSWORD})).await,
        (400, error_body("MFA already enabled"))
    );
    let again = app.confirm_totp(&fresh.access, &json!({"code": code(&secret)})).await;
    assert_eq!(again, (400, error_body("MFA already enabled")));
}

async fn a_login_with_mfa_waits_for_the_code_and_its_session_is_aal2(backend: Backend) {
    let app = spawn_app(backend).await;
    let (secret, _, _) = with_mfa(&app).await;
    let response = app.login(EMAIL, PASSWORD).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = status_and_json(response).await;
    let token = body["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "success", "message": "MFA required", "mfa_required": true, "mfa_token": token, "expires_in": 300})
        )
    );
    // A wrong password is answered as for everyone.
    let (status, body) = status_and_json(app.login(EMAIL, "not the password").await).await;
    assert_eq!((status, body), (401, error_body("Invalid credentials")));

    let (app_ref, token_ref) = (&app, &token);
    let attempt = |code: String| async move {
        app_ref.login_mfa(&json!({"mfa_token": token_ref, "code": code})).await
    };
    assert_eq!(attempt(wrong(&code(&secret))).await, (401, error_body("Invalid code")));
    let (status, body) = attempt(code(&secret)).await;
    assert_eq!(status, 200, "{body}");
    let tokens = Tokens::from_body(&body);
    assert_eq!(body, tokens.body("Login successful!"));
    let claims = jwt_claims(&tokens.access);
    assert_eq!(
        (claims["amr"].clone(), claims["aal"].clone()),
        (json!(["pwd", "otp"]), json!("aal2"))
    );
    assert_eq!(app.me_status(&tokens.access).await, 200);

    // Single use: the same mfa_token again, with a code of this step or not.
    forget_used_step(&app);
    assert_eq!(attempt(code(&secret)).await, (401, error_body("Invalid code")));
    // A refresh keeps the session's level.
    let (status, body) = status_and_json(app.refresh(&tokens.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let refreshed = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (refreshed["amr"].clone(), refreshed["aal"].clone()),
        (json!(["pwd", "otp"]), json!("aal2"))
    );
}

async fn a_code_is_refused_when_replayed_in_its_step(backend: Backend) {
    let app = spawn_app(backend).await;
    let (secret, _, _) = with_mfa(&app).await;
    let used = code(&secret);
    let first = mfa_token(&app).await;
    assert_eq!(app.login_mfa(&json!({"mfa_token": first, "code": used})).await.0, 200);
    let second = mfa_token(&app).await;
    assert_eq!(
        app.login_mfa(&json!({"mfa_token": second, "code": used})).await,
        (401, error_body("Invalid code"))
    );
}

async fn an_mfa_token_expires_and_ends_after_five_wrong_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (secret, _, _) = with_mfa(&app).await;
    let token = mfa_token(&app).await;
    for _ in 0..5 {
        let attempt = json!({"mfa_token": token, "code": wrong(&code(&secret))});
        assert_eq!(app.login_mfa(&attempt).await, (401, error_body("Invalid code")));
    }
    let right = json!({"mfa_token": token, "code": code(&secret)});
    assert_eq!(app.login_mfa(&right).await, (401, error_body("Invalid code")));

    let token = mfa_token(&app).await;
    // Its five minutes are over (moved back rather than waited for).
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
    diesel::update(mfa_challenges::table)
        .set(mfa_challenges::expires_at.eq(past))
        .execute(&mut app.db())
        .unwrap();
    let right = json!({"mfa_token": token, "code": code(&secret)});
    assert_eq!(app.login_mfa(&right).await, (401, error_body("Invalid code")));
    for malformed in [
        json!({"mfa_token": token}),
        json!({"code": "123456"}),
        json!({"mfa_token": token, "code": "123456", "recovery_code": "abcd-efgh-ijkl"}),
    ] {
        assert_eq!(app.login_mfa(&malformed).await, (400, error_body("All fields are required")));
    }
    assert_eq!(
        app.login_mfa(&json!({"mfa_token": "short", "code": code(&secret)})).await,
        (401, error_body("Invalid code"))
    );
}

async fn recovery_codes_work_once_each_and_the_user_is_told(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, recovery, _) = with_mfa(&app).await;
    let token = mfa_token(&app).await;
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let (status, body) = app.login_mfa(&json!({"mfa_token": token, "recovery_code": typed})).await;
    assert_eq!(status, 200, "{body}");
    let tokens = Tokens::from_body(&body);
    let claims = jwt_claims(&tokens.access);
    assert_eq!(
        (claims["amr"].clone(), claims["aal"].clone()),
        (json!(["pwd", "recovery"]), json!("aal2"))
    );
    assert_eq!(notices(&app, "recovery_code_used"), 1);
    let body: String = mail_outbox::table
        .filter(mail_outbox::kind.eq("recovery_code_used"))
        .select(mail_outbox::subject)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(body, "A recovery code was used");

    let again = mfa_token(&app).await;
    assert_eq!(
        app.login_mfa(&json!({"mfa_token": again, "recovery_code": recovery[3]})).await,
        (401, error_body("Invalid code"))
    );
    // A new set ends the old one (from an aal2 session).
    let (status, body) =
        app.renew_recovery_codes(&tokens.access, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    let renewed = body["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(renewed.len(), 10);
    let token = mfa_token(&app).await;
    assert_eq!(
        app.login_mfa(&json!({"mfa_token": token, "recovery_code": recovery[4]})).await,
        (401, error_body("Invalid code"))
    );
    let (status, _) =
        app.login_mfa(&json!({"mfa_token": token, "recovery_code": renewed[0]})).await;
    assert_eq!(status, 200);
}

async fn an_aal1_token_cannot_change_what_mfa_protects(backend: Backend) {
    use auth_service::db::schema::sessions;
    let app = spawn_app(backend).await;
    let (secret, _, session) = with_mfa(&app).await;
    // No password-only session starts for an account with MFA on any more; one from before the
    // rules is made here by hand.
    diesel::update(sessions::table).set(sessions::amr.eq("pwd")).execute(&mut app.db()).unwrap();
    let (status, body) = status_and_json(app.refresh(&session.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let aal1 = &Tokens::from_body(&body).access;
    assert_eq!(jwt_claims(aal1)["aal"], "aal1");
    let refused = (403, error_body("Second factor required"));
    let password = json!({"password": PASSWORD});
    assert_eq!(
        app.disable_totp(aal1, &json!({"password": PASSWORD, "code": code(&secret)})).await,
        refused
    );
    assert_eq!(app.renew_recovery_codes(aal1, &password.clone()).await, refused);
    assert_eq!(app.delete_user(aal1, &password).await, refused);
    let change = json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
    assert_eq!(app.change_password(aal1, &change).await, refused);
    let email = json!({"new_email": "ada@example.org", "password": PASSWORD});
    assert_eq!(app.change_email(aal1, &email).await, refused);
    assert_eq!(app.confirm_email_change(aal1, "123456").await, refused);
    assert_eq!(app.user_count(), 1);
    assert!(app.user(EMAIL).totp_enabled_at.is_some());

    // A login that proves the code is aal2.
    let token = mfa_token(&app).await;
    let (status, body) = app.login_mfa(&json!({"mfa_token": token, "code": code(&secret)})).await;
    assert_eq!(status, 200, "{body}");
    forget_used_step(&app);
    let aal2 = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&aal2)["aal"], "aal2");
    let (app_ref, aal2_ref) = (&app, &aal2);
    let disable = |code: String| async move {
        let body = json!({"password": PASSWORD, "code": code});
        app_ref.disable_totp(aal2_ref, &body).await
    };
    assert_eq!(disable(wrong(&code(&secret))).await, (400, error_body("Invalid code")));
    assert!(app.user(EMAIL).totp_enabled_at.is_some());
    assert_eq!(
        disable(code(&secret)).await,
        (200, json!({"status": "success", "message": "MFA disabled"}))
    );
    assert_eq!(notices(&app, "mfa_disabled"), 1);
    // Off: a login gets its tokens at once, and the row keeps no secret.
    let (status, body) = status_and_json(app.login(EMAIL, PASSWORD).await).await;
    assert_eq!((status, body["access_token"].is_string()), (200, true));
    let stored: Option<String> = users::table
        .filter(users::email.eq(EMAIL))
        .select(users::totp_secret)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(stored, None);
    assert_eq!(
        app.disable_totp(&aal2, &json!({"password": PASSWORD, "code": code(&secret)})).await,
        (400, error_body("MFA not enabled"))
    );
}

async fn accounts_without_mfa_see_no_change(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let (status, body) = status_and_json(app.login("bob@example.com", PASSWORD).await).await;
    let tokens = Tokens::from_body(&body);
    assert_eq!((status, body), (200, tokens.body("Login successful!")));
    let claims = jwt_claims(&tokens.access);
    assert_eq!((claims["amr"].clone(), claims["aal"].clone()), (json!(["pwd"]), json!("aal1")));
    let change = json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
    let (status, body) = app.change_password(&tokens.access, &change).await;
    assert_eq!(status, 200, "{body}");
    let changed = Tokens::from_body(&body);
    assert_eq!(jwt_claims(&changed.access)["aal"], "aal1");
    assert_eq!(
        app.renew_recovery_codes(&changed.access, &json!({"password": "another long passphrase"}))
            .await,
        (400, error_body("MFA not enabled"))
    );
}

/// A reset of `EMAIL` with the mailed code: its status and body.
async fn reset_by_mail(app: &TestApp, smtp: &SmtpServer) -> (u16, serde_json::Value) {
    app.post_json("/api/password/forgot", &json!({"email": EMAIL})).await;
    let message = smtp.wait_for_subject("Your password reset code", 1).await.remove(0);
    let body = json!({"email": EMAIL, "code": code_in(&message), "new_password": NEW_PASSWORD});
    status_and_json(app.post_json("/api/password/reset", &body).await).await
}

const NEW_PASSWORD: &str = "another long passphrase";

async fn a_password_reset_of_an_account_with_mfa_changes_nothing_until_the_factor(
    backend: Backend,
) {
    // Before: the mailbox alone changed the password and ended every session, as often as
    // whoever held it liked, and then asked for the factor.
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let (secret, _, session) = with_mfa(&app).await;
    let (status, body) = reset_by_mail(&app, &smtp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    // Nothing changed yet: the owner's session lives, her password still works.
    assert_eq!(app.me_status(&session.access).await, 200);
    let (status, step) = status_and_json(app.login(EMAIL, PASSWORD).await).await;
    assert_eq!((status, step["mfa_required"].clone()), (200, json!(true)));
    assert_eq!(notices(&app, "password_changed"), 0);
    // The factor proved, the reset is done: the new password, a new aal2 session, the rest ended.
    let token = body["mfa_token"].as_str().unwrap();
    let (status, body) = app.login_mfa(&json!({"mfa_token": token, "code": code(&secret)})).await;
    assert_eq!((status, body["message"].clone()), (200, json!("Password reset")), "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["aal"], "aal2");
    assert_eq!(app.me_status(&session.access).await, 401);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status(), 401);
    assert_eq!(app.login(EMAIL, NEW_PASSWORD).await.status(), 200);
    assert_eq!(notices(&app, "password_changed"), 1);
}

async fn a_reset_that_first_proves_the_mailbox_drops_the_factors_set_up_before(backend: Backend) {
    // Before: a squatter's factor on a never-verified address outlived the owner's reset, which
    // ended in "MFA required".
    use auth_service::db::schema::recovery_codes;
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    with_mfa(&app).await;
    // A factor set up on an address no one had proved (the rule refuses that now).
    diesel::update(users::table)
        .set(users::email_verified_at.eq(None::<chrono::NaiveDateTime>))
        .execute(&mut app.db())
        .unwrap();
    app.forget_cached();
    let (status, body) = reset_by_mail(&app, &smtp).await;
    assert_eq!((status, body["message"].clone()), (200, json!("Password reset")), "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["aal"].clone(), claims["email_verified"].clone()),
        (json!("aal1"), json!(true))
    );
    assert!(app.user(EMAIL).totp_enabled_at.is_none());
    let left: i64 = recovery_codes::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(left, 0);
    assert_eq!(app.login(EMAIL, NEW_PASSWORD).await.status(), 200);
}

async fn a_missing_or_wrong_key_stops_the_start_and_names_it(backend: Backend) {
    let app = spawn_app(backend).await;
    with_mfa(&app).await;
    let start = |key: Option<&str>| {
        let mut settings = app.settings.clone();
        settings.mfa.encryption_key = key.map(str::to_owned);
        settings.app_env = "production".into();
        auth_service::startup::Application::build(settings).err().map(|error| error.to_string())
    };
    let other_key = "b3RoZXIta2V5LW9mLTMyLWJ5dGVzLWZvci1hZXMtZ2M=";
    assert_eq!(
        start(Some(other_key)),
        Some("MFA_ENCRYPTION_KEY: does not open the 1 stored TOTP secrets: is it the key they were sealed with?".into())
    );
    assert_eq!(
        start(Some("c2hvcnQ=")),
        Some("MFA_ENCRYPTION_KEY: must be 32 bytes (openssl rand -base64 32)".into())
    );
    assert_eq!(
        start(None),
        Some(
            "MFA_ENCRYPTION_KEY: is required: 1 accounts have a TOTP secret sealed with it".into()
        )
    );
}

/// `cargo run` on a fresh machine: without MFA_ENCRYPTION_KEY, outside production, on SQLite,
/// the key is made once beside the database and kept; losing it stops the start.
#[tokio::test]
async fn without_a_key_a_development_sqlite_service_keeps_one_beside_its_database() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app_with(Backend::Sqlite, |s| s.mfa.encryption_key = None).await;
    let auth_service::db::DatabaseUrl::Sqlite(database) = &app.settings.database.url else {
        unreachable!()
    };
    let key_file = database.parent().unwrap().join("mfa-encryption.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (secret, _, _) = with_mfa(&app).await;

    let restarted = auth_service::startup::Application::build(app.settings.clone());
    assert!(restarted.is_ok(), "the kept key opens the secrets");
    let token = mfa_token(&app).await;
    assert_eq!(app.login_mfa(&json!({"mfa_token": token, "code": code(&secret)})).await.0, 200);

    std::fs::remove_file(&key_file).unwrap();
    let error = auth_service::startup::Application::build(app.settings.clone()).err().unwrap();
    assert_eq!(
        error.to_string(),
        "MFA_ENCRYPTION_KEY: does not open the 1 stored TOTP secrets: is it the key they were sealed with?"
    );
}

async fn a_lost_authenticator_is_turned_off_with_a_recovery_code_and_replaced(backend: Backend) {
    // The recovery-code notice tells the user to replace the authenticator: without it, only
    // the recovery codes prove the second factor.
    let app = spawn_app(backend).await;
    let (_, recovery, _) = with_mfa(&app).await;
    let token = mfa_token(&app).await;
    let (status, body) =
        app.login_mfa(&json!({"mfa_token": token, "recovery_code": recovery[0]})).await;
    assert_eq!(status, 200, "{body}");
    let aal2 = Tokens::from_body(&body).access;
    let off = |recovery_code: &str| json!({"password": PASSWORD, "recovery_code": recovery_code});
    assert_eq!(
        app.disable_totp(&aal2, &off(&recovery[0])).await,
        (400, error_body("Invalid code"))
    );
    assert_eq!(
        app.disable_totp(
            &aal2,
            &json!({"password": PASSWORD, "code": "123456", "recovery_code": recovery[1]})
        )
        .await,
        (400, error_body("All fields are required"))
    );
    assert_eq!(
        app.disable_totp(&aal2, &off(&recovery[1])).await,
        (200, json!({"status": "success", "message": "MFA disabled"}))
    );
    assert!(app.user(EMAIL).totp_enabled_at.is_none());
    let (status, body) = app.enrol_totp(&aal2, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        app.confirm_totp(&aal2, &json!({"code": code(body["secret"].as_str().unwrap())})).await;
    assert_eq!(status, 200, "{body}");
}

both_backends!(
    a_lost_authenticator_is_turned_off_with_a_recovery_code_and_replaced,
    enrolment_shows_a_secret_and_a_confirmed_code_turns_mfa_on,
    a_login_with_mfa_waits_for_the_code_and_its_session_is_aal2,
    a_code_is_refused_when_replayed_in_its_step,
    an_mfa_token_expires_and_ends_after_five_wrong_codes,
    recovery_codes_work_once_each_and_the_user_is_told,
    an_aal1_token_cannot_change_what_mfa_protects,
    accounts_without_mfa_see_no_change,
    a_password_reset_of_an_account_with_mfa_changes_nothing_until_the_factor,
    a_reset_that_first_proves_the_mailbox_drops_the_factors_set_up_before,
    a_missing_or_wrong_key_stops_the_start_and_names_it
);
