//! One attempt budget per account, which every secret a user proves draws from: a password (at
//! login and when a change is confirmed with it), a TOTP code (at login, at enrolment, at turning
//! MFA off), a recovery code, a mailed code (reset, verification, email change).
//!
//! A try is reserved before the check it pays for (before bcrypt, before a code is compared):
//! one count on each of its lane's counters, atomically, so a burst of concurrent guesses cannot
//! all pass one check-then-count gap. A try that proves the secret is given back. Counters:
//!
//! - per account and network (an IPv4 address, an IPv6 /64), and twice that per IPv6 /48: past
//!   it, that network is refused on that account;
//! - per account from anywhere, the lane's free tries in its window; past them each further try
//!   waits for the last one (2 s, doubling, up to the lane's longest wait), from every address
//!   alike. A fresh address is not trusted: a distributed guesser is slowed, never let through,
//!   and the owner waits at most the longest wait.
//!
//! Budgets are keyed by the account's normalised email, known or not, so an unknown address
//! answers as a known one does. `docs/SECURITY.md` works out what each lane allows in a day.

use crate::{
    audit::Event,
    db::{self, rate_limits},
    error::ApiError,
    request::Ctx,
    throttle::{Lane, RateLimit, Window, timestamp},
};

/// A secret a user proves, each with its own lane of the account's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    Password,
    TotpCode,
    RecoveryCode,
    MailedCode,
    /// A passkey as the second factor of an account's login.
    Passkey,
}

impl Secret {
    fn name(self) -> &'static str {
        match self {
            Secret::Password => "password",
            Secret::TotpCode => "totp",
            Secret::RecoveryCode => "recovery",
            Secret::MailedCode => "mailed",
            Secret::Passkey => "passkey",
        }
    }

    fn lane(self, ctx: &Ctx) -> Lane {
        let limits = &ctx.rate_limits;
        match self {
            Secret::Password => limits.password,
            Secret::TotpCode => limits.totp_code,
            Secret::RecoveryCode => limits.recovery_code,
            Secret::MailedCode => limits.mailed_code,
            Secret::Passkey => limits.passkey,
        }
    }
}

/// A try reserved on an account's budget: given back by `proved`, kept by dropping it.
#[must_use = "a reserved try is given back with `proved` when the secret was right"]
pub struct Attempt {
    keys: Vec<String>,
    last_free: bool,
}

impl Attempt {
    /// Reserves a try of `secret` on the account of `email` from this request's client, or
    /// refuses it (429, audited as `event` `throttled`) when the account's budget rules it out.
    pub async fn reserve(
        ctx: &Ctx,
        secret: Secret,
        email: &str,
        event: Event,
        user_id: Option<i64>,
    ) -> Result<Attempt, ApiError> {
        if !ctx.rate_limits.enabled {
            return Ok(Attempt::unmetered());
        }
        let lane = secret.lane(ctx);
        let account = format!("{}:{email}", secret.name());
        let counters = lane.counters(ctx.client, &account);
        let gate = format!("try-gate:{account}");
        Attempt::take(ctx, counters, Some((gate, lane)))
            .await
            .inspect_err(|error| ctx.audit_refusal(event, error, user_id))
    }

    /// Reserves a try of a passkey assertion from this request's network (an address, an
    /// IPv6 /64, and twice that per /48): before the credential names an account, there is no
    /// account to charge, and a passkey's signature is not a secret one can guess.
    pub async fn reserve_on_network(ctx: &Ctx, event: Event) -> Result<Attempt, ApiError> {
        if !ctx.rate_limits.enabled {
            return Ok(Attempt::unmetered());
        }
        let mut counters = ctx.rate_limits.passkey.counters(ctx.client, "passkey");
        counters.pop(); // the account-wide one
        Attempt::take(ctx, counters, None)
            .await
            .inspect_err(|error| ctx.audit_refusal(event, error, None))
    }

    /// Counts one try on each counter, atomically each; past a counter's rate the try is
    /// refused and given back. With `gate`, the last counter is the account's free tries,
    /// past which the gate decides.
    async fn take(
        ctx: &Ctx,
        counters: Vec<(String, RateLimit)>,
        gate: Option<(String, Lane)>,
    ) -> Result<Attempt, ApiError> {
        db::run(&ctx.db, move |conn| {
            let now = chrono::Utc::now().timestamp();
            let mut attempt =
                Attempt { keys: Vec::with_capacity(counters.len()), last_free: false };
            let last = counters.len() - 1;
            for (i, (counter, rate)) in counters.into_iter().enumerate() {
                let window = Window::of(&counter, rate, now);
                let hits = rate_limits::record_hit(conn, &window.key, window.ends()?)?;
                attempt.keys.push(window.key.clone());
                let max = rate.max as i64;
                let refused = match &gate {
                    Some((gate, lane)) if i == last => {
                        // The last free try and each one past it close the gate behind them.
                        attempt.last_free = hits == max;
                        let wait = lane.wait_secs(hits - max + 1);
                        let (at, until) = (timestamp(now)?, timestamp(now + wait)?);
                        let closed = match hits >= max {
                            true => rate_limits::pass_gate(conn, gate, at, until)?,
                            false => None,
                        };
                        closed.map(|opens_at| ApiError::TooManyRequests {
                            retry_after_secs: (opens_at.and_utc().timestamp() - now).max(1) as u64,
                        })
                    }
                    _ => (hits > max).then(|| window.refusal(now)),
                };
                if let Some(refusal) = refused {
                    rate_limits::refund(conn, &attempt.keys)?;
                    return Err(refusal);
                }
            }
            Ok(attempt)
        })
        .await
    }

    /// A try that costs nothing: of a secret no one guesses (a mailed link's long code).
    pub fn unmetered() -> Attempt {
        Attempt { keys: Vec::new(), last_free: false }
    }

    /// Whether this try was the last free one of the account's window: when it fails, the
    /// moment to tell the owner (once per window).
    pub fn was_last_free(&self) -> bool {
        self.last_free
    }

    /// The secret was right: the try is given back.
    pub async fn proved(self, ctx: &Ctx) -> Result<(), ApiError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        db::run(&ctx.db, move |conn| rate_limits::refund(conn, &self.keys)).await
    }
}
