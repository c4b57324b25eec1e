//! Rate limits on login, register, upload and refresh, counted in the service's own database so that
//! every replica sees the same counts (no new server). Fixed windows: a limit of N per PERIOD
//! allows N requests from a client in each aligned PERIOD.

use std::{fmt, str::FromStr};

use chrono::DateTime;

use crate::{
    client_ip::ClientIp,
    db::{self, Pool, mail_outbox, rate_limits},
    error::ApiError,
};

/// "N/PERIOD": at most N requests per PERIOD, e.g. `30/60s`, `10/15m`, `5/1h` (units s, m,
/// h, d; a bare unit means one of it: `10/m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u64,
    pub period_secs: u64,
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let bad = || format!("{value:?} is not N/PERIOD (e.g. 30/60s, 10/15m, 5/1h)");
        let (max, period) = value.trim().split_once('/').ok_or_else(bad)?;
        let max: u64 = max.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        // The unit is the last character, which need not be one byte ("5/1µ").
        let unit_at = period.char_indices().last().ok_or_else(bad)?.0;
        let (count, unit) = period.split_at(unit_at);
        let count: u64 = if count.is_empty() { 1 } else { count.parse().map_err(|_| bad())? };
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let period_secs = count.checked_mul(unit_secs).ok_or_else(bad)?;
        if max == 0 || period_secs == 0 {
            return Err(format!("{value:?}: N and PERIOD must be at least 1"));
        }
        Ok(RateLimit { max, period_secs })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.max, self.period_secs)
    }
}

/// What is limited, and by what: the client's address, or the account a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    LoginPerIp,
    RegisterPerIp,
    UploadPerIp,
    RefreshPerIp,
    /// Calls to `/api/admin/*`, each of which checks a key.
    AdminPerIp,
    /// Requests that send a message (a reset or verification code), by address.
    MailPerIp,
    /// Messages asked for one address (its normalised email's hash, known or not: the limit
    /// answers alike for both): from this client's network, and from anywhere at a higher
    /// rate, so a stranger spends his own share and not the owner's.
    MailPerAddress([u8; 32]),
}

impl Limit {
    /// The mail limit of one (normalised) email address: counted by its hash, so no address
    /// is kept in the counters.
    pub fn mail_to(email: &str) -> Limit {
        use sha2::{Digest, Sha256};
        Limit::MailPerAddress(Sha256::digest(email.as_bytes()).into())
    }
}

/// How many times one client's allowance an IPv6 /48 (a site) gets, summed over its /64s.
const SITE_FACTOR: u64 = 16;

impl Limit {
    /// The counters (keys without their window) a request from `client` counts against, each
    /// with its rate: the account's; or the address's (an IPv6 /64) and, for IPv6, its /48's
    /// at `SITE_FACTOR` times the rate.
    fn counters(self, client: ClientIp, rate: RateLimit) -> Vec<(String, RateLimit)> {
        let name = match self {
            Limit::MailPerAddress(hash) => {
                let hex = rate_limits::hex(&hash);
                let subject = client.rate_limit_subject();
                let mut counters = vec![
                    (format!("mail-address-ip:{hex}:{subject}"), rate),
                    (format!("mail-address:{hex}"), RateLimit { max: rate.max * 3, ..rate }),
                ];
                // The recipient's budget, which notices to it draw on too (`mail_outbox`):
                // counted for the request, so a known and an unknown address answer alike.
                counters.extend(mail_outbox::RECIPIENT_BUDGET.iter().map(
                    |&(name, max, period)| {
                        let budget = RateLimit { max: max as u64, period_secs: period as u64 };
                        (format!("{name}:{hex}"), budget)
                    },
                ));
                return counters;
            }
            Limit::LoginPerIp => "login-ip",
            Limit::RegisterPerIp => "register-ip",
            Limit::UploadPerIp => "upload-ip",
            Limit::RefreshPerIp => "refresh-ip",
            Limit::AdminPerIp => "admin-ip",
            Limit::MailPerIp => "mail-ip",
        };
        let mut counters = vec![(format!("{name}:{}", client.rate_limit_subject()), rate)];
        if let Some(site) = client.rate_limit_site() {
            let site_rate = RateLimit { max: rate.max.saturating_mul(SITE_FACTOR), ..rate };
            counters.push((format!("{name}-site:{site}"), site_rate));
        }
        counters
    }
}

