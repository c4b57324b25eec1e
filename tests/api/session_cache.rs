//! Each replica's session cache: an authenticated request whose user is cached asks the
//! database nothing; every change that ends a session or changes what `GET /` answers reaches
//! another replica's cache within the bound (PostgreSQL NOTIFY, or in the process and from
//! `user_changes` on SQLite); a killed LISTEN connection leaves no stale entry served; the
//! cache keeps its bound however many tokens come; `SESSION_CACHE=off` asks every time.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const EMAIL: &str = "ada@example.com";

/// Waits until the app's cache is in use (its change feed listening).
async fn trusted(app: &TestApp) {
    assert!(eventually(|| app.has_metric("session_cache_trusted 1")).await);
}

async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await
}

async fn requests_after_the_first_are_answered_from_the_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    trusted(&app).await;
    let token = app.register_and_login(EMAIL).await;
    for _ in 0..3 {
        assert_eq!(me(&app, &token).await.0, 200);
    }
    assert!(app.has_metric(r#"session_cache_lookups_total{result="miss"} 1"#).await);
    assert!(app.has_metric(r#"session_cache_lookups_total{result="hit"} 2"#).await);
    assert!(app.has_metric("session_cache_entries 1").await);
}

async fn session_cache_off_asks_the_database_every_time(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.database.session_cache = None).await;
    let token = app.register_and_login(EMAIL).await;
    for _ in 0..3 {
        assert_eq!(me(&app, &token).await.0, 200);
    }
    assert!(app.has_metric(r#"session_cache_lookups_total{result="bypass"} 3"#).await);
    assert!(!app.has_metric(r#"session_cache_lookups_total{result="hit"} 0"#).await);
}

/// Signs `email` in on `first` (the tokens) and makes `second` cache it (two answers: the
/// second from the cache).
async fn cached_on(second: &TestApp, first: &TestApp, email: &str) -> Tokens {
    let tokens = first.session_for(email).await;
    assert_eq!(me(second, &tokens.access).await.0, 200);
    assert_eq!(me(second, &tokens.access).await.0, 200);
    tokens
}

async fn every_change_reaches_another_replicas_cache_within_the_bound(backend: Backend) {
    let smtp = SmtpServer::start();
    let first = spawn_app_with_smtp(backend, &smtp).await;
    let second = first.replica();
    trusted(&first).await;
    trusted(&second).await;
    first.register("Ada", EMAIL, PASSWORD).await;
    first.mark_verified(EMAIL);
    let mut seen: Vec<(&str, Duration)> = Vec::new();
    let refused =
        async |token: &str| time_until(|| async { me(&second, token).await.0 != 200 }).await;

    let t = cached_on(&second, &first, EMAIL).await;
    first.logout(&t.access).await;
    seen.push(("logout", refused(&t.access).await.expect("logout")));
    let (t, other) = (cached_on(&second, &first, EMAIL).await, first.session_for(EMAIL).await);
    first.logout_scope(&other.access, "others").await;
    seen.push(("logout ?scope=others", refused(&t.access).await.expect("others")));
    let t = cached_on(&second, &first, EMAIL).await;
    first.logout_scope(&t.access, "all").await;
    seen.push(("logout ?scope=all", refused(&t.access).await.expect("all")));
    let (t, other) = (cached_on(&second, &first, EMAIL).await, first.session_for(EMAIL).await);
    let (_, listed) = first.list_sessions(&other.access).await;
    let sessions = listed["sessions"].as_array().unwrap();
    let id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap();
    first.end_session(&other.access, id).await;
    seen.push(("DELETE /api/sessions/{id}", refused(&t.access).await.expect("session end")));

    let t = cached_on(&second, &first, EMAIL).await;
    let body = json!({"name": "Ada L."});
    assert_eq!(first.update_user(&t.access, &body).await.0, 200);
    let renamed =
        time_until(|| async { me(&second, &t.access).await.1["user"]["name"] == "Ada L." });
    seen.push(("PATCH /api/user (name)", renamed.await.expect("name")));
    let picture = first.upload("/api/upload_profile_pic", &t.access, "a.png", png_image(8, 8));
    assert_eq!(picture.await.status(), 200);
    let pictured = time_until(|| async {
        me(&second, &t.access).await.1["user"]["profile_pic_url"].is_string()
    });
    seen.push(("POST /api/upload_profile_pic", pictured.await.expect("picture")));

    let change =
        json!({"current_password": PASSWORD, "new_password": "another-long-passphrase-42"});
    let (status, body) = first.change_password(&t.access, &change).await;
    assert_eq!(status, 200, "{body}");
    seen.push(("password change", refused(&t.access).await.expect("password change")));
    let t = Tokens::from_body(&body);
    assert_eq!(me(&second, &t.access).await.0, 200);
    assert_eq!(first.forgot_password(EMAIL).await.0, 202);
    let code = code_in(&smtp.wait_for_subject("Your password reset code", 1).await[0]);
    let reset = json!({"email": EMAIL, "code": code, "new_password": PASSWORD});
    assert_eq!(first.reset_password(&reset).await.0, 200);
    seen.push(("password reset", refused(&t.access).await.expect("reset")));

    let t = cached_on(&second, &first, EMAIL).await;
    let (_, enrolled) = first.enrol_totp(&t.access, &json!({"password": PASSWORD})).await;
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let (status, body) = first.confirm_totp(&t.access, &json!({"code": totp_code(&secret)})).await;
    assert_eq!(status, 200, "{body}");
    seen.push(("MFA on", refused(&t.access).await.expect("mfa on")));
    let aal2 = Tokens::from_body(&body);
    assert_eq!(me(&second, &aal2.access).await.0, 200);
    forget_used_step(&first);
    let off = json!({"password": PASSWORD, "code": totp_code(&secret)});
    assert_eq!(first.disable_totp(&aal2.access, &off).await.0, 200);
    // Seen on the other replica: a second enrolment there needs MFA off.
    let again = json!({"password": PASSWORD});
    let off_there = time_until(|| async { second.enrol_totp(&aal2.access, &again).await.0 == 200 });
    seen.push(("MFA off", off_there.await.expect("mfa off")));

    let t = cached_on(&second, &first, EMAIL).await;
    let move_to = json!({"new_email": "ada@new.example", "password": PASSWORD});
    assert_eq!(first.change_email(&t.access, &move_to).await.0, 202);
    let confirm = smtp.wait_for_subject("Your code to confirm ada@new.example", 1).await;
    let (status, body) = first.confirm_email_change(&t.access, &code_in(&confirm[0])).await;
    assert_eq!(status, 200, "{body}");
    seen.push(("email change", refused(&t.access).await.expect("email change")));

    let id = first.user_id("ada@new.example");
    let key = first.admin_key("users:write").await;
    let t = cached_on(&second, &first, "ada@new.example").await;
    assert_eq!(first.admin_post(&format!("/users/{id}/disable"), &key, None).await.0, 200);
    seen.push(("disabling", refused(&t.access).await.expect("disabling")));
    assert_eq!(first.admin_post(&format!("/users/{id}/enable"), &key, None).await.0, 200);
    let t = cached_on(&second, &first, "ada@new.example").await;
    let (status, _) = first.delete_user(&t.access, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200);
    seen.push(("account deletion", refused(&t.access).await.expect("deletion")));

    for (change, took) in &seen {
        println!("{change}: seen by the other replica after {:.1} ms", took.as_secs_f64() * 1e3);
    }
}

async fn the_cache_keeps_its_bound_under_a_storm_of_distinct_tokens(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.database.session_cache = Some(10)).await;
    trusted(&app).await;
    let mut tokens = Vec::new();
    for i in 0..40 {
        tokens.push(app.register_and_login(&format!("storm{i}@example.com")).await);
    }
    for token in tokens.iter().chain(&tokens) {
        assert_eq!(me(&app, token).await.0, 200);
    }
    let cached = app.state.db.session_cache().unwrap().len();
    println!("users cached after 80 requests of 40 users, capacity 10: {cached}");
    assert!(cached <= 10, "{cached}");
}

both_backends!(
    requests_after_the_first_are_answered_from_the_cache,
    session_cache_off_asks_the_database_every_time,
    every_change_reaches_another_replicas_cache_within_the_bound,
    the_cache_keeps_its_bound_under_a_storm_of_distinct_tokens,
);

/// The replica's LISTEN connection ended by the server: its cache is emptied and not used
/// until a new one listens, so a logout on another replica meanwhile is refused there too.
#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL and --include-ignored (scripts/test)"]
async fn a_killed_listen_connection_leaves_no_stale_entry_served() {
    use auth_service::db::cache_listener::APPLICATION_NAME;
    use diesel::RunQueryDsl;
    let first = spawn_app(Backend::Postgres).await;
    let second = first.replica();
    trusted(&second).await;
    first.register("Ada", EMAIL, PASSWORD).await;
    let t = cached_on(&second, &first, EMAIL).await;
    let kill = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database()"
    );
    let killed = diesel::sql_query(kill).execute(&mut first.db()).unwrap();
    assert_eq!(killed, 2, "one listener per replica");
    first.logout(&t.access).await;
    let refused = time_until(|| async { me(&second, &t.access).await.0 == 401 }).await;
    println!("refused after the listener's end in {refused:?}");
    assert!(refused.is_some());
    // Listening again, and answering from the cache again.
    trusted(&second).await;
    let t = cached_on(&second, &first, EMAIL).await;
    assert_eq!(me(&second, &t.access).await.0, 200);
    let hits = second.state.metrics.session_cache_lookups.with_label_values(&["hit"]).get();
    assert!(hits >= 2, "{hits}");
}
