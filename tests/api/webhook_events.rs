//! What each change reports: every event type, in the order of the changes, with the facts its
//! `data` carries, delivered to an endpoint taking `*` and checked by npm's standardwebhooks.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const NEW_PASSWORD: &str = "another-long-passphrase-42";

async fn app_reporting_to(
    backend: Backend,
    smtp: &SmtpServer,
    configure: impl FnOnce(&mut auth_service::settings::Settings),
) -> TestApp {
    spawn_app_with_smtp_and(backend, smtp, |settings| {
        settings.webhooks.allow_private = true;
        settings.webhooks.retry_schedule = vec![Duration::from_secs(1); 3];
        configure(settings);
    })
    .await
}

/// The `count` events about `user_id` the endpoint `name` took, as `[type, data]`, each
/// session id named `s1`, `s2`… in the order it first appears, each `ends_at` checked for a
/// time and shown as `…`, and the user's id left out.
async fn events_of(receiver: &WebhookReceiver, name: &str, user_id: i64, count: usize) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let of_user: Vec<Value> = receiver
            .received()
            .await
            .into_iter()
            .filter(|d| d["name"] == name && d["data"]["user_id"] == user_id)
            .collect();
        if of_user.len() >= count || std::time::Instant::now() > deadline {
            break of_user;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut sessions: Vec<String> = Vec::new();
    let mut name_of = |id: &Value| {
        let id = id.as_str().unwrap().to_owned();
        let at = sessions.iter().position(|known| *known == id).unwrap_or_else(|| {
            sessions.push(id);
            sessions.len() - 1
        });
        json!(format!("s{}", at + 1))
    };
    let events = delivered.into_iter().map(|delivery| {
        assert_eq!(delivery["verified"], true, "{delivery}");
        let mut data = delivery["data"].clone();
        let data_map = data.as_object_mut().unwrap();
        data_map.remove("user_id");
        if let Some(id) = data_map.get_mut("session_id") {
            *id = name_of(id);
        }
        if let Some(Value::Array(ids)) = data_map.get_mut("session_ids") {
            ids.iter_mut().for_each(|id| *id = name_of(id));
        }
        if let Some(ends_at) = data_map.get_mut("ends_at") {
            chrono::DateTime::parse_from_rfc3339(ends_at.as_str().unwrap()).expect("a time");
            *ends_at = json!("…");
        }
        json!([delivery["type"], data])
    });
    Value::Array(events.collect())
}