/// The configured limits (`RATE_LIMIT_*`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// `false` turns every limit off (benchmarks, test tools hammering from one address).
    pub enabled: bool,
    pub login_per_ip: RateLimit,
    /// Wrong passwords of one account (`account::attempts`), at login and at a confirmation.
    pub password: Lane,
    /// Wrong TOTP codes of one account: at login, at enrolment, at turning MFA off.
    pub totp_code: Lane,
    /// Wrong recovery codes of one account: apart from TOTP codes, so that an attack on the
    /// authenticator's step leaves its owner a way in.
    pub recovery_code: Lane,
    /// Wrong mailed codes of one account (reset, verification, email change), across codes.
    pub mailed_code: Lane,
    /// Passkey assertions that fail: of a sign-in, per network only (no account is known
    /// before the credential); of a login's second step, the account's as the other secrets.
    pub passkey: Lane,
    pub register_per_ip: RateLimit,
    pub upload_per_ip: RateLimit,
    pub refresh_per_ip: RateLimit,
    pub admin_per_ip: RateLimit,
    pub mail_per_ip: RateLimit,
    /// Codes asked for one email address from one network; three times this from anywhere.
    pub mail_per_address: RateLimit,
}

/// How many wrong tries of one secret an account takes (`account::attempts`): `per_network`
/// from one address (an IPv6 /64), twice that from one IPv6 /48; `free` from anywhere in its
/// window, after which each try waits for the one before it, twice as long each time (2 s after
/// the last free one, then 4 s, …) up to `longest_wait_secs`: slowed, never opened, and never
/// locked for longer than the longest wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    pub per_network: RateLimit,
    pub free: RateLimit,
    pub longest_wait_secs: u64,
}

impl Lane {
    /// The lane of the secrets that are not configured one by one.
    pub const fn of(per_network: (u64, u64), free: (u64, u64), longest_wait_secs: u64) -> Lane {
        Lane {
            per_network: RateLimit { max: per_network.0, period_secs: per_network.1 },
            free: RateLimit { max: free.0, period_secs: free.1 },
            longest_wait_secs,
        }
    }

    /// The counters a try from `client` on `account` (which names the lane) counts against,
    /// the account-wide one last.
    pub fn counters(&self, client: ClientIp, account: &str) -> Vec<(String, RateLimit)> {
        let mut counters =
            vec![(format!("try-ip:{account}:{}", client.rate_limit_subject()), self.per_network)];
        if let Some(site) = client.rate_limit_site() {
            let site_rate = RateLimit { max: self.per_network.max * 2, ..self.per_network };
            counters.push((format!("try-site:{account}:{site}"), site_rate));
        }
        counters.push((format!("try:{account}"), self.free));
        counters
    }

    /// How long the gate stays closed behind the `nth` try that closes it (the last free try
    /// is the first): 2^nth seconds, at most the longest wait.
    pub fn wait_secs(&self, nth: i64) -> i64 {
        let doubled = 1_i64.checked_shl(nth.clamp(1, 62) as u32).unwrap_or(i64::MAX);
        doubled.min(self.longest_wait_secs as i64)
    }
}

impl Limits {
    fn rate(&self, limit: Limit) -> RateLimit {
        match limit {
            Limit::LoginPerIp => self.login_per_ip,
            Limit::RegisterPerIp => self.register_per_ip,
            Limit::UploadPerIp => self.upload_per_ip,
            Limit::RefreshPerIp => self.refresh_per_ip,
            Limit::AdminPerIp => self.admin_per_ip,
            Limit::MailPerIp => self.mail_per_ip,
            Limit::MailPerAddress(_) => self.mail_per_address,
        }
    }

