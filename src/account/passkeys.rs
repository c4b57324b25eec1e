//! Passkeys (WebAuthn): registering one to an account, and proving one to sign in, as the
//! first step or as the second factor after a password. Each ceremony is a database row
//! between its options and its answer (`db::webauthn_ceremonies`), so it may end on another
//! replica; its answer spends it before anything is checked.
//!
//! Built on webauthn-rs-core (the Kanidm project's): its high-level `webauthn-rs` passkey API
//! asks for user verification always and no resident key, where a sign-in with no email typed
//! needs a discoverable key, and a key without verification is still one factor. Its counter
//! rule refuses every counter that did not grow, where a synced passkey's is meaningless: the
//! rule here is ours (`counter_went_back`).

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::NaiveDateTime;
use diesel::Connection;
use serde::de::DeserializeOwned;
use webauthn_rs_core::{
    WebauthnCore,
    proto::{
        AttestationConveyancePreference, AuthenticationResult, AuthenticationState, COSEAlgorithm,
        Credential, CredentialID, PublicKeyCredential, PublicKeyCredentialCreationOptions,
        PublicKeyCredentialRequestOptions, RegisterPublicKeyCredential, RegistrationState,
        UserVerificationPolicy,
    },
};

use super::ways_in::WaysIn;
use crate::{
    auth::opaque_token,
    db::{
        AnyConnection, mail_outbox,
        passkeys::{self, MAX_PER_USER, NewPasskey, Passkey},
        users::{self, User},
        webauthn_ceremonies::{self, NewCeremony, Purpose},
    },
    error::ApiError,
    mail::templates::Kind,
    request::{Ctx, ctx::Mailer},
    settings::PasskeySettings,
    state::PasskeyRules,
    webhooks::events,
};

/// The signature algorithms a new passkey may use, the authenticator's pick in this order.
const ALGORITHMS: [COSEAlgorithm; 3] =
    [COSEAlgorithm::EDDSA, COSEAlgorithm::ES256, COSEAlgorithm::RS256];

/// The relying party of `WEBAUTHN_*`, and how long a ceremony lives.
pub fn rules(settings: &PasskeySettings) -> Arc<PasskeyRules> {
    let ttl = std::time::Duration::from_secs(settings.ceremony_ttl_secs);
    // No subdomain of an origin and no other port: each origin is allowed as it is written.
    let webauthn = WebauthnCore::new_unsafe_experts_only(
        &settings.rp_name,
        &settings.rp_id,
        settings.origins.clone(),
        ttl,
        Some(false),
        Some(false),
    );
    let ceremony_ttl = chrono::Duration::seconds(settings.ceremony_ttl_secs as i64);
    Arc::new(PasskeyRules { webauthn, ceremony_ttl })
}

/// A ceremony's opening: the id its answer names, and the options for the browser.
pub struct Opened<T> {
    pub challenge_id: String,
    pub options: T,
}

/// Opens a registration for `user`: a discoverable key, user verification preferred, no
/// attestation, the user's passkeys excluded; their handle is made at the first.
pub async fn open_registration(
    ctx: &Ctx,
    user: &User,
) -> Result<Opened<PublicKeyCredentialCreationOptions>, ApiError> {
    let rules = ctx.passkeys.clone();
    let (challenge_id, id_hash) = opaque_token::generate().map_err(ApiError::internal)?;
    let (candidate, _) = opaque_token::generate().map_err(ApiError::internal)?;
    let (user_id, email) = (user.id, user.email.clone());
    let display_name = if user.name.is_empty() { email.clone() } else { user.name.clone() };
    let options = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let handle = users::webauthn_handle(conn, user_id, &candidate)?;
                let held = passkeys::of_user(conn, user_id)?;
                if held.len() as i64 >= MAX_PER_USER {
                    return Err(ApiError::TooManyPasskeys);
                }
                let exclude = held
                    .iter()
                    .map(|passkey| stored::<Credential>(&passkey.credential).map(|c| c.cred_id))
                    .collect::<Result<Vec<CredentialID>, _>>()?;
                let handle = URL_SAFE_NO_PAD.decode(handle).map_err(ApiError::internal)?;
                let builder = rules
                    .webauthn
                    .new_challenge_register_builder(&handle, &email, &display_name)
                    .map_err(ApiError::internal)?
                    .attestation(AttestationConveyancePreference::None)
                    .user_verification_policy(UserVerificationPolicy::Preferred)
                    .require_resident_key(true)
                    .credential_algorithms(ALGORITHMS.to_vec())
                    .exclude_credentials(Some(exclude));
                let (options, state) = rules
                    .webauthn
                    .generate_challenge_register(builder)
                    .map_err(ApiError::internal)?;
                let opening = (id_hash.as_str(), Purpose::Register, Some(user_id));
                open_ceremony(conn, &rules, opening, &state)?;
                Ok(options.public_key)
            })
        })
        .await?;
    Ok(Opened { challenge_id, options })
}

