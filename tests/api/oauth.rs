//! Signing in with an outside provider, against a real OpenID provider (npm's oidc-provider,
//! `tests/oidc/provider.mjs`) on 127.0.0.1: the redirect flow, the callback's checks, the
//! one-time exchange, and each rule of the linking policy.

use auth_service::settings::ProviderKind;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const EMAIL: &str = "ada@example.com";

async fn app_with(backend: Backend, provider: &OidcProvider) -> TestApp {
    spawn_app_with(backend, |settings| provider.configure(settings)).await
}

/// The exchange's login body for a fresh sign-in as `sub`.
async fn signed_in(app: &TestApp, sub: &str) -> (u16, Value) {
    let back = app.oauth_sign_in("oidc", sub).await;
    let code = back.get("code").unwrap_or_else(|| panic!("no code: {back:?}")).to_owned();
    app.oauth_exchange(&code).await
}

async fn a_new_identity_makes_an_account_without_a_password(backend: Backend) {
    let provider = OidcProvider::start();
    let app = app_with(backend, &provider).await;
    provider
        .account("u1", json!({"email": "Ada@Example.com", "email_verified": true, "name": "Ada"}))
        .await;

    let back = app.oauth_sign_in("oidc", "u1").await;
    assert!(back.location.starts_with(&format!("{SIGNED_IN_PAGE}#code=")), "{back:?}");
    let (status, body) = app.oauth_exchange(back.get("code").unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let tokens = Tokens::from_body(&body);
    assert_eq!(body, tokens.body("Login successful!"));
    let claims = jwt_claims(&tokens.access);
    assert_eq!((&claims["amr"], &claims["aal"]), (&json!(["fed"]), &json!("aal1")));
    assert_eq!((&claims["email"], &claims["email_verified"]), (&json!(EMAIL), &json!(true)));
    let user = app.user(EMAIL);
    assert_eq!(user.name, "Ada");
    assert!(user.email_verified_at.is_some());
    // No password: none signs in, not even an empty one.
    let refused = (401, error_body("Invalid credentials"));
    assert_eq!(status_and_json(app.login(EMAIL, "correct horse battery").await).await, refused);
    let (status, listed) = app.list_identities(&tokens.access).await;
    assert_eq!(status, 200);
    let identity = &listed["identities"][0];
    assert_eq!((&identity["provider"], &identity["email"]), (&json!("oidc"), &json!(EMAIL)));
    // The exchange code is single use.
    assert_eq!(
        app.oauth_exchange(back.get("code").unwrap()).await,
        (400, error_body("Invalid or expired code"))
    );
}

async fn a_known_identity_signs_in_as_its_user_whatever_email_it_gives_now(backend: Backend) {
    let provider = OidcProvider::start();
    let app = app_with(backend, &provider).await;
    provider.account("u1", json!({"email": EMAIL, "email_verified": true})).await;
    assert_eq!(signed_in(&app, "u1").await.0, 200);
    // The provider now gives another address, someone else's account's.
    app.register("Bob", "bob@example.com", PASSWORD).await;
    app.mark_verified("bob@example.com");
    provider.account("u1", json!({"email": "bob@example.com", "email_verified": true})).await;
    let (status, body) = signed_in(&app, "u1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["email"], EMAIL);
    assert_eq!(app.user_count(), 2);
}

async fn a_proved_address_joins_a_verified_account_and_an_unproved_one_asks_its_owner(
    backend: Backend,
) {
    let smtp = SmtpServer::start();
    let provider = OidcProvider::start();
    let app =
        spawn_app_with_smtp_and(backend, &smtp, |settings| provider.configure(settings)).await;
    app.register("Ada", EMAIL, PASSWORD).await;
    app.mark_verified(EMAIL);

    // Not proved by the provider: no session, a link token; the owner confirms it signed in.
    provider.account("unproved", json!({"email": EMAIL, "email_verified": false})).await;
    let back = app.oauth_sign_in("oidc", "unproved").await;
    let (status, body) = app.oauth_exchange(back.get("code").unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["message"], "Sign in to link this identity to your account");
    assert_eq!(body.get("access_token"), None);
    let link_token = body["link_token"].as_str().unwrap().to_owned();
    app.register("Bob", "bob@example.com", PASSWORD).await;
    app.mark_verified("bob@example.com");
    let bob = app.token_for("bob@example.com").await;
    // Another account's hands cannot use it (and it is spent).
    assert_eq!(
        app.link_identity(&bob, &link_token).await,
        (400, error_body("Invalid or expired code"))
    );
    let back = app.oauth_sign_in("oidc", "unproved").await;
    let (_, body) = app.oauth_exchange(back.get("code").unwrap()).await;
    let link_token = body["link_token"].as_str().unwrap().to_owned();
    let token = app.token_for(EMAIL).await;
    let (status, linked) = app.link_identity(&token, &link_token).await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!(linked["provider"], "oidc");
    smtp.wait_for_subject("A sign-in with oidc was added to your account", 1).await;
    assert_eq!(signed_in(&app, "unproved").await.0, 200);

    // Proved by the provider, and the account proved it too: it joins by itself, told.
    provider.account("proved", json!({"email": EMAIL, "email_verified": true})).await;
    let (status, body) = signed_in(&app, "proved").await;
    assert_eq!(status, 200, "{body}");
    smtp.wait_for_subject("A sign-in with oidc was added to your account", 2).await;
    assert_eq!(app.list_identities(&token).await.1["identities"].as_array().unwrap().len(), 2);
    assert_eq!(app.user_count(), 2);
}

async fn a_provider_whose_email_is_not_trusted_never_links_by_itself(backend: Backend) {
    let provider = OidcProvider::start();
    let app = spawn_app_with(backend, |settings| {
        provider.configure(settings);
        settings.federation.providers =
            vec![provider.settings("oidc", ProviderKind::OpenId, false)];
    })
    .await;
    app.register("Ada", EMAIL, PASSWORD).await;
    app.mark_verified(EMAIL);
    provider.account("u1", json!({"email": EMAIL, "email_verified": true})).await;
    let (status, body) = signed_in(&app, "u1").await;
    assert_eq!(status, 409, "{body}");
    // And a new account from it starts unverified.
    provider.account("u2", json!({"email": "new@example.com", "email_verified": true})).await;
    assert_eq!(signed_in(&app, "u2").await.0, 200);
    assert!(app.user("new@example.com").email_verified_at.is_none());
}

async fn an_account_that_never_proved_its_address_goes_to_the_address_owner(backend: Backend) {
    let smtp = SmtpServer::start();
    let provider = OidcProvider::start();
    let app =
        spawn_app_with_smtp_and(backend, &smtp, |settings| provider.configure(settings)).await;
    // A squatter registers the owner's address, never proves it, keeps a session.
    app.register("Squatter", EMAIL, PASSWORD).await;
    let squatter = app.session_for(EMAIL).await;
    provider.account("owner", json!({"email": EMAIL, "email_verified": true})).await;
    let (status, body) = signed_in(&app, "owner").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.me_status(&squatter.access).await, 401);
    assert_eq!(status_and_json(app.refresh(&squatter.refresh).await).await.0, 401);
    let refused = (401, error_body("Invalid credentials"));
    assert_eq!(status_and_json(app.login(EMAIL, PASSWORD).await).await, refused);
    assert!(app.user(EMAIL).email_verified_at.is_some());
    smtp.wait_for_subject("Your address now signs in with oidc", 1).await;
}

async fn an_identity_made_before_the_address_was_proved_goes_at_its_first_proof(backend: Backend) {
    let smtp = SmtpServer::start();
    let provider = OidcProvider::start();
    let app = spawn_app_with_smtp_and(backend, &smtp, |settings| {
        provider.configure(settings);
        settings.federation.providers =
            vec![provider.settings("oidc", ProviderKind::OpenId, false)];
    })
    .await;
    // A provider that does not prove the address makes an account on someone else's address.
    provider.account("squatter", json!({"email": EMAIL, "email_verified": true})).await;
    let (status, body) = signed_in(&app, "squatter").await;
    assert_eq!(status, 200, "{body}");
    let squatter = Tokens::from_body(&body).access;
    assert!(app.user(EMAIL).email_verified_at.is_none());
    // It cannot link more identities to the unproved address.
    let response = app
        .client
        .get(app.url(&format!("/api/oauth/oidc/authorize?redirect_to={SIGNED_IN_PAGE}&mode=link")))
        .bearer_auth(&squatter)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(response).await, (403, error_body("Email not verified")));
    // The address's owner resets the password: the mailbox's first proof ends the identity.
    app.forgot_password(EMAIL).await;
    let message = smtp.wait_for_subject("Your password reset code", 1).await.remove(0);
    let reset = json!({"email": EMAIL, "code": code_in(&message), "new_password": "the owner's passphrase"});
    let (status, body) = app.reset_password(&reset).await;
    assert_eq!(status, 200, "{body}");
    let owner = Tokens::from_body(&body).access;
    assert_eq!(app.list_identities(&owner).await.1["identities"], json!([]));
    assert_eq!(app.me_status(&squatter).await, 401);
    let (status, body) = signed_in(&app, "squatter").await;
    assert_eq!(status, 409, "the squatter's identity signs in no more: {body}");
}

