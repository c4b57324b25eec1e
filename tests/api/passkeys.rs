//! Passkeys: registering one, signing in with it (no email typed), the ceremony's rules
//! (single use, expiry, one purpose, one owner, any replica), the assertion's checks (origin,
//! RP ID, signature, user handle, counter), the cap, and removing one. A software
//! authenticator (`helpers::passkey`) answers for the browser.

use auth_service::db::schema::{users, webauthn_ceremonies};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const EMAIL: &str = "ada@example.com";

fn refused() -> (u16, Value) {
    (401, error_body("Passkey not accepted"))
}

fn invalid_challenge() -> (u16, Value) {
    (400, error_body("Invalid or expired challenge"))
}

/// Ada, her address proved, signed in with her password: her access token.
async fn verified_account(app: &TestApp) -> String {
    app.register("Ada", EMAIL, PASSWORD).await;
    app.mark_verified(EMAIL);
    app.token_for(EMAIL).await
}

async fn a_passkey_registers_and_then_signs_in_with_no_email_typed(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = verified_account(&app).await;

    let (status, opened) = app.passkey_registration_options(&token).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["status"], "success");
    assert_eq!(opened["expires_in"], 300);
    assert_eq!(opened["challenge_id"].as_str().unwrap().len(), 43);
    let options = &opened["options"];
    assert_eq!(options["rp"], json!({"id": "localhost", "name": "auth-service"}));
    assert_eq!(options["attestation"], "none");
    let selection = &options["authenticatorSelection"];
    assert_eq!(
        (
            &selection["residentKey"],
            &selection["requireResidentKey"],
            &selection["userVerification"]
        ),
        (&json!("required"), &json!(true), &json!("preferred"))
    );
    let algorithms: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|param| param["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algorithms, [-8, -7, -257], "EdDSA, ES256, RS256");
    assert_eq!(options["excludeCredentials"], json!([]));
    assert_eq!(options["user"]["name"], EMAIL);
    assert_eq!(options["user"]["displayName"], "Ada");
    // The user handle is random (32 bytes): neither the email nor the row id.
    let handle = options["user"]["id"].as_str().unwrap();
    assert_eq!(handle.len(), 43, "{handle}");
    let stored: Option<String> = users::table
        .filter(users::email.eq(EMAIL))
        .select(users::webauthn_handle)
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(stored.as_deref(), Some(handle));

    let mut key = SoftKey::new();
    let credential = key.register(options);
    let body = json!({"challenge_id": opened["challenge_id"], "credential": credential, "name": " Laptop "});
    let (status, added) = app.register_passkey(&token, &body).await;
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let created_at = added["created_at"].as_str().unwrap().to_owned();
    assert_eq!(
        added,
        json!({"status": "success", "id": id, "name": "Laptop", "created_at": created_at,
               "last_used_at": null, "backed_up": true})
    );
    let notice = smtp.wait_for_subject("A passkey was added to your account", 1).await.remove(0);
    assert!(readable(&notice).contains("A passkey named Laptop was added"), "{notice}");

    // Signing in: the options name no credential; the key says whose it is.
    let (status, opened) = app.passkey_sign_in_options().await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["options"]["allowCredentials"], json!([]));
    assert_eq!(opened["options"]["rpId"], "localhost");
    assert_eq!(opened["options"]["userVerification"], "preferred");
    let credential = key.sign_in(&opened["options"]);
    let body = json!({"challenge_id": opened["challenge_id"], "credential": credential});
    let (status, signed_in) = app.verify_passkey_sign_in(&body).await;
    assert_eq!(status, 200, "{signed_in}");
    let tokens = Tokens::from_body(&signed_in);
    assert_eq!(signed_in, tokens.body("Login successful!"));
    let claims = jwt_claims(&tokens.access);
    assert_eq!((&claims["amr"], &claims["aal"]), (&json!(["hwk", "mfa"]), &json!("aal2")));
    assert_eq!(claims["sub"], app.user_id(EMAIL).to_string());
    // A refresh keeps it; the session is listed with the others.
    let (status, refreshed) = status_and_json(app.refresh(&tokens.refresh).await).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(jwt_claims(refreshed["access_token"].as_str().unwrap())["aal"], "aal2");
    let (_, sessions) = app.list_sessions(&token).await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2, "{sessions}");

    // A synced passkey's counter stays 0: a second sign-in is fine.
    let (status, again) = app.sign_in_with(&mut key).await;
    assert_eq!(status, 200, "{again}");
    let (status, listed) = app.list_passkeys(&token).await;
    assert_eq!(status, 200);
    let entry = &listed["passkeys"][0];
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&entry["id"], &entry["name"], &entry["backed_up"]),
        (&json!(id), &json!("Laptop"), &json!(true))
    );
    assert!(entry["last_used_at"].is_string(), "{listed}");

    // The next registration excludes it.
    let (_, opened) = app.passkey_registration_options(&token).await;
    let excluded = &opened["options"]["excludeCredentials"];
    assert_eq!(excluded.as_array().unwrap().len(), 1, "{excluded}");
    assert_eq!(excluded[0]["id"], credential["id"]);
}

