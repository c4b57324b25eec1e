//! Security notices a user cannot turn off: a session ended because a copy of its refresh token
//! was used, and failed logins bringing the account to its limit (once per window). The others
//! (password changed or reset, email changed, account deleted) are tested with their endpoints.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const ENDED: &str = "A session of your account was ended";
const LIMIT: &str = "Failed sign-ins to your account";

async fn a_reused_refresh_token_ends_its_session_and_tells_the_user(backend: Backend) {
    let smtp = SmtpServer::start();
    let app =
        spawn_app_with_smtp_and(backend, &smtp, |s| s.tokens.refresh_reuse_interval_secs = 0).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let first =
        Tokens::from_body(&status_and_json(app.login("ada@example.com", PASSWORD).await).await.1);
    assert_eq!(app.refresh(&first.refresh).await.status(), 200);
    let reused = app.refresh(&first.refresh).await;
    assert_eq!(status_and_json(reused).await, (401, error_body("Invalid refresh token")));
    let notice = smtp.wait_for_subject(ENDED, 1).await.remove(0);
    assert!(
        notice.contains("To: ada@example.com\r\n") && notice.contains("from 127.0.0.1"),
        "{notice}"
    );
    assert!(!notice.contains(&first.refresh), "{notice}");
}

async fn failed_logins_reaching_the_account_limit_tell_the_owner_once(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |s| {
        s.rate_limits.enabled = true;
        s.rate_limits.login_per_ip = "1000/1h".parse().unwrap();
        s.rate_limits.password.per_network = "1000/1h".parse().unwrap();
        s.rate_limits.password.free = "3/1h".parse().unwrap();
        s.rate_limits.register_per_ip = "1000/1h".parse().unwrap();
    })
    .await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app
            .post_json(
                "/api/login",
                &json!({"email": "ada@example.com", "password": "wrong guess here"}),
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    let notices = smtp.wait_for_subject(LIMIT, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.wait_for_subject(LIMIT, 1).await.len(), 1, "{notices:?}");
    assert!(notices[0].contains("the last from 127.0.0.1"), "{}", notices[0]);
    // A wrong password for an unknown address tells nobody.
    for _ in 0..3 {
        app.post_json(
            "/api/login",
            &json!({"email": "nobody@example.com", "password": "wrong guess"}),
        )
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.wait_for_subject(LIMIT, 1).await.len(), 1);
}

/// Messages queued for `to`, of `kind` or of any.
fn queued_for(app: &TestApp, to: &str, kind: Option<&str>) -> i64 {
    use auth_service::db::schema::mail_outbox;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let rows = mail_outbox::table.filter(mail_outbox::recipient.eq(to)).into_boxed();
    let rows = match kind {
        Some(kind) => rows.filter(mail_outbox::kind.eq(kind.to_owned())),
        None => rows,
    };
    rows.count().get_result(&mut app.db()).unwrap()
}

/// Limits on, as in production (the mail budget with them), the per-address ones generous so a
/// test can log in and register at will, and the test's proxy trusted.
fn mail_budget_on(s: &mut auth_service::settings::Settings) {
    s.rate_limits.enabled = true;
    let generous = "100000/1h".parse().unwrap();
    s.rate_limits.login_per_ip = generous;
    s.rate_limits.register_per_ip = generous;
    s.rate_limits.mail_per_ip = generous;
    s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
}

async fn a_strangers_logins_cannot_fill_an_inbox(backend: Backend) {
    // Before: each login with a new User-Agent mailed "New sign-in" with that text (and the
    // account's name) to any address registered: 39 messages in 2 s, past every mail limit.
    let victim = "victim@example.com";
    let app = spawn_app_with(backend, mail_budget_on).await;
    app.register("Call +1 555 0100 now", victim, PASSWORD).await;
    let login = |network: u32, agent: String| {
        let request = app.client.post(app.url("/api/login")).header("User-Agent", agent);
        let request =
            request.header("X-Forwarded-For", format!("10.{}.{}.7", network / 256, network % 256));
        async move {
            let response = request.json(&json!({"email": victim, "password": PASSWORD})).send();
            assert_eq!(response.await.unwrap().status(), 200);
        }
    };
    // An address no one proved gets no sign-in notice at all.
    for network in 0..5 {
        login(network, format!("Mozilla/5.0 URGENT call us {network}")).await;
    }
    assert_eq!(queued_for(&app, victim, Some("new_sign_in")), 0);
    // Proved, it hears of each new device, a device being a network and a browser family:
    // new text on one network is no new device...
    app.mark_verified(victim);
    for i in 0..5 {
        login(100, format!("Mozilla/5.0 URGENT call us {i}")).await;
    }
    assert_eq!(queued_for(&app, victim, Some("new_sign_in")), 1);
    // ...and however many networks, at most 10 messages an hour reach the address (the
    // registration's code among them).
    for network in 200..240 {
        login(network, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0".into()).await;
    }
    assert_eq!(queued_for(&app, victim, None), 10);
    assert_eq!(queued_for(&app, victim, Some("new_sign_in")), 9);
    // A code asked for now is refused at once rather than queued to arrive late or not at all.
    let (status, body) = app.forgot_password(victim).await;
    assert_eq!((status, body), (429, error_body("Too many requests, try again later")));
}

async fn register_and_delete_cycles_cannot_fill_an_inbox(backend: Backend) {
    // Before: each cycle mailed a verification code and an "account deleted" notice to the
    // address, and neither touched its mail limit.
    let victim = "victim@example.com";
    let app = spawn_app_with(backend, mail_budget_on).await;
    for _ in 0..8 {
        assert_eq!(app.register("Victim", victim, PASSWORD).await.status(), 201);
        let token = app.session_for(victim).await.access;
        assert_eq!(app.delete_user(&token, &json!({"password": PASSWORD})).await.0, 200);
    }
    assert_eq!(queued_for(&app, victim, None), 10);
}

both_backends!(
    a_strangers_logins_cannot_fill_an_inbox,
    register_and_delete_cycles_cannot_fill_an_inbox,
    a_reused_refresh_token_ends_its_session_and_tells_the_user,
    failed_logins_reaching_the_account_limit_tell_the_owner_once
);