async fn the_callback_checks_state_and_redirect_target_and_takes_any_replica(backend: Backend) {
    let provider = OidcProvider::start();
    let app = app_with(backend, &provider).await;
    let other = app.replica();
    provider.account("u1", json!({"email": EMAIL, "email_verified": true})).await;

    // A page outside the list: 400, no redirect.
    for target in [
        "https://evil.example/",
        "http://localhost:3000/signed-in/",
        "http://localhost:3000/signed-in?x=1",
    ] {
        let (status, location) = app.oauth_authorize("oidc", target).await;
        assert_eq!((status, location.as_str()), (400, ""), "{target}");
    }
    let response = app.client.get(app.url("/api/oauth/oidc/authorize")).send().await.unwrap();
    assert_eq!(
        status_and_json(response).await,
        (400, error_body("redirect_to is not an allowed page"))
    );
    assert_eq!(app.oauth_authorize("nope", SIGNED_IN_PAGE).await.0, 404);

    // What the provider is asked: PKCE S256, a state and a nonce of 256 bits.
    let (_, at) = app.oauth_authorize("oidc", SIGNED_IN_PAGE).await;
    let at = reqwest::Url::parse(&at).unwrap();
    let query: std::collections::HashMap<_, _> = at.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    assert!(query["state"].len() >= 22 && query["nonce"].len() >= 22, "{query:?}");

    // Started on one replica, come back to the other; the same callback again finds nothing.
    let callback = app.at_provider(at.as_str(), "u1").await;
    let (status, back) = other.oauth_callback(&callback).await;
    assert_eq!(status, 302);
    let code = back.unwrap().get("code").unwrap().to_owned();
    let (status, replayed) = app.oauth_callback(&callback).await;
    assert_eq!((status, replayed.unwrap_err()), (400, error_body("Invalid or expired sign-in")));
    assert_eq!(app.oauth_exchange(&code).await.0, 200);
    // A made-up state.
    let forged = callback.replace("state=", "state=x");
    assert_eq!(app.oauth_callback(&forged).await.0, 400);
    // The provider's refusal comes back as such.
    let (_, at) = app.oauth_authorize("oidc", SIGNED_IN_PAGE).await;
    let state = reqwest::Url::parse(&at)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let denied = app.url(&format!("/api/oauth/oidc/callback?error=access_denied&state={state}"));
    let (status, back) = app.oauth_callback(&denied).await;
    assert_eq!(
        (status, back.unwrap().location),
        (302, format!("{SIGNED_IN_PAGE}#error=access_denied"))
    );
}