async fn each_change_of_an_account_is_reported_in_order(backend: Backend) {
    let (smtp, receiver) = (SmtpServer::start(), WebhookReceiver::start());
    let app = app_reporting_to(backend, &smtp, |_| {}).await;
    let key = app.admin_key("users:write,webhooks:write").await;
    let (_, secret) = app.add_webhook(&key, &receiver.url("site"), &["*"]).await;
    receiver.plan("site", &[&secret], &[200]).await;

    app.register("Ada", "ada@example.com", PASSWORD).await;
    let id = app.user_id("ada@example.com");
    let verify = smtp.wait_for_subject("Your code to verify ada@example.com", 1).await;
    assert_eq!(app.verify_email("ada@example.com", &code_in(&verify[0])).await.0, 200);
    let first = app.session_for("ada@example.com").await;
    let second = app.session_for("ada@example.com").await;
    assert_eq!(app.update_user(&second.access, &json!({"name": "Ada L."})).await.0, 200);
    let (_, listed) = app.list_sessions(&second.access).await;
    let sessions = listed["sessions"].as_array().unwrap();
    let other = sessions.iter().find(|session| session["current"] == false).unwrap();
    assert_eq!(app.end_session(&second.access, other["id"].as_str().unwrap()).await.0, 200);
    assert_eq!(app.me_status(&first.access).await, 401);

    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let (status, body) = app.change_password(&second.access, &change).await;
    assert_eq!(status, 200, "{body}");
    let third = Tokens::from_body(&body);
    let mut softkey = SoftKey::new();
    let added = app.add_passkey(&third.access, &mut softkey, "Laptop").await;
    let passkey = added["id"].as_str().unwrap().to_owned();
    assert_eq!(app.remove_passkey(&third.access, &passkey).await.0, 200);

    let (_, enrolled) = app.enrol_totp(&third.access, &json!({"password": NEW_PASSWORD})).await;
    let totp = enrolled["secret"].as_str().unwrap().to_owned();
    let (status, body) = app.confirm_totp(&third.access, &json!({"code": totp_code(&totp)})).await;
    assert_eq!(status, 200, "{body}");
    let fourth = Tokens::from_body(&body);
    forget_used_step(&app);
    let off = json!({"password": NEW_PASSWORD, "code": totp_code(&totp)});
    assert_eq!(app.disable_totp(&fourth.access, &off).await.0, 200);

    let move_to = json!({"new_email": "ada@new.example", "password": NEW_PASSWORD});
    assert_eq!(app.change_email(&fourth.access, &move_to).await.0, 202);
    let confirm = smtp.wait_for_subject("Your code to confirm ada@new.example", 1).await;
    let (status, body) = app.confirm_email_change(&fourth.access, &code_in(&confirm[0])).await;
    assert_eq!(status, 200, "{body}");
    let fifth = Tokens::from_body(&body);
    assert_eq!(app.logout_scope(&fifth.access, "all").await.0, 200);
    let (status, _) =
        app.admin(reqwest::Method::DELETE, &format!("/users/{id}"), Some(&key), None).await;
    assert_eq!(status, 200);

    let laptop = |reason: Option<&str>| match reason {
        None => json!({"passkey_id": passkey, "name": "Laptop"}),
        Some(reason) => json!({"passkey_id": passkey, "name": "Laptop", "reason": reason}),
    };
    let created = |session: &str, amr: &[&str]| json!(["session.created", {"session_id": session, "amr": amr, "ends_at": "…"}]);
    let ended = |sessions: &[&str], reason: &str| json!(["session.ended", {"session_ids": sessions, "reason": reason}]);
    let expected = json!([
        ["user.created", {"email": "ada@example.com", "name": "Ada", "via": "registration"}],
        ["email.verified", {"email": "ada@example.com", "via": "code"}],
        created("s1", &["pwd"]),
        created("s2", &["pwd"]),
        ["user.updated", {"fields": ["name"], "name": "Ada L."}],
        ended(&["s1"], "user"),
        ["password.changed", {"via": "change"}],
        ended(&["s2"], "password_changed"),
        created("s3", &["pwd"]),
        ["passkey.added", laptop(None)],
        ["passkey.removed", laptop(Some("user"))],
        ["mfa.enabled", {"method": "totp"}],
        ended(&["s3"], "mfa_enabled"),
        created("s4", &["pwd", "otp"]),
        ["mfa.disabled", {"method": "totp", "reason": "user"}],
        ["email.changed", {"email": "ada@new.example", "previous_email": "ada@example.com"}],
        ended(&["s4"], "email_changed"),
        created("s5", &["pwd", "otp"]),
        ended(&["s5"], "user"),
        ["user.deleted", {"reason": "operator"}],
    ]);
    let count = expected.as_array().unwrap().len();
    assert_eq!(events_of(&receiver, "site", id, count).await, expected);
}

