//! `POST /api/register`

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::MessageResponse;

use crate::{
    account::codes::{CodeMail, VERIFY_PAGE},
    audit::Event,
    db::{email_codes::Purpose, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::Ctx,
    throttle::Limit,
    validation::{required, string_or_none, valid_email, valid_name},
    webhooks::events,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "Arun CS")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub password: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "User registered successfully", body = MessageResponse),
        (status = 400, description = "Missing field, invalid email, name or password, or email already registered", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody),
    )
)]
pub async fn register(
    ctx: Ctx,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let (Some(name), Some(email), Some(password)) =
        (required(&body.name), required(&body.email), required(&body.password))
    else {
        return Err(ApiError::AllFieldsRequired);
    };
    let name = valid_name(name)?;
    let email = valid_email(email)?;
    ctx.password_policy.check_new(password)?;
    // Counted before bcrypt and before the unique index can tell whether the email exists.
    ctx.throttle(Event::Register, None, &[Limit::RegisterPerIp]).await?;

    let password_hash = ctx.passwords.hash(password.to_owned()).await?;
    // No mail limit counted this request: its code draws on the address's budget when queued.
    let code = CodeMail::new(&ctx, Kind::VerifyEmail, Purpose::VerifyEmail, VERIFY_PAGE)?
        .counted_when_queued();
    let user_id = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = chrono::Utc::now().naive_utc();
                let new_user = users::NewUser {
                    name: &name,
                    email: &email,
                    password_hash: &password_hash,
                    created_at: now,
                    updated_at: now,
                };
                let user_id =
                    users::insert_user(conn, &new_user).map_err(ApiError::on_email_write)?;
                code.send_in(conn, user_id, &name, &email, None, &[])?;
                events::user_created(conn, user_id, (&email, &name), "registration")?;
                Ok::<_, ApiError>(user_id)
            })
        })
        .await
        .inspect_err(|error| ctx.audit_refusal(Event::Register, error, None))?;
    ctx.audit(Event::Register, "ok", Some(user_id));
    Ok(HttpResponse::Created().json(MessageResponse::success("User registered successfully")))
}
