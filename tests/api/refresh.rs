//! `POST /api/token/refresh`: rotation, reuse detection, the grace interval, concurrency.

use auth_service::db::schema::refresh_tokens;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::TestRunner,
};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const HOUR: u64 = 3600;

fn refresh_token_rows(app: &TestApp) -> i64 {
    refresh_tokens::table.count().get_result(&mut app.db()).unwrap()
}

fn unspent_refresh_tokens(app: &TestApp) -> i64 {
    refresh_tokens::table
        .filter(refresh_tokens::spent_at.is_null())
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

fn invalid() -> (u16, Value) {
    (401, error_body("Invalid refresh token"))
}

async fn refresh_rotates_within_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("A", "rot@example.com", PASSWORD).await;
    let login = app.session_for("rot@example.com").await;

    let (status, body) = status_and_json(app.refresh(&login.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let next = Tokens::from_body(&body);
    assert_eq!(body, next.body("Token refreshed"));
    assert_ne!(next.refresh, login.refresh);
    assert_eq!(jwt_claims(&next.access)["sid"], jwt_claims(&login.access)["sid"]);
    assert_eq!(jwt_claims(&next.access)["email"], json!("rot@example.com"));
    assert_eq!(app.me_status(&next.access).await, 200);
    // The session goes on: the login's access token is still good until it expires.
    assert_eq!(app.me_status(&login.access).await, 200);
    // The chain continues from the newest token.
    let (status, third) = status_and_json(app.refresh(&next.refresh).await).await;
    assert_eq!(status, 200);
    assert_ne!(third["refresh_token"], json!(next.refresh));
    assert_eq!(app.session_count("rot@example.com"), 1);
    // Only hashes are stored.
    let stored: Vec<String> =
        refresh_tokens::table.select(refresh_tokens::token_hash).load(&mut app.db()).unwrap();
    assert_eq!(stored.len(), 3);
    for token in [&login.refresh, &next.refresh] {
        assert!(!stored.contains(token));
        assert!(stored.contains(&auth_service::auth::opaque_token::hash(token)));
    }
}

async fn reuse_after_the_grace_interval_ends_the_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.tokens.refresh_reuse_interval_secs = 0).await;
    app.register("A", "reuse@example.com", PASSWORD).await;
    let login = app.session_for("reuse@example.com").await;
    let other_device = app.session_for("reuse@example.com").await;
    let (_, body) = status_and_json(app.refresh(&login.refresh).await).await;
    let second = Tokens::from_body(&body);
    let (_, body) = status_and_json(app.refresh(&second.refresh).await).await;
    let third = Tokens::from_body(&body);

    // The first token again: a copy is in someone else's hands.
    assert_eq!(status_and_json(app.refresh(&login.refresh).await).await, invalid());
    // Every token of that family is dead, refresh and access alike...
    assert_eq!(status_and_json(app.refresh(&third.refresh).await).await, invalid());
    for tokens in [&login, &second, &third] {
        assert_eq!(app.me_status(&tokens.access).await, 401);
    }
    // ...and only that family.
    assert_eq!(app.session_count("reuse@example.com"), 1);
    assert_eq!(app.me_status(&other_device.access).await, 200);
    assert_eq!(app.refresh(&other_device.refresh).await.status().as_u16(), 200);
}

