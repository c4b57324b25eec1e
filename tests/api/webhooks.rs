//! Webhooks to a receiver that checks every delivery with npm's standardwebhooks
//! (`tests/webhooks/receiver.mjs`): signed, retried on the schedule with one id, stopped by a
//! 410, filtered by type, signed with both secrets during a rotation, sent again on replay.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

async fn app_for_webhooks(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        // The receiver is on 127.0.0.1; tries a second apart.
        settings.webhooks.allow_private = true;
        settings.webhooks.retry_schedule = vec![Duration::from_secs(1); 3];
    })
    .await
}

async fn a_delivery_is_signed_retried_with_one_id_and_stopped_by_410(backend: Backend) {
    let receiver = WebhookReceiver::start();
    let app = app_for_webhooks(backend).await;
    let key = app.admin_key("users:write,webhooks:write").await;
    let (flaky, secret) =
        app.add_webhook(&key, &receiver.url("flaky"), &["user.created", "user.disabled"]).await;
    receiver.plan("flaky", &[&secret], &[500, 500, 200]).await;
    let (gone, gone_secret) = app.add_webhook(&key, &receiver.url("gone"), &["*"]).await;
    receiver.plan("gone", &[&gone_secret], &[410]).await;

    app.register("Ada", "ada@example.com", PASSWORD).await;
    let id = app.user_id("ada@example.com");
    // Between the tries of the flaky endpoint, its delivery waits in the backlog.
    assert!(eventually(|| app.has_metric("webhook_backlog 1")).await);
    let tries = receiver.wait_for("flaky", 3).await;
    let answered: Vec<&Value> = tries.iter().map(|t| &t["answered"]).collect();
    assert_eq!(answered, [&json!(500), &json!(500), &json!(200)], "{tries:?}");
    let event_id = tries[0]["id"].as_str().unwrap().to_owned();
    for attempt in &tries {
        assert_eq!(attempt["verified"], true, "{attempt}");
        assert_eq!(attempt["id"], event_id.as_str(), "one id on every try");
        assert_eq!(attempt["type"], "user.created");
        assert_eq!(
            attempt["data"],
            json!({"user_id": id, "email": "ada@example.com", "name": "Ada", "via": "registration"})
        );
    }
    // The 410 endpoint had it once, and is disabled.
    let to_gone = receiver.wait_for("gone", 1).await;
    assert_eq!((to_gone.len(), &to_gone[0]["answered"]), (1, &json!(410)));
    assert_eq!(to_gone[0]["id"], event_id.as_str(), "the same event, the same id");
    let (_, deliveries) = app.admin_get(&format!("/webhooks/{flaky}/deliveries"), &key).await;
    let delivery = &deliveries["deliveries"][0];
    assert_eq!(
        (&delivery["status"], &delivery["attempts"], &delivery["event_type"]),
        (&json!("delivered"), &json!([500, 500, 200]), &json!("user.created"))
    );

    // Counted: three tries of one, one of the other; the 410 gave one up; none left.
    for line in [
        r#"webhook_attempts_total{answer="5xx"} 2"#,
        r#"webhook_attempts_total{answer="2xx"} 1"#,
        r#"webhook_attempts_total{answer="4xx"} 1"#,
        r#"webhook_failures_total{reason="gone"} 1"#,
        "webhook_backlog 0",
    ] {
        assert!(eventually(|| app.has_metric(line)).await, "{line}");
    }

    // A disabling goes to the endpoint that takes it, and no more to the one that said 410.
    let (status, _) = app.admin_post(&format!("/users/{id}/disable"), &key, None).await;
    assert_eq!(status, 200);
    let tries = receiver.wait_for("flaky", 4).await;
    assert_eq!(
        (&tries[3]["type"], &tries[3]["data"], &tries[3]["verified"]),
        (&json!("user.disabled"), &json!({"user_id": id, "until": null}), &json!(true))
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.wait_for("gone", 1).await.len(), 1, "nothing more after its 410");
    let (_, listed) = app.admin_get("/webhooks", &key).await;
    let gone_view =
        listed["webhooks"].as_array().unwrap().iter().find(|w| w["id"] == gone).unwrap();
    assert_eq!(gone_view["disabled_reason"], "answered 410 Gone");
    let (_, deliveries) = app.admin_get(&format!("/webhooks/{gone}/deliveries"), &key).await;
    let statuses: Vec<&Value> =
        deliveries["deliveries"].as_array().unwrap().iter().map(|d| &d["status"]).collect();
    // Its one delivery failed with the 410; nothing was queued for it after.
    assert_eq!(statuses, [&json!("failed")], "{deliveries}");

    // Replayed: the same id again, to the endpoint that took it.
    let (status, body) = app
        .admin(Method::POST, &format!("/webhooks/events/{event_id}/replay"), Some(&key), None)
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "success", "message": "Event queued again"}))
    );
    let tries = receiver.wait_for("flaky", 5).await;
    assert_eq!((&tries[4]["id"], &tries[4]["answered"]), (&json!(event_id), &json!(200)));
    let unknown =
        app.admin(Method::POST, "/webhooks/events/msg_nope/replay", Some(&key), None).await;
    assert_eq!(unknown, (404, error_body("Event not found")));
}

