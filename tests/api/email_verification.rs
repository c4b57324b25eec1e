//! `POST /api/email/verify` and `POST /api/email/verify/resend`, the code registration mails,
//! `GET /`'s `email_verified`, and `REQUIRE_EMAIL_VERIFICATION`.

use serde_json::json;

use crate::both_backends;

const VERIFY: &str = "Your code to verify ada@example.com";
use crate::helpers::*;

async fn email_verified(app: &TestApp, token: &str) -> serde_json::Value {
    let response = app.get_me(Some(&format!("Bearer {token}"))).await;
    status_and_json(response).await.1["user"]["email_verified"].clone()
}

fn other_code(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

async fn registration_mails_a_code_that_verifies_the_address_once(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = app.register_and_login("ada@example.com").await;
    let message = &smtp.wait_for_subject(VERIFY, 1).await[0];
    assert!(message.contains("Subject: Your code to verify ada@example.com\r\n"), "{message}");
    let code = code_in(message);
    let link = message.lines().find(|line| line.contains("/verify-email#")).unwrap();
    let link_code = link_code_in(message);
    assert!(
        link.ends_with(&format!("/verify-email#email=ada%40example.com&code={link_code}")),
        "{link}"
    );
    assert_eq!(link_code.len(), 43, "{link}");
    assert_eq!(email_verified(&app, &token).await, json!(false));

    assert_eq!(
        app.verify_email("ada@example.com", &other_code(&code)).await,
        (400, error_body("Invalid or expired code"))
    );
    assert_eq!(
        app.verify_email("ada@example.com", &code).await,
        (200, json!({"status": "success", "message": "Email verified"}))
    );
    assert_eq!(email_verified(&app, &token).await, json!(true));
    assert_eq!(
        app.verify_email("ada@example.com", &code).await,
        (400, error_body("Invalid or expired code"))
    );
    assert_eq!(app.resend_verification(&token).await, (400, error_body("Email already verified")));
}

async fn resend_mails_a_new_code_and_ends_the_old_one(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = app.register_and_login("ada@example.com").await;
    let first = code_in(&smtp.wait_for_subject(VERIFY, 1).await[0]);
    assert_eq!(
        app.resend_verification(&token).await,
        (202, json!({"status": "success", "message": "Verification code sent"}))
    );
    let second = code_in(&smtp.wait_for_subject(VERIFY, 2).await[1]);
    if first != second {
        assert_eq!(app.verify_email("ada@example.com", &first).await.0, 400);
    }
    assert_eq!(app.verify_email("ada@example.com", &second).await.0, 200);
    let response = app.client.post(app.url("/api/email/verify/resend")).send().await.unwrap();
    assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
}

async fn verify_refuses_missing_fields_and_unknown_addresses_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_json("/api/email/verify", &json!({"email": "a@example.com"})).await;
    assert_eq!(status_and_json(response).await, (400, error_body("All fields are required")));
    assert_eq!(
        app.verify_email("nobody@example.com", "123456").await,
        (400, error_body("Invalid or expired code"))
    );
    assert_eq!(
        app.verify_email("not an address", "123456").await,
        (400, error_body("Invalid or expired code"))
    );
}

async fn with_required_verification_only_the_right_password_learns_it_is_unverified(
    backend: Backend,
) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| s.mail.require_verification = true).await;
    assert_eq!(app.register("Ada", "ada@example.com", PASSWORD).await.status(), 201);
    let code = code_in(&smtp.wait_for_subject(VERIFY, 1).await[0]);
    let refused = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(status_and_json(refused).await, (403, error_body("Email not verified")));
    let wrong = app.login("ada@example.com", "not the password at all").await;
    assert_eq!(status_and_json(wrong).await, (401, error_body("Invalid credentials")));
    assert_eq!(app.verify_email("ada@example.com", &code).await.0, 200);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

async fn access_tokens_say_whether_the_address_is_verified(backend: Backend) {
    // A relying service reads `email_verified` before it trusts `email` as the user's.
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let login = app.session_for("ada@example.com").await;
    assert_eq!(jwt_claims(&login.access)["email_verified"], json!(false));
    let code = code_in(&smtp.wait_for_subject(VERIFY, 1).await[0]);
    assert_eq!(app.verify_email("ada@example.com", &code).await.0, 200);
    let (status, body) = status_and_json(app.refresh(&login.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(&Tokens::from_body(&body).access)["email_verified"], json!(true));
    assert_eq!(jwt_claims(&app.token_for("ada@example.com").await)["email_verified"], json!(true));
}

async fn an_account_that_cannot_log_in_asks_for_a_new_code_by_its_address(backend: Backend) {
    // REQUIRE_EMAIL_VERIFICATION and a lost or expired code: no token to resend with. Every
    // address gets the same answer; only an unverified account gets a code.
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| s.mail.require_verification = true).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let bob = code_in(&smtp.wait_for_subject("Your code to verify bob@example.com", 1).await[0]);
    assert_eq!(app.verify_email("bob@example.com", &bob).await.0, 200);
    let same = (
        202,
        json!({"status": "success", "message": "If that address has an unverified account, a code is on its way"}),
    );
    for email in ["Ada@Example.com", "bob@example.com", "nobody@example.com"] {
        assert_eq!(app.resend_verification_to(email).await, same, "{email}");
    }
    let codes = smtp.wait_for_subject(VERIFY, 2).await;
    assert_eq!(app.verify_email("ada@example.com", &code_in(&codes[1])).await.0, 200);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    // Nothing went to the verified or the unknown address.
    let to = |address: &str| {
        smtp.messages().iter().filter(|m| m.contains(&format!("To: {address}\r\n"))).count()
    };
    assert_eq!((to("bob@example.com"), to("nobody@example.com")), (1, 0));
    assert_eq!(
        app.resend_verification_to("not an address").await,
        (400, error_body("Invalid email address"))
    );
}

both_backends!(
    an_account_that_cannot_log_in_asks_for_a_new_code_by_its_address,
    access_tokens_say_whether_the_address_is_verified,
    registration_mails_a_code_that_verifies_the_address_once,
    resend_mails_a_new_code_and_ends_the_old_one,
    verify_refuses_missing_fields_and_unknown_addresses_alike,
    with_required_verification_only_the_right_password_learns_it_is_unverified
);
