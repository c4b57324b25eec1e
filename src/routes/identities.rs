//! A user's outside identities: `GET /api/identities`, `DELETE /api/identities/{id}`, and
//! `POST /api/identities/link` (confirming a link token). Adding one from a session starts at
//! `GET /api/oauth/{provider}/authorize?mode=link`.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::responses::{MessageResponse, rfc3339};
use crate::{
    account::{federation, ways_in::WaysIn},
    audit::Event,
    auth::opaque_token,
    db::{
        identities::{self, Identity},
        oauth_grants::{self, Kind},
        users,
    },
    error::{ApiError, ErrorBody},
    federation::Proved,
    request::{AuthUser, Ctx},
    validation::{required, string_or_none},
    webhooks::events,
};

/// An identity as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    #[schema(example = "2b0f7c1e-9d4a-4e6b-8c3f-1a2b3c4d5e6f")]
    pub id: String,
    #[schema(example = "google")]
    pub provider: String,
    /// The address the provider gave last.
    pub email: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub last_used_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentitiesResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// Oldest first.
    pub identities: Vec<IdentityView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[serde(flatten)]
    pub identity: IdentityView,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkIdentityRequest {
    /// The `link_token` of the exchange's 409.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub link_token: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/identities",
    tag = "identities",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's outside identities, oldest first", body = IdentitiesResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
    )
)]
pub async fn list_identities(
    ctx: Ctx,
    auth: AuthUser,
) -> Result<web::Json<IdentitiesResponse>, ApiError> {
    let user_id = auth.user.id;
    let found = ctx.db(move |conn| identities::of_user(conn, user_id)).await?;
    let identities = found.into_iter().map(IdentityView::of).collect();
    Ok(web::Json(IdentitiesResponse { status: "success", identities }))
}

#[utoipa::path(
    post,
    path = "/api/identities/link",
    tag = "identities",
    security(("bearer" = [])),
    request_body = LinkIdentityRequest,
    responses(
        (status = 201, description = "Linked: the identity signs in as this account from now on; the owner is told", body = IdentityResponse),
        (status = 400, description = "Invalid or expired code: the link token is unknown, spent, expired, or another account's", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required, or Email not verified", body = ErrorBody),
        (status = 409, description = "This identity is linked to another account (since)", body = ErrorBody),
    )
)]
pub async fn link_identity(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<LinkIdentityRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = required(&body.link_token).ok_or(ApiError::AllFieldsRequired)?;
    auth.require_second_factor()?;
    // Linked to an address no one proved, an identity would outlast its owner's first proof.
    if auth.user.email_verified_at.is_none() {
        return Err(ApiError::EmailNotVerified);
    }
    let (token_hash, user) = (opaque_token::hash(token), auth.user.clone());
    let mailer = ctx.mailer();
    let linked = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = chrono::Utc::now().naive_utc();
                let grant = oauth_grants::take(conn, &token_hash, &[Kind::LinkToken], now)?;
                // Another account's token is spent all the same: it left its owner's hands.
                let grant =
                    grant.filter(|grant| grant.user_id == user.id).ok_or(ApiError::InvalidCode)?;
                if identities::find(conn, &grant.provider, &grant.subject)?.is_some() {
                    return Err(ApiError::IdentityTaken);
                }
                let proved = Proved {
                    subject: grant.subject.clone(),
                    email: grant.email.clone(),
                    email_proved: false,
                    name: None,
                    mfa: false,
                };
                federation::link(conn, &user, &grant.provider, &proved, now, &mailer)?;
                let found = identities::find(conn, &grant.provider, &grant.subject)?;
                found.ok_or(ApiError::IdentityNotFound)
            })
        })
        .await?;
    ctx.audit(Event::IdentityLink, "ok", Some(auth.user.id));
    let identity = IdentityView::of(linked);
    Ok(HttpResponse::Created().json(IdentityResponse { status: "success", identity }))
}

#[utoipa::path(
    delete,
    path = "/api/identities/{id}",
    tag = "identities",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "An identity id from `GET /api/identities`")),
    responses(
        (status = 200, description = "Unlinked: it signs in no more; sessions go on", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required (an aal1 token of an account with MFA)", body = ErrorBody),
        (status = 404, description = "Identity not found (also another user's)", body = ErrorBody),
        (status = 409, description = "It is the account's last way to sign in (no password, no passkey, no other identity)", body = ErrorBody),
    )
)]
pub async fn unlink_identity(
    ctx: Ctx,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    auth.require_second_factor()?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::IdentityNotFound)?.to_string();
    let user_id = auth.user.id;
    ctx.db(move |conn| {
        conn.transaction(|conn| {
            // Locked first: two removals of an account's last two ways in must not both pass.
            users::lock(conn, user_id)?;
            let held = identities::of_user(conn, user_id)?;
            if !held.iter().any(|identity| identity.id == id) {
                return Err(ApiError::IdentityNotFound);
            }
            if WaysIn::of(conn, user_id)?.only_one() {
                return Err(ApiError::LastWayIn);
            }
            if let Some(provider) = identities::unlink(conn, user_id, &id)? {
                events::identity_unlinked(conn, user_id, (&id, &provider), "user")?;
            }
            Ok(())
        })
    })
    .await?;
    ctx.audit(Event::IdentityUnlink, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Identity unlinked")))
}

impl IdentityView {
    fn of(identity: Identity) -> Self {
        IdentityView {
            id: identity.id,
            provider: identity.provider,
            email: identity.email,
            created_at: rfc3339(identity.created_at),
            last_used_at: identity.last_used_at.map(rfc3339),
        }
    }
}
