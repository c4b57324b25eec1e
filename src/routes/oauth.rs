//! Signing in with an outside provider: `GET /api/oauth/{provider}/authorize` (to the
//! provider), `GET|POST /api/oauth/{provider}/callback` (back from it, to the website with a
//! one-time code in the fragment), `POST /api/oauth/exchange` (the code for the login body).
//! What an identity does to accounts is `account::federation`'s.

use actix_web::{
    Either, HttpRequest, HttpResponse,
    http::header::{CACHE_CONTROL, LOCATION, REFERRER_POLICY},
    web,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::responses::{LoginReply, LoginResponse, MessageResponse, MfaRequiredResponse};
use crate::{
    account::{federation, second_factor, sign_in::SessionGrant},
    audit::Event,
    auth::{opaque_token, token::SignIn},
    db::{
        mfa_challenges::Challenge,
        oauth_flows::{self, Flow},
        oauth_grants::{self, Grant, Kind},
        users,
    },
    error::{ApiError, ErrorBody},
    federation::FederationError,
    request::{AuthUser, Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none},
};

/// How long the code in the website's fragment lives.
const EXCHANGE_TTL_SECS: i64 = 60;
/// How long a link token waits for its account's owner to sign in and confirm it.
const LINK_TOKEN_TTL_SECS: i64 = 600;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuthorizeQuery {
    /// The page to come back to: one of `OAUTH_REDIRECT_ALLOWLIST`, exactly.
    pub redirect_to: Option<String>,
    /// `link`: add the identity to the signed-in account (bearer token; aal2 with MFA), and
    /// answer the provider's URL as JSON instead of redirecting.
    pub mode: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrlResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// Where to send the browser.
    pub url: String,
}

/// What the provider sends back: a code and the state, or an error.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ExchangeRequest {
    /// The `code` of the fragment the callback sent the browser back with.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub code: Option<String>,
}

/// 409 of an exchange whose identity's email is an account's that it may not join by itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkRequiredResponse {
    #[schema(example = "error")]
    pub status: &'static str,
    #[schema(example = "Sign in to link this identity to your account")]
    pub message: &'static str,
    /// For `POST /api/identities/link`, signed in as that account, within 10 minutes.
    pub link_token: String,
    pub provider: String,
}

#[utoipa::path(
    get,
    path = "/api/oauth/{provider}/authorize",
    tag = "auth",
    params(("provider" = String, Path, description = "A name of OIDC_PROVIDERS"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider, with state (256 bits), PKCE S256 and a nonce; the flow lives 10 minutes, once, on any replica"),
        (status = 200, description = "mode=link: the provider's URL, for a page that asked with its bearer token", body = AuthorizeUrlResponse),
        (status = 400, description = "redirect_to is not an allowed page (no redirect)", body = ErrorBody),
        (status = 401, description = "mode=link without a valid bearer token", body = ErrorBody),
        (status = 403, description = "mode=link: Second factor required, or Email not verified", body = ErrorBody),
        (status = 404, description = "Not a configured provider", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
        (status = 503, description = "The provider cannot be reached, or too many sign-ins are open; see Retry-After", body = ErrorBody),
    )
)]
pub async fn authorize(
    ctx: Ctx,
    req: HttpRequest,
    provider: web::Path<String>,
    query: web::Query<AuthorizeQuery>,
    auth: Option<AuthUser>,
) -> Result<HttpResponse, ApiError> {
    let rules = ctx.federation.clone();
    let provider = rules.providers.get(&provider).ok_or(ApiError::NotFound)?;
    let redirect_to = query.redirect_to.clone().unwrap_or_default();
    if !rules.redirect_allowlist.contains(&redirect_to) {
        return Err(ApiError::RedirectNotAllowed);
    }
    let linking = match query.mode.as_deref() {
        Some("link") => {
            let auth = auth.ok_or(ApiError::Unauthorized)?;
            auth.require_second_factor()?;
            if auth.user.email_verified_at.is_none() {
                return Err(ApiError::EmailNotVerified);
            }
            Some(auth.user.id)
        }
        _ => None,
    };
    ctx.throttle(Event::FederatedLogin, linking, &[Limit::LoginPerIp]).await?;
    let callback_url = callback_url(&ctx, &req, &provider.settings.name);
    let start = rules.providers.start(provider, &callback_url).await.map_err(unavailable)?;
    let flow = Flow {
        state_hash: opaque_token::hash(&start.state),
        provider: provider.settings.name.clone(),
        pkce_verifier: start.pkce_verifier,
        nonce: start.nonce,
        redirect_to,
        callback_url,
        user_id: linking,
        expires_at: chrono::Utc::now().naive_utc() + rules.flow_ttl,
    };
    ctx.db(move |conn| {
        if oauth_flows::count_open(conn)? >= oauth_flows::MAX_OPEN {
            return Err(ApiError::Busy { retry_after_secs: 60 });
        }
        oauth_flows::open(conn, &flow).map_err(ApiError::from)
    })
    .await?;
    if linking.is_some() {
        return Ok(
            HttpResponse::Ok().json(AuthorizeUrlResponse { status: "success", url: start.url })
        );
    }
    Ok(HttpResponse::Found().insert_header((LOCATION, start.url)).finish())
}

