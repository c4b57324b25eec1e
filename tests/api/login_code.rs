//! `POST /api/login/code` and `/api/login/code/verify`: signing in with a code by mail instead of
//! the password, over a real SMTP server.

use auth_service::throttle::Lane;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const SENT: &str = "If that address has an account, a code is on its way";
const SUBJECT: &str = "Your sign-in code";

fn invalid_code() -> (u16, serde_json::Value) {
    (400, error_body("Invalid or expired code"))
}

async fn a_mailed_code_signs_in_without_the_password_and_verifies_the_address(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let sent = (202, json!({"status": "success", "message": SENT}));
    assert_eq!(app.request_sign_in_code("Ada@Example.com ").await, sent);
    // An unknown address gets the same answer, and no message.
    assert_eq!(app.request_sign_in_code("nobody@example.com").await, sent);
    let message = smtp.wait_for_subject(SUBJECT, 1).await.remove(0);
    assert!(message.contains("To: ada@example.com\r\n"), "{message}");
    assert!(message.contains("/sign-in#email=ada%40example.com&code="), "{message}");
    let code = code_in(&message);

    let (status, body) = app.verify_sign_in_code("ada@example.com", &code).await;
    assert_eq!(status, 200, "{body}");
    let tokens = Tokens::from_body(&body);
    assert_eq!(body, tokens.body("Login successful!"));
    let claims = jwt_claims(&tokens.access);
    assert_eq!(
        (claims["amr"].clone(), claims["aal"].clone(), claims["email_verified"].clone()),
        (json!(["otp"]), json!("aal1"), json!(true))
    );
    assert!(app.user("ada@example.com").email_verified_at.is_some());
    // A refresh keeps what it was signed in with.
    let (status, body) = status_and_json(app.refresh(&tokens.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["amr"], json!(["otp"]));
    // Single use.
    assert_eq!(app.verify_sign_in_code("ada@example.com", &code).await, invalid_code());
    assert_eq!(smtp.messages().len(), 2, "the registration's and the sign-in code");
}

async fn the_link_outlives_wrong_typed_guesses(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    app.request_sign_in_code("ada@example.com").await;
    let message = smtp.wait_for_subject(SUBJECT, 1).await.remove(0);
    let code = code_in(&message);
    let other = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        assert_eq!(app.verify_sign_in_code("ada@example.com", &other).await, invalid_code());
    }
    // Out of tries, the six digits fail even when right; the link's code does not.
    assert_eq!(app.verify_sign_in_code("ada@example.com", &code).await, invalid_code());
    let (status, body) = app.verify_sign_in_code("ada@example.com", &link_code_in(&message)).await;
    assert_eq!(status, 200, "{body}");
    // Other purposes' codes do not sign in.
    app.forgot_password("ada@example.com").await;
    let reset = smtp.wait_for_subject("Your password reset code", 1).await.remove(0);
    let (status, _) = app.verify_sign_in_code("ada@example.com", &code_in(&reset)).await;
    assert_eq!(status, 400);
}

async fn an_account_with_mfa_still_needs_its_factor(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let (secret, _, _) = with_mfa(&app).await;
    app.request_sign_in_code(MFA_EMAIL).await;
    let code = code_in(&smtp.wait_for_subject(SUBJECT, 1).await.remove(0));
    let (status, body) = app.verify_sign_in_code(MFA_EMAIL, &code).await;
    assert_eq!((status, body["mfa_required"].clone()), (200, json!(true)), "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    let token = body["mfa_token"].as_str().unwrap();
    let (status, body) =
        app.login_mfa(&json!({"mfa_token": token, "code": totp_code(&secret)})).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["amr"].clone(), claims["aal"].clone()),
        (json!(["otp", "mfa"]), json!("aal2"))
    );
}

async fn wrong_codes_draw_on_the_accounts_budget(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| {
        s.rate_limits.enabled = true;
        let generous = "1000/1h".parse().unwrap();
        s.rate_limits.login_per_ip = generous;
        s.rate_limits.register_per_ip = generous;
        s.rate_limits.mail_per_ip = generous;
        s.rate_limits.mailed_code = Lane::of((1000, 3600), (3, 3600), 3600);
    })
    .await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    app.request_sign_in_code("ada@example.com").await;
    let code = code_in(&smtp.wait_for_subject(SUBJECT, 1).await.remove(0));
    let other = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..3 {
        assert_eq!(app.verify_sign_in_code("ada@example.com", &other).await, invalid_code());
    }
    let (status, body) = app.verify_sign_in_code("ada@example.com", &code).await;
    assert_eq!((status, body), (429, error_body("Too many requests, try again later")));
}

async fn sign_in_by_code_can_be_turned_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.mail.passwordless = false).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    assert_eq!(app.request_sign_in_code("ada@example.com").await, (404, error_body("Not found")));
    let off = app.verify_sign_in_code("ada@example.com", "123456").await;
    assert_eq!(off, (404, error_body("Not found")));
}

both_backends!(
    a_mailed_code_signs_in_without_the_password_and_verifies_the_address,
    the_link_outlives_wrong_typed_guesses,
    an_account_with_mfa_still_needs_its_factor,
    wrong_codes_draw_on_the_accounts_budget,
    sign_in_by_code_can_be_turned_off
);
