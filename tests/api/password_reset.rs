//! `POST /api/password/forgot` and `POST /api/password/reset`: a code by mail over a real SMTP
//! server (or into an .eml file), typed back with a new password.

use diesel::{QueryDsl, RunQueryDsl};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const FORGOT: &str = "If that address has an account, a code is on its way";
const NEW_PASSWORD: &str = "staple battery horse correct";
const RESET: &str = "Your password reset code";
const CHANGED: &str = "Your password was changed";

async fn reset(app: &TestApp, email: &str, code: &str) -> (u16, serde_json::Value) {
    let body = json!({"email": email, "code": code, "new_password": NEW_PASSWORD});
    app.reset_password(&body).await
}

fn invalid_code() -> (u16, serde_json::Value) {
    (400, error_body("Invalid or expired code"))
}

async fn logged_in(app: &TestApp, email: &str) -> Tokens {
    app.register("Ada", email, PASSWORD).await;
    let response = app.login(email, PASSWORD).await;
    Tokens::from_body(&status_and_json(response).await.1)
}

fn outbox_rows(app: &TestApp) -> i64 {
    use auth_service::db::schema::mail_outbox;
    mail_outbox::table.count().get_result(&mut app.db()).unwrap()
}

async fn a_forgotten_password_is_reset_with_the_mailed_code_over_smtp(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let old = logged_in(&app, "ada@example.com").await;

    assert_eq!(
        app.forgot_password("Ada@Example.com").await,
        (202, json!({"status": "success", "message": FORGOT}))
    );
    let messages = smtp.wait_for_subject(RESET, 1).await;
    let message = &messages[0];
    assert!(message.contains("To: ada@example.com\r\n"), "{message}");
    assert!(message.contains("From: auth-service <no-reply@localhost>\r\n"), "{message}");
    let id = message.lines().find_map(|line| line.strip_prefix("Message-ID: ")).unwrap();
    assert!(id.starts_with("<outbox-") && id.ends_with("@localhost>"), "{id}");
    assert!(message.contains("Subject: Your password reset code\r\n"), "{message}");
    let code = code_in(message);
    // The link carries the code in its fragment only: nothing a scanner's GET can spend.
    let link = message.lines().find(|line| line.contains("/reset-password")).unwrap();
    let (before_fragment, fragment) = link.split_once('#').unwrap();
    assert!(!before_fragment.contains(&code) && !before_fragment.contains('?'), "{link}");
    // The link's code is a long one of its own, which wrong typed guesses never end.
    let link_code = link_code_in(message);
    assert_eq!(fragment, format!("email=ada%40example.com&code={link_code}"));
    assert!(link_code.len() == 43 && !link_code.contains(&code), "{link}");
    assert!(message.contains("It was asked for from 127.0.0.1 at "), "{message}");

    let (status, body) = reset(&app, "ada@example.com", &code).await;
    assert_eq!((status, body["message"].clone()), (200, json!("Password reset")), "{body}");
    let new = Tokens::from_body(&body);
    assert_eq!(app.get_me(Some(&new.bearer())).await.status(), 200);
    // Every earlier token ends.
    assert_eq!(app.get_me(Some(&old.bearer())).await.status(), 401);
    assert_eq!(app.refresh(&old.refresh).await.status(), 401);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("ada@example.com", NEW_PASSWORD).await.status(), 200);
    // The code is spent.
    assert_eq!(reset(&app, "ada@example.com", &code).await, invalid_code());
    // And the user is told, without a code.
    let notice = smtp.wait_for_subject(CHANGED, 1).await.remove(0);
    assert!(!notice.contains("code: "), "{notice}");
}

async fn forgot_for_an_unknown_address_answers_the_same_and_writes_no_row(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    assert_eq!(
        app.forgot_password("nobody@example.com").await,
        (202, json!({"status": "success", "message": FORGOT}))
    );
    assert_eq!(outbox_rows(&app), 0);
    use auth_service::db::schema::email_codes;
    let codes: i64 = email_codes::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(codes, 0);
    assert_eq!(reset(&app, "nobody@example.com", "123456").await, invalid_code());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(smtp.messages().is_empty());
}

async fn forgot_and_reset_refuse_missing_and_invalid_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_json("/api/password/forgot", &json!({})).await;
    assert_eq!(status_and_json(response).await, (400, error_body("All fields are required")));
    assert_eq!(
        app.forgot_password("not-an-address").await,
        (400, error_body("Invalid email address"))
    );
    let response =
        app.post_json("/api/password/reset", &json!({"email": "a@example.com", "code": "1"})).await;
    assert_eq!(status_and_json(response).await, (400, error_body("All fields are required")));
    let short = json!({"email": "a@example.com", "code": "123456", "new_password": "short"});
    let response = app.post_json("/api/password/reset", &short).await;
    assert_eq!(
        status_and_json(response).await,
        (400, error_body("Password must be at least 8 characters"))
    );
}