#[utoipa::path(
    get,
    path = "/api/oauth/{provider}/callback",
    tag = "auth",
    params(("provider" = String, Path), ("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query)),
    responses(
        (status = 302, description = "To the flow's redirect_to with #code=<one-time code> (for POST /api/oauth/exchange, 60 s), or #error=<reason>: access_denied, provider_refused (a code or ID token that does not check out), provider_unavailable, email_required, identity_taken. Never a token in a query string"),
        (status = 400, description = "Invalid or expired sign-in: an unknown, spent or expired state (no redirect)", body = ErrorBody),
    )
)]
pub async fn callback(
    ctx: Ctx,
    provider: web::Path<String>,
    params: web::Query<CallbackParams>,
) -> Result<HttpResponse, ApiError> {
    come_back(ctx, &provider, params.into_inner()).await
}

/// `response_mode=form_post` (Apple's): the same callback as a form.
#[utoipa::path(
    post,
    path = "/api/oauth/{provider}/callback",
    tag = "auth",
    params(("provider" = String, Path)),
    responses(
        (status = 302, description = "As GET"),
        (status = 400, description = "Invalid or expired sign-in", body = ErrorBody),
    )
)]
pub async fn callback_form(
    ctx: Ctx,
    provider: web::Path<String>,
    params: web::Form<CallbackParams>,
) -> Result<HttpResponse, ApiError> {
    come_back(ctx, &provider, params.into_inner()).await
}

/// The callback: the flow spent first (a replayed state finds nothing), then the provider's
/// answer checked and the linking policy applied; the website gets a one-time code.
async fn come_back(
    ctx: Ctx,
    provider: &str,
    params: CallbackParams,
) -> Result<HttpResponse, ApiError> {
    ctx.throttle(Event::FederatedLogin, None, &[Limit::LoginPerIp]).await?;
    let state = params.state.as_deref().unwrap_or_default();
    let (state_hash, now) = (opaque_token::hash(state), chrono::Utc::now().naive_utc());
    let name = provider.to_owned();
    let flow = ctx.db(move |conn| oauth_flows::take(conn, &state_hash, &name, now)).await?;
    let flow = flow.ok_or(ApiError::InvalidSignInState)?;
    let rules = ctx.federation.clone();
    let provider = rules.providers.get(provider).ok_or(ApiError::NotFound)?;
    let back = |fragment: String| {
        HttpResponse::Found()
            .insert_header((LOCATION, format!("{}#{fragment}", flow.redirect_to)))
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((REFERRER_POLICY, "no-referrer"))
            .finish()
    };
    let (Some(code), None) = (params.code.as_deref(), params.error.as_deref()) else {
        ctx.audit(Event::FederatedLogin, "access_denied", flow.user_id);
        return Ok(back("error=access_denied".into()));
    };
    let checks = (flow.pkce_verifier.as_str(), flow.nonce.as_str());
    let proved = match rules.providers.finish(provider, &flow.callback_url, code, checks).await {
        Ok(proved) => proved,
        Err(error) => {
            log::warn!("{}: {error}", provider.settings.name);
            let reason = match error {
                FederationError::Unavailable(_) => "provider_unavailable",
                FederationError::Refused(_) => "provider_refused",
            };
            ctx.audit(Event::FederatedLogin, reason, flow.user_id);
            return Ok(back(format!("error={reason}")));
        }
    };
    let resolved = federation::resolve(&ctx, &provider.settings.name, flow.user_id, proved).await?;
    let (kind, grant) = match resolved {
        Ok(resolved) => resolved,
        Err(unlinked) => {
            ctx.audit(Event::FederatedLogin, unlinked.code(), flow.user_id);
            return Ok(back(format!("error={}", unlinked.code())));
        }
    };
    let code = issue(&ctx, kind, grant, EXCHANGE_TTL_SECS).await?;
    Ok(back(format!("code={code}")))
}

/// A one-time code for `grant`, living `ttl_secs`.
async fn issue(ctx: &Ctx, kind: Kind, grant: Grant, ttl_secs: i64) -> Result<String, ApiError> {
    let (code, code_hash) = opaque_token::generate().map_err(ApiError::internal)?;
    let expires_at = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(ttl_secs);
    ctx.db(move |conn| oauth_grants::issue(conn, &code_hash, kind, &grant, expires_at)).await?;
    Ok(code)
}

