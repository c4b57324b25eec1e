//! A user's passkeys: `POST /api/passkeys/registration/options` and `…/verify` (add one),
//! `GET /api/passkeys`, `PATCH` and `DELETE /api/passkeys/{id}`. Signing in with one is
//! `login_passkey.rs`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::responses::{MessageResponse, PasskeyOptionsResponse, rfc3339};
use crate::{
    account::passkeys::{self, Removal},
    audit::Event,
    db::passkeys::{self as stored, Passkey},
    error::{ApiError, ErrorBody},
    request::{AuthUser, Ctx},
    validation::{required, string_or_none},
};

/// The name a passkey gets when the request gives none.
const DEFAULT_NAME: &str = "Passkey";

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterPasskeyRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub challenge_id: Option<String>,
    /// What `navigator.credentials.create()` gave, as its `toJSON()` writes it.
    #[schema(value_type = Object)]
    pub credential: Option<serde_json::Value>,
    /// 1 to 64 characters; "Passkey" when left out.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = Option<String>, example = "Laptop")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenamePasskeyRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "Phone")]
    pub name: Option<String>,
}

/// A passkey as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    #[schema(example = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f")]
    pub id: String,
    #[schema(example = "Laptop")]
    pub name: String,
    /// RFC 3339, UTC.
    #[schema(example = "2026-12-08T09:15:00Z")]
    pub created_at: String,
    /// The last sign-in with it (RFC 3339, UTC); null before the first.
    pub last_used_at: Option<String>,
    /// Whether its authenticator says it is backed up or synced to other devices.
    pub backed_up: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[serde(flatten)]
    pub passkey: PasskeyView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeysResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// Oldest first.
    pub passkeys: Vec<PasskeyView>,
}

#[utoipa::path(
    post,
    path = "/api/passkeys/registration/options",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A registration ceremony: `options` is the PublicKeyCredentialCreationOptions JSON for `PublicKeyCredential.parseCreationOptionsFromJSON` (a discoverable key, user verification preferred, attestation none, EdDSA/ES256/RS256, the user's passkeys excluded); answer it within `expires_in` seconds", body = PasskeyOptionsResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Email not verified, or Second factor required (an aal1 token of an account with MFA)", body = ErrorBody),
        (status = 409, description = "The account holds 10 passkeys already", body = ErrorBody),
    )
)]
pub async fn registration_options(
    ctx: Ctx,
    auth: AuthUser,
) -> Result<PasskeyOptionsResponse, ApiError> {
    auth.require_second_factor()?;
    // Set up on an address no one proved, a passkey would let a squatter keep it from its owner.
    if auth.user.email_verified_at.is_none() {
        return Err(ApiError::EmailNotVerified);
    }
    let opened = passkeys::open_registration(&ctx, &auth.user).await?;
    PasskeyOptionsResponse::new(&ctx, opened.challenge_id, &opened.options)
}

#[utoipa::path(
    post,
    path = "/api/passkeys/registration/verify",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body = RegisterPasskeyRequest,
    responses(
        (status = 201, description = "Passkey added; its owner is told by mail", body = PasskeyResponse),
        (status = 400, description = "Missing field, Invalid or expired challenge (unknown, spent, expired or another user's), Invalid passkey (origin, RP ID, challenge, signature or algorithm wrong), Passkey already registered, or an invalid name", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required", body = ErrorBody),
        (status = 409, description = "The account holds 10 passkeys already", body = ErrorBody),
    )
)]
pub async fn register_passkey(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<RegisterPasskeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (Some(challenge_id), Some(credential)) = (required(&body.challenge_id), body.credential)
    else {
        return Err(ApiError::AllFieldsRequired);
    };
    auth.require_second_factor()?;
    let name = passkey_name(body.name.as_deref().unwrap_or(DEFAULT_NAME))?;
    let credential = serde_json::from_value(credential).map_err(|_| ApiError::InvalidPasskey)?;
    let added =
        passkeys::register(&ctx, &auth.user, challenge_id, credential, name).await.inspect_err(
            |error| ctx.audit_refusal(Event::PasskeyRegistration, error, Some(auth.user.id)),
        )?;
    ctx.audit(Event::PasskeyRegistration, "ok", Some(auth.user.id));
    Ok(HttpResponse::Created().json(PasskeyResponse::of(added)))
}

