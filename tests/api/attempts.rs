//! One attempt budget per account (`account::attempts`): every secret a user proves draws on
//! it, reserved before the check, counted per network and per account, and slowed past the
//! account's free tries from every address alike. Clients are told apart by X-Forwarded-For from
//! a trusted proxy (127.0.0.1), so one test plays many addresses.

use auth_service::{settings::Settings, throttle::Lane};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const THROTTLED: &str = "Too many requests, try again later";
const NEW_PASSWORD: &str = "staple battery horse correct";
const RESET: &str = "Your password reset code";

/// Limits on, every lane and limit generous unless the test lowers it, the test's proxy trusted.
fn budget(s: &mut Settings) {
    let generous = "1000/1h".parse().unwrap();
    s.rate_limits.enabled = true;
    s.rate_limits.login_per_ip = generous;
    s.rate_limits.register_per_ip = generous;
    s.rate_limits.mail_per_ip = generous;
    s.rate_limits.mail_per_address = generous;
    let lane = Lane::of((1000, 3600), (1000, 3600), 900);
    s.rate_limits.password = lane;
    s.rate_limits.totp_code = lane;
    s.rate_limits.recovery_code = lane;
    s.rate_limits.mailed_code = lane;
    s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
}

async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> reqwest::Response {
    app.post_json_from(client, "/api/login", &json!({"email": email, "password": password})).await
}

/// Asserts a 429 in the contract's shape and returns its Retry-After, at most `longest`.
async fn refused(response: reqwest::Response, longest: u64) -> u64 {
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=longest).contains(&wait), "Retry-After {wait}");
    assert_eq!(status_and_json(response).await, (429, error_body(THROTTLED)));
    wait
}

async fn sleep_secs(secs: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(secs * 1000 + 150)).await;
}

