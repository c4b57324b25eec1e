//! `GET /api/sessions`, `DELETE /api/sessions/{id}`, `POST /api/logout?scope=others`, and the
//! "new sign-in" notice of a login from a device the user has not used lately.

use auth_service::db::schema::{mail_outbox, sessions};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const FIREFOX_UPDATED: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const NEW_SIGN_IN: &str = "New sign-in to your account";

/// An app that believes the `X-Forwarded-For` of 127.0.0.1, so a test can sign in from
/// anywhere.
async fn spawn_behind_proxy(backend: Backend) -> TestApp {
    spawn_app_with(backend, trust_localhost).await
}

fn trust_localhost(s: &mut auth_service::settings::Settings) {
    s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
}

async fn login_from(app: &TestApp, email: &str, user_agent: &str, ip: &str) -> Tokens {
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("User-Agent", user_agent)
        .header("X-Forwarded-For", ip)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    Tokens::from_body(&body)
}

fn sid(tokens: &Tokens) -> String {
    jwt_claims(&tokens.access)["sid"].as_str().unwrap().to_owned()
}

fn is_rfc3339_utc(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z')
}

fn notices_queued(app: &TestApp) -> i64 {
    mail_outbox::table
        .filter(mail_outbox::kind.eq("new_sign_in"))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

async fn sessions_are_listed_newest_first_with_network_and_user_agent(backend: Backend) {
    let app = spawn_behind_proxy(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let laptop = login_from(&app, "ada@example.com", FIREFOX, "203.0.113.77").await;
    std::thread::sleep(std::time::Duration::from_millis(10));
    let phone = login_from(&app, "ada@example.com", PHONE, "2001:db8:1:2:3:4:5:6").await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    login_from(&app, "bob@example.com", FIREFOX, "198.51.100.1").await;

    let (status, mut body) = app.list_sessions(&phone.access).await;
    assert_eq!(status, 200, "{body}");
    let listed = body["sessions"].as_array_mut().unwrap();
    for session in listed.iter_mut() {
        let session = session.as_object_mut().unwrap();
        for field in ["created_at", "last_used_at"] {
            assert!(is_rfc3339_utc(&session[field]), "{field}: {:?}", session[field]);
        }
        // Written at login, so the same instant until a refresh.
        assert_eq!(session["created_at"], session["last_used_at"]);
        session.remove("created_at");
        session.remove("last_used_at");
    }
    assert_eq!(
        body,
        json!({"status": "success", "sessions": [
            {"id": sid(&phone), "ip": "2001:db8:1:2::/64", "user_agent": PHONE, "current": true},
            {"id": sid(&laptop), "ip": "203.0.113.0/24", "user_agent": FIREFOX, "current": false},
        ]})
    );
    let (_, from_laptop) = app.list_sessions(&laptop.access).await;
    let current: Vec<bool> =
        from_laptop["sessions"].as_array().unwrap().iter().map(|s| s["current"] == true).collect();
    assert_eq!(current, [false, true]);
}

async fn a_refresh_records_where_the_session_was_used_and_a_request_does_not(backend: Backend) {
    let app = spawn_behind_proxy(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let first = login_from(&app, "ada@example.com", FIREFOX, "203.0.113.77").await;
    let id = sid(&first);
    let row = |app: &TestApp| {
        sessions::table
            .find(&id)
            .select((
                sessions::created_at,
                sessions::last_used_at,
                sessions::ip,
                sessions::user_agent,
            ))
            .get_result::<(
                chrono::NaiveDateTime,
                Option<chrono::NaiveDateTime>,
                Option<String>,
                Option<String>,
            )>(&mut app.db())
            .unwrap()
    };
    let at_login = row(&app);
    assert_eq!(at_login.1, Some(at_login.0));
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("/"))
            .bearer_auth(&first.access)
            .header("User-Agent", PHONE)
            .header("X-Forwarded-For", "192.0.2.9")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(row(&app), at_login, "an authenticated request writes nothing");

    let response = app
        .client
        .post(app.url("/api/token/refresh"))
        .header("User-Agent", PHONE)
        .header("X-Forwarded-For", "192.0.2.9")
        .json(&json!({"refresh_token": first.refresh}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let after = row(&app);
    assert_eq!(after.0, at_login.0);
    assert!(after.1.unwrap() >= at_login.0);
    assert_eq!((after.2.as_deref(), after.3.as_deref()), (Some("192.0.2.0/24"), Some(PHONE)));
    let (_, listed) = app.list_sessions(Tokens::from_body(&body).access.as_str()).await;
    assert_eq!(listed["sessions"][0]["ip"], "192.0.2.0/24");
    assert_eq!(listed["sessions"][0]["user_agent"], PHONE);
}

async fn listing_needs_a_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/api/sessions")).send().await.unwrap();
    assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
    let url = app.url("/api/sessions/0b5c3f4e-2a7d-4e8b-9c1f-6d2e8a4b7c10");
    let response = app.client.delete(url).send().await.unwrap();
    assert_eq!(status_and_json(response).await, (401, error_body("Unauthorized")));
}

async fn an_ended_session_is_refused_by_another_replica_within_the_bound(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = first.replica();
    first.register("Ada", "ada@example.com", PASSWORD).await;
    let laptop = first.session_for("ada@example.com").await;
    let phone = second.session_for("ada@example.com").await;
    assert_eq!(first.me_status(&laptop.access).await, 200);

    assert_eq!(
        second.end_session(&phone.access, &sid(&laptop)).await,
        (200, json!({"status": "success", "message": "Session ended"}))
    );
    assert_eq!(second.me_status(&laptop.access).await, 401, "at once where it was ended");
    assert!(first.time_to_refusal(&laptop.access).await.is_some(), "within the bound elsewhere");
    assert_eq!(
        status_and_json(first.refresh(&laptop.refresh).await).await,
        (401, error_body("Invalid refresh token"))
    );
    assert_eq!(first.me_status(&phone.access).await, 200);
    let (_, listed) = first.list_sessions(&phone.access).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    // Ended already: gone.
    assert_eq!(
        first.end_session(&phone.access, &sid(&laptop)).await,
        (404, error_body("Session not found"))
    );
}

async fn another_users_session_is_not_found_and_ends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register_and_login("ada@example.com").await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let bob = app.session_for("bob@example.com").await;
    for id in [
        sid(&bob),
        "0b5c3f4e-2a7d-4e8b-9c1f-6d2e8a4b7c10".to_owned(),
        "not-a-session".to_owned(),
        "%00".to_owned(),
    ] {
        assert_eq!(
            app.end_session(&ada, &id).await,
            (404, error_body("Session not found")),
            "{id}"
        );
    }
    assert_eq!(app.me_status(&bob.access).await, 200);
    assert_eq!(app.session_count("bob@example.com"), 1);
    // Ending one's own current session is a logout.
    let ada_sid = jwt_claims(&ada)["sid"].as_str().unwrap().to_owned();
    assert_eq!(app.end_session(&ada, &ada_sid).await.0, 200);
    assert_eq!(app.me_status(&ada).await, 401);
}

async fn logout_of_other_sessions_keeps_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let (laptop, phone, tablet) = (
        app.session_for("ada@example.com").await,
        app.session_for("ada@example.com").await,
        app.session_for("ada@example.com").await,
    );
    let bystander = app.register_and_login("bob@example.com").await;
    let response = app
        .client
        .post(app.url("/api/logout?scope=others"))
        .bearer_auth(&phone.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_json(response).await,
        (200, json!({"status": "success", "message": "Logged out of other sessions"}))
    );
    for ended in [&laptop, &tablet] {
        assert_eq!(app.me_status(&ended.access).await, 401);
        assert_eq!(app.refresh(&ended.refresh).await.status(), 401);
    }
    assert_eq!(app.me_status(&phone.access).await, 200);
    assert_eq!(app.me_status(&bystander).await, 200);
    assert_eq!(app.session_count("ada@example.com"), 1);
    assert_eq!(app.refresh(&phone.refresh).await.status(), 200);
}

async fn a_sign_in_from_a_new_device_tells_the_user(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, trust_localhost).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    app.mark_verified("ada@example.com");
    // The account's first device is nothing to compare with; the same one again, a browser
    // that updated itself, and the same one after a logout are known.
    let laptop = login_from(&app, "ada@example.com", FIREFOX, "203.0.113.77").await;
    login_from(&app, "ada@example.com", FIREFOX, "203.0.113.78").await;
    assert_eq!(app.logout(&laptop.access).await.status(), 200);
    login_from(&app, "ada@example.com", FIREFOX_UPDATED, "203.0.113.77").await;
    assert_eq!(notices_queued(&app), 0);

    login_from(&app, "ada@example.com", PHONE, "198.51.100.23").await;
    assert_eq!(notices_queued(&app), 1);
    let notice = readable(&smtp.wait_for_subject(NEW_SIGN_IN, 1).await.remove(0));
    assert!(notice.contains("To: ada@example.com\r\n"), "{notice}");
    assert!(notice.contains("from 198.51.100.23"), "{notice}");
    // The device by its family, never the text its User-Agent chose.
    assert!(notice.contains("with Safari on iOS."), "{notice}");
    assert!(!notice.contains("Mozilla"), "{notice}");

    // The known browser on another network is another device.
    login_from(&app, "ada@example.com", FIREFOX, "192.0.2.1").await;
    assert_eq!(notices_queued(&app), 2);
    smtp.wait_for_subject(NEW_SIGN_IN, 2).await;
}

