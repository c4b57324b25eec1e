//! How every body, the API's and the admin CLI's, writes a moment.

/// RFC 3339, UTC, whole seconds.
pub fn rfc3339(at: chrono::NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
