//! The route table, in the order of API.md, and the response bodies handlers share.

pub mod health;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod me;
pub mod metrics;
pub mod openapi;
pub mod password;
pub mod profile_pic;
pub mod register;
pub mod token_refresh;
pub mod uploads;
pub mod user;

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

/// Each path is a resource, so a known path with another method answers 405, not 404. The
/// rows of API.md come first, then the token lifecycle's additions.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/register").route(web::post().to(register::register)))
        .service(web::resource("/api/login").route(web::post().to(login::login)))
        .service(web::resource("/").route(web::get().to(me::current_user)))
        .service(
            web::resource("/api/upload_profile_pic")
                .route(web::post().to(profile_pic::upload_profile_pic)),
        )
        .service(
            web::resource("/upload_profile_pic")
                .route(web::post().to(profile_pic::upload_profile_pic_alias)),
        )
        .service(web::resource("/uploads/{filename}").route(web::get().to(uploads::serve_upload)))
        .service(web::resource("/api/logout").route(web::post().to(logout::logout)))
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/api/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(web::resource("/api/token/refresh").route(web::post().to(token_refresh::refresh)))
        .service(web::resource("/api/password").route(web::put().to(password::change_password)))
        .service(web::resource("/api/user").route(web::delete().to(user::delete_user)))
        .service(web::resource("/.well-known/jwks.json").route(web::get().to(jwks::jwks)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)));
}

/// `{"status":"success","message":…}`, the body of register, logout and account deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    pub message: &'static str,
}

impl MessageResponse {
    pub fn success(message: &'static str) -> Self {
        MessageResponse {
            status: "success",
            message,
        }
    }
}