async fn the_sweeper_deletes_expired_sessions_and_their_tokens(backend: Backend) {
    use auth_service::db::schema::refresh_tokens;
    let app = spawn_app(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let old = app.session_for("ada@example.com").await;
    let live = app.session_for("ada@example.com").await;
    let now = chrono::Utc::now().naive_utc();
    diesel::update(sessions::table.find(sid(&old)))
        .set(sessions::expires_at.eq(now - chrono::Duration::seconds(1)))
        .execute(&mut app.db())
        .unwrap();
    diesel::update(refresh_tokens::table.filter(refresh_tokens::session_id.eq(sid(&old))))
        .set(refresh_tokens::expires_at.eq(now - chrono::Duration::seconds(1)))
        .execute(&mut app.db())
        .unwrap();
    auth_service::sweeper::sweep(&mut app.db(), now).unwrap();
    let left: Vec<String> = sessions::table.select(sessions::id).load(&mut app.db()).unwrap();
    assert_eq!(left, [sid(&live)]);
    let tokens: i64 = refresh_tokens::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(tokens, 1);
    assert_eq!(app.refresh(&live.refresh).await.status(), 200);
}

async fn a_user_keeps_at_most_fifty_sessions_the_oldest_end(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let oldest = app.session_for("ada@example.com").await;
    let mut newest = oldest.clone();
    for _ in 0..50 {
        newest = app.session_for("ada@example.com").await;
    }
    assert_eq!(app.session_count("ada@example.com"), 50);
    assert_eq!(app.me_status(&oldest.access).await, 401);
    assert_eq!(app.refresh(&oldest.refresh).await.status(), 401);
    assert_eq!(app.refresh(&newest.refresh).await.status(), 200);
}

async fn a_user_remembers_at_most_twenty_devices(backend: Backend) {
    use auth_service::db::schema::known_devices;
    let app = spawn_behind_proxy(backend).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    // 25 devices: one browser on 25 networks.
    for network in 0..25 {
        let ip = format!("198.51.{network}.7");
        login_from(&app, "ada@example.com", "Mozilla/5.0 Firefox/120.0", &ip).await;
    }
    let devices: i64 = known_devices::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(devices, 20);
}

async fn the_sweeper_keeps_codes_devices_and_sent_mail_for_a_bounded_time(backend: Backend) {
    use auth_service::db::schema::{email_codes, known_devices};
    let app = spawn_app(backend).await;
    // Registration writes a code and queues its message; a login remembers a device.
    let token = app.register_and_login("ada@example.com").await;
    assert_eq!(app.me_status(&token).await, 200);
    let now = chrono::Utc::now().naive_utc();
    let days = |n: i64| now - chrono::Duration::days(n);
    diesel::update(email_codes::table)
        .set(email_codes::expires_at.eq(days(0) - chrono::Duration::seconds(1)))
        .execute(&mut app.db())
        .unwrap();
    diesel::update(known_devices::table)
        .set(known_devices::last_seen_at.eq(days(91)))
        .execute(&mut app.db())
        .unwrap();
    let sent: Vec<i64> = mail_outbox::table.select(mail_outbox::id).load(&mut app.db()).unwrap();
    assert!(!sent.is_empty());
    diesel::update(mail_outbox::table)
        .set(mail_outbox::sent_at.eq(Some(days(31))))
        .execute(&mut app.db())
        .unwrap();
    auth_service::sweeper::sweep(&mut app.db(), now).unwrap();
    let count = |n: Result<i64, _>| n.unwrap();
    assert_eq!(count(email_codes::table.count().get_result(&mut app.db())), 0);
    assert_eq!(count(known_devices::table.count().get_result(&mut app.db())), 0);
    assert_eq!(count(mail_outbox::table.count().get_result(&mut app.db())), 0);
    // What is younger stays.
    app.session_for("ada@example.com").await;
    auth_service::sweeper::sweep(&mut app.db(), now).unwrap();
    assert_eq!(count(known_devices::table.count().get_result(&mut app.db())), 1);
}

both_backends!(
    a_user_keeps_at_most_fifty_sessions_the_oldest_end,
    a_user_remembers_at_most_twenty_devices,
    the_sweeper_keeps_codes_devices_and_sent_mail_for_a_bounded_time,
    the_sweeper_deletes_expired_sessions_and_their_tokens,
    sessions_are_listed_newest_first_with_network_and_user_agent,
    a_refresh_records_where_the_session_was_used_and_a_request_does_not,
    listing_needs_a_bearer_token,
    an_ended_session_is_refused_by_another_replica_within_the_bound,
    another_users_session_is_not_found_and_ends_nothing,
    logout_of_other_sessions_keeps_this_one,
    a_sign_in_from_a_new_device_tells_the_user
);