/// Finishes the registration `challenge_id` of `user` with the browser's `credential`, named
/// `name`: the passkey is stored and its owner told.
pub async fn register(
    ctx: &Ctx,
    user: &User,
    challenge_id: &str,
    credential: RegisterPublicKeyCredential,
    name: String,
) -> Result<Passkey, ApiError> {
    let rules = ctx.passkeys.clone();
    let id_hash = opaque_token::hash(challenge_id);
    let user_id = user.id;
    let notice = ctx.mailer().notice(Kind::PasskeyAdded, user, &[("passkey", &name)]);
    ctx.db(move |conn| {
        let now = chrono::Utc::now().naive_utc();
        let state =
            webauthn_ceremonies::take(conn, &id_hash, Purpose::Register, Some(user_id), now)?
                .ok_or(ApiError::InvalidChallenge)?;
        let state: RegistrationState = stored(&state)?;
        let made =
            rules.webauthn.register_credential(&credential, &state, None).map_err(|error| {
                log::info!("passkey registration refused: {error}");
                ApiError::InvalidPasskey
            })?;
        let credential_id = URL_SAFE_NO_PAD.encode(made.cred_id.as_slice());
        let json = serde_json::to_string(&made).map_err(ApiError::internal)?;
        let id = uuid::Uuid::new_v4().to_string();
        conn.transaction(|conn| {
            users::lock(conn, user_id)?;
            if passkeys::count_of_user(conn, user_id)? >= MAX_PER_USER {
                return Err(ApiError::TooManyPasskeys);
            }
            if passkeys::credential_exists(conn, &credential_id)? {
                return Err(ApiError::PasskeyAlreadyRegistered);
            }
            let new = NewPasskey {
                id: &id,
                user_id,
                credential_id: &credential_id,
                name: &name,
                credential: &json,
                backup_eligible: made.backup_eligible,
                backed_up: made.backup_state,
                created_at: now,
            };
            passkeys::add(conn, &new)?;
            events::passkey_added(conn, user_id, &id, &name)?;
            mail_outbox::enqueue(conn, &notice)?;
            Ok(Passkey {
                id,
                user_id,
                name,
                credential: json,
                backup_eligible: made.backup_eligible,
                backed_up: made.backup_state,
                created_at: now,
                last_used_at: None,
            })
        })
    })
    .await
}

/// Opens a sign-in: no credential named (a discoverable key says whose it is), user
/// verification preferred. A page may hold it for autofill (`mediation: "conditional"`).
pub async fn open_sign_in(
    ctx: &Ctx,
) -> Result<Opened<PublicKeyCredentialRequestOptions>, ApiError> {
    let rules = ctx.passkeys.clone();
    let (challenge_id, id_hash) = opaque_token::generate().map_err(ApiError::internal)?;
    let options = ctx
        .db(move |conn| {
            if webauthn_ceremonies::count_open(conn)? >= webauthn_ceremonies::MAX_OPEN {
                return Err(ApiError::Busy { retry_after_secs: 60 });
            }
            let (options, state) = authentication(&rules.webauthn)?;
            open_ceremony(conn, &rules, (&id_hash, Purpose::SignIn, None), &state)?;
            Ok(options)
        })
        .await?;
    Ok(Opened { challenge_id, options })
}

/// The passkey step a login's second factor may take, for an account with passkeys: its
/// options (the account's passkeys allowed) and the state its challenge row keeps.
pub fn second_factor_options(
    conn: &mut AnyConnection,
    rules: &PasskeyRules,
    user_id: i64,
) -> Result<Option<(PublicKeyCredentialRequestOptions, String)>, ApiError> {
    let held = passkeys::of_user(conn, user_id)?;
    if held.is_empty() {
        return Ok(None);
    }
    let credentials = held
        .iter()
        .map(|passkey| stored::<Credential>(&passkey.credential))
        .collect::<Result<Vec<_>, _>>()?;
    let builder = rules
        .webauthn
        .new_challenge_authenticate_builder(credentials, Some(UserVerificationPolicy::Preferred))
        .map_err(ApiError::internal)?;
    let (options, state) =
        rules.webauthn.generate_challenge_authenticate(builder).map_err(ApiError::internal)?;
    let state = serde_json::to_string(&state).map_err(ApiError::internal)?;
    Ok(Some((options.public_key, state)))
}