async fn a_presence_only_passkey_is_one_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = verified_account(&app).await;
    let mut key = SoftKey { verifies_user: false, ..SoftKey::new() };
    app.add_passkey(&token, &mut key, "Key").await;
    let (status, body) = app.sign_in_with(&mut key).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!((&claims["amr"], &claims["aal"]), (&json!(["hwk"]), &json!("aal1")));
}

async fn with_mfa_a_presence_only_passkey_still_asks_for_the_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (secret, _, session) = with_mfa(&app).await;
    let mut verified = SoftKey::new();
    let mut present = SoftKey { verifies_user: false, ..SoftKey::new() };
    app.add_passkey(&session.access, &mut verified, "Phone").await;
    app.add_passkey(&session.access, &mut present, "Key").await;

    // Two factors in one: no TOTP step.
    let (status, body) = app.sign_in_with(&mut verified).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["amr"], json!(["hwk", "mfa"]));

    let (status, body) = app.sign_in_with(&mut present).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["mfa_required"], &body["access_token"]), (&json!(true), &Value::Null));
    let mfa_token = body["mfa_token"].as_str().unwrap();
    let (status, body) =
        app.login_mfa(&json!({"mfa_token": mfa_token, "code": totp_code(&secret)})).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!((&claims["amr"], &claims["aal"]), (&json!(["hwk", "otp"]), &json!("aal2")));
}

