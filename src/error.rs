//! `ApiError`: every failure the service can answer with, and the only code that writes the
//! contract's `{"status":"error","message":…}` body and picks its status code.

use std::error::Error as StdError;

use actix_web::{
    HttpResponse, ResponseError,
    body::MessageBody,
    dev::ServiceResponse,
    http::{StatusCode, header},
    middleware::ErrorHandlerResponse,
};
use serde::Serialize;
use utoipa::ToSchema;

type Source = Box<dyn StdError + Send + Sync>;

/// One variant per message of the contract; `Internal` and `Unavailable` carry their cause for
/// the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("All fields are required")]
    AllFieldsRequired,
    #[error("Invalid email address")]
    InvalidEmail,
    #[error("Name must be 1 to 100 characters, without control characters")]
    InvalidName,
    #[error("Password must be at least 8 characters")]
    PasswordTooShort,
    #[error("Password must be at most 72 bytes")]
    PasswordTooLong,
    #[error("Password is too common, choose another")]
    PasswordTooCommon,
    #[error("Email already registered")]
    EmailAlreadyRegistered,
    #[error("Invalid credentials")]
    InvalidCredentials,
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    /// The password confirming a change or a deletion (the bearer token itself is fine, so
    /// not a 401, which clients take as "log in again").
    #[error("Password is incorrect")]
    WrongPassword,
    #[error("Unknown logout scope")]
    UnknownScope,
    /// A mailed code that is wrong, expired, spent, superseded or out of tries: one message,
    /// so an answer tells nothing about which.
    #[error("Invalid or expired code")]
    InvalidCode,
    #[error("Email already verified")]
    EmailAlreadyVerified,
    #[error("MFA already enabled")]
    MfaAlreadyEnabled,
    #[error("MFA not enabled")]
    MfaNotEnabled,
    /// A TOTP code that is wrong, outside the ±1 step window, or used already (enrolment,
    /// disabling: the bearer token is fine, so not a 401).
    #[error("Invalid code")]
    WrongTotpCode,
    /// The second step of a login: a wrong code or recovery code, or an mfa_token that is
    /// unknown, spent or expired, one message for all.
    #[error("Invalid code")]
    InvalidMfaCode,
    /// A change an account with MFA makes only from a session that proved it (`aal2`).
    #[error("Second factor required")]
    SecondFactorRequired,
    /// The right password of an account whose address is unverified, with
    /// `REQUIRE_EMAIL_VERIFICATION`: a wrong password still gets 401, so this tells a guesser
    /// nothing.
    #[error("Email not verified")]
    EmailNotVerified,
    /// An operator disabled the account: every sign-in and refresh, whatever was proved.
    #[error("Account disabled")]
    AccountDisabled,
    /// An admin key without the scope the endpoint needs.
    #[error("Admin key lacks the scope this needs")]
    MissingScope,
    /// Bad input to an admin action (a scope, a time, a webhook URL), said exactly.
    #[error("{0}")]
    InvalidAdminInput(String),
    #[error("Admin key not found")]
    AdminKeyNotFound,
    #[error("Webhook not found")]
    WebhookNotFound,
    /// `replay` of an event no delivery holds (never sent, or swept after 7 days).
    #[error("Event not found")]
    EventNotFound,
    /// A passkey ceremony's `challenge_id` that is unknown, expired, spent, or another user's.
    #[error("Invalid or expired challenge")]
    InvalidChallenge,
    /// A registration whose credential does not check out (origin, RP ID, challenge,
    /// algorithm, attestation): the bearer token is fine, so not a 401.
    #[error("Invalid passkey")]
    InvalidPasskey,
    #[error("Passkey already registered")]
    PasskeyAlreadyRegistered,
    #[error("Passkey name must be 1 to 64 characters, without control characters")]
    InvalidPasskeyName,
    /// A sign-in assertion that does not check out: unknown credential, wrong origin or RP ID,
    /// bad signature, a user handle that is not the credential's, a counter that went back.
    #[error("Passkey not accepted")]
    PasskeyRefused,
    #[error("An account holds at most 10 passkeys")]
    TooManyPasskeys,
    /// Removing it would leave the account no way to sign in (no password, no other passkey).
    #[error("This is the account's last way to sign in")]
    LastWayIn,
    #[error("Passkey not found")]
    PasskeyNotFound,
    /// A sign-in's `redirect_to` that `OAUTH_REDIRECT_ALLOWLIST` does not list exactly.
    #[error("redirect_to is not an allowed page")]
    RedirectNotAllowed,
    /// A provider's callback whose `state` is unknown, spent or expired.
    #[error("Invalid or expired sign-in")]
    InvalidSignInState,
    #[error("Identity not found")]
    IdentityNotFound,
    /// The identity is another account's already.
    #[error("This identity is linked to another account")]
    IdentityTaken,
    /// `DELETE /api/password` of an account that has none.
    #[error("No password is set")]
    NoPassword,
    #[error("Not logged in")]
    NotLoggedIn,
    #[error("Unauthorized")]
    Unauthorized,
    #[error("User not found")]
    UserNotFound,
    /// Also another user's session: whether an id exists is not told.
    #[error("Session not found")]
    SessionNotFound,
    #[error("No file uploaded")]
    NoFileUploaded,
    #[error("Invalid file type")]
    InvalidFileType,
    #[error("Image must be at most 4096x4096 pixels and 12 megapixels")]
    ImageTooLarge,
    #[error("File too large")]
    FileTooLarge,
    #[error("Upload took too long")]
    UploadTimeout,
    #[error("Request body took too long")]
    BodyTimeout,
    #[error("Malformed multipart body")]
    MalformedMultipart,
    #[error("Malformed JSON body")]
    MalformedJson,
    #[error("Malformed query string")]
    MalformedQuery,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Too many requests, try again later")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("Not found")]
    NotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// Any other framework error status, answered with its standard reason phrase.
    #[error("{}", .0.canonical_reason().unwrap_or("Error"))]
    Http(StatusCode),
    /// Work shed under load (a full queue): 503 with the seconds to wait in `Retry-After`.
    #[error("Service unavailable")]
    Busy { retry_after_secs: u64 },
    #[error("Service unavailable")]
    Unavailable(#[source] Source),
    /// The picture store (the bucket of `STORAGE=s3`) fails or does not answer.
    #[error("Picture storage unavailable")]
    StorageUnavailable(#[source] Source),
    #[error("Internal server error")]
    Internal(#[source] Source),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `"error"`.
    #[schema(example = "error")]
    pub status: &'static str,
    /// Human-readable; never carries internal details.
    pub message: String,
}

impl ApiError {
    /// A write of an account's address: the unique index's refusal means another account has
    /// it (registered, or taken meanwhile by an email change).
    pub fn on_email_write(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::EmailAlreadyRegistered
            }
            error => error.into(),
        }
    }

    pub fn internal(source: impl Into<Source>) -> Self {
        ApiError::Internal(source.into())
    }

    /// The error an empty framework response of this status stands for.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
            status => ApiError::Http(status),
        }
    }

    /// `GET /` answers every authentication failure with its own message (as the seed did).
    pub fn into_not_logged_in(self) -> Self {
        match self {
            ApiError::Unauthorized | ApiError::UserNotFound => ApiError::NotLoggedIn,
            other => other,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use ApiError::*;
        match self {
            AllFieldsRequired
            | InvalidEmail
            | InvalidName
            | PasswordTooShort
            | PasswordTooLong
            | PasswordTooCommon
            | EmailAlreadyRegistered
            | NoFileUploaded
            | InvalidFileType
            | ImageTooLarge
            | MalformedMultipart
            | MalformedJson
            | MalformedQuery
            | InvalidCode
            | EmailAlreadyVerified
            | MfaAlreadyEnabled
            | MfaNotEnabled
            | WrongTotpCode
            | InvalidChallenge
            | InvalidPasskey
            | PasskeyAlreadyRegistered
            | InvalidPasskeyName
            | RedirectNotAllowed
            | InvalidSignInState
            | InvalidAdminInput(_)
            | UnknownScope => StatusCode::BAD_REQUEST,
            InvalidCredentials | InvalidRefreshToken | InvalidMfaCode | PasskeyRefused
            | NotLoggedIn | Unauthorized => StatusCode::UNAUTHORIZED,
            TooManyPasskeys | LastWayIn | NoPassword | IdentityTaken => StatusCode::CONFLICT,
            WrongPassword | EmailNotVerified | SecondFactorRequired | AccountDisabled
            | MissingScope => StatusCode::FORBIDDEN,
            UserNotFound | SessionNotFound | PasskeyNotFound | IdentityNotFound
            | AdminKeyNotFound | WebhookNotFound | EventNotFound | NotFound => {
                StatusCode::NOT_FOUND
            }
            FileTooLarge | PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UploadTimeout | BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Http(status) => *status,
            Busy { .. } | Unavailable(_) | StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // actix's Logger prints a failed response's cause only at debug level, so the cause
        // chain is logged here; the client gets the variant's fixed message and nothing more.
        if let Some(source) = StdError::source(self) {
            let mut chain = source.to_string();
            let mut next = source.source();
            while let Some(cause) = next {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                next = cause.source();
            }
            log::error!("{self}: {chain}");
        }
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        match self {
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::Busy { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            // A database that is down or too busy: worth a retry soon.
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            // A store that is down for one request is down for the next few seconds too.
            ApiError::StorageUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.json(ErrorBody { status: "error", message: self.to_string() })
    }
}

/// Whether a failed query means the database is down is decided in `db::run`, which still
/// holds the connection and can ask it.
impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::internal(error)
    }
}

/// A pool checkout that times out means the database cannot be reached.
impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(error.into())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::internal(error)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> Self {
        ApiError::internal(error)
    }
}

