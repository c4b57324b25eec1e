//! Where a setting's text comes from (the environment, a secret's file, the config files) and
//! how it is read as a type, with an error naming the variable when it cannot be.

use std::{collections::HashMap, fmt, path::PathBuf};

use config::Config;
use ipnet::IpNet;

use crate::{
    auth::keys::JwtAlgorithm, client_ip::ProxyHeader, db::DatabaseUrl, logging::LogFormat,
    mail::transport::MailTransport, throttle::RateLimit,
};

/// A setting that cannot be used, named as the operator sets it.
#[derive(Debug, PartialEq, Eq)]
pub struct SettingsError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for SettingsError {}

pub(super) fn invalid(variable: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError { variable: variable.to_owned(), problem: problem.into() }
}

/// A type a setting's text is read as, with the problem an operator is told when it is not one.
pub trait Setting: Sized {
    fn parse_setting(value: &str) -> Result<Self, String>;
}

macro_rules! numeric_settings {
    ($($number:ty),*) => {$(
        impl Setting for $number {
            fn parse_setting(value: &str) -> Result<Self, String> {
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{value:?} is not a valid number for this setting"))
            }
        }
    )*};
}
numeric_settings!(u16, u32, u64, usize);

impl Setting for bool {
    fn parse_setting(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{value:?} is not true or false")),
        }
    }
}

impl Setting for String {
    fn parse_setting(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
}

impl Setting for PathBuf {
    fn parse_setting(value: &str) -> Result<Self, String> {
        Ok(PathBuf::from(value))
    }
}

/// An address (`10.0.0.2`) or a block (`10.0.0.0/8`).
impl Setting for IpNet {
    fn parse_setting(entry: &str) -> Result<Self, String> {
        entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))
    }
}

macro_rules! from_str_settings {
    ($($type:ty),*) => {$(
        impl Setting for $type {
            fn parse_setting(value: &str) -> Result<Self, String> {
                value.parse().map_err(|problem| format!("{problem}"))
            }
        }
    )*};
}
from_str_settings!(DatabaseUrl, JwtAlgorithm, LogFormat, MailTransport, ProxyHeader, RateLimit);

/// The secrets, which may also come from a file named by `<NAME>_FILE` (a Docker or Kubernetes
/// secret mounted in the container), as the official postgres image reads its own.
const SECRETS: [&str; 8] = [
    "DATABASE_URL",
    "JWT_SECRET",
    "JWT_PREVIOUS_SECRETS",
    "METRICS_TOKEN",
    "SMTP_URL",
    "MFA_ENCRYPTION_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// The layered sources, read one variable at a time.
pub(super) struct Source<'a> {
    pub(super) env: &'a HashMap<String, String>,
    pub(super) files: Config,
}

impl Source<'_> {
    /// The text of `name`: the environment's (or, for a secret, that of the file its `_FILE`
    /// variable names), else the config files'.
    pub(super) fn text(&self, name: &str) -> Result<Option<String>, SettingsError> {
        let file_variable = format!("{name}_FILE");
        // A provider's client secret (or Apple's key) may come from a file too
        // (`OIDC_{NAME}_CLIENT_SECRET_FILE`, `OIDC_APPLE_PRIVATE_KEY_FILE`).
        let secret = SECRETS.contains(&name)
            || (name.starts_with("OIDC_")
                && (name.ends_with("_CLIENT_SECRET") || name.ends_with("_PRIVATE_KEY")));
        // Empty is unset, as compose passes a variable .env leaves out.
        let file = self.env.get(&file_variable).filter(|path| secret && !path.is_empty());
        let from_file = match file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
                invalid(&file_variable, format!("cannot read {path:?}: {error}"))
            })?),
            None => None,
        };
        match (from_file, self.env.get(name)) {
            (Some(_), Some(_)) => Err(invalid(&file_variable, format!("and {name} are both set"))),
            // A file written by `echo` or an editor ends with a newline that is not the secret's.
            (Some(text), None) => Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned())),
            (None, Some(text)) => Ok(Some(text.clone())),
            (None, None) => Ok(self.files.get_string(&name.to_lowercase()).ok()),
        }
    }

    /// A setting that must be set.
    pub(super) fn parsed<T: Setting>(&self, name: &str) -> Result<T, SettingsError> {
        let text = self.text(name)?.ok_or_else(|| invalid(name, "is not set"))?;
        T::parse_setting(&text).map_err(|problem| invalid(name, problem))
    }

    /// A setting that may be unset or empty.
    pub(super) fn optional<T: Setting>(&self, name: &str) -> Result<Option<T>, SettingsError> {
        match self.text(name)?.filter(|text| !text.is_empty()) {
            Some(text) => {
                T::parse_setting(&text).map(Some).map_err(|problem| invalid(name, problem))
            }
            None => Ok(None),
        }
    }

    /// A number that must be set and at least 1 (a timeout, a size, a count).
    pub(super) fn positive<T: Setting + PartialOrd + From<u8>>(
        &self,
        name: &str,
    ) -> Result<T, SettingsError> {
        let value = self.parsed(name)?;
        at_least_one(name, value)
    }

    /// A number that may be unset, and is at least 1 when set.
    pub(super) fn optional_positive<T: Setting + PartialOrd + From<u8>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, SettingsError> {
        self.optional(name)?.map(|value| at_least_one(name, value)).transpose()
    }

    /// A setting that must be set and pass `check`, which names the problem otherwise.
    pub(super) fn checked<T: Setting>(
        &self,
        name: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, SettingsError> {
        let value = self.parsed(name)?;
        check(&value).map_err(|problem| invalid(name, problem))?;
        Ok(value)
    }

    /// A setting that may be unset or empty, and passes `check` when set.
    pub(super) fn optional_checked<T: Setting>(
        &self,
        name: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<Option<T>, SettingsError> {
        let value = self.optional(name)?;
        if let Some(value) = &value {
            check(value).map_err(|problem| invalid(name, problem))?;
        }
        Ok(value)
    }

    /// A comma-separated setting: its non-empty, trimmed entries.
    pub(super) fn list<T: Setting>(&self, name: &str) -> Result<Vec<T>, SettingsError> {
        self.text(name)?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| T::parse_setting(entry).map_err(|problem| invalid(name, problem)))
            .collect()
    }
}

/// `PUBLIC_URL` is the base of absolute URLs.
pub(super) fn http_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("must start with http:// or https://".into())
    }
}

pub(super) fn at_least_one<T: PartialOrd + From<u8>>(
    name: &str,
    value: T,
) -> Result<T, SettingsError> {
    if value < T::from(1) {
        return Err(invalid(name, "must be at least 1"));
    }
    Ok(value)
}
