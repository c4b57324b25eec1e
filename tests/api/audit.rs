//! Request ids and audit events, read from the log of the binary itself.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const WRONG_PASSWORD: &str = "not-the-password-4711";

/// The JSON log lines of the `audit` target.
fn audit_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "audit")
        .collect()
}

/// Requests to a `ServiceProcess` as a client would make them.
struct Caller<'a> {
    client: reqwest::Client,
    service: &'a ServiceProcess,
}

impl Caller<'_> {
    fn new(service: &ServiceProcess) -> Caller<'_> {
        Caller { client: reqwest::Client::new(), service }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.service.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        self.request(method, path, token).json(body).send().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, None, body).await
    }

    async fn login(&self, user: &Value) -> Tokens {
        Tokens::from_body(&self.post("/api/login", user).await.json().await.unwrap())
    }

    /// A POST of `body`, with the bearer `token` if any: its status and JSON body.
    async fn send_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        status_and_json(self.send(reqwest::Method::POST, path, token, body).await).await
    }
}

#[tokio::test]
async fn failed_login_audit_line_carries_the_request_id_and_no_secret() {
    let service =
        ServiceProcess::start(&[("LOG_FORMAT", "json"), ("TRUSTED_PROXIES", "127.0.0.1")]);
    let caller = Caller::new(&service);
    let user = json!({"name": "Audited", "email": "audit@example.com", "password": PASSWORD});
    assert_eq!(caller.post("/api/register", &user).await.status(), 201);
    let token = caller.login(&user).await.access;

    let failed = json!({"email": "audit@example.com", "password": WRONG_PASSWORD});
    let response = caller
        .request(reqwest::Method::POST, "/api/login", None)
        .header("X-Request-Id", "req-audit-1")
        .json(&failed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "req-audit-1");

    // The access-log line is written when the response is done, after the audit line: waiting
    // for the audit line alone could read the log before it.
    let access_line =
        |line: &str| line.contains("POST /api/login") && line.contains("request_id=req-audit-1");
    let lines = service.log_lines_until(access_line).await;
    let audit = audit_lines(&lines);
    let failure =
        audit.iter().find(|line| line["outcome"] == "bad_credentials").expect("audit line");
    assert_eq!(failure["event"], "login");
    assert_eq!(failure["request_id"], "req-audit-1");
    assert_eq!(failure["client_ip"], "127.0.0.1");
    assert_eq!(failure["user_id"], json!(1));
    assert_eq!(failure["level"], "INFO");
    assert!(chrono::DateTime::parse_from_rfc3339(failure["time"].as_str().unwrap()).is_ok());
    // Nothing secret anywhere in the log: not the passwords, not a bcrypt hash, not a token.
    let everything = lines.join("\n");
    for secret in [WRONG_PASSWORD, PASSWORD, "$2b$", "$2y$", token.as_str(), TEST_SECRET] {
        assert!(!everything.contains(secret), "{secret:?} is in the log");
    }
    // The request's access-log line names its id too.
    assert!(lines.iter().any(|line| access_line(line)), "{lines:#?}");
}