async fn with_mfa_a_passkey_is_the_second_factor_of_a_password_login(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let (_, _, session) = with_mfa(&app).await;
    // An account with MFA and no passkey: no passkey step is offered.
    let (_, body) = status_and_json(app.login(MFA_EMAIL, PASSWORD).await).await;
    assert_eq!(body.get("passkey_options"), None, "{body}");

    let mut key = SoftKey::new();
    app.add_passkey(&session.access, &mut key, "Phone").await;
    let (status, body) = status_and_json(app.login(MFA_EMAIL, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    let options = &body["passkey_options"];
    let allowed = options["allowCredentials"].as_array().expect("allowCredentials");
    assert_eq!(allowed.len(), 1, "{options}");
    assert_eq!(allowed[0]["id"], URL_SAFE_NO_PAD.encode(&key.credential_id));
    let mfa_token = body["mfa_token"].as_str().unwrap();

    // Another account's key is no factor of this one; the mfa_token survives it.
    app.register("Bob", "bob@example.com", PASSWORD).await;
    app.mark_verified("bob@example.com");
    let bob = app.token_for("bob@example.com").await;
    let mut bobs = SoftKey::new();
    app.add_passkey(&bob, &mut bobs, "Bob's").await;
    let wrong = json!({"mfa_token": mfa_token, "credential": bobs.sign_in(options)});
    assert_eq!(app.login_mfa(&wrong).await, (401, error_body("Invalid code")));
    let both =
        json!({"mfa_token": mfa_token, "code": "123456", "credential": key.sign_in(options)});
    assert_eq!(app.login_mfa(&both).await, (400, error_body("All fields are required")));

    let body = json!({"mfa_token": mfa_token, "credential": key.sign_in(options)});
    let (status, signed_in) = app.login_mfa(&body).await;
    assert_eq!(status, 200, "{signed_in}");
    let claims = jwt_claims(signed_in["access_token"].as_str().unwrap());
    assert_eq!((&claims["amr"], &claims["aal"]), (&json!(["pwd", "hwk"]), &json!("aal2")));
    // Spent with its mfa_token.
    assert_eq!(app.login_mfa(&body).await, (401, error_body("Invalid code")));

    // After a code by mail too.
    app.request_sign_in_code(MFA_EMAIL).await;
    let message = smtp.wait_for_subject("Your sign-in code", 1).await.remove(0);
    let (status, body) = app.verify_sign_in_code(MFA_EMAIL, &code_in(&message)).await;
    assert_eq!(status, 200, "{body}");
    let credential = key.sign_in(&body["passkey_options"]);
    let (status, body) =
        app.login_mfa(&json!({"mfa_token": body["mfa_token"], "credential": credential})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["amr"], json!(["otp", "hwk"]));

    // After a presence-only passkey, no passkey step: one key is one factor.
    let mut present = SoftKey { verifies_user: false, ..SoftKey::new() };
    let aal2 = Tokens::from_body(&signed_in).access;
    app.add_passkey(&aal2, &mut present, "Key").await;
    let (status, body) = app.sign_in_with(&mut present).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.get("passkey_options"), None, "{body}");
    let (_, opened) = app.passkey_sign_in_options().await;
    let again =
        json!({"mfa_token": body["mfa_token"], "credential": present.sign_in(&opened["options"])});
    assert_eq!(app.login_mfa(&again).await, (401, error_body("Invalid code")));
}

async fn registration_and_removal_need_a_proved_address_and_aal2_with_mfa(backend: Backend) {
    use auth_service::db::schema::sessions;
    let app = spawn_app(backend).await;
    let token = app.register_and_login("bob@example.com").await;
    let unverified = (403, error_body("Email not verified"));
    assert_eq!(app.passkey_registration_options(&token).await, unverified);

    let (_, _, session) = with_mfa(&app).await;
    let id = app.add_passkey(&session.access, &mut SoftKey::new(), "Phone").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A password-only session of an account with MFA, from before the rules, made by hand.
    diesel::update(sessions::table).set(sessions::amr.eq("pwd")).execute(&mut app.db()).unwrap();
    let (status, body) = status_and_json(app.refresh(&session.refresh).await).await;
    assert_eq!(status, 200, "{body}");
    let aal1 = &Tokens::from_body(&body).access;
    let refused = (403, error_body("Second factor required"));
    assert_eq!(app.passkey_registration_options(aal1).await, refused);
    assert_eq!(app.remove_passkey(aal1, &id).await, refused);
    let body = json!({"challenge_id": "x", "credential": {}});
    assert_eq!(app.register_passkey(aal1, &body).await, refused);
    // Listing and renaming are not guarded so.
    assert_eq!(app.list_passkeys(aal1).await.0, 200);
    assert_eq!(
        app.passkey_registration_options("not-a-token").await,
        (401, error_body("Unauthorized"))
    );
}

async fn a_ceremony_is_spent_once_ends_on_any_replica_and_serves_one_purpose(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.replica();
    let token = verified_account(&app).await;
    let mut key = SoftKey::new();

    // Opened on one replica, finished on the other.
    let (_, opened) = app.passkey_registration_options(&token).await;
    let credential = key.register(&opened["options"]);
    let body = json!({"challenge_id": opened["challenge_id"], "credential": credential});
    let (status, added) = other.register_passkey(&token, &body).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["name"], "Passkey");
    // Replayed: spent.
    assert_eq!(app.register_passkey(&token, &body).await, invalid_challenge());

    let (_, opened) = app.passkey_sign_in_options().await;
    let assertion = key.sign_in(&opened["options"]);
    let body = json!({"challenge_id": opened["challenge_id"], "credential": assertion});
    assert_eq!(other.verify_passkey_sign_in(&body).await.0, 200);
    assert_eq!(other.verify_passkey_sign_in(&body).await, invalid_challenge());
    assert_eq!(app.verify_passkey_sign_in(&body).await, invalid_challenge());

    // The same answer twice at once, to two replicas: one signs in, the other finds it spent.
    let (_, opened) = app.passkey_sign_in_options().await;
    let assertion = key.sign_in(&opened["options"]);
    let body = json!({"challenge_id": opened["challenge_id"], "credential": assertion});
    let (first, second) =
        tokio::join!(app.verify_passkey_sign_in(&body), other.verify_passkey_sign_in(&body));
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{first:?} {second:?}");

    // A sign-in's challenge is no registration's, and the other way round.
    let (_, opened) = app.passkey_sign_in_options().await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": SoftKey::new().register(&opened["options"])});
    assert_eq!(app.register_passkey(&token, &body).await, invalid_challenge());
    let (_, opened) = app.passkey_registration_options(&token).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.sign_in(&opened["options"])});
    assert_eq!(app.verify_passkey_sign_in(&body).await, invalid_challenge());

    // Another user's registration: refused, and spent.
    let (_, opened) = app.passkey_registration_options(&token).await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    app.mark_verified("bob@example.com");
    let bob = app.token_for("bob@example.com").await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": SoftKey::new().register(&opened["options"])});
    assert_eq!(app.register_passkey(&bob, &body).await, invalid_challenge());
    assert_eq!(app.register_passkey(&token, &body).await, invalid_challenge());

    // Expired.
    let (_, opened) = app.passkey_sign_in_options().await;
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
    diesel::update(webauthn_ceremonies::table)
        .set(webauthn_ceremonies::expires_at.eq(past))
        .execute(&mut app.db())
        .unwrap();
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.sign_in(&opened["options"])});
    assert_eq!(app.verify_passkey_sign_in(&body).await, invalid_challenge());
    // An unknown id.
    let body =
        json!({"challenge_id": "x".repeat(43), "credential": key.sign_in(&opened["options"])});
    assert_eq!(app.verify_passkey_sign_in(&body).await, invalid_challenge());
}