async fn reuse_within_the_grace_interval_gets_the_same_successor(backend: Backend) {
    // An hour of grace, so the test does not depend on how fast the machine is.
    let app = spawn_app_with(backend, |s| s.tokens.refresh_reuse_interval_secs = HOUR).await;
    app.register("A", "grace@example.com", PASSWORD).await;
    let login = app.session_for("grace@example.com").await;
    let (_, body) = status_and_json(app.refresh(&login.refresh).await).await;
    let first = Tokens::from_body(&body);
    let (status, body) = status_and_json(app.refresh(&login.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let second = Tokens::from_body(&body);
    // One chain: the repeat gets the successor the first use got (with an access token of
    // its own), so no second branch of the session can live on.
    assert_eq!(second.refresh, first.refresh);
    assert_eq!(jwt_claims(&second.access)["sid"], jwt_claims(&login.access)["sid"]);
    assert_eq!(app.session_count("grace@example.com"), 1);
    assert_eq!(refresh_token_rows(&app), 2);
    for tokens in [&first, &second] {
        assert_eq!(app.me_status(&tokens.access).await, 200);
    }
    assert_eq!(app.refresh(&second.refresh).await.status().as_u16(), 200);
}

async fn replays_within_the_grace_never_fork_the_session(backend: Backend) {
    // The review's case: refresh(R0) -> R1, then five more refresh(R0) in the grace interval
    // gave six live successors, whose chains all kept refreshing.
    let app = spawn_app_with(backend, |s| s.tokens.refresh_reuse_interval_secs = HOUR).await;
    app.register("A", "fork@example.com", PASSWORD).await;
    let r0 = app.session_for("fork@example.com").await.refresh;
    let before = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let mut successors = Vec::new();
    for _ in 0..6 {
        let (status, body) = status_and_json(app.refresh(&r0).await).await;
        assert_eq!(status, 200, "{body}");
        successors.push(Tokens::from_body(&body).refresh);
    }
    successors.dedup();
    assert_eq!(successors.len(), 1, "{successors:?}");
    let r1 = &successors[0];
    let (_, body) = status_and_json(app.refresh(r1).await).await;
    let r2 = Tokens::from_body(&body).refresh;
    // A copy of R1 (one of the "forks") gets R2 as well: still one chain.
    let (_, body) = status_and_json(app.refresh(r1).await).await;
    assert_eq!(Tokens::from_body(&body).refresh, r2);
    assert_eq!(refresh_token_rows(&app), 3);
    let live = unspent_refresh_tokens(&app);
    assert_eq!(live, 1, "live refresh tokens in the session");
    let after = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let replayed = |text: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(r#"auth_refreshes_total{outcome="replayed"} "#))
            .map_or(0.0, |value| value.parse::<f64>().unwrap())
    };
    assert_eq!(replayed(&after) - replayed(&before), 6.0);
}

async fn twenty_concurrent_refreshes_stay_in_one_chain(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.tokens.refresh_reuse_interval_secs = HOUR).await;
    app.register("A", "race@example.com", PASSWORD).await;
    let login = app.session_for("race@example.com").await;
    let sid = jwt_claims(&login.access)["sid"].clone();
    let results = futures_util::future::join_all(
        (0..20).map(|_| async { status_and_json(app.refresh(&login.refresh).await).await }),
    )
    .await;
    let mut successors = Vec::new();
    for (status, body) in results {
        assert_eq!(status, 200, "{body}");
        let tokens = Tokens::from_body(&body);
        assert_eq!(jwt_claims(&tokens.access)["sid"], sid);
        successors.push(tokens);
    }
    let mut distinct: Vec<&str> = successors.iter().map(|t| t.refresh.as_str()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 1);
    assert_eq!(app.session_count("race@example.com"), 1);
    assert_eq!(refresh_token_rows(&app), 2);
    for tokens in &successors {
        assert_eq!(app.me_status(&tokens.access).await, 200);
    }
    assert_eq!(app.refresh(distinct[0]).await.status().as_u16(), 200);
}

async fn a_session_ends_at_its_maximum_lifetime_however_often_it_refreshes(backend: Backend) {
    use auth_service::db::schema::sessions;
    let app = spawn_app(backend).await;
    app.register("A", "old@example.com", PASSWORD).await;
    let login = app.session_for("old@example.com").await;
    let (_, body) = status_and_json(app.refresh(&login.refresh).await).await;
    let fresh = Tokens::from_body(&body);
    // The login was 91 days ago (SESSION_MAX_LIFETIME_SECS defaults to 90 days).
    let long_ago = chrono::Utc::now().naive_utc() - chrono::Duration::days(91);
    diesel::update(sessions::table)
        .set(sessions::created_at.eq(long_ago))
        .execute(&mut app.db())
        .unwrap();
    assert_eq!(status_and_json(app.refresh(&fresh.refresh).await).await, invalid());
    assert_eq!(app.session_count("old@example.com"), 0);
    assert_eq!(app.me_status(&fresh.access).await, 401);
}

async fn no_access_token_outlives_its_sessions_maximum_lifetime(backend: Backend) {
    use auth_service::db::schema::sessions;
    let app = spawn_app_with(backend, |s| s.tokens.session_max_lifetime_secs = 30).await;
    app.register("A", "brief@example.com", PASSWORD).await;
    let login = app.session_for("brief@example.com").await;
    let claims = jwt_claims(&login.access);
    let lives = |claims: &Value| claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((29..=30).contains(&lives(&claims)), "{claims}");
    // 20 s into the session, a refresh's token ends with the session too.
    let started = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(20);
    diesel::update(sessions::table)
        .set(sessions::created_at.eq(started))
        .execute(&mut app.db())
        .unwrap();
    let (status, body) = status_and_json(app.refresh(&login.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let refreshed = jwt_claims(&Tokens::from_body(&body).access);
    assert!((9..=10).contains(&lives(&refreshed)), "{refreshed}");
}

async fn a_replay_on_a_replica_with_a_rotated_key_gets_the_same_successor(backend: Backend) {
    // Mid-rotation one replica signs with the new secret (the old one still verifies): a token
    // replayed within the grace interval on either gets one successor, never a second chain.
    let first = spawn_app(backend).await;
    let rotated = first.replica_with(|s| {
        s.tokens.jwt_secret = Some("the-next-secret-also-at-least-32-bytes".into());
        s.tokens.jwt_previous_secrets = vec![TEST_SECRET.into()];
    });
    first.register("A", "rotate@example.com", PASSWORD).await;
    let login = first.session_for("rotate@example.com").await;
    let (status, here) = status_and_json(first.refresh(&login.refresh).await).await;
    assert_eq!(status, 200, "{here}");
    let (status, there) = status_and_json(rotated.refresh(&login.refresh).await).await;
    assert_eq!(status, 200, "{there}");
    assert_eq!(here["refresh_token"], there["refresh_token"]);
    assert_eq!(unspent_refresh_tokens(&first), 1);
}

async fn twenty_concurrent_refreshes_without_grace_mint_one_successor_then_end(backend: Backend) {
    // Without a grace interval the first refresh wins and every later one is reuse: never
    // two live families.
    let app = spawn_app_with(backend, |s| s.tokens.refresh_reuse_interval_secs = 0).await;
    app.register("A", "race0@example.com", PASSWORD).await;
    let login = app.session_for("race0@example.com").await;
    let results = futures_util::future::join_all(
        (0..20).map(|_| async { app.refresh(&login.refresh).await.status().as_u16() }),
    )
    .await;
    assert_eq!(results.iter().filter(|&&status| status == 200).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|&&status| status == 401).count(), 19, "{results:?}");
    assert_eq!(app.session_count("race0@example.com"), 0);
    assert_eq!(refresh_token_rows(&app), 0);
}

async fn refresh_needs_a_string_token(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in [
        json!({}),
        json!({"refresh_token": null}),
        json!({"refresh_token": 42}),
        json!({"refresh_token": "  "}),
    ] {
        let response = app.post_json("/api/token/refresh", &body).await;
        assert_eq!(
            status_and_json(response).await,
            (400, error_body("All fields are required")),
            "{body}"
        );
    }
}

async fn any_string_that_is_not_a_live_refresh_token_is_401(backend: Backend) {
    // Property: whatever the string (random text, the right length and alphabet, an access
    // token, a spent or ended token), the answer is 401 with the contract's body, never
    // a 500, and no token is minted.
    let app = spawn_app_with(backend, |s| s.tokens.refresh_reuse_interval_secs = 0).await;
    app.register("A", "prop@example.com", PASSWORD).await;
    let login = app.session_for("prop@example.com").await;
    let (_, body) = status_and_json(app.refresh(&login.refresh).await).await;
    let live = Tokens::from_body(&body);
    let ended = app.session_for("prop@example.com").await;
    app.logout(&ended.access).await;

    let mut runner = TestRunner::deterministic();
    let mut candidates: Vec<String> = Vec::new();
    for strategy in
        [".{0,80}", "[A-Za-z0-9_-]{43}", "[A-Za-z0-9_-]{42,44}", "[\\x00-\\x7f]{43}", "\\PC{1,60}"]
    {
        let strategy = proptest::string::string_regex(strategy).unwrap();
        for _ in 0..40 {
            candidates.push(strategy.new_tree(&mut runner).unwrap().current());
        }
    }
    candidates.extend([
        ended.refresh.clone(),
        live.access.clone(),
        format!("{} ", live.refresh),
        live.refresh.to_uppercase(),
        format!("{}=", live.refresh),
    ]);
    let rows = refresh_token_rows(&app);
    for candidate in candidates.iter().filter(|c| !c.trim().is_empty() && **c != live.refresh) {
        assert_eq!(status_and_json(app.refresh(candidate).await).await, invalid(), "{candidate:?}");
    }
    assert_eq!(refresh_token_rows(&app), rows);
    // The spent one last: reuse, which ends its session.
    assert_eq!(status_and_json(app.refresh(&login.refresh).await).await, invalid());
    assert_eq!(app.me_status(&live.access).await, 401);
}

both_backends!(
    a_replay_on_a_replica_with_a_rotated_key_gets_the_same_successor,
    no_access_token_outlives_its_sessions_maximum_lifetime,
    refresh_rotates_within_the_session,
    reuse_after_the_grace_interval_ends_the_session,
    reuse_within_the_grace_interval_gets_the_same_successor,
    replays_within_the_grace_never_fork_the_session,
    a_session_ends_at_its_maximum_lifetime_however_often_it_refreshes,
    twenty_concurrent_refreshes_stay_in_one_chain,
    twenty_concurrent_refreshes_without_grace_mint_one_successor_then_end,
    refresh_needs_a_string_token,
    any_string_that_is_not_a_live_refresh_token_is_401
);
