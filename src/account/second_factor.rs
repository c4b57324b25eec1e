//! The second factor: the key TOTP secrets are sealed with and the rule that checks it at
//! start, a login's challenge (the `mfa_token` its second step presents), a code or a recovery
//! code proved and spent, and a new set of recovery codes.

use std::{path::Path, sync::Arc};

use diesel::{Connection, QueryResult};

use webauthn_rs_core::proto::{PublicKeyCredential, PublicKeyCredentialRequestOptions};

use super::{attempts::Secret, passkeys};
use crate::{
    auth::{opaque_token, recovery_code, secret_box::SecretBox, token::SignIn, totp},
    client_ip::ClientIp,
    db::{
        self, AnyConnection, DatabaseUrl, mail_outbox,
        mfa_challenges::{self, Challenge},
        recovery_codes,
        users::{self, TotpState, User},
    },
    error::ApiError,
    mail::templates::Kind,
    request::Ctx,
    settings::Settings,
    state::{MfaRules, PasskeyRules},
    webhooks::events,
};

/// The second factor presented at a login's second step.
pub enum Factor {
    /// The authenticator app's six digits.
    Code(String),
    /// One of the recovery codes, each usable once.
    RecoveryCode(String),
    /// A passkey's assertion over the challenge the login's first step offered.
    Passkey(Box<PublicKeyCredential>),
}

impl Factor {
    /// How a session proved with it was signed in to.
    pub fn sign_in(&self) -> SignIn {
        match self {
            Factor::Code(_) => SignIn::Otp,
            Factor::RecoveryCode(_) => SignIn::RecoveryCode,
            Factor::Passkey(_) => SignIn::PasswordPasskey,
        }
    }

    /// The lane of the account's attempt budget a try of it draws from.
    pub fn secret(&self) -> Secret {
        match self {
            Factor::Code(_) => Secret::TotpCode,
            Factor::RecoveryCode(_) => Secret::RecoveryCode,
            Factor::Passkey(_) => Secret::Passkey,
        }
    }
}

/// What a factor proved, before it is spent.
pub enum Proof {
    Step(i64),
    Recovery(String),
    /// A passkey, whose use was kept when it was checked: nothing is left to spend.
    Passkey,
    Nothing,
}

/// The MFA rules from the settings, the key checked against the secrets stored: a missing or
/// wrong key stops the start, where it would otherwise lock every account with MFA out.
pub fn rules(
    settings: &Settings,
    db: &db::Pool,
    challenge_ttl: chrono::Duration,
) -> Result<MfaRules, String> {
    let key = match (&settings.mfa.encryption_key, &settings.database.url) {
        (Some(key), _) => Some(SecretBox::from_base64(key).map_err(String::from)?),
        (None, DatabaseUrl::Sqlite(path)) if settings.app_env != "production" => {
            let file = path.parent().unwrap_or(Path::new(".")).join("mfa-encryption.key");
            Some(SecretBox::from_key_file(&file).map_err(|e| format!("{}: {e}", file.display()))?)
        }
        (None, _) => None,
    };
    let rules = MfaRules { key, issuer: settings.mfa.issuer.clone(), challenge_ttl };
    // A database down at start is no error (the service answers 503 until it is back); the key
    // is then checked by each use, which logs a key that does not open a secret.
    let stored = db
        .get()
        .map_err(|e| e.to_string())
        .and_then(|mut conn| users::sealed_totp_secrets(&mut conn).map_err(|e| e.to_string()));
    let (count, newest) = match stored {
        Ok(stored) => stored,
        Err(error) => {
            log::warn!(
                "TOTP secrets not checked against MFA_ENCRYPTION_KEY: {}",
                db::one_line(&error)
            );
            return Ok(rules);
        }
    };
    match (&rules.key, newest) {
        (None, Some(_)) => {
            Err(format!("is required: {count} accounts have a TOTP secret sealed with it"))
        }
        (Some(key), Some((user_id, sealed))) if key.open(user_id, &sealed).is_none() => {
            Err(format!(
                "does not open the {count} stored TOTP secrets: is it the key they were sealed with?"
            ))
        }
        _ => Ok(rules),
    }
}