async fn a_wrong_origin_rp_id_signature_user_handle_or_credential_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = verified_account(&app).await;
    let mut key = SoftKey::new();
    app.add_passkey(&token, &mut key, "Laptop").await;

    let origin = std::mem::replace(&mut key.origin, "http://evil.localhost:5000".into());
    assert_eq!(app.sign_in_with(&mut key).await, refused());
    key.origin = origin;

    let rp_id = std::mem::replace(&mut key.rp_id, "example.com".into());
    assert_eq!(app.sign_in_with(&mut key).await, refused());
    key.rp_id = rp_id;

    let handle = std::mem::replace(&mut key.user_handle, vec![7; 32]);
    assert_eq!(app.sign_in_with(&mut key).await, refused());
    key.user_handle = handle;

    // Someone else's key, never registered.
    let mut stranger = SoftKey { user_handle: key.user_handle.clone(), ..SoftKey::new() };
    assert_eq!(app.sign_in_with(&mut stranger).await, refused());

    // A signature that is not the key's.
    let (_, opened) = app.passkey_sign_in_options().await;
    let mut assertion = key.sign_in(&opened["options"]);
    let forged = stranger.sign_in(&opened["options"]);
    assertion["response"]["signature"] = forged["response"]["signature"].clone();
    let body = json!({"challenge_id": opened["challenge_id"], "credential": assertion});
    assert_eq!(app.verify_passkey_sign_in(&body).await, refused());

    // Not a credential at all.
    let (_, opened) = app.passkey_sign_in_options().await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": {"id": 1}});
    assert_eq!(app.verify_passkey_sign_in(&body).await, refused());
    assert_eq!(
        app.verify_passkey_sign_in(&json!({"credential": {}})).await,
        (400, error_body("All fields are required"))
    );

    // None of it signed anyone in, and the real key still does.
    assert_eq!(app.session_count(EMAIL), 1);
    assert_eq!(app.sign_in_with(&mut key).await.0, 200);
}