async fn spoiled_id_tokens_sign_no_one_in(backend: Backend) {
    let provider = OidcProvider::start();
    let app = app_with(backend, &provider).await;
    provider.account("u1", json!({"email": EMAIL, "email_verified": true})).await;
    for how in ["other-key", "alg-none", "wrong-audience", "expired", "other-nonce"] {
        provider.spoil(how).await;
        let back = app.oauth_sign_in("oidc", "u1").await;
        assert_eq!(back.get("error"), Some("provider_refused"), "{how}: {back:?}");
        assert_eq!(back.get("code"), None, "{how}");
    }
    assert_eq!(app.user_count(), 0, "no account was made");
    assert_eq!(signed_in(&app, "u1").await.0, 200, "an unspoiled one signs in");
}

async fn an_account_with_mfa_still_asks_for_its_second_factor(backend: Backend) {
    let provider = OidcProvider::start();
    let app = app_with(backend, &provider).await;
    let (secret, _, _) = with_mfa(&app).await;
    provider
        .account("u1", json!({"email": MFA_EMAIL, "email_verified": true, "amr": ["mfa"]}))
        .await;
    let (status, body) = signed_in(&app, "u1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mfa_required"], true, "the provider's MFA is not trusted by default: {body}");
    let (status, body) =
        app.login_mfa(&json!({"mfa_token": body["mfa_token"], "code": totp_code(&secret)})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["amr"], json!(["fed", "otp"]));

    // An operator who trusts the provider's MFA (OIDC_OIDC_TRUST_MFA): no second step.
    let trusting = app.replica_with(|settings| settings.federation.providers[0].trust_mfa = true);
    let (status, body) = signed_in(&trusting, "u1").await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().expect("tokens"));
    assert_eq!((&claims["amr"], &claims["aal"]), (&json!(["fed", "mfa"]), &json!("aal2")));
    // Without `mfa` in the provider's amr, trusted or not, the step is asked for.
    provider.account("u1", json!({"email": MFA_EMAIL, "email_verified": true})).await;
    let (_, body) = signed_in(&trusting, "u1").await;
    assert_eq!(body["mfa_required"], true, "{body}");
}