/// The key TOTP secrets are sealed with; without one (production, no `MFA_ENCRYPTION_KEY`)
/// the second factor is unavailable.
pub fn key(mfa: &MfaRules) -> Result<&SecretBox, ApiError> {
    mfa.key.as_ref().ok_or_else(|| ApiError::Unavailable("MFA_ENCRYPTION_KEY is not set".into()))
}

/// The TOTP step `code` is valid for now, for the user whose secret is `sealed`.
pub fn totp_step(
    mfa: &MfaRules,
    user_id: i64,
    sealed: &str,
    code: &str,
) -> Result<Option<i64>, ApiError> {
    let secret = key(mfa)?.open(user_id, sealed).ok_or_else(|| {
        // Checked at start; a key changed since, or a row restored from elsewhere.
        ApiError::internal(format!(
            "MFA_ENCRYPTION_KEY does not open the TOTP secret of user {user_id}"
        ))
    })?;
    let now = chrono::Utc::now().timestamp().try_into().unwrap_or_default();
    Ok(totp::matching_step(&secret, code, now))
}

/// What a login's first step needs to make its challenge, taken from the request (the
/// challenge is made in a database closure, which cannot borrow it).
pub struct Waiting {
    ttl: chrono::Duration,
    client: ClientIp,
    passkeys: Arc<PasskeyRules>,
}

impl Waiting {
    pub fn of(ctx: &Ctx) -> Waiting {
        Waiting { ttl: ctx.mfa.challenge_ttl, client: ctx.client, passkeys: ctx.passkeys.clone() }
    }
}

/// A login waiting for its second factor: the mfa_token, and the WebAuthn options of a
/// passkey step when the account has passkeys (and its first step was none).
pub struct Pending {
    pub mfa_token: String,
    pub passkey_options: Option<PublicKeyCredentialRequestOptions>,
}

/// A login of an account with MFA waits here for its second factor: a new mfa_token for the
/// user whose first step was proved at `checked_at`, stored (by hash) in `conn`'s transaction.
pub fn challenge(
    conn: &mut AnyConnection,
    waiting: &Waiting,
    mut challenge: Challenge,
) -> Result<Pending, ApiError> {
    let (token, hash) = opaque_token::generate().map_err(ApiError::internal)?;
    let checked_at = challenge.checked_at;
    // A passkey proves one factor once: after a presence-only passkey, not again.
    let mut passkey_options = None;
    if challenge.first_step != SignIn::Passkey.stored() {
        let offered = passkeys::second_factor_options(conn, &waiting.passkeys, challenge.user_id)?;
        if let Some((options, state)) = offered {
            challenge.webauthn_state = Some(state);
            passkey_options = Some(options);
        }
    }
    // Bound to the network that proved the first step: the token's codes are guessed from
    // there or not at all, so its guesses cannot be spread over fresh addresses.
    let network = waiting.client.rate_limit_subject();
    mfa_challenges::create(conn, &hash, &challenge, &network, checked_at + waiting.ttl)?;
    Ok(Pending { mfa_token: token, passkey_options })
}

/// The live challenge `token_hash` names, if `client` is on the network it was made from, with
/// its user and the user's TOTP state.
pub fn find_challenge(
    conn: &mut AnyConnection,
    token_hash: &str,
    client: ClientIp,
    now: chrono::NaiveDateTime,
) -> QueryResult<Option<(Challenge, User, TotpState)>> {
    let network = client.rate_limit_subject();
    let Some(challenge) = mfa_challenges::find_live(conn, token_hash, &network, now)? else {
        return Ok(None);
    };
    let user = users::find_user(conn, challenge.user_id)?;
    let totp = users::totp_state(conn, challenge.user_id)?;
    Ok(user.zip(totp).map(|(user, totp)| (challenge, user, totp)))
}