/// Checks a passkey's assertion as the second factor of `user`'s login, against the state its
/// first step offered (`state`; none: no passkey step was offered). True when it is one of
/// the user's passkeys and checks out; its use is then kept. A counter gone back is told.
pub async fn prove_second_factor(
    ctx: &Ctx,
    user: &User,
    state: Option<String>,
    credential: PublicKeyCredential,
) -> Result<bool, ApiError> {
    let Some(state) = state else {
        return Ok(false);
    };
    let rules = ctx.passkeys.clone();
    let (mailer, owner) = (ctx.mailer(), user.clone());
    ctx.db(move |conn| {
        let now = chrono::Utc::now().naive_utc();
        let state: AuthenticationState = stored(&state)?;
        let credential_id = URL_SAFE_NO_PAD.encode(credential.raw_id.as_slice());
        let Some(passkey) = passkeys::find_by_credential_id(conn, &credential_id)?
            .filter(|passkey| passkey.user_id == owner.id)
        else {
            return Ok::<_, ApiError>(false);
        };
        let Ok(result) = check_assertion(&rules.webauthn, state, &passkey, &credential) else {
            return Ok(false);
        };
        let outcome =
            conn.transaction(|conn| keep(conn, &passkey, &result, &owner, &mailer, now))?;
        Ok(outcome == Use::Kept)
    })
    .await
}

/// Keeps a ceremony's `state` for its answer: the row `id_hash` of `purpose` (and of the
/// registering user), living the ceremony's time.
fn open_ceremony(
    conn: &mut AnyConnection,
    rules: &PasskeyRules,
    (id_hash, purpose, user_id): (&str, Purpose, Option<i64>),
    state: &impl serde::Serialize,
) -> Result<(), ApiError> {
    let state = serde_json::to_string(state).map_err(ApiError::internal)?;
    let expires_at = chrono::Utc::now().naive_utc() + rules.ceremony_ttl;
    let new = NewCeremony { id_hash, purpose, user_id, state: &state, expires_at };
    webauthn_ceremonies::open(conn, &new).map_err(ApiError::from)
}

/// A new authentication challenge with no credential named.
fn authentication(
    webauthn: &WebauthnCore,
) -> Result<(PublicKeyCredentialRequestOptions, AuthenticationState), ApiError> {
    let builder = webauthn
        .new_challenge_authenticate_builder(Vec::new(), Some(UserVerificationPolicy::Preferred))
        .map_err(ApiError::internal)?;
    let (options, state) =
        webauthn.generate_challenge_authenticate(builder).map_err(ApiError::internal)?;
    Ok((options.public_key, state))
}

/// A passkey proved: whose, which, and whether the user was verified (two factors) or only
/// present (one).
pub struct Proved {
    pub user: User,
    pub passkey_id: String,
    pub user_verified: bool,
}

/// Checks the sign-in assertion `credential` against the ceremony `challenge_id`, which it
/// spends: the credential must be a stored passkey, its user handle its owner's, the origin,
/// RP ID, challenge and signature right, and the counter not gone back on a key that cannot
/// be synced (its owner is then told). The passkey's counter and last use are kept.
pub async fn prove_sign_in(
    ctx: &Ctx,
    challenge_id: &str,
    credential: PublicKeyCredential,
) -> Result<Proved, ApiError> {
    let rules = ctx.passkeys.clone();
    let id_hash = opaque_token::hash(challenge_id);
    let mailer = ctx.mailer();
    ctx.db(move |conn| {
        let now = chrono::Utc::now().naive_utc();
        let state = webauthn_ceremonies::take(conn, &id_hash, Purpose::SignIn, None, now)?
            .ok_or(ApiError::InvalidChallenge)?;
        let state: AuthenticationState = stored(&state)?;
        let credential_id = URL_SAFE_NO_PAD.encode(credential.raw_id.as_slice());
        let passkey = passkeys::find_by_credential_id(conn, &credential_id)?
            .ok_or(ApiError::PasskeyRefused)?;
        let user = users::find_user(conn, passkey.user_id)?.ok_or(ApiError::PasskeyRefused)?;
        if user.is_disabled(now) {
            return Err(ApiError::AccountDisabled);
        }
        let handle = users::webauthn_handle_of(conn, user.id)?;
        let presented = credential.response.user_handle.as_ref().map(|h| URL_SAFE_NO_PAD.encode(h));
        if handle.is_none() || presented != handle {
            return Err(ApiError::PasskeyRefused);
        }
        let result = check_assertion(&rules.webauthn, state, &passkey, &credential)?;
        conn.transaction(|conn| keep(conn, &passkey, &result, &user, &mailer, now))?.accepted()?;
        Ok(Proved { user, passkey_id: passkey.id, user_verified: result.user_verified() })
    })
    .await
}

