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

async fn post(
    client: &reqwest::Client,
    service: &ServiceProcess,
    path: &str,
    body: &Value,
    token: Option<&str>,
    request_id: Option<&str>,
) -> reqwest::Response {
    let mut request = client.post(service.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(id) = request_id {
        request = request.header("X-Request-Id", id);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn failed_login_audit_line_carries_the_request_id_and_no_secret() {
    let service =
        ServiceProcess::start(&[("LOG_FORMAT", "json"), ("TRUSTED_PROXIES", "127.0.0.1")]);
    let client = reqwest::Client::new();
    let user = json!({"name": "Audited", "email": "audit@example.com", "password": PASSWORD});
    assert_eq!(
        post(&client, &service, "/api/register", &user, None, None)
            .await
            .status(),
        201
    );
    let login = post(&client, &service, "/api/login", &user, None, None).await;
    let token = login.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let failed = json!({"email": "audit@example.com", "password": WRONG_PASSWORD});
    let response = post(
        &client,
        &service,
        "/api/login",
        &failed,
        None,
        Some("req-audit-1"),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "req-audit-1");

    let lines = service.log_lines_until(|line| line.contains("bad_credentials"));
    let audit = audit_lines(&lines);
    let failure = audit
        .iter()
        .find(|line| line["outcome"] == "bad_credentials")
        .expect("audit line");
    assert_eq!(failure["event"], "login");
    assert_eq!(failure["request_id"], "req-audit-1");
    assert_eq!(failure["client_ip"], "127.0.0.1");
    assert_eq!(failure["user_id"], json!(1));
    assert_eq!(failure["level"], "INFO");
    assert!(chrono::DateTime::parse_from_rfc3339(failure["time"].as_str().unwrap()).is_ok());
    // Nothing secret anywhere in the log: not the passwords, not a bcrypt hash, not a token.
    let everything = lines.join("\n");
    for secret in [
        WRONG_PASSWORD,
        PASSWORD,
        "$2b$",
        "$2y$",
        token.as_str(),
        TEST_SECRET,
    ] {
        assert!(!everything.contains(secret), "{secret:?} is in the log");
    }
    // The request's access-log line names its id too.
    assert!(lines.iter().any(|line| line.contains("POST /api/login") && line.contains("request_id=req-audit-1")),
            "{lines:#?}");
}

#[tokio::test]
async fn every_audited_action_writes_one_event() {
    let service =
        ServiceProcess::start(&[("LOG_FORMAT", "json"), ("REFRESH_REUSE_INTERVAL_SECS", "0")]);
    let client = reqwest::Client::new();
    let user = json!({"name": "Audited", "email": "every@example.com", "password": PASSWORD});
    post(&client, &service, "/api/register", &user, None, None).await;
    post(&client, &service, "/api/register", &user, None, None).await;
    let tokens = |body: Value| Tokens::from_body(&body);
    let first = tokens(
        post(&client, &service, "/api/login", &user, None, None)
            .await
            .json()
            .await
            .unwrap(),
    );
    let form = reqwest::multipart::Form::new().part(
        "profile_pic",
        reqwest::multipart::Part::bytes(png_image(4, 4)).file_name("me.png"),
    );
    let upload = client
        .post(service.url("/api/upload_profile_pic"))
        .bearer_auth(&first.access)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    post(
        &client,
        &service,
        "/api/token/refresh",
        &json!({"refresh_token": first.refresh}),
        None,
        None,
    )
    .await;
    post(
        &client,
        &service,
        "/api/token/refresh",
        &json!({"refresh_token": first.refresh}),
        None,
        None,
    )
    .await;
    let second = tokens(
        post(&client, &service, "/api/login", &user, None, None)
            .await
            .json()
            .await
            .unwrap(),
    );
    post(
        &client,
        &service,
        "/api/logout",
        &json!({}),
        Some(&second.access),
        None,
    )
    .await;
    let third = tokens(
        post(&client, &service, "/api/login", &user, None, None)
            .await
            .json()
            .await
            .unwrap(),
    );
    post(
        &client,
        &service,
        "/api/logout?scope=all",
        &json!({}),
        Some(&third.access),
        None,
    )
    .await;
    let fourth = tokens(
        post(&client, &service, "/api/login", &user, None, None)
            .await
            .json()
            .await
            .unwrap(),
    );
    let change =
        json!({"current_password": PASSWORD, "new_password": "staple battery horse correct"});
    let changed = client
        .put(service.url("/api/password"))
        .bearer_auth(&fourth.access)
        .json(&change)
        .send()
        .await
        .unwrap();
    let fifth = tokens(changed.json().await.unwrap());
    let deleted = client
        .delete(service.url("/api/user"))
        .bearer_auth(&fifth.access)
        .json(&json!({"password": "wrong password here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 403);
    let deleted = client
        .delete(service.url("/api/user"))
        .bearer_auth(&fifth.access)
        .json(&json!({"password": "staple battery horse correct"}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);

    let lines = service
        .log_lines_until(|line| line.contains("account_deletion") && line.contains("\"ok\""));
    let events: Vec<(String, String)> = audit_lines(&lines)
        .iter()
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
    for line in audit_lines(&lines) {
        assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
        assert_eq!(
            line["user_id"].is_number(),
            line["outcome"] != "email_taken",
            "{line}"
        );
        assert!(line["request_id"].is_string(), "{line}");
    }
}

both_backends! {
    async fn request_id_is_echoed_from_a_trusted_proxy_only(backend: Backend) {
        let direct = spawn_app(backend).await;
        let proxied = spawn_app_with(backend, |s| {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }).await;
        for (app, expect_echo) in [(&direct, false), (&proxied, true)] {
            let response = app.client.get(app.url("/healthz")).header("X-Request-Id", "from-proxy-7")
                .send().await.unwrap();
            let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
            if expect_echo {
                assert_eq!(id, "from-proxy-7");
            } else {
                assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
            }
            // An id that could break a log line is replaced, even from a trusted proxy.
            let response = app.client.get(app.url("/no/such/path")).header("X-Request-Id", "a b")
                .send().await.unwrap();
            assert_eq!(response.status(), 404);
            let id = response.headers()["x-request-id"].to_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        }
        // Two requests, two ids.
        let ids: Vec<String> = futures_util::future::join_all((0..2).map(|_| async {
            let response = direct.client.get(direct.url("/healthz")).send().await.unwrap();
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        })).await;
        assert_ne!(ids[0], ids[1]);
    }
}