async fn an_identity_is_unlinked_unless_it_is_the_last_way_in(backend: Backend) {
    let smtp = SmtpServer::start();
    let provider = OidcProvider::start();
    let app =
        spawn_app_with_smtp_and(backend, &smtp, |settings| provider.configure(settings)).await;
    provider.account("u1", json!({"email": EMAIL, "email_verified": true})).await;
    let (_, body) = signed_in(&app, "u1").await;
    let token = Tokens::from_body(&body).access;
    let (_, listed) = app.list_identities(&token).await;
    let id = listed["identities"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.unlink_identity(&token, &id).await,
        (409, error_body("This is the account's last way to sign in"))
    );
    let bob = app.register_and_login("bob@example.com").await;
    assert_eq!(app.unlink_identity(&bob, &id).await, (404, error_body("Identity not found")));
    // With a password set (from this session, which has none to confirm), it may go.
    let (status, body) =
        app.change_password(&token, &json!({"new_password": "a new good passphrase"})).await;
    assert_eq!(status, 403, "an aal1 session cannot set the first password: {body}");
    // A password through the reset flow.
    app.forgot_password(EMAIL).await;
    let message = smtp.wait_for_subject("Your password reset code", 1).await.remove(0);
    let reset =
        json!({"email": EMAIL, "code": code_in(&message), "new_password": "a new good passphrase"});
    assert_eq!(app.reset_password(&reset).await.0, 200);
    let token = app.token_for_password(EMAIL, "a new good passphrase").await;
    assert_eq!(
        app.unlink_identity(&token, &id).await,
        (200, json!({"status": "success", "message": "Identity unlinked"}))
    );
    // Unlinked, the identity is new again: its proved address joins the verified account.
    assert_eq!(signed_in(&app, "u1").await.0, 200);
}

