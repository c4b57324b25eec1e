use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn healthz_and_readyz_are_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(status_and_json(healthz).await, (200, json!({"status": "ok"})));
    let readyz = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(status_and_json(readyz).await, (200, ready_body()));
}

async fn database_error_is_500_without_internals(backend: Backend) {
    use diesel::RunQueryDsl;
    let app = spawn_app(backend).await;
    app.register("A", "a@example.com", PASSWORD).await;
    // Renamed rather than dropped: sessions reference it, and PostgreSQL refuses the drop.
    diesel::sql_query("ALTER TABLE users RENAME TO users_gone").execute(&mut app.db()).unwrap();
    let (status, body) = status_and_json(app.login("a@example.com", PASSWORD).await).await;
    assert_eq!((status, body), (500, error_body("Internal server error")));
}

both_backends!(healthz_and_readyz_are_ok, database_error_is_500_without_internals);

/// PostgreSQL going away answers 503, and the service recovers by itself when it returns.
/// (An embedded SQLite file cannot go down independently of the process.)
#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL and --include-ignored (scripts/test)"]
async fn database_down_gives_503_and_recovers_postgres() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let app = spawn_app(Backend::Postgres).await;
    let token = app.register_and_login("down@example.com").await;
    let auth_service::db::DatabaseUrl::Postgres(url) = &app.database_url else { unreachable!() };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = PgConnection::establish(&postgres_base_url()).unwrap();
    let set_connections = |admin: &mut PgConnection, allow: bool| {
        diesel::sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
            .execute(admin)
            .unwrap();
    };
    set_connections(&mut admin, false);
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .unwrap();

    let unavailable = (503, error_body("Service unavailable"));
    // The first request on a killed connection may be the one that finds it dead; both
    // outcomes are 503, never 500.
    for _ in 0..3 {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (503, database_down_body()));
        let response = app.get_me(Some(&format!("Bearer {token}"))).await;
        assert_eq!(status_and_json(response).await, unavailable);
        let response = app.login("down@example.com", PASSWORD).await;
        assert_eq!(status_and_json(response).await, unavailable);
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (200, json!({"status": "ok"})));
    }

    set_connections(&mut admin, true);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(status_and_json(response).await, (200, ready_body()));
    assert_eq!(app.get_me(Some(&format!("Bearer {token}"))).await.status().as_u16(), 200);
}
