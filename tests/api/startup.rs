//! The binary itself: a bad setting stops the start with one line naming the variable.

use std::process::Command;

fn start_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::TempDir::new().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .current_dir(dir.path())
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run auth-service");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn binary_refuses_bad_settings_naming_the_variable() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("APP_ENV", "prod")],
            "auth-service: invalid configuration: APP_ENV: \"prod\" is neither development nor production\n",
        ),
        (
            &[("PORT", "http")],
            "auth-service: invalid configuration: PORT: \"http\" is not a valid number for this setting\n",
        ),
        (
            &[("DATABASE_URL", "mysql://db/auth")],
            "auth-service: invalid configuration: DATABASE_URL: unknown scheme; expected postgres://… or sqlite://PATH\n",
        ),
        (
            &[("APP_ENV", "production")],
            "auth-service: invalid configuration: JWT_SECRET: is required when APP_ENV=production\n",
        ),
        (
            &[("APP_ENV", "production"), ("JWT_SECRET", "too-short")],
            "auth-service: invalid configuration: JWT_SECRET: must be at least 32 bytes when APP_ENV=production\n",
        ),
    ];
    for (vars, expected) in cases {
        let (code, stderr) = start_with(vars);
        assert_eq!(code, Some(1), "{vars:?}");
        assert_eq!(stderr, expected, "{vars:?}");
    }
}