async fn refused_passkeys_count_against_the_network(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.rate_limits.enabled = true;
        settings.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()];
        settings.rate_limits.login_per_ip = "1000/1m".parse().unwrap();
    })
    .await;
    let token = verified_account(&app).await;
    let mut key = SoftKey::new();
    app.add_passkey(&token, &mut key, "Laptop").await;
    let mut stranger = SoftKey { user_handle: key.user_handle.clone(), ..SoftKey::new() };
    for _ in 0..20 {
        assert_eq!(app.sign_in_with(&mut stranger).await, refused());
    }
    // The 21st from this network is refused before its signature is looked at; the right key
    // is refused from here too, until the window ends.
    let (status, body) = app.sign_in_with(&mut stranger).await;
    assert_eq!((status, body), (429, error_body("Too many requests, try again later")));
    assert_eq!(app.sign_in_with(&mut key).await.0, 429);
    // From another address it signs in.
    let (_, opened) = app.passkey_sign_in_options().await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.sign_in(&opened["options"])});
    let response =
        app.post_json_from("203.0.113.9", "/api/passkeys/authentication/verify", &body).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn a_device_bound_key_whose_counter_goes_back_is_refused_and_its_owner_told(
    backend: Backend,
) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = verified_account(&app).await;
    let mut key = SoftKey::device_bound();
    let added = app.add_passkey(&token, &mut key, "YubiKey").await;
    assert_eq!(added["backed_up"], false);
    assert_eq!(app.sign_in_with(&mut key).await.0, 200);
    assert_eq!(app.sign_in_with(&mut key).await.0, 200);
    // A copy of the key, two uses behind.
    key.counter -= 2;
    assert_eq!(app.sign_in_with(&mut key).await, refused());
    let notice = smtp.wait_for_subject("A sign-in with your passkey was refused", 1).await;
    assert!(readable(&notice[0]).contains("the passkey named YubiKey"), "{}", notice[0]);
    // The same count again is refused too; past it, the key signs in.
    assert_eq!(app.sign_in_with(&mut key).await, refused());
    key.counter += 5;
    assert_eq!(app.sign_in_with(&mut key).await.0, 200);
}

async fn an_account_holds_at_most_ten_passkeys(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = verified_account(&app).await;
    for n in 0..10 {
        app.add_passkey(&token, &mut SoftKey::new(), &format!("Key {n}")).await;
    }
    let too_many = (409, error_body("An account holds at most 10 passkeys"));
    assert_eq!(app.passkey_registration_options(&token).await, too_many);
    let (_, listed) = app.list_passkeys(&token).await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 10);
    // A key another account holds is refused; one this account holds is excluded already.
    let mut key = SoftKey::new();
    app.register("Bob", "bob@example.com", PASSWORD).await;
    app.mark_verified("bob@example.com");
    let bob = app.token_for("bob@example.com").await;
    app.add_passkey(&bob, &mut key, "Shared").await;
    app.remove_passkey(&token, listed["passkeys"][0]["id"].as_str().unwrap()).await;
    let (_, opened) = app.passkey_registration_options(&token).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.register(&opened["options"])});
    let taken = (400, error_body("Passkey already registered"));
    assert_eq!(app.register_passkey(&token, &body).await, taken);
    let (_, opened) = app.passkey_registration_options(&bob).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.register(&opened["options"])});
    assert_eq!(app.register_passkey(&bob, &body).await, (400, error_body("Invalid passkey")));
}