#[tokio::test]
async fn every_audited_action_writes_one_event() {
    use reqwest::Method;
    let service =
        ServiceProcess::start(&[("LOG_FORMAT", "json"), ("REFRESH_REUSE_INTERVAL_SECS", "0")]);
    let caller = Caller::new(&service);
    const NEW_PASSWORD: &str = "staple battery horse correct";
    let user = json!({"name": "Audited", "email": "every@example.com", "password": PASSWORD});
    caller.post("/api/register", &user).await;
    caller.post("/api/register", &user).await;
    let first = caller.login(&user).await;
    let form = reqwest::multipart::Form::new()
        .part("profile_pic", reqwest::multipart::Part::bytes(png_image(4, 4)).file_name("me.png"));
    let upload = caller
        .request(Method::POST, "/api/upload_profile_pic", Some(&first.access))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let refresh = json!({"refresh_token": first.refresh});
    caller.post("/api/token/refresh", &refresh).await;
    caller.post("/api/token/refresh", &refresh).await;
    let second = caller.login(&user).await;
    caller.send(Method::POST, "/api/logout", Some(&second.access), &json!({})).await;
    let third = caller.login(&user).await;
    caller.send(Method::POST, "/api/logout?scope=all", Some(&third.access), &json!({})).await;
    let fourth = caller.login(&user).await;
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let changed = caller.send(Method::PUT, "/api/password", Some(&fourth.access), &change).await;
    let fifth = Tokens::from_body(&changed.json().await.unwrap());
    let wrong = caller
        .send(
            Method::DELETE,
            "/api/user",
            Some(&fifth.access),
            &json!({"password": "wrong password here"}),
        )
        .await;
    assert_eq!(wrong.status(), 403);
    let deleted = caller
        .send(Method::DELETE, "/api/user", Some(&fifth.access), &json!({"password": NEW_PASSWORD}))
        .await;
    assert_eq!(deleted.status(), 200);

    let lines = service
        .log_lines_until(|line| line.contains("account_deletion") && line.contains("\"ok\""))
        .await;
    // Mail deliveries are audited by the worker, whenever it gets to them (tests/api/mail.rs).
    let events: Vec<(String, String)> = audit_lines(&lines)
        .iter()
        .filter(|line| line["event"] != "mail")
        .map(|line| {
            (
                line["event"].as_str().unwrap().to_owned(),
                line["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("register", "ok"),
        ("register", "email_taken"),
        ("login", "ok"),
        ("picture_upload", "ok"),
        ("refresh_reuse", "session_ended"),
        ("login", "ok"),
        ("logout", "ok"),
        ("login", "ok"),
        ("logout_everywhere", "ok"),
        ("login", "ok"),
        ("password_change", "ok"),
        ("account_deletion", "wrong_password"),
        ("account_deletion", "ok"),
    ]
    .iter()
    .map(|(e, o)| (e.to_string(), o.to_string()))
    .collect();
    assert_eq!(events, expected);
    // Every event names the user except the refused registration, and every one the client.
    for line in audit_lines(&lines).iter().filter(|line| line["event"] != "mail") {
        assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
        assert_eq!(line["user_id"].is_number(), line["outcome"] != "email_taken", "{line}");
        assert!(line["request_id"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn a_refresh_replayed_within_the_grace_interval_is_an_audit_event() {
    let service = ServiceProcess::start(&[("LOG_FORMAT", "json")]);
    let caller = Caller::new(&service);
    let user = json!({"name": "Replayed", "email": "replay@example.com", "password": PASSWORD});
    assert_eq!(caller.post("/api/register", &user).await.status(), 201);
    let refresh = json!({"refresh_token": caller.login(&user).await.refresh});
    for _ in 0..2 {
        assert_eq!(caller.post("/api/token/refresh", &refresh).await.status(), 200);
    }
    let lines = service.log_lines_until(|line| line.contains("refresh_replay")).await;
    let replays: Vec<Value> = audit_lines(&lines)
        .into_iter()
        .filter(|line| line["event"] == "refresh_replay")
        .map(|line| json!([line["outcome"], line["user_id"]]))
        .collect();
    assert_eq!(replays, [json!(["same_successor", 1])], "{lines:#?}");
}

#[tokio::test]
async fn a_throttled_upload_is_an_audit_event_like_a_throttled_login() {
    let service = ServiceProcess::start(&[
        ("LOG_FORMAT", "json"),
        ("RATE_LIMIT_UPLOAD_PER_IP", "1/1h"),
        ("RATE_LIMIT_LOGIN_PER_IP", "2/1h"),
    ]);
    let caller = Caller::new(&service);
    let user = json!({"name": "Throttled", "email": "slow@example.com", "password": PASSWORD});
    assert_eq!(caller.post("/api/register", &user).await.status(), 201);
    let token = caller.login(&user).await.access;
    let upload = || {
        let form = reqwest::multipart::Form::new().part(
            "profile_pic",
            reqwest::multipart::Part::bytes(png_image(2, 2)).file_name("a.png"),
        );
        caller
            .request(reqwest::Method::POST, "/api/upload_profile_pic", Some(&token))
            .multipart(form)
    };
    assert_eq!(upload().send().await.unwrap().status(), 200);
    assert_eq!(upload().send().await.unwrap().status(), 429);
    assert_eq!(caller.post("/api/login", &user).await.status(), 200);
    assert_eq!(caller.post("/api/login", &user).await.status(), 429);

    let lines = service
        .log_lines_until(|line| line.contains("\"login\"") && line.contains("throttled"))
        .await;
    let throttled: Vec<(String, Value)> = audit_lines(&lines)
        .iter()
        .filter(|line| line["outcome"] == "throttled")
        .map(|line| (line["event"].as_str().unwrap().to_owned(), line["user_id"].clone()))
        .collect();
    let user_id = json!(1);
    assert_eq!(
        throttled,
        [("picture_upload".to_owned(), user_id), ("login".to_owned(), Value::Null)],
        "{lines:#?}"
    );
}

async fn request_id_is_echoed_from_a_trusted_proxy_only(backend: Backend) {
    let direct = spawn_app(backend).await;
    let proxied = spawn_app_with(backend, |s| {
        s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for (app, expect_echo) in [(&direct, false), (&proxied, true)] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("X-Request-Id", "from-proxy-7")
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        if expect_echo {
            assert_eq!(id, "from-proxy-7");
        } else {
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        // An id that could break a log line is replaced, even from a trusted proxy.
        let response = app
            .client
            .get(app.url("/no/such/path"))
            .header("X-Request-Id", "a b")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    // Two requests, two ids.
    let ids: Vec<String> = futures_util::future::join_all((0..2).map(|_| async {
        let response = direct.client.get(direct.url("/healthz")).send().await.unwrap();
        response.headers()["x-request-id"].to_str().unwrap().to_owned()
    }))
    .await;
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn wrong_codes_are_audit_events_and_counted_by_purpose() {
    let service = ServiceProcess::start(&[("LOG_FORMAT", "json")]);
    let caller = Caller::new(&service);
    let user = json!({"name": "Guessed", "email": "guess@example.com", "password": PASSWORD});
    assert_eq!(caller.post("/api/register", &user).await.status(), 201);
    let wrong = json!({"email": "guess@example.com", "code": "000000"});
    assert_eq!(caller.post("/api/email/verify", &wrong).await.status(), 400);
    assert_eq!(
        caller.post("/api/password/forgot", &json!({"email": "guess@example.com"})).await.status(),
        202
    );
    let reset = json!({"email": "guess@example.com", "code": "000000", "new_password": "a new long passphrase"});
    assert_eq!(caller.post("/api/password/reset", &reset).await.status(), 400);
    let stranger = json!({"email": "nobody@example.com", "code": "000000", "new_password": "a new long passphrase"});
    assert_eq!(caller.post("/api/password/reset", &stranger).await.status(), 400);

    // The stranger's line, the last, names no user.
    let last = |line: &str| line.contains("bad_code") && !line.contains("user_id");
    let lines = service.log_lines_until(last).await;
    let bad: Vec<(Value, Value)> = audit_lines(&lines)
        .into_iter()
        .filter(|line| line["outcome"] == "bad_code")
        .map(|line| (line["event"].clone(), line["user_id"].clone()))
        .collect();
    assert_eq!(
        bad,
        [
            (json!("email_verification"), json!(1)),
            (json!("password_reset"), json!(1)),
            (json!("password_reset"), Value::Null)
        ]
    );
    let metrics = reqwest::get(service.url("/metrics")).await.unwrap().text().await.unwrap();
    for expected in [
        r#"auth_code_failures_total{purpose="email_verification"} 1"#,
        r#"auth_code_failures_total{purpose="password_reset"} 2"#,
    ] {
        assert!(metrics.contains(expected), "{expected} not in {metrics}");
    }
}

#[tokio::test]
async fn passkey_registration_sign_in_and_removal_are_audit_events() {
    use auth_service::db::schema::users;
    use diesel::{
        Connection, ExpressionMethods, RunQueryDsl, SqliteConnection, connection::SimpleConnection,
    };

    let service = ServiceProcess::start(&[("LOG_FORMAT", "json"), ("WEBAUTHN_ORIGINS", ORIGIN)]);
    let caller = Caller::new(&service);
    let user = json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD});
    assert_eq!(caller.post("/api/register", &user).await.status(), 201);
    let database = service.upload_dir.parent().unwrap().join("auth.db");
    let mut conn = SqliteConnection::establish(&database.to_string_lossy()).unwrap();
    // The service's delivery worker may hold the write lock: wait for it, as the service does.
    conn.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
    diesel::update(users::table)
        .set(users::email_verified_at.eq(chrono::Utc::now().naive_utc()))
        .execute(&mut conn)
        .unwrap();
    let token = caller.login(&user).await.access;
    let mut key = SoftKey::new();
    let (_, opened) =
        caller.send_json("/api/passkeys/registration/options", Some(&token), &json!({})).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.register(&opened["options"])});
    let (status, added) =
        caller.send_json("/api/passkeys/registration/verify", Some(&token), &body).await;
    assert_eq!(status, 201, "{added}");
    let (_, opened) =
        caller.send_json("/api/passkeys/authentication/options", None, &json!({})).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.sign_in(&opened["options"])});
    assert_eq!(caller.send_json("/api/passkeys/authentication/verify", None, &body).await.0, 200);
    let mut stranger = SoftKey { user_handle: key.user_handle.clone(), ..SoftKey::new() };
    let (_, opened) =
        caller.send_json("/api/passkeys/authentication/options", None, &json!({})).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": stranger.sign_in(&opened["options"])});
    assert_eq!(caller.send_json("/api/passkeys/authentication/verify", None, &body).await.0, 401);
    let id = added["id"].as_str().unwrap();
    let removed = caller
        .request(reqwest::Method::DELETE, &format!("/api/passkeys/{id}"), Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);

    let lines = service.log_lines_until(|line| line.contains("passkey_removal")).await;
    let events: Vec<(Value, Value, Value)> = audit_lines(&lines)
        .into_iter()
        .filter(|line| line["event"].as_str().is_some_and(|event| event.starts_with("passkey")))
        .map(|line| (line["event"].clone(), line["outcome"].clone(), line["user_id"].clone()))
        .collect();
    assert_eq!(
        events,
        [
            (json!("passkey_registration"), json!("ok"), json!(1)),
            (json!("passkey_login"), json!("ok"), json!(1)),
            (json!("passkey_login"), json!("bad_credentials"), Value::Null),
            (json!("passkey_removal"), json!("ok"), json!(1)),
        ]
    );
}

both_backends!(request_id_is_echoed_from_a_trusted_proxy_only);