fn other_code(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

fn reset_body(code: &str) -> Value {
    json!({"email": MFA_EMAIL, "code": code, "new_password": NEW_PASSWORD})
}

async fn past_its_free_tries_an_account_is_slowed_from_every_address(backend: Backend) {
    // Before: past the account's limit, any address without a failure of its own got its try.
    let app = spawn_app_with(backend, |s| {
        budget(s);
        s.rate_limits.password.free = "3/1h".parse().unwrap();
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    app.register("B", "b@example.com", PASSWORD).await;
    for i in 0..3 {
        let response = login_from(&app, &format!("198.51.100.{i}"), "a@example.com", "wrong").await;
        assert_eq!(response.status(), 401);
    }
    // A fresh address is trusted no more than the others: the owner waits for the gate too...
    let wait = refused(login_from(&app, "203.0.113.50", "a@example.com", PASSWORD).await, 2).await;
    // ...which the other accounts do not share...
    assert_eq!(login_from(&app, "198.51.100.0", "b@example.com", PASSWORD).await.status(), 200);
    // ...and which opens for her after seconds, not a window.
    sleep_secs(wait).await;
    assert_eq!(login_from(&app, "203.0.113.50", "a@example.com", PASSWORD).await.status(), 200);
    // Each try through it closes it for twice as long: a guess at once after waits up to 4 s.
    refused(login_from(&app, "203.0.113.60", "a@example.com", "wrong").await, 4).await;
}

async fn password_guesses_from_one_site_are_counted_over_its_64s(backend: Backend) {
    // Before: each fresh /64 of a /48 was a fresh address to the account's counters.
    let app = spawn_app_with(backend, |s| {
        budget(s);
        s.rate_limits.password.per_network = "2/15m".parse().unwrap();
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    for net in 1..=2 {
        for _ in 0..2 {
            let client = format!("2001:db8:7:{net}::1");
            assert_eq!(login_from(&app, &client, "a@example.com", "wrong").await.status(), 401);
        }
    }
    // A third /64 of the same /48 is refused, with the right password too (twice one /64's)...
    refused(login_from(&app, "2001:db8:7:3::1", "a@example.com", PASSWORD).await, 900).await;
    // ...while another site is not.
    assert_eq!(login_from(&app, "2001:db8:8:1::1", "a@example.com", PASSWORD).await.status(), 200);
}

async fn a_burst_of_guesses_is_counted_before_any_is_checked(backend: Backend) {
    // Before: 18 concurrent wrong passwords from one address all reached bcrypt (limit 5).
    let app = spawn_app_with(backend, |s| {
        budget(s);
        s.rate_limits.password.per_network = "5/15m".parse().unwrap();
    })
    .await;
    app.register("A", "a@example.com", PASSWORD).await;
    let guesses = (0..18).map(|_| app.login("a@example.com", "wrong password"));
    let responses = futures_util::future::join_all(guesses).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [[401; 5].as_slice(), &[429; 13]].concat());
}

async fn a_second_factor_is_not_guessed_from_fresh_addresses(backend: Backend) {
    // Before: any /64 without failures of its own got its guesses at the code, for ever.
    let app = spawn_app_with(backend, |s| {
        budget(s);
        s.rate_limits.totp_code = Lane::of((1000, 3600), (3, 3600), 3600);
    })
    .await;
    let (secret, recovery, _) = with_mfa(&app).await;
    let app = &app;
    let first_step = |client: &'static str| async move {
        let (status, body) =
            status_and_json(login_from(app, client, MFA_EMAIL, PASSWORD).await).await;
        assert_eq!(status, 200, "{body}");
        body["mfa_token"].as_str().unwrap().to_owned()
    };
    let second_step = |client: &'static str, body: Value| async move {
        app.post_json_from(client, "/api/login/mfa", &body).await
    };
    let home = "2001:db8:1:1::1";
    let token = first_step(home).await;
    // The mfa_token is good only from the network that proved the password.
    let right = json!({"mfa_token": token, "code": totp_code(&secret)});
    let elsewhere = second_step("2001:db8:1:2::1", right.clone()).await;
    assert_eq!(status_and_json(elsewhere).await, (401, error_body("Invalid code")));
    for _ in 0..3 {
        let wrong = json!({"mfa_token": token, "code": wrong_code(&totp_code(&secret))});
        assert_eq!(second_step(home, wrong).await.status(), 401);
    }
    // The account's free tries are spent: the right code waits, and a fresh login from a
    // fresh network brings no fresh tries.
    refused(second_step(home, right).await, 2).await;
    let fresh = first_step("2001:db8:99:1::1").await;
    let right = json!({"mfa_token": fresh, "code": totp_code(&secret)});
    refused(second_step("2001:db8:99:1::1", right).await, 2).await;
    // The recovery codes are a lane apart: the owner gets in.
    let recovery = json!({"mfa_token": fresh, "recovery_code": recovery[0]});
    assert_eq!(second_step("2001:db8:99:1::1", recovery).await.status(), 200);
}

async fn enrolment_codes_draw_on_the_totp_budget(backend: Backend) {
    // Before: POST /api/mfa/totp/confirm took 864 guesses a second.
    let app = spawn_app_with(backend, |s| {
        budget(s);
        s.rate_limits.totp_code = Lane::of((1000, 3600), (3, 3600), 3600);
    })
    .await;
    app.register("Ada", MFA_EMAIL, PASSWORD).await;
    app.mark_verified(MFA_EMAIL);
    let session = app.session_for(MFA_EMAIL).await;
    let (_, body) = app.enrol_totp(&session.access, &json!({"password": PASSWORD})).await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let (app_ref, access) = (&app, &session.access);
    let confirm =
        |code: String| async move { app_ref.confirm_totp(access, &json!({"code": code})).await };
    for _ in 0..3 {
        let wrong = wrong_code(&totp_code(&secret));
        assert_eq!(confirm(wrong).await, (400, error_body("Invalid code")));
    }
    assert_eq!(confirm(totp_code(&secret)).await, (429, error_body(THROTTLED)));
    assert!(app.user(MFA_EMAIL).totp_enabled_at.is_none());
}

async fn a_strangers_wrong_codes_end_neither_the_owners_link_nor_her_quota(backend: Backend) {
    // Before: five wrong tries by anyone ended the owner's code, and three requests from a
    // stranger spent the address's quota for 12 minutes.
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| {
        budget(s);
        s.rate_limits.mail_per_address = "3/15m".parse().unwrap();
    })
    .await;
    app.register("Ada", MFA_EMAIL, PASSWORD).await;
    let (stranger, owner) = ("198.51.100.9", "203.0.113.7");
    let forgot = json!({"email": MFA_EMAIL});
    for _ in 0..3 {
        let response = app.post_json_from(stranger, "/api/password/forgot", &forgot).await;
        assert_eq!(response.status(), 202);
    }
    let response = app.post_json_from(stranger, "/api/password/forgot", &forgot).await;
    refused(response, 900).await;
    // The owner, from her network, still gets her code.
    assert_eq!(app.post_json_from(owner, "/api/password/forgot", &forgot).await.status(), 202);
    let messages = smtp.wait_for_subject(RESET, 4).await;
    let hers = messages.iter().find(|m| m.contains(&format!("from {owner} at"))).unwrap();
    let code = code_in(hers);
    // The stranger's wrong guesses end the six digits...
    for _ in 0..5 {
        let response = app
            .post_json_from(stranger, "/api/password/reset", &reset_body(&other_code(&code)))
            .await;
        assert_eq!(response.status(), 400);
    }
    let typed = app.post_json_from(owner, "/api/password/reset", &reset_body(&code)).await;
    assert_eq!(status_and_json(typed).await, (400, error_body("Invalid or expired code")));
    // ...never the link's long code.
    let (status, body) = app.reset_password(&reset_body(&link_code_in(hers))).await;
    assert_eq!((status, body["message"].clone()), (200, json!("Password reset")), "{body}");
}

async fn mailed_code_guesses_are_capped_across_codes(backend: Backend) {
    // Before: 60 wrong reset codes over four windows, and the next code still worked.
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| {
        budget(s);
        s.rate_limits.mailed_code = Lane::of((1000, 3600), (3, 3600), 3600);
    })
    .await;
    app.register("Ada", MFA_EMAIL, PASSWORD).await;
    app.forgot_password(MFA_EMAIL).await;
    let first = code_in(&smtp.wait_for_subject(RESET, 1).await[0]);
    for _ in 0..2 {
        assert_eq!(app.reset_password(&reset_body(&other_code(&first))).await.0, 400);
    }
    app.forgot_password(MFA_EMAIL).await;
    let message = smtp.wait_for_subject(RESET, 2).await.remove(1);
    let second = code_in(&message);
    assert_eq!(app.reset_password(&reset_body(&other_code(&second))).await.0, 400);
    // Three wrong codes across two: the next typed one waits, right or not...
    assert_eq!(app.reset_password(&reset_body(&second)).await, (429, error_body(THROTTLED)));
    // ...while the link, which no one guesses, still proves the mailbox.
    let (status, body) = app.reset_password(&reset_body(&link_code_in(&message))).await;
    assert_eq!((status, body["message"].clone()), (200, json!("Password reset")), "{body}");
}