async fn a_registration_that_does_not_check_out_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = verified_account(&app).await;
    let mut key = SoftKey { origin: "http://localhost:6000".into(), ..SoftKey::new() };
    let (_, opened) = app.passkey_registration_options(&token).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": key.register(&opened["options"])});
    assert_eq!(app.register_passkey(&token, &body).await, (400, error_body("Invalid passkey")));
    let (_, opened) = app.passkey_registration_options(&token).await;
    let body = json!({"challenge_id": opened["challenge_id"], "credential": {"id": "x"}});
    assert_eq!(app.register_passkey(&token, &body).await, (400, error_body("Invalid passkey")));
    let (_, opened) = app.passkey_registration_options(&token).await;
    let mut key = SoftKey::new();
    for name in ["", "   ", &"n".repeat(65), "a\u{7}b"] {
        let body = json!({"challenge_id": opened["challenge_id"], "credential": key.register(&opened["options"]), "name": name});
        assert_eq!(
            app.register_passkey(&token, &body).await,
            (
                400,
                error_body("Passkey name must be 1 to 64 characters, without control characters")
            ),
            "{name:?}"
        );
    }
    let (_, listed) = app.list_passkeys(&token).await;
    assert_eq!(listed["passkeys"], json!([]));
}

async fn a_passkey_is_renamed_and_removed_by_its_owner_only(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = verified_account(&app).await;
    let mut key = SoftKey::new();
    let id = app.add_passkey(&token, &mut key, "Laptop").await["id"].as_str().unwrap().to_owned();
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let bob = app.token_for("bob@example.com").await;
    let not_found = (404, error_body("Passkey not found"));

    let (status, renamed) =
        app.rename_passkey(&token, &id, &json!({"name": "Work laptop #2"})).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!((&renamed["id"], &renamed["name"]), (&json!(id), &json!("Work laptop #2")));
    assert_eq!(app.rename_passkey(&bob, &id, &json!({"name": "Mine"})).await, not_found);
    assert_eq!(app.rename_passkey(&token, "nope", &json!({"name": "x"})).await, not_found);
    assert_eq!(
        app.rename_passkey(&token, &id, &json!({})).await,
        (400, error_body("All fields are required"))
    );
    assert_eq!(app.remove_passkey(&bob, &id).await, not_found);

    let (status, signed_in) = app.sign_in_with(&mut key).await;
    assert_eq!(status, 200, "{signed_in}");
    let (status, removed) = app.remove_passkey(&token, &id).await;
    assert_eq!(
        (status, removed),
        (200, json!({"status": "success", "message": "Passkey removed"}))
    );
    let notice = smtp.wait_for_subject("A passkey was removed from your account", 1).await;
    // A name is the user's text: quoted, so it cannot pass for the message's own words.
    let text = readable(&notice[0]);
    assert!(text.contains("The passkey named \"Work laptop #2\" was removed"), "{text}");
    // It cannot sign in again; the session it started goes on.
    assert_eq!(app.sign_in_with(&mut key).await, refused());
    assert_eq!(app.me_status(signed_in["access_token"].as_str().unwrap()).await, 200);
    assert_eq!(app.remove_passkey(&token, &id).await, not_found);
}

