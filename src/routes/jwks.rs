//! `GET /.well-known/jwks.json`: the public keys other services verify access tokens with.

use actix_web::{HttpResponse, http::header, web};

use crate::state::AppState;

/// Verifiers may cache the set this long; a token with a `kid` they do not know yet is their
/// cue to fetch it again (the rotation runbook in the README relies on that, or on waiting).
const MAX_AGE_SECS: u32 = 300;

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses(
        (status = 200, description = "JWK set (RFC 7517/8037) of the current and previous Ed25519 keys: kty OKP, crv Ed25519, x, kid, use sig, alg EdDSA. Empty with HS256: a secret is never published.", content_type = "application/json"),
    )
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={MAX_AGE_SECS}")))
        .body(state.tokens.jwks_json().to_owned())
}