/// What `factor` proves for the user whose TOTP secret is `sealed`, if any.
pub fn proof(
    mfa: &MfaRules,
    user_id: i64,
    sealed: Option<&str>,
    factor: &Factor,
) -> Result<Proof, ApiError> {
    let proved = match (factor, sealed) {
        (Factor::Code(code), Some(sealed)) => {
            totp_step(mfa, user_id, sealed, code)?.map(Proof::Step)
        }
        (Factor::RecoveryCode(code), _) => recovery_code::hash(user_id, code).map(Proof::Recovery),
        // Checked against the database (`passkeys::prove_second_factor`), not here.
        (Factor::Code(_), None) | (Factor::Passkey(_), _) => None,
    };
    Ok(proved.unwrap_or(Proof::Nothing))
}

/// Spends `proof` and the challenge `token_hash` together, and then runs `proved` (what the
/// challenge was waiting for), in one transaction: true when all were done. A wrong proof
/// spends one of the challenge's tries instead.
pub fn spend(
    conn: &mut AnyConnection,
    user_id: i64,
    proof: &Proof,
    token_hash: &str,
    now: chrono::NaiveDateTime,
    proved: impl FnOnce(&mut AnyConnection) -> QueryResult<()>,
) -> Result<bool, ApiError> {
    conn.transaction(|conn| {
        if !use_proof(conn, user_id, proof, now)? {
            mfa_challenges::take_try(conn, token_hash)?;
            return Ok(false);
        }
        // Single use: a concurrent request with the same mfa_token finds it gone, and its
        // factor is left unspent (the error rolls the transaction back).
        if !mfa_challenges::spend(conn, token_hash)? {
            return Err(ApiError::InvalidMfaCode);
        }
        proved(conn)?;
        Ok(true)
    })
}

/// Removes the user's second factor: the secret, the recovery codes and the logins waiting
/// for it; `mfa.disabled` says why (`reason`) when it was on.
pub fn remove(conn: &mut AnyConnection, user_id: i64, reason: &str) -> QueryResult<()> {
    if users::disable_totp(conn, user_id)? {
        events::mfa_disabled(conn, user_id, reason)?;
    }
    recovery_codes::delete_all(conn, user_id)?;
    mfa_challenges::end_all(conn, user_id)
}

/// Spends what `proof` proved, in the caller's transaction: the TOTP step (no code is used
/// twice) or the recovery code (each works once). False when it proved nothing, or was spent.
pub fn use_proof(
    conn: &mut AnyConnection,
    user_id: i64,
    proof: &Proof,
    now: chrono::NaiveDateTime,
) -> QueryResult<bool> {
    match proof {
        Proof::Step(step) => users::use_totp_step(conn, user_id, *step),
        Proof::Recovery(hash) => recovery_codes::spend(conn, user_id, hash, now),
        Proof::Passkey => Ok(true),
        Proof::Nothing => Ok(false),
    }
}

/// Ten recovery codes for the user, and their hashes to store.
pub fn new_recovery_codes(user_id: i64) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let codes = recovery_code::generate(user_id).map_err(ApiError::internal)?;
    Ok(codes.into_iter().unzip())
}

/// A recovery code was used: the owner is told (and how many are left).
pub async fn tell_of_the_recovery_code(ctx: &Ctx, user: &User) -> Result<(), ApiError> {
    let (owner, mailer) = (user.clone(), ctx.mailer());
    ctx.db(move |conn| {
        let left = recovery_codes::unused(conn, owner.id)?.to_string();
        let notice = mailer.notice(Kind::RecoveryCodeUsed, &owner, &[("left", &left)]);
        mail_outbox::enqueue(conn, &notice)
    })
    .await
}