async fn a_passkey_only_account_drops_its_password_and_recovers_by_mail(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    let token = verified_account(&app).await;
    let second_factor = (403, error_body("Second factor required"));
    let last_way_in = (409, error_body("This is the account's last way to sign in"));
    // A password session is one factor.
    assert_eq!(app.remove_password(&token).await, second_factor);
    let mut key = SoftKey::new();
    let first_id =
        app.add_passkey(&token, &mut key, "Phone").await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.remove_password(&token).await, second_factor);

    let (status, body) = app.sign_in_with(&mut key).await;
    assert_eq!(status, 200, "{body}");
    let aal2 = Tokens::from_body(&body).access;
    let removed = (200, json!({"status": "success", "message": "Password removed"}));
    assert_eq!(app.remove_password(&aal2).await, removed);
    smtp.wait_for_subject("Your password was removed", 1).await;
    assert_eq!(app.remove_password(&aal2).await, (409, error_body("No password is set")));
    // The old password signs in no more; the sessions go on.
    let refused = (401, error_body("Invalid credentials"));
    assert_eq!(status_and_json(app.login(EMAIL, PASSWORD).await).await, refused);
    assert_eq!(app.me_status(&token).await, 200);
    assert_eq!(app.remove_passkey(&aal2, &first_id).await, last_way_in);
    // A change confirmed without a password: the aal2 session is the confirmation; an aal1
    // one is not.
    let rename = json!({"name": "Ada L."});
    assert_eq!(app.update_user(&aal2, &rename).await.0, 200);
    let set = json!({"new_password": "a brand new passphrase"});
    assert_eq!(app.change_password(&token, &set).await, second_factor);

    // Recovery by the mailed reset code sets a password again, and its session may add a passkey.
    let (status, _) = app.forgot_password(EMAIL).await;
    assert_eq!(status, 202);
    let message = smtp.wait_for_subject("Your password reset code", 1).await.remove(0);
    let reset = json!({"email": EMAIL, "code": code_in(&message), "new_password": "a brand new passphrase"});
    let (status, body) = app.reset_password(&reset).await;
    assert_eq!(status, 200, "{body}");
    let recovered = Tokens::from_body(&body).access;
    let mut another = SoftKey::new();
    app.add_passkey(&recovered, &mut another, "New phone").await;
    assert_eq!(app.login(EMAIL, "a brand new passphrase").await.status(), 200);
}

async fn the_last_way_in_is_not_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = verified_account(&app).await;
    let (mut first, mut second) = (SoftKey::new(), SoftKey::new());
    let first_id =
        app.add_passkey(&token, &mut first, "One").await["id"].as_str().unwrap().to_owned();
    let second_id =
        app.add_passkey(&token, &mut second, "Two").await["id"].as_str().unwrap().to_owned();
    let (_, body) = app.sign_in_with(&mut first).await;
    let aal2 = Tokens::from_body(&body).access;
    assert_eq!(app.remove_password(&aal2).await.0, 200);
    assert_eq!(app.remove_passkey(&aal2, &first_id).await.0, 200);
    assert_eq!(
        app.remove_passkey(&aal2, &second_id).await,
        (409, error_body("This is the account's last way to sign in"))
    );
    assert_eq!(app.sign_in_with(&mut second).await.0, 200);
    // An account with no passkey keeps its password, whatever its session proved.
    let app = spawn_app(backend).await;
    let (_, _, session) = with_mfa(&app).await;
    assert_eq!(
        app.remove_password(&session.access).await,
        (409, error_body("This is the account's last way to sign in"))
    );
}

both_backends!(
    a_passkey_registers_and_then_signs_in_with_no_email_typed,
    a_presence_only_passkey_is_one_factor,
    with_mfa_a_presence_only_passkey_still_asks_for_the_second_factor,
    with_mfa_a_passkey_is_the_second_factor_of_a_password_login,
    registration_and_removal_need_a_proved_address_and_aal2_with_mfa,
    a_ceremony_is_spent_once_ends_on_any_replica_and_serves_one_purpose,
    a_wrong_origin_rp_id_signature_user_handle_or_credential_is_refused,
    refused_passkeys_count_against_the_network,
    a_device_bound_key_whose_counter_goes_back_is_refused_and_its_owner_told,
    an_account_holds_at_most_ten_passkeys,
    a_registration_that_does_not_check_out_is_refused,
    a_passkey_is_renamed_and_removed_by_its_owner_only,
    the_last_way_in_is_not_removed,
    a_passkey_only_account_drops_its_password_and_recovers_by_mail,
);