async fn the_sixth_try_fails_even_with_the_right_code(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    logged_in(&app, "ada@example.com").await;
    app.forgot_password("ada@example.com").await;
    let code = code_in(&smtp.wait_for_subject(RESET, 1).await[0]);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        assert_eq!(reset(&app, "ada@example.com", &wrong).await, invalid_code());
    }
    assert_eq!(reset(&app, "ada@example.com", &code).await, invalid_code());
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

async fn a_new_code_ends_the_old_one_and_codes_expire(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| s.mail.code_ttl_secs = 2).await;
    logged_in(&app, "ada@example.com").await;
    app.forgot_password("ada@example.com").await;
    let first = code_in(&smtp.wait_for_subject(RESET, 1).await[0]);
    app.forgot_password("ada@example.com").await;
    let second = code_in(&smtp.wait_for_subject(RESET, 2).await[1]);
    if first != second {
        assert_eq!(reset(&app, "ada@example.com", &first).await, invalid_code());
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(reset(&app, "ada@example.com", &second).await, invalid_code());
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

async fn without_smtp_the_message_is_an_eml_file_in_mail_dir(backend: Backend) {
    let app = spawn_app(backend).await;
    logged_in(&app, "ada@example.com").await;
    assert_eq!(app.forgot_password("ada@example.com").await.0, 202);
    let dir = app.upload_dir.parent().unwrap().join("mail");
    let resets = || {
        let emls = files_in(&dir).into_iter().filter(|name| name.ends_with(".eml"));
        let messages = emls.map(|name| readable(&std::fs::read_to_string(dir.join(name)).unwrap()));
        messages.filter(|message| message.contains(RESET)).collect::<Vec<_>>()
    };
    assert!(eventually(|| ready(resets().len() == 1)).await, "{:?}", files_in(&dir));
    let message = resets().remove(0);
    assert!(message.contains("Subject: Your password reset code\r\n"), "{message}");
    let code = code_in(&message);
    assert_eq!(reset(&app, "ada@example.com", &code).await.0, 200);
}

async fn smtp_down_answers_at_once_and_delivers_when_it_comes_back(backend: Backend) {
    let mut smtp = SmtpServer::start();
    smtp.stop();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    logged_in(&app, "ada@example.com").await;
    let started = std::time::Instant::now();
    assert_eq!(app.forgot_password("ada@example.com").await.0, 202);
    // The answer never waits for SMTP (printed, not asserted: timing is not a test's business).
    println!("answered in {:?} with SMTP down", started.elapsed());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // The verification code of the registration and the reset code, both waiting.
    assert_eq!(outbox_rows(&app), 2);
    smtp.restart();
    let code = code_in(&smtp.wait_for_subject(RESET, 1).await[0]);
    assert_eq!(reset(&app, "ada@example.com", &code).await.0, 200);
    assert_eq!(smtp.wait_for_subject(CHANGED, 1).await.len(), 1);
}

async fn a_dot_line_or_a_bare_cr_in_a_template_ends_no_message_and_adds_no_header(
    backend: Backend,
) {
    // An operator's template with a line of "." (which ends an SMTP message) and a bare CR.
    let templates = tempfile::TempDir::new().unwrap();
    let text = "Subject: Reset {{ name }}\n\nYour code: {{ code }}\n.\nBcc: evil@example.com\rstill the text\n";
    std::fs::write(templates.path().join("password_reset.txt"), text).unwrap();
    let smtp = SmtpServer::start();
    let dir = templates.path().to_owned();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| s.mail.template_dir = Some(dir)).await;
    logged_in(&app, "ada@example.com").await;
    app.forgot_password("ada@example.com").await;
    let message = &smtp.wait_for_subject("Reset Ada", 1).await[0];
    let (head, body) = message.split_once("\r\n\r\n").unwrap();
    assert!(!head.contains("evil"), "{head}");
    assert!(body.contains("\r\n.\r\nBcc: evil@example.com\r\nstill the text"), "{body}");
    // One message (and the registration's), to its one recipient.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(code_in(message).len(), 6);
}