async fn built_in_providers_prove_an_address_by_their_own_rules(backend: Backend) {
    let provider = OidcProvider::start();
    let app = spawn_app_with(backend, |settings| {
        provider.configure(settings);
        settings.federation.providers = vec![
            provider.settings("google", ProviderKind::Google, false),
            provider.settings("apple", ProviderKind::Apple, false),
            provider.settings("microsoft", ProviderKind::Microsoft, false),
        ];
    })
    .await;
    let cases = [
        ("google", json!({"email": "g1@example.com", "email_verified": true}), 200),
        ("google", json!({"email": "g2@example.com", "email_verified": false}), 409),
        // Apple sends its booleans as strings, and comes back by form_post.
        ("apple", json!({"email": "a1@example.com", "email_verified": "true"}), 200),
        ("apple", json!({"email": "a2@example.com", "email_verified": "false"}), 409),
        // Microsoft's email is whatever was typed, unless the domain's owner verified it.
        ("microsoft", json!({"email": "m1@example.com", "email_verified": true}), 409),
        ("microsoft", json!({"email": "m2@example.com", "xms_edov": true}), 200),
    ];
    for (name, claims, expected) in cases {
        let email = claims["email"].as_str().unwrap().to_owned();
        app.register("Owner", &email, PASSWORD).await;
        app.mark_verified(&email);
        let sub = format!("{name}-{email}");
        provider.account(&sub, claims).await;
        let back = app.oauth_sign_in(name, &sub).await;
        let code = back.get("code").unwrap_or_else(|| panic!("{name}: {back:?}")).to_owned();
        let (status, body) = app.oauth_exchange(&code).await;
        assert_eq!(status, expected, "{name} {email}: {body}");
    }
}

