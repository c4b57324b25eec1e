use std::collections::BTreeSet;

use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

async fn openapi_documents_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, doc) =
        status_and_json(app.client.get(app.url("/api/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let operations: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let expected: BTreeSet<String> = [
        "POST /api/register",
        "POST /api/login",
        "GET /",
        "POST /api/upload_profile_pic",
        "POST /upload_profile_pic",
        "GET /uploads/{filename}",
        "POST /api/logout",
        "GET /healthz",
        "GET /readyz",
        "GET /api/openapi.json",
        "POST /api/token/refresh",
        "PUT /api/password",
        "DELETE /api/password",
        "DELETE /api/user",
        "PATCH /api/user",
        "POST /api/email/change",
        "POST /api/email/change/confirm",
        "POST /api/password/forgot",
        "POST /api/password/reset",
        "POST /api/email/verify",
        "POST /api/email/verify/resend",
        "POST /api/login/mfa",
        "POST /api/login/code",
        "POST /api/login/code/verify",
        "POST /api/mfa/totp",
        "DELETE /api/mfa/totp",
        "POST /api/mfa/totp/confirm",
        "POST /api/mfa/recovery-codes",
        "POST /api/passkeys/registration/options",
        "POST /api/passkeys/registration/verify",
        "POST /api/passkeys/authentication/options",
        "POST /api/passkeys/authentication/verify",
        "GET /api/passkeys",
        "PATCH /api/passkeys/{id}",
        "DELETE /api/passkeys/{id}",
        "GET /api/oauth/{provider}/authorize",
        "GET /api/oauth/{provider}/callback",
        "POST /api/oauth/{provider}/callback",
        "POST /api/oauth/exchange",
        "GET /api/identities",
        "POST /api/identities/link",
        "DELETE /api/identities/{id}",
        "GET /api/admin/users",
        "GET /api/admin/users/{id}",
        "DELETE /api/admin/users/{id}",
        "POST /api/admin/users/{id}/disable",
        "POST /api/admin/users/{id}/enable",
        "POST /api/admin/users/{id}/logout",
        "POST /api/admin/users/{id}/verify-email",
        "POST /api/admin/users/{id}/reset-mfa",
        "GET /api/admin/webhooks",
        "POST /api/admin/webhooks",
        "DELETE /api/admin/webhooks/{id}",
        "POST /api/admin/webhooks/{id}/rotate-secret",
        "GET /api/admin/webhooks/{id}/deliveries",
        "POST /api/admin/webhooks/events/{event_id}/replay",
        "GET /api/sessions",
        "DELETE /api/sessions/{id}",
        "GET /.well-known/jwks.json",
        "GET /metrics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(operations, expected);

    let schemas = &doc["components"]["schemas"];
    for schema in [
        "RegisterRequest",
        "LoginRequest",
        "LoginResponse",
        "CurrentUserResponse",
        "UploadResponse",
        "MessageResponse",
        "ErrorBody",
        "RefreshRequest",
        "SessionsResponse",
        "MfaRequiredResponse",
        "RecoveryCodesResponse",
        "MfaEnabledResponse",
        "SignInCodeRequest",
        "VerifySignInCodeRequest",
        "TotpSecretResponse",
        "MfaLoginRequest",
        "SessionView",
        "ChangePasswordRequest",
        "DeleteUserRequest",
        "PasskeyOptionsResponse",
        "RegisterPasskeyRequest",
        "PasskeySignInRequest",
        "PasskeyResponse",
        "PasskeysResponse",
        "PasskeyView",
        "RenamePasskeyRequest",
        "ExchangeRequest",
        "LinkRequiredResponse",
        "AuthorizeUrlResponse",
        "IdentitiesResponse",
        "IdentityResponse",
        "IdentityView",
        "LinkIdentityRequest",
        "UserPage",
        "UserDetail",
        "AdminUser",
        "DisableRequest",
        "AddWebhookRequest",
        "WebhookSecret",
        "WebhookList",
        "DeliveryList",
    ] {
        assert!(schemas[schema].is_object(), "{schema} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], Value::from("bearer"));
    // The admin endpoints name the admin key's scheme and the scope each needs.
    let admin_key = &doc["components"]["securitySchemes"]["admin_key"];
    assert_eq!(admin_key["bearerFormat"], Value::from("ask_… admin key"));
    let disable = &doc["paths"]["/api/admin/users/{id}/disable"]["post"];
    assert_eq!(disable["security"], serde_json::json!([{"admin_key": ["users:write"]}]));
    let login_ok = &doc["paths"]["/api/login"]["post"]["responses"]["200"];
    assert_eq!(
        login_ok["content"]["application/json"]["schema"]["$ref"],
        Value::from("#/components/schemas/LoginResponse")
    );
    // The login response documents the field v1 clients did not have.
    assert!(schemas["LoginResponse"]["properties"]["refresh_token"].is_object());
    let logout_params = &doc["paths"]["/api/logout"]["post"]["parameters"];
    assert_eq!(logout_params[0]["name"], Value::from("scope"));
}

both_backends!(openapi_documents_every_route);
