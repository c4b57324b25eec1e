//! `GET /api/openapi.json`, generated from the handlers' own annotations and types.

use actix_web::web;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    admin_users, admin_webhooks, email_change, email_verification, health, identities, jwks, login,
    login_code, login_mfa, login_passkey, logout, me, metrics, mfa, oauth, passkeys, password,
    password_reset, profile_pic, register, responses, sessions, token_refresh, uploads, user,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-service",
        description = "Stateless JWT authentication: register, login (a password, a code by mail, a passkey, or an outside OpenID or OAuth provider), current user, profile pictures; refresh tokens, sessions a user can list and end, a TOTP second factor with recovery codes, logout everywhere, password change, account deletion, a JWKS for verifying EdDSA tokens, and an admin API for operators (admin keys)."
    ),
    paths(
        register::register,
        login::login,
        me::current_user,
        profile_pic::upload_profile_pic,
        uploads::serve_upload,
        logout::logout,
        health::healthz,
        health::readyz,
        openapi_json,
        token_refresh::refresh,
        password::change_password,
        password::remove_password,
        user::delete_user,
        user::update_user,
        password_reset::forgot_password,
        password_reset::reset_password,
        email_verification::verify_email,
        email_verification::resend_verification,
        email_change::change_email,
        email_change::confirm_email_change,
        login_mfa::login_mfa,
        login_code::request_sign_in_code,
        login_code::verify_sign_in_code,
        mfa::enrol_totp,
        mfa::confirm_totp,
        mfa::renew_recovery_codes,
        mfa::disable_totp,
        passkeys::registration_options,
        passkeys::register_passkey,
        login_passkey::authentication_options,
        login_passkey::verify_authentication,
        passkeys::list_passkeys,
        passkeys::rename_passkey,
        passkeys::remove_passkey,
        oauth::authorize,
        oauth::callback,
        oauth::callback_form,
        oauth::exchange,
        identities::list_identities,
        identities::link_identity,
        identities::unlink_identity,
        sessions::list_sessions,
        sessions::end_session,
        jwks::jwks,
        metrics::metrics,
        admin_users::admin_list_users,
        admin_users::admin_show_user,
        admin_users::admin_disable_user,
        admin_users::admin_enable_user,
        admin_users::admin_logout_user,
        admin_users::admin_verify_user_email,
        admin_users::admin_reset_user_mfa,
        admin_users::admin_delete_user,
        admin_webhooks::admin_add_webhook,
        admin_webhooks::admin_list_webhooks,
        admin_webhooks::admin_rotate_webhook_secret,
        admin_webhooks::admin_remove_webhook,
        admin_webhooks::admin_webhook_deliveries,
        admin_webhooks::admin_replay_webhook_event,
    ),
    components(schemas(responses::MfaRequiredResponse, oauth::LinkRequiredResponse)),
    modifiers(&BearerAuth, &SeedUploadPath)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
        // `/api/admin/*`: an `ask_…` key made by `auth-service admin keys create`, with scopes.
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ask_… admin key")
                    .description(Some("An admin key (auth-service admin keys create); scopes users:read, users:write, webhooks:write"))
                    .build(),
            ),
        );
    }
}

/// `/upload_profile_pic` is `/api/upload_profile_pic` under the seed's path: the same
/// operation, documented once and copied here under an operation id of its own.
struct SeedUploadPath;

impl Modify for SeedUploadPath {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(mut item) = openapi.paths.paths.get("/api/upload_profile_pic").cloned() else {
            return;
        };
        if let Some(operation) = item.post.as_mut() {
            operation.operation_id = Some("upload_profile_pic_seed_path".to_owned());
            operation.description = Some("Same as /api/upload_profile_pic".to_owned());
        }
        openapi.paths.paths.insert(profile_pic::SEED_PATH.to_owned(), item);
    }
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> web::Json<utoipa::openapi::OpenApi> {
    web::Json(ApiDoc::openapi())
}
