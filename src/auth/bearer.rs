//! `Authorization: Bearer <token>`, parsed in one place for every reader of it (the
//! `AuthUser` extractor, the `/metrics` token check).

use actix_web::{HttpRequest, http::header};

/// The token of `Authorization: Bearer <token>`, the scheme matched case-insensitively
/// (RFC 7235 §2.1). Tokens in query strings or cookies are never looked at.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    // Not `HeaderValue::to_str`, which checks a byte at a time: on a 400-byte token that was
    // 4,200 of GET /'s 162,000 instructions (bench/callgrind_get.sh). A token with a byte
    // outside visible ASCII fails its signature check anyway.
    let value = req.headers().get(header::AUTHORIZATION)?;
    parse_bearer(std::str::from_utf8(value.as_bytes()).ok()?)
}

/// The token of an `Authorization` value `Bearer <token>`.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::parse_bearer;

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bEaReR  abc "), Some("abc"));
        for refused in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "Token abc", ""] {
            assert_eq!(parse_bearer(refused), None, "{refused:?}");
        }
    }

    proptest! {
        #[test]
        fn any_header_value_parses_without_panic(value in ".*") {
            if let Some(token) = parse_bearer(&value) {
                prop_assert!(!token.is_empty());
                prop_assert_eq!(token, token.trim());
                prop_assert!(value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer "));
            }
        }

        #[test]
        fn any_token_after_bearer_is_found(token in "[!-~]{1,200}", scheme in "(?i)bearer") {
            let value = format!("{scheme} {token}");
            prop_assert_eq!(parse_bearer(&value), Some(token.as_str()));
        }
    }
}