async fn a_signed_in_user_links_an_identity_through_the_provider(backend: Backend) {
    let smtp = SmtpServer::start();
    let provider = OidcProvider::start();
    let app =
        spawn_app_with_smtp_and(backend, &smtp, |settings| provider.configure(settings)).await;
    // The provider's address need not be the account's: the owner, signed in, vouches for it.
    provider
        .account("l1", json!({"email": "elsewhere@example.com", "email_verified": false}))
        .await;
    let (_, _, session) = with_mfa(&app).await;
    assert_eq!(app.oauth_authorize_link("oidc", None).await, (401, error_body("Unauthorized")));
    let (status, body) = app.oauth_authorize_link("oidc", Some(&session.access)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    let at = body["url"].as_str().unwrap();
    assert!(at.starts_with(&format!("{}/auth?", provider.issuer())), "{at}");
    let back = app.oauth_callback(&app.at_provider(at, "l1").await).await.1.unwrap();
    let (status, body) = app.oauth_exchange(back.get("code").expect(&back.location)).await;
    assert_eq!((status, body), (200, json!({"status": "success", "message": "Identity linked"})));
    smtp.wait_for_subject("A sign-in with oidc was added to your account", 1).await;
    let (_, listed) = app.list_identities(&session.access).await;
    assert_eq!(listed["identities"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["identities"][0]["provider"], "oidc");
    // The identity now signs in as its account (whose MFA still asks for its step).
    let (status, body) = signed_in(&app, "l1").await;
    assert_eq!((status, &body["mfa_required"]), (200, &json!(true)), "{body}");

    // Another account cannot take an identity that is someone's.
    app.register("Eve", "eve@example.com", PASSWORD).await;
    app.mark_verified("eve@example.com");
    let eve = app.session_for("eve@example.com").await;
    let (_, body) = app.oauth_authorize_link("oidc", Some(&eve.access)).await;
    let back =
        app.oauth_callback(&app.at_provider(body["url"].as_str().unwrap(), "l1").await).await;
    let back = back.1.unwrap();
    assert_eq!((back.get("error"), back.get("code")), (Some("identity_taken"), None), "{back:?}");
    assert_eq!(app.list_identities(&eve.access).await.1["identities"], json!([]));
}

async fn apples_client_secret_is_signed_with_its_key_for_each_exchange(backend: Backend) {
    let provider = OidcProvider::start();
    let apple = |team: &str| {
        let mut apple = provider.settings("apple", ProviderKind::Apple, false);
        apple.credential = apple_key(team);
        apple
    };
    let app = spawn_app_with(backend, |settings| {
        provider.configure(settings);
        settings.federation.providers = vec![apple("TEAMID0001")];
    })
    .await;
    provider.account("a1", json!({"email": EMAIL, "email_verified": "true"})).await;
    for _ in 0..2 {
        let back = app.oauth_sign_in("apple", "a1").await;
        let (status, body) = app.oauth_exchange(back.get("code").expect(&back.location)).await;
        assert_eq!(status, 200, "{body}");
    }
    // Signed for another team, the secret is refused at Apple's token endpoint.
    let app = spawn_app_with(backend, |settings| {
        provider.configure(settings);
        settings.federation.providers = vec![apple("ANOTHERTEAM")];
    })
    .await;
    let back = app.oauth_sign_in("apple", "a1").await;
    assert_eq!(back.get("error"), Some("provider_refused"), "{back:?}");
    assert_eq!(back.get("code"), None);
}

async fn github_proves_only_its_verified_primary_email(backend: Backend) {
    let provider = OidcProvider::start();
    let app = spawn_app_with(backend, |settings| {
        provider.configure(settings);
        let mut github = provider.settings("github", ProviderKind::GitHub, false);
        github.client_id = format!("{OIDC_CLIENT_ID}-github");
        settings.federation.providers = vec![github];
    })
    .await;
    for email in ["primary@example.com", "other@example.com"] {
        app.register("Owner", email, PASSWORD).await;
        app.mark_verified(email);
    }
    let emails = |verified| {
        json!([
            {"email": "primary@example.com", "primary": true, "verified": verified},
            {"email": "other@example.com", "primary": false, "verified": true},
        ])
    };
    provider
        .account("gh1", json!({"github": {"id": 4711, "login": "ada", "emails": emails(true)}}))
        .await;
    provider
        .account("gh2", json!({"github": {"id": 4712, "login": "eve", "emails": emails(false)}}))
        .await;
    let back = app.oauth_sign_in("github", "gh1").await;
    let (status, body) = app.oauth_exchange(back.get("code").expect(&back.location)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["email"], "primary@example.com");
    let (_, listed) = app.list_identities(body["access_token"].as_str().unwrap()).await;
    assert_eq!(listed["identities"][0]["provider"], "github");
    // An unverified primary is no proof, whatever the other addresses are.
    let back = app.oauth_sign_in("github", "gh2").await;
    assert_eq!(app.oauth_exchange(back.get("code").unwrap()).await.0, 409);
}

both_backends!(
    a_signed_in_user_links_an_identity_through_the_provider,
    apples_client_secret_is_signed_with_its_key_for_each_exchange,
    github_proves_only_its_verified_primary_email,
    built_in_providers_prove_an_address_by_their_own_rules,
    a_new_identity_makes_an_account_without_a_password,
    a_known_identity_signs_in_as_its_user_whatever_email_it_gives_now,
    a_proved_address_joins_a_verified_account_and_an_unproved_one_asks_its_owner,
    a_provider_whose_email_is_not_trusted_never_links_by_itself,
    an_account_that_never_proved_its_address_goes_to_the_address_owner,
    an_identity_made_before_the_address_was_proved_goes_at_its_first_proof,
    the_callback_checks_state_and_redirect_target_and_takes_any_replica,
    spoiled_id_tokens_sign_no_one_in,
    an_account_with_mfa_still_asks_for_its_second_factor,
    an_identity_is_unlinked_unless_it_is_the_last_way_in,
);
