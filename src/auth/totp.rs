//! TOTP (RFC 6238) second factor: 160-bit secrets, six digits, 30-second steps, one step of skew
//! either way (totp-rs). A code is accepted with the step it matched, so that the caller can
//! refuse a step already used (RFC 6238 §5.2).

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// RFC 4226 §4 recommends 160 bits.
const SECRET_BYTES: usize = 20;

/// A new secret.
pub fn new_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut secret = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

/// The secret as an authenticator app takes it typed in: RFC 4648 base32, unpadded.
pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER…`, the QR code's text.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String, String> {
    // A colon separates issuer and account in the label: neither may hold one.
    let account = account.replace(':', "_");
    totp(secret)
        .with_issuer(Some(issuer.replace(':', "_")))
        .with_account_name(account)
        .build()
        .and_then(|totp| totp.to_url())
        .map_err(|error| error.to_string())
}

/// The step `code` is valid for at `unix_time` (the current one or one either side), if any.
pub fn matching_step(secret: &[u8], code: &str, unix_time: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp: Totp = totp(secret).build_noncompliant();
    totp.check(code, unix_time).and_then(|step| i64::try_from(step).ok())
}

fn totp(secret: &[u8]) -> Builder {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_vectors_in_six_digits() {
        // Appendix B's eight-digit values, last six digits.
        for (time, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(matching_step(RFC_SECRET, code, time), Some(time as i64 / 30), "{time}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let code = "005924"; // step 41152263 (1234567890 / 30)
        let step = 1234567890 / 30;
        let at = |steps_away: i64| ((step + steps_away) * 30 + 7) as u64;
        assert_eq!(matching_step(RFC_SECRET, code, at(0)), Some(step));
        assert_eq!(matching_step(RFC_SECRET, code, at(1)), Some(step));
        assert_eq!(matching_step(RFC_SECRET, code, at(-1)), Some(step));
        assert_eq!(matching_step(RFC_SECRET, code, at(2)), None);
        assert_eq!(matching_step(RFC_SECRET, code, at(-2)), None);
    }

    #[test]
    fn only_six_digits_are_a_code() {
        for refused in ["", "00592", "0059240", "00592a", "+05924", "٠٠٥٩٢٤"] {
            assert_eq!(matching_step(RFC_SECRET, refused, 1234567890), None, "{refused:?}");
        }
        assert_eq!(matching_step(RFC_SECRET, " 005924 ", 1234567890), Some(41152263));
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_carries_the_secret() {
        let uri = otpauth_uri(RFC_SECRET, "auth-service", "ada@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/auth-service:ada%40example.com?"), "{uri}");
        assert!(uri.contains(&format!("secret={}", base32(RFC_SECRET))), "{uri}");
        assert!(uri.contains("issuer=auth-service"), "{uri}");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