async fn a_providers_proof_and_an_operators_changes_are_reported(backend: Backend) {
    let (smtp, receiver, provider) =
        (SmtpServer::start(), WebhookReceiver::start(), OidcProvider::start());
    let app = app_reporting_to(backend, &smtp, |settings| provider.configure(settings)).await;
    let key = app.admin_key("users:write,webhooks:write").await;
    let (_, secret) = app.add_webhook(&key, &receiver.url("site"), &["*"]).await;
    receiver.plan("site", &[&secret], &[200]).await;
    let proved = |email: &str| json!({"email": email, "email_verified": true, "name": "Carol"});
    let signed_in = async |sub: &str| {
        let back = app.oauth_sign_in("oidc", sub).await;
        let (status, body) = app.oauth_exchange(back.get("code").expect(&back.location)).await;
        assert_eq!(status, 200, "{body}");
        Tokens::from_body(&body)
    };
    let created = |session: &str, amr: &[&str]| json!(["session.created", {"session_id": session, "amr": amr, "ends_at": "…"}]);
    let ended = |sessions: &[&str], reason: &str| json!(["session.ended", {"session_ids": sessions, "reason": reason}]);

    // A provider makes an account.
    provider.account("c1", proved("carol@example.com")).await;
    signed_in("c1").await;
    let carol = app.user_id("carol@example.com");
    let (_, listed) = app.admin_get(&format!("/users/{carol}"), &key).await;
    let identity = listed["identities"][0]["id"].as_str().unwrap().to_owned();
    let expected = json!([
        ["user.created", {"email": "carol@example.com", "name": "Carol", "via": "oidc"}],
        ["email.verified", {"email": "carol@example.com", "via": "provider"}],
        ["identity.linked", {"identity_id": identity, "provider": "oidc"}],
        created("s1", &["fed"]),
    ]);
    assert_eq!(events_of(&receiver, "site", carol, 4).await, expected);

    // A provider proves an address someone registered without proving: its owner takes it.
    app.register("Mallory", "bob@example.com", PASSWORD).await;
    let bob = app.user_id("bob@example.com");
    app.session_for("bob@example.com").await;
    provider.account("b1", proved("bob@example.com")).await;
    let tokens = signed_in("b1").await;
    // A password set by a reset, and the identity unlinked.
    assert_eq!(app.forgot_password("bob@example.com").await.0, 202);
    let code = code_in(&smtp.wait_for_subject("Your password reset code", 1).await[0]);
    let reset = json!({"email": "bob@example.com", "code": code, "new_password": NEW_PASSWORD});
    let (status, body) = app.reset_password(&reset).await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = app.list_identities(&Tokens::from_body(&body).access).await;
    let identity = listed["identities"][0]["id"].as_str().unwrap().to_owned();
    let access = Tokens::from_body(&body).access;
    assert_eq!(app.unlink_identity(&access, &identity).await.0, 200);
    assert_eq!(app.me_status(&tokens.access).await, 401);
    // An operator's logout, disabling and enabling.
    assert_eq!(app.admin_post(&format!("/users/{bob}/logout"), &key, None).await.0, 200);
    let until = json!({"reason": "spam", "until": "2099-01-01T00:00:00Z"});
    assert_eq!(app.admin_post(&format!("/users/{bob}/disable"), &key, Some(&until)).await.0, 200);
    assert_eq!(app.admin_post(&format!("/users/{bob}/enable"), &key, None).await.0, 200);
    let expected = json!([
        ["user.created", {"email": "bob@example.com", "name": "Mallory", "via": "registration"}],
        created("s1", &["pwd"]),
        ["email.verified", {"email": "bob@example.com", "via": "provider"}],
        ["password.changed", {"via": "address_proved"}],
        ended(&["s1"], "address_proved"),
        ["identity.linked", {"identity_id": identity, "provider": "oidc"}],
        created("s2", &["fed"]),
        ["password.changed", {"via": "reset"}],
        ended(&["s2"], "password_reset"),
        created("s3", &["pwd"]),
        ["identity.unlinked", {"identity_id": identity, "provider": "oidc", "reason": "user"}],
        ended(&["s3"], "operator"),
        ["user.disabled", {"until": "2099-01-01T00:00:00Z"}],
        ["user.enabled", {}],
    ]);
    assert_eq!(events_of(&receiver, "site", bob, 14).await, expected);

    // An operator's word proves an address; their reset turns MFA off.
    let (_, _, session) = with_mfa(&app).await;
    let ada = app.user_id(MFA_EMAIL);
    assert_eq!(app.admin_post(&format!("/users/{ada}/reset-mfa"), &key, None).await.0, 200);
    app.register("Eve", "eve@example.com", PASSWORD).await;
    let eve = app.user_id("eve@example.com");
    assert_eq!(app.admin_post(&format!("/users/{eve}/verify-email"), &key, None).await.0, 200);
    let ada_events = events_of(&receiver, "site", ada, 6).await;
    assert_eq!(
        ada_events[5],
        json!(["mfa.disabled", {"method": "totp", "reason": "operator"}]),
        "{ada_events}"
    );
    let eve_events = events_of(&receiver, "site", eve, 2).await;
    assert_eq!(
        eve_events[1],
        json!(["email.verified", {"email": "eve@example.com", "via": "operator"}])
    );
    drop(session);
}

both_backends!(
    each_change_of_an_account_is_reported_in_order,
    a_providers_proof_and_an_operators_changes_are_reported,
);