async fn a_rotated_secret_signs_beside_the_old_one_and_endpoints_are_checked(backend: Backend) {
    let receiver = WebhookReceiver::start();
    let app = app_for_webhooks(backend).await;
    let key = app.admin_key("webhooks:write").await;
    let (hook, old) = app.add_webhook(&key, &receiver.url("site"), &["user.created"]).await;
    let (status, rotated) =
        app.admin(Method::POST, &format!("/webhooks/{hook}/rotate-secret"), Some(&key), None).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // Each secret alone verifies what comes during the overlap: both signatures are sent.
    for (n, secret) in [&old, &new].into_iter().enumerate() {
        receiver.plan("site", &[secret], &[200]).await;
        app.register("Ada", &format!("ada{n}@example.com"), PASSWORD).await;
        let tries = receiver.wait_for("site", n + 1).await;
        assert_eq!(tries[n]["verified"], true, "{secret}: {tries:?}");
    }
    // A secret it was not signed with does not verify.
    receiver.plan("site", &["whsec_c2VjcmV0LW5vdC1naXZlbi10by10aGUtc2VydmljZQ=="], &[200]).await;
    app.register("Ada", "ada9@example.com", PASSWORD).await;
    let tries = receiver.wait_for("site", 3).await;
    assert_eq!(tries[2]["verified"], false);

    let refused = |problem: &str| (400, error_body(problem));
    let private = app
        .admin(
            Method::POST,
            "/webhooks",
            Some(&key),
            Some(&json!({"url": "ftp://x", "events": ["*"]})),
        )
        .await;
    assert_eq!(private, refused("url \"ftp://x\" must be http(s)"));
    let unknown = app
        .admin(
            Method::POST,
            "/webhooks",
            Some(&key),
            Some(&json!({"url": "https://example.com/h", "events": ["user.exploded"]})),
        )
        .await;
    assert_eq!(unknown.0, 400);
    assert!(
        unknown.1["message"].as_str().unwrap().starts_with("Unknown event type \"user.exploded\"")
    );
    let (status, body) =
        app.admin(Method::DELETE, &format!("/webhooks/{hook}"), Some(&key), None).await;
    assert_eq!((status, body), (200, json!({"status": "success", "message": "Webhook removed"})));
    assert_eq!(app.admin_get("/webhooks", &key).await.1["webhooks"], json!([]));

    // Without WEBHOOK_ALLOW_PRIVATE, the receiver's loopback address is refused.
    let strict = app.replica_with(|settings| settings.webhooks.allow_private = false);
    let body = json!({"url": receiver.url("site"), "events": ["*"]});
    let (status, answer) = strict.admin(Method::POST, "/webhooks", Some(&key), Some(&body)).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().contains("WEBHOOK_ALLOW_PRIVATE"), "{answer}");
    let users_only = app.admin_key("users:write").await;
    assert_eq!(app.admin_get("/webhooks", &users_only).await.0, 403);
}

both_backends!(
    a_delivery_is_signed_retried_with_one_id_and_stopped_by_410,
    a_rotated_secret_signs_beside_the_old_one_and_endpoints_are_checked,
);