#[utoipa::path(
    post,
    path = "/api/oauth/exchange",
    tag = "auth",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "Login successful: a new session whose tokens carry amr [\"fed\"] and aal1 ([\"fed\",\"mfa\"] and aal2 when the provider asserted MFA and OIDC_{NAME}_TRUST_MFA trusts it). An account with MFA otherwise gets the MFA required body. For a link made from a session: {\"status\":\"success\",\"message\":\"Identity linked\"}", body = LoginResponse),
        (status = 400, description = "Invalid or expired code (unknown, spent, or past its 60 seconds)", body = ErrorBody),
        (status = 409, description = "The identity's email is an account's it may not join by itself: a link token, no session", body = LinkRequiredResponse),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
    )
)]
pub async fn exchange(
    ctx: Ctx,
    device: Device,
    body: web::Json<ExchangeRequest>,
) -> Result<Either<LoginReply, HttpResponse>, ApiError> {
    let code = required(&body.code).ok_or(ApiError::AllFieldsRequired)?;
    ctx.throttle(Event::FederatedLogin, None, &[Limit::LoginPerIp]).await?;
    let (code_hash, now) = (opaque_token::hash(code), chrono::Utc::now().naive_utc());
    let kinds = [Kind::SignIn, Kind::LinkRequired, Kind::Linked];
    let grant = ctx.db(move |conn| oauth_grants::take(conn, &code_hash, &kinds, now)).await?;
    let grant = grant.ok_or(ApiError::InvalidCode)?;
    match grant.kind() {
        Some(Kind::SignIn) => sign_in(&ctx, &device, grant).await.map(Either::Left),
        Some(Kind::LinkRequired) => {
            let (user_id, provider) = (grant.user_id, grant.provider.clone());
            let link_token = issue(&ctx, Kind::LinkToken, grant, LINK_TOKEN_TTL_SECS).await?;
            ctx.audit(Event::FederatedLogin, "link_required", Some(user_id));
            Ok(Either::Right(HttpResponse::Conflict().json(LinkRequiredResponse {
                status: "error",
                message: "Sign in to link this identity to your account",
                link_token,
                provider,
            })))
        }
        _ => {
            ctx.audit(Event::IdentityLink, "ok", Some(grant.user_id));
            Ok(Either::Right(HttpResponse::Ok().json(MessageResponse::success("Identity linked"))))
        }
    }
}

/// The session of a federated sign-in, or (an account with MFA the provider's did not
/// satisfy) the login's second step.
async fn sign_in(ctx: &Ctx, device: &Device, grant: Grant) -> Result<LoginReply, ApiError> {
    let user_id = grant.user_id;
    let user = ctx.db(move |conn| users::find_user(conn, user_id)).await?;
    let user = user.ok_or(ApiError::InvalidCode)?;
    let checked_at = chrono::Utc::now().naive_utc();
    if user.is_disabled(checked_at) {
        ctx.audit(Event::FederatedLogin, "account_disabled", Some(user.id));
        return Err(ApiError::AccountDisabled);
    }
    if user.totp_enabled_at.is_some() && !grant.mfa {
        let waiting = second_factor::Waiting::of(ctx);
        let challenge = Challenge::after(SignIn::Federated.stored(), user.id, checked_at);
        let pending =
            ctx.db(move |conn| second_factor::challenge(conn, &waiting, challenge)).await?;
        ctx.audit(Event::FederatedLogin, "mfa_required", Some(user.id));
        return Ok(LoginReply::MfaRequired(MfaRequiredResponse::new(ctx, pending)?));
    }
    let sign_in = if grant.mfa { SignIn::FederatedMfa } else { SignIn::Federated };
    let session = SessionGrant::new(ctx, device, sign_in)?;
    let hash = user.password_hash.clone();
    let granted = session.start(ctx, &user, (hash, checked_at)).await?;
    let granted = granted.ok_or(ApiError::InvalidCode)?;
    ctx.audit(Event::FederatedLogin, "ok", Some(user.id));
    LoginResponse::new(ctx, "Login successful!", granted).map(LoginReply::Tokens)
}

/// Where the provider sends the browser back: `PUBLIC_URL`'s, else this request's own host.
fn callback_url(ctx: &Ctx, req: &HttpRequest, provider: &str) -> String {
    let base = ctx.federation.public_base_url.clone().unwrap_or_else(|| {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    });
    format!("{base}/api/oauth/{provider}/callback")
}

fn unavailable(error: FederationError) -> ApiError {
    ApiError::Unavailable(error.to_string().into())
}