impl From<bcrypt::BcryptError> for ApiError {
    fn from(error: bcrypt::BcryptError) -> Self {
        ApiError::internal(error)
    }
}

impl From<actix_web::error::JsonPayloadError> for ApiError {
    fn from(error: actix_web::error::JsonPayloadError) -> Self {
        use actix_web::error::JsonPayloadError as E;
        match error {
            E::ContentType => ApiError::UnsupportedMediaType,
            E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
            _ => ApiError::MalformedJson,
        }
    }
}

impl From<actix_multipart::MultipartError> for ApiError {
    fn from(error: actix_multipart::MultipartError) -> Self {
        use actix_multipart::MultipartError as E;
        match error {
            // Not a multipart request at all: there is no file in it.
            E::ContentTypeMissing
            | E::ContentTypeParse
            | E::ContentTypeIncompatible
            | E::BoundaryMissing => ApiError::NoFileUploaded,
            _ => ApiError::MalformedMultipart,
        }
    }
}

/// Gives framework errors that carry no JSON body (unknown method, payload limits, extractor
/// failures) the contract's error shape: the `ErrorHandlers` default handler.
pub fn json_error_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, response) = res.into_parts();
    let replacement = ApiError::from_status(response.status()).error_response();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, replacement).map_into_right_body()))
}

/// The default service: a path no route matches.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}
