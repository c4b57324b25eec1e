//! `PATCH /api/user` (the name), `POST /api/email/change` and its confirmation, and the notices
//! the old address and a deleted account get.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const CONFIRM: &str = "Your code to confirm ada@new.example";

async fn change(
    app: &TestApp,
    token: &str,
    new_email: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    app.change_email(token, &json!({"new_email": new_email, "password": password})).await
}

async fn patch_user_renames_and_answers_the_user_as_get_shows_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("ada@example.com").await;
    let (status, body) = app.update_user(&token, &json!({"name": "  Ada L.  "})).await;
    let user = json!({"name": "Ada L.", "email": "ada@example.com", "profile_pic_url": null, "email_verified": false});
    assert_eq!((status, body), (200, json!({"status": "success", "user": user})));
    let me = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
    assert_eq!(me.1["user"]["name"], "Ada L.");
    let invalid = app.update_user(&token, &json!({"name": "a\u{7}b"})).await;
    assert_eq!(
        invalid,
        (400, error_body("Name must be 1 to 100 characters, without control characters"))
    );
    let missing = app.update_user(&token, &json!({})).await;
    assert_eq!(missing, (400, error_body("All fields are required")));
    assert_eq!(app.user("ada@example.com").name, "Ada L.");
}

async fn an_email_change_is_confirmed_by_the_code_sent_to_the_new_address(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let old =
        Tokens::from_body(&status_and_json(app.login("ada@example.com", PASSWORD).await).await.1);
    let other =
        Tokens::from_body(&status_and_json(app.login("ada@example.com", PASSWORD).await).await.1);

    let asked = change(&app, &old.access, "Ada@New.Example", PASSWORD).await;
    assert_eq!(
        asked,
        (202, json!({"status": "success", "message": "Confirmation code sent to the new address"}))
    );
    let message = smtp.wait_for_subject(CONFIRM, 1).await.remove(0);
    assert!(message.contains("To: ada@new.example\r\n"), "{message}");
    let code = code_in(&message);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(
        app.confirm_email_change(&old.access, &wrong).await,
        (400, error_body("Invalid or expired code"))
    );

    let (status, body) = app.confirm_email_change(&old.access, &code).await;
    assert_eq!((status, body["message"].clone()), (200, json!("Email changed")), "{body}");
    let new = Tokens::from_body(&body);
    assert_eq!(jwt_claims(&new.access)["email"], "ada@new.example");
    // Every other session ends; the account signs in by its new address only.
    assert_eq!(app.get_me(Some(&old.bearer())).await.status(), 401);
    assert_eq!(app.refresh(&other.refresh).await.status(), 401);
    let me = status_and_json(app.get_me(Some(&new.bearer())).await).await.1;
    assert_eq!(
        (me["user"]["email"].clone(), me["user"]["email_verified"].clone()),
        (json!("ada@new.example"), json!(true))
    );
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("ada@new.example", PASSWORD).await.status(), 200);
    // The old address is told, and given no code.
    let notice =
        smtp.wait_for_subject("The email address of your account was changed", 1).await.remove(0);
    assert!(
        notice.contains("To: ada@example.com\r\n") && notice.contains("now uses a…@new.example"),
        "{notice}"
    );
    assert!(!notice.contains("code: "), "{notice}");
    assert_eq!(
        app.confirm_email_change(&new.access, &code).await,
        (400, error_body("Invalid or expired code"))
    );
}

async fn an_email_change_needs_the_password_and_a_free_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("ada@example.com").await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    assert_eq!(
        change(&app, &token, "new@example.com", "wrong password here").await,
        (403, error_body("Password is incorrect"))
    );
    assert_eq!(
        change(&app, &token, "Bob@example.com", PASSWORD).await,
        (400, error_body("Email already registered"))
    );
    assert_eq!(
        change(&app, &token, "not an address", PASSWORD).await,
        (400, error_body("Invalid email address"))
    );
    let missing = app.change_email(&token, &json!({"new_email": "x@example.com"})).await;
    assert_eq!(missing, (400, error_body("All fields are required")));
    assert_eq!(
        app.confirm_email_change(&token, "123456").await,
        (400, error_body("Invalid or expired code"))
    );
    assert_eq!(app.user("ada@example.com").email, "ada@example.com");
}

async fn a_deleted_account_is_told_at_its_address(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = app.register_and_login("ada@example.com").await;
    let deleted = app.delete_user(&token, &json!({ "password": PASSWORD })).await;
    assert_eq!(deleted.0, 200);
    let notice = smtp.wait_for_subject("Your account was deleted", 1).await.remove(0);
    assert!(
        notice.contains("To: ada@example.com\r\n") && notice.contains("was deleted from 127.0.0.1"),
        "{notice}"
    );
}

async fn codes_for_a_new_address_and_resent_codes_are_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.enabled = true;
        s.rate_limits.mail_per_ip = "2/1h".parse().unwrap();
        s.rate_limits.mail_per_address = "1000/15m".parse().unwrap();
        s.rate_limits.register_per_ip = "1000/1h".parse().unwrap();
    })
    .await;
    let token = app.register_and_login("ada@example.com").await;
    let too_many = (429, error_body("Too many requests, try again later"));
    assert_eq!(change(&app, &token, "one@example.com", PASSWORD).await.0, 202);
    let resend = || async {
        let request = app.client.post(app.url("/api/email/verify/resend")).bearer_auth(&token);
        status_and_json(request.send().await.unwrap()).await
    };
    assert_eq!(resend().await.0, 202);
    assert_eq!(change(&app, &token, "two@example.com", PASSWORD).await, too_many);
    assert_eq!(resend().await, too_many);
}

async fn an_email_change_ends_the_codes_sent_to_the_old_address(backend: Backend) {
    // Whoever reads the old mailbox must not reset the password of the account that moved.
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = app.register_and_login("ada@example.com").await;
    assert_eq!(app.forgot_password("ada@example.com").await.0, 202);
    let reset_code = code_in(&smtp.wait_for_subject("Your password reset code", 1).await[0]);
    assert_eq!(change(&app, &token, "ada@new.example", PASSWORD).await.0, 202);
    let code = code_in(&smtp.wait_for_subject(CONFIRM, 1).await[0]);
    assert_eq!(app.confirm_email_change(&token, &code).await.0, 200);
    let reset = json!({
        "email": "ada@new.example",
        "code": reset_code,
        "new_password": "another long passphrase"
    });
    assert_eq!(app.reset_password(&reset).await, (400, error_body("Invalid or expired code")));
    assert_eq!(app.login("ada@new.example", PASSWORD).await.status(), 200);
}

both_backends!(
    an_email_change_ends_the_codes_sent_to_the_old_address,
    codes_for_a_new_address_and_resent_codes_are_limited,
    patch_user_renames_and_answers_the_user_as_get_shows_it,
    an_email_change_is_confirmed_by_the_code_sent_to_the_new_address,
    an_email_change_needs_the_password_and_a_free_address,
    a_deleted_account_is_told_at_its_address
);