/// The assertion checked against the one stored credential. Its counter is left to
/// `keep_use`: webauthn-rs-core's own rule would refuse a synced passkey whose counter did
/// not grow.
fn check_assertion(
    webauthn: &WebauthnCore,
    mut state: AuthenticationState,
    passkey: &Passkey,
    credential: &PublicKeyCredential,
) -> Result<AuthenticationResult, ApiError> {
    let mut allowed: Credential = stored(&passkey.credential)?;
    allowed.counter = 0;
    state.set_allowed_credentials(vec![allowed]);
    webauthn.authenticate_credential(credential, &state).map_err(|error| {
        log::info!("passkey assertion refused: {error}");
        ApiError::PasskeyRefused
    })
}

/// What a checked assertion does to its passkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Kept,
    /// A key that cannot be synced counted a use it had counted already: a copy of it may
    /// exist (WebAuthn §6.1.1). Refused, and the owner told.
    CounterWentBack,
}

impl Use {
    fn accepted(self) -> Result<(), ApiError> {
        match self {
            Use::Kept => Ok(()),
            Use::CounterWentBack => Err(ApiError::PasskeyRefused),
        }
    }
}

/// Keeps what a checked assertion did to its passkey, in a transaction of its own; a counter
/// gone back is told to the owner instead.
fn keep(
    conn: &mut AnyConnection,
    passkey: &Passkey,
    result: &AuthenticationResult,
    owner: &User,
    mailer: &Mailer,
    now: NaiveDateTime,
) -> Result<Use, ApiError> {
    let outcome = keep_use(conn, passkey, result, now)?;
    if outcome == Use::CounterWentBack {
        let notice = mailer.notice(Kind::PasskeyCloned, owner, &[("passkey", &passkey.name)]);
        mail_outbox::enqueue(conn, &notice)?;
    }
    Ok(outcome)
}

/// Keeps the passkey's new counter, flags and last use, unless its counter went back.
fn keep_use(
    conn: &mut AnyConnection,
    passkey: &Passkey,
    result: &AuthenticationResult,
    now: NaiveDateTime,
) -> Result<Use, ApiError> {
    let mut credential: Credential = stored(&passkey.credential)?;
    if counter_went_back(&credential, result) {
        return Ok(Use::CounterWentBack);
    }
    credential.counter = credential.counter.max(result.counter());
    credential.backup_state = result.backup_state();
    credential.backup_eligible = result.backup_eligible();
    let json = serde_json::to_string(&credential).map_err(ApiError::internal)?;
    passkeys::record_use(conn, &passkey.id, &json, result.backup_state(), now)?;
    Ok(Use::Kept)
}

/// Only a key that cannot be synced keeps a meaningful counter (synced passkeys report 0, or a
/// count one of several devices made).
fn counter_went_back(stored: &Credential, result: &AuthenticationResult) -> bool {
    let counted = result.counter() > 0 || stored.counter > 0;
    !stored.backup_eligible && counted && result.counter() <= stored.counter
}

/// A value this module stored as JSON, read back.
fn stored<T: DeserializeOwned>(json: &str) -> Result<T, ApiError> {
    serde_json::from_str(json).map_err(ApiError::internal)
}

/// How a removal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotFound,
    /// Refused: no password, passkey or outside identity would be left to sign in with.
    LastWayIn,
}

/// Removes the passkey `id` of `user`, unless it is the account's last way in; the owner is
/// told. Sessions it started go on (ending them is the sessions list's business).
pub async fn remove(ctx: &Ctx, user: &User, id: String) -> Result<Removal, ApiError> {
    let (user_id, mailer, owner) = (user.id, ctx.mailer(), user.clone());
    ctx.db(move |conn| {
        conn.transaction(|conn| {
            // Locked first: two removals of an account's last two passkeys must not both pass.
            if !users::lock(conn, user_id)? {
                return Ok(Removal::NotFound);
            }
            let held = passkeys::of_user(conn, user_id)?;
            let Some(passkey) = held.iter().find(|passkey| passkey.id == id) else {
                return Ok(Removal::NotFound);
            };
            if WaysIn::of(conn, user_id)?.only_one() {
                return Ok(Removal::LastWayIn);
            }
            passkeys::remove(conn, user_id, &id)?;
            events::passkey_removed(conn, user_id, (&id, &passkey.name), "user")?;
            let notice = mailer.notice(Kind::PasskeyRemoved, &owner, &[("passkey", &passkey.name)]);
            mail_outbox::enqueue(conn, &notice)?;
            Ok::<_, diesel::result::Error>(Removal::Removed)
        })
    })
    .await
}