    /// Counts a request from `client` against each limit in turn, in one database checkout,
    /// and stops at the first one exceeded: 429 with the seconds until its window ends.
    pub async fn check(
        &self,
        pool: &Pool,
        client: ClientIp,
        limits: &[Limit],
    ) -> Result<(), ApiError> {
        let counters =
            limits.iter().flat_map(|limit| limit.counters(client, self.rate(*limit))).collect();
        self.count(pool, counters, true).await.map(drop)
    }

    /// Counts one hit on each counter in one checkout and returns each one's hits in its
    /// window; with `refuse`, stops at the first one past its rate with 429.
    async fn count(
        &self,
        pool: &Pool,
        counters: Vec<(String, RateLimit)>,
        refuse: bool,
    ) -> Result<Vec<i64>, ApiError> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        db::run(pool, move |conn| {
            let now = chrono::Utc::now().timestamp();
            let mut counted = Vec::with_capacity(counters.len());
            for (key, rate) in counters {
                let window = Window::of(&key, rate, now);
                let hits = rate_limits::record_hit(conn, &window.key, window.ends()?)?;
                if refuse && hits > rate.max as i64 {
                    return Err(window.refusal(now));
                }
                counted.push(hits);
            }
            Ok(counted)
        })
        .await
    }
}

/// The fixed window of a counter that `now` falls in.
pub struct Window {
    pub key: String,
    pub ends_at: i64,
}

impl Window {
    pub fn of(counter: &str, rate: RateLimit, now: i64) -> Window {
        let (key, ends_at) = rate_limits::window(counter, rate.period_secs as i64, now);
        Window { key, ends_at }
    }

    pub fn ends(&self) -> Result<chrono::NaiveDateTime, ApiError> {
        timestamp(self.ends_at)
    }

    /// 429, retried when the window ends.
    pub fn refusal(&self, now: i64) -> ApiError {
        ApiError::TooManyRequests { retry_after_secs: (self.ends_at - now).max(1) as u64 }
    }
}

pub fn timestamp(secs: i64) -> Result<chrono::NaiveDateTime, ApiError> {
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.naive_utc())
        .ok_or_else(|| ApiError::internal("time out of range"))
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    proptest::proptest! {
        #[test]
        fn any_setting_parses_without_panic(value in "\\PC*|[0-9]{1,25}/[0-9]{0,25}[smhdx]?") {
            if let Ok(rate) = value.parse::<RateLimit>() {
                proptest::prop_assert!(rate.max >= 1 && rate.period_secs >= 1);
            }
        }
    }

    #[test]
    fn a_multibyte_last_character_is_an_error_not_a_panic() {
        // Found by the property test above: the unit was cut at the last byte.
        for value in ["5/1µ", "5/ﬓ", "1/🕴"] {
            assert!(value.parse::<RateLimit>().is_err(), "{value}");
        }
    }

    #[test]
    fn rate_limits_parse_from_n_per_period() {
        let parse = |s: &str| s.parse::<RateLimit>();
        assert_eq!(parse("30/60s"), Ok(RateLimit { max: 30, period_secs: 60 }));
        assert_eq!(parse("10/15m"), Ok(RateLimit { max: 10, period_secs: 900 }));
        assert_eq!(parse(" 5 / 1h "), Ok(RateLimit { max: 5, period_secs: 3600 }));
        assert_eq!(parse("100/d"), Ok(RateLimit { max: 100, period_secs: 86_400 }));
        for bad in [
            "",
            "30",
            "30/",
            "/60s",
            "x/60s",
            "30/60",
            "30/60x",
            "0/1m",
            "1/0s",
            "-1/1m",
            "1/99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
