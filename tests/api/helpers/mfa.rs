//! An account with TOTP on, as the MFA tests and the attempt-budget tests need it: codes
//! computed as an authenticator app would (totp-rs), and a used step forgotten through the
//! database where a test needs two logins in one 30-second step.

use auth_service::db::schema::users;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::json;

use super::{PASSWORD, TestApp, Tokens, status_and_json};

/// The account `with_mfa` makes.
pub const MFA_EMAIL: &str = "ada@example.com";

/// The code an authenticator app shows now for the base32 `secret`.
pub fn totp_code(secret: &str) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap().to_vec();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    totp.generate(now.as_secs()).to_string()
}

/// A six-digit code that is not the current one (nor a neighbour's, at these odds).
pub fn wrong_code(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 500_000) % 1_000_000)
}

/// Lets the current step be used again: two logins within one 30-second step.
pub fn forget_used_step(app: &TestApp) {
    diesel::update(users::table.filter(users::email.eq(MFA_EMAIL)))
        .set(users::totp_last_step.eq(None::<i64>))
        .execute(&mut app.db())
        .unwrap();
}

/// Registers Ada (her address proved), logs in, and turns MFA on: the base32 secret, the
/// recovery codes, and the new aal2 session the confirmation answered with.
pub async fn with_mfa(app: &TestApp) -> (String, Vec<String>, Tokens) {
    app.register("Ada", MFA_EMAIL, PASSWORD).await;
    app.mark_verified(MFA_EMAIL);
    let session = app.session_for(MFA_EMAIL).await;
    let (status, body) = app.enrol_totp(&session.access, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    let (status, body) =
        app.confirm_totp(&session.access, &json!({"code": totp_code(&secret)})).await;
    assert_eq!(status, 200, "{body}");
    let recovery: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    forget_used_step(app);
    (secret, recovery, Tokens::from_body(&body))
}

/// The first step of a login of an account with MFA: its mfa_token.
pub async fn mfa_token(app: &TestApp) -> String {
    let (status, body) = status_and_json(app.login(MFA_EMAIL, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    body["mfa_token"].as_str().expect("an mfa_token").to_owned()
}