#[utoipa::path(
    get,
    path = "/api/passkeys",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's passkeys, oldest first", body = PasskeysResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
    )
)]
pub async fn list_passkeys(
    ctx: Ctx,
    auth: AuthUser,
) -> Result<web::Json<PasskeysResponse>, ApiError> {
    let user_id = auth.user.id;
    let held = ctx.db(move |conn| stored::of_user(conn, user_id)).await?;
    let passkeys = held.into_iter().map(PasskeyView::of).collect();
    Ok(web::Json(PasskeysResponse { status: "success", passkeys }))
}

#[utoipa::path(
    patch,
    path = "/api/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "A passkey id from `GET /api/passkeys`")),
    request_body = RenamePasskeyRequest,
    responses(
        (status = 200, description = "Renamed", body = PasskeyResponse),
        (status = 400, description = "Missing or invalid name", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Passkey not found (also another user's)", body = ErrorBody),
    )
)]
pub async fn rename_passkey(
    ctx: Ctx,
    auth: AuthUser,
    id: web::Path<String>,
    body: web::Json<RenamePasskeyRequest>,
) -> Result<web::Json<PasskeyResponse>, ApiError> {
    let name = passkey_name(required(&body.name).ok_or(ApiError::AllFieldsRequired)?)?;
    let id = passkey_id(&id)?;
    let user_id = auth.user.id;
    let renamed = ctx
        .db(move |conn| {
            if !stored::rename(conn, user_id, &id, &name)? {
                return Ok::<_, diesel::result::Error>(None);
            }
            stored::of_user(conn, user_id).map(|held| held.into_iter().find(|p| p.id == id))
        })
        .await?
        .ok_or(ApiError::PasskeyNotFound)?;
    ctx.audit(Event::PasskeyRename, "ok", Some(user_id));
    Ok(web::Json(PasskeyResponse::of(renamed)))
}

#[utoipa::path(
    delete,
    path = "/api/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "A passkey id from `GET /api/passkeys`")),
    responses(
        (status = 200, description = "Removed: it cannot sign in again (sessions it started go on); its owner is told by mail", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required (an aal1 token of an account with MFA)", body = ErrorBody),
        (status = 404, description = "Passkey not found (also another user's)", body = ErrorBody),
        (status = 409, description = "It is the account's last way to sign in (no password, no other passkey)", body = ErrorBody),
    )
)]
pub async fn remove_passkey(
    ctx: Ctx,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    auth.require_second_factor()?;
    let id = passkey_id(&id)?;
    let user_id = auth.user.id;
    match passkeys::remove(&ctx, &auth.user, id).await? {
        Removal::Removed => {
            ctx.audit(Event::PasskeyRemoval, "ok", Some(user_id));
            Ok(web::Json(MessageResponse::success("Passkey removed")))
        }
        Removal::NotFound => Err(ApiError::PasskeyNotFound),
        Removal::LastWayIn => Err(ApiError::LastWayIn),
    }
}

/// Ids are UUIDs: anything else is no passkey, and never reaches the database.
fn passkey_id(id: &str) -> Result<String, ApiError> {
    let id = uuid::Uuid::parse_str(id).map_err(|_| ApiError::PasskeyNotFound)?;
    Ok(id.to_string())
}

/// A name as a list shows it: trimmed, 1 to 64 characters, no control characters.
fn passkey_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidPasskeyName);
    }
    Ok(name.to_owned())
}

impl PasskeyView {
    fn of(passkey: Passkey) -> Self {
        PasskeyView {
            id: passkey.id,
            name: passkey.name,
            created_at: rfc3339(passkey.created_at),
            last_used_at: passkey.last_used_at.map(rfc3339),
            backed_up: passkey.backed_up,
        }
    }
}

impl PasskeyResponse {
    fn of(passkey: Passkey) -> Self {
        PasskeyResponse { status: "success", passkey: PasskeyView::of(passkey) }
    }
}