async fn a_password_change_ends_every_mailed_code_and_tells_the_user(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let tokens = logged_in(&app, "ada@example.com").await;
    app.forgot_password("ada@example.com").await;
    let code = code_in(&smtp.wait_for_subject(RESET, 1).await[0]);
    let change = json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
    let response = app
        .client
        .put(app.url("/api/password"))
        .bearer_auth(&tokens.access)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(reset(&app, "ada@example.com", &code).await, invalid_code());
    let notice = smtp.wait_for_subject(CHANGED, 1).await.remove(0);
    assert!(notice.contains("changed from 127.0.0.1 at "), "{notice}");
}

async fn codes_asked_for_one_address_are_limited_alike_for_known_and_unknown_ones(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.enabled = true;
        s.rate_limits.mail_per_ip = "1000/1h".parse().unwrap();
        s.rate_limits.mail_per_address = "2/15m".parse().unwrap();
        s.rate_limits.register_per_ip = "1000/1h".parse().unwrap();
    })
    .await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    for email in ["ada@example.com", "nobody@example.com"] {
        assert_eq!(app.forgot_password(email).await.0, 202);
        assert_eq!(app.forgot_password(email).await.0, 202);
        let response = app.post_json("/api/password/forgot", &json!({ "email": email })).await;
        assert!(response.headers().contains_key("retry-after"), "{email}");
        let refused = status_and_json(response).await;
        assert_eq!(refused, (429, error_body("Too many requests, try again later")), "{email}");
    }
    // Per address: another one is still served.
    assert_eq!(app.forgot_password("someone@example.com").await.0, 202);
}

async fn codes_asked_for_from_one_client_are_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.enabled = true;
        s.rate_limits.mail_per_ip = "2/1h".parse().unwrap();
        s.rate_limits.mail_per_address = "1000/15m".parse().unwrap();
    })
    .await;
    assert_eq!(app.forgot_password("a@example.com").await.0, 202);
    assert_eq!(app.forgot_password("b@example.com").await.0, 202);
    assert_eq!(
        app.forgot_password("c@example.com").await,
        (429, error_body("Too many requests, try again later"))
    );
}

async fn requests_for_codes_all_answer_while_mail_is_delivered(backend: Backend) {
    // On SQLite a transaction that read the user before writing its code answered 503
    // ("database is locked") when the delivery worker held the write lock meanwhile.
    let app = spawn_app(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let expected = (202, json!({"status": "success", "message": FORGOT}));
    for _ in 0..3 {
        let requests = (0..10).map(|_| app.forgot_password("ada@example.com"));
        let answers = futures_util::future::join_all(requests).await;
        assert!(answers.iter().all(|answer| *answer == expected), "{answers:?}");
        for _ in 0..10 {
            assert_eq!(app.forgot_password("ada@example.com").await, expected);
        }
    }
}

async fn code_checks_count_against_the_login_limit_per_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.enabled = true;
        s.rate_limits.login_per_ip = "3/1m".parse().unwrap();
        s.rate_limits.register_per_ip = "1000/1h".parse().unwrap();
    })
    .await;
    let too_many = (429, error_body("Too many requests, try again later"));
    assert_eq!(reset(&app, "a@example.com", "123456").await, invalid_code());
    assert_eq!(reset(&app, "b@example.com", "123456").await, invalid_code());
    let body = json!({"email": "c@example.com", "code": "123456"});
    let verify = status_and_json(app.post_json("/api/email/verify", &body).await).await;
    assert_eq!(verify, invalid_code());
    assert_eq!(reset(&app, "d@example.com", "123456").await, too_many);
    let verify = status_and_json(app.post_json("/api/email/verify", &body).await).await;
    assert_eq!(verify, too_many);
}

both_backends!(
    code_checks_count_against_the_login_limit_per_client,
    requests_for_codes_all_answer_while_mail_is_delivered,
    codes_asked_for_one_address_are_limited_alike_for_known_and_unknown_ones,
    codes_asked_for_from_one_client_are_limited,
    a_password_change_ends_every_mailed_code_and_tells_the_user,
    a_dot_line_or_a_bare_cr_in_a_template_ends_no_message_and_adds_no_header,
    a_forgotten_password_is_reset_with_the_mailed_code_over_smtp,
    forgot_for_an_unknown_address_answers_the_same_and_writes_no_row,
    forgot_and_reset_refuse_missing_and_invalid_fields,
    the_sixth_try_fails_even_with_the_right_code,
    a_new_code_ends_the_old_one_and_codes_expire,
    without_smtp_the_message_is_an_eml_file_in_mail_dir,
    smtp_down_answers_at_once_and_delivers_when_it_comes_back
);
