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

both_backends!(
    a_reused_refresh_token_ends_its_session_and_tells_the_user,
    failed_logins_reaching_the_account_limit_tell_the_owner_once
);
