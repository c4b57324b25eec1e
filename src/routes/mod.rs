//! The route table, in the order of the README's endpoint list; a file per endpoint.

pub mod admin_users;
pub mod admin_webhooks;
pub mod email_change;
pub mod email_verification;
pub mod health;
pub mod identities;
pub mod jwks;
pub mod login;
pub mod login_code;
pub mod login_mfa;
pub mod login_passkey;
pub mod logout;
pub mod me;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod openapi;
pub mod passkeys;
pub mod password;
pub mod password_reset;
pub mod profile_pic;
pub mod register;
pub mod responses;
pub mod sessions;
pub mod token_refresh;
pub mod uploads;
pub mod user;

use actix_web::web;

/// Each path is a resource, so a known path with another method answers 405, not 404. The
/// rows of the v1 contract come first, then the token lifecycle's additions.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/register").route(web::post().to(register::register)))
        .service(web::resource("/api/login").route(web::post().to(login::login)))
        .service(web::resource("/").route(web::get().to(me::current_user)))
        .service(
            web::resource("/api/upload_profile_pic")
                .route(web::post().to(profile_pic::upload_profile_pic)),
        )
        .service(
            web::resource(profile_pic::SEED_PATH)
                .route(web::post().to(profile_pic::upload_profile_pic)),
        )
        .service(web::resource("/uploads/{filename}").route(web::get().to(uploads::serve_upload)))
        .service(web::resource("/api/logout").route(web::post().to(logout::logout)))
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/api/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(web::resource("/api/token/refresh").route(web::post().to(token_refresh::refresh)))
        .service(
            web::resource("/api/password")
                .route(web::put().to(password::change_password))
                .route(web::delete().to(password::remove_password)),
        )
        .service(
            web::resource("/api/user")
                .route(web::delete().to(user::delete_user))
                .route(web::patch().to(user::update_user)),
        )
        .service(
            web::resource("/api/password/forgot")
                .route(web::post().to(password_reset::forgot_password)),
        )
        .service(
            web::resource("/api/password/reset")
                .route(web::post().to(password_reset::reset_password)),
        )
        .service(
            web::resource("/api/email/verify")
                .route(web::post().to(email_verification::verify_email)),
        )
        .service(
            web::resource("/api/email/verify/resend")
                .route(web::post().to(email_verification::resend_verification)),
        )
        .service(
            web::resource("/api/email/change").route(web::post().to(email_change::change_email)),
        )
        .service(
            web::resource("/api/email/change/confirm")
                .route(web::post().to(email_change::confirm_email_change)),
        )
        .service(web::resource("/api/login/mfa").route(web::post().to(login_mfa::login_mfa)))
        .service(
            web::resource("/api/login/code")
                .route(web::post().to(login_code::request_sign_in_code)),
        )
        .service(
            web::resource("/api/login/code/verify")
                .route(web::post().to(login_code::verify_sign_in_code)),
        )
        .service(
            web::resource("/api/mfa/totp")
                .route(web::post().to(mfa::enrol_totp))
                .route(web::delete().to(mfa::disable_totp)),
        )
        .service(web::resource("/api/mfa/totp/confirm").route(web::post().to(mfa::confirm_totp)))
        .service(
            web::resource("/api/mfa/recovery-codes")
                .route(web::post().to(mfa::renew_recovery_codes)),
        )
        .service(
            web::resource("/api/passkeys/registration/options")
                .route(web::post().to(passkeys::registration_options)),
        )
        .service(
            web::resource("/api/passkeys/registration/verify")
                .route(web::post().to(passkeys::register_passkey)),
        )
        .service(
            web::resource("/api/passkeys/authentication/options")
                .route(web::post().to(login_passkey::authentication_options)),
        )
        .service(
            web::resource("/api/passkeys/authentication/verify")
                .route(web::post().to(login_passkey::verify_authentication)),
        )
        .service(web::resource("/api/passkeys").route(web::get().to(passkeys::list_passkeys)))
        .service(
            web::resource("/api/passkeys/{id}")
                .route(web::patch().to(passkeys::rename_passkey))
                .route(web::delete().to(passkeys::remove_passkey)),
        )
        .service(
            web::resource("/api/oauth/{provider}/authorize").route(web::get().to(oauth::authorize)),
        )
        .service(
            web::resource("/api/oauth/{provider}/callback")
                .route(web::get().to(oauth::callback))
                .route(web::post().to(oauth::callback_form)),
        )
        .service(web::resource("/api/oauth/exchange").route(web::post().to(oauth::exchange)))
        .service(web::resource("/api/identities").route(web::get().to(identities::list_identities)))
        .service(
            web::resource("/api/identities/link").route(web::post().to(identities::link_identity)),
        )
        .service(
            web::resource("/api/identities/{id}")
                .route(web::delete().to(identities::unlink_identity)),
        )
        .service(web::resource("/api/sessions").route(web::get().to(sessions::list_sessions)))
        .service(web::resource("/api/sessions/{id}").route(web::delete().to(sessions::end_session)))
        .service(web::resource("/.well-known/jwks.json").route(web::get().to(jwks::jwks)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(admin_routes());
}

/// `/api/admin/*`: admin keys only (`request::admin_key`).
fn admin_routes() -> actix_web::Scope {
    use admin_users::*;
    use admin_webhooks::*;
    web::scope("/api/admin")
        .service(web::resource("/users").route(web::get().to(admin_list_users)))
        .service(
            web::resource("/users/{id}")
                .route(web::get().to(admin_show_user))
                .route(web::delete().to(admin_delete_user)),
        )
        .service(web::resource("/users/{id}/disable").route(web::post().to(admin_disable_user)))
        .service(web::resource("/users/{id}/enable").route(web::post().to(admin_enable_user)))
        .service(web::resource("/users/{id}/logout").route(web::post().to(admin_logout_user)))
        .service(
            web::resource("/users/{id}/verify-email")
                .route(web::post().to(admin_verify_user_email)),
        )
        .service(web::resource("/users/{id}/reset-mfa").route(web::post().to(admin_reset_user_mfa)))
        .service(
            web::resource("/webhooks")
                .route(web::get().to(admin_list_webhooks))
                .route(web::post().to(admin_add_webhook)),
        )
        .service(web::resource("/webhooks/{id}").route(web::delete().to(admin_remove_webhook)))
        .service(
            web::resource("/webhooks/{id}/rotate-secret")
                .route(web::post().to(admin_rotate_webhook_secret)),
        )
        .service(
            web::resource("/webhooks/{id}/deliveries")
                .route(web::get().to(admin_webhook_deliveries)),
        )
        .service(
            web::resource("/webhooks/events/{event_id}/replay")
                .route(web::post().to(admin_replay_webhook_event)),
        )
}