async fn a_login_racing_the_mfa_confirmation_keeps_no_password_only_session(backend: Backend) {
    // Before: a login that found MFA off could start its aal1 session after the confirmation
    // had ended the others, and keep it for 90 days.
    use auth_service::db::schema::sessions;
    let app = spawn_app(backend).await;
    app.register("Ada", MFA_EMAIL, PASSWORD).await;
    app.mark_verified(MFA_EMAIL);
    let session = app.session_for(MFA_EMAIL).await;
    let (_, body) = app.enrol_totp(&session.access, &json!({"password": PASSWORD})).await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let logins = futures_util::future::join_all((0..12).map(|_| app.login(MFA_EMAIL, PASSWORD)));
    let code = json!({"code": totp_code(&secret)});
    let confirm = app.confirm_totp(&session.access, &code);
    let ((status, body), _) = tokio::join!(confirm, logins);
    assert_eq!(status, 200, "{body}");
    let user_id = app.user_id(MFA_EMAIL);
    let amrs: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .select(sessions::amr)
        .load(&mut app.db())
        .unwrap();
    assert!(amrs.iter().all(|amr| amr != "pwd"), "{amrs:?}");
}

both_backends!(
    past_its_free_tries_an_account_is_slowed_from_every_address,
    password_guesses_from_one_site_are_counted_over_its_64s,
    a_burst_of_guesses_is_counted_before_any_is_checked,
    a_second_factor_is_not_guessed_from_fresh_addresses,
    enrolment_codes_draw_on_the_totp_budget,
    a_strangers_wrong_codes_end_neither_the_owners_link_nor_her_quota,
    mailed_code_guesses_are_capped_across_codes,
    a_login_racing_the_mfa_confirmation_keeps_no_password_only_session
);
