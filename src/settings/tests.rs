//! The settings as an operator meets them: each default, each variable's error.
use std::path::PathBuf;

use super::*;
use crate::{
    client_ip::ProxyHeader, db::DatabaseUrl, throttle::RateLimit, uploads::bucket::S3Settings,
};

fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::load_from(&env)
}

#[test]
fn defaults_match_the_contract() {
    let s = load(&[]).unwrap();
    assert_eq!(s.database.url, DatabaseUrl::Sqlite("data/auth.db".into()));
    assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 5000));
    assert_eq!(s.tokens.jwt_secret, None);
    assert_eq!(s.tokens.access_token_ttl_secs, 3600);
    assert_eq!(s.tokens.jwt_algorithm, JwtAlgorithm::Hs256);
    assert_eq!(s.tokens.refresh_token_ttl_secs, 30 * 24 * 3600);
    assert_eq!(s.tokens.refresh_reuse_interval_secs, 10);
    assert_eq!(s.tokens.session_max_lifetime_secs, 90 * 24 * 3600);
    assert!(s.tokens.jwt_previous_key_files.is_empty() && s.tokens.jwt_previous_secrets.is_empty());
    assert_eq!(s.passwords.bcrypt_cost, 12);
    assert_eq!((s.passwords.bcrypt_queue_capacity, s.passwords.bcrypt_max_wait_ms), (32, 3000));
    assert_eq!(s.uploads.dir, PathBuf::from("uploads"));
    assert_eq!(s.uploads.max_bytes, 5_242_880);
    assert!(s.database.prepared_statements);
    assert_eq!(s.server.public_url, None);
    assert_eq!(s.server.cors_allowed_origins, vec!["*"]);
    assert_eq!(s.server.shutdown_timeout_secs, 30);
    assert_eq!(s.server.request_body_timeout_secs, 5);
    assert!(s.rate_limits.enabled);
    assert_eq!(s.rate_limits.login_per_ip, "20/1m".parse().unwrap());
    assert_eq!(s.rate_limits.password.free, "10/1d".parse().unwrap());
    assert_eq!(s.rate_limits.password.per_network, "5/15m".parse().unwrap());
    assert_eq!(s.rate_limits.password.longest_wait_secs, 900);
    assert_eq!(s.rate_limits.totp_code.free, "10/1d".parse().unwrap());
    assert_eq!(s.rate_limits.totp_code.longest_wait_secs, 3600);
    assert_eq!(s.rate_limits.mailed_code.free, "20/1d".parse().unwrap());
    assert_eq!(s.rate_limits.register_per_ip, "10/1h".parse().unwrap());
    assert_eq!(s.rate_limits.upload_per_ip, "30/1h".parse().unwrap());
    assert_eq!(s.rate_limits.refresh_per_ip, "60/1m".parse().unwrap());
    assert!(s.trusted_proxies.networks.is_empty());
    assert_eq!(s.trusted_proxies.header, ProxyHeader::XForwardedFor);
    assert!(s.passwords.reject_common);
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(load(&[("LOG_FORMAT", "JSON")]).unwrap().log_format, LogFormat::Json);
    assert_eq!(load(&[("LOG_FORMAT", "xml")]).unwrap_err().variable, "LOG_FORMAT");
}

#[test]
fn rate_limit_settings_are_parsed_and_named_when_bad() {
    let s = load(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("RATE_LIMIT_LOGIN_PER_IP", "5/30s"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1"),
    ])
    .unwrap();
    assert!(!s.rate_limits.enabled);
    assert_eq!(s.rate_limits.login_per_ip, RateLimit { max: 5, period_secs: 30 });
    assert_eq!(s.trusted_proxies.networks.len(), 3);
    assert_eq!(
        load(&[("RATE_LIMIT_ENABLED", "maybe")]).unwrap_err().variable,
        "RATE_LIMIT_ENABLED"
    );
    assert_eq!(
        load(&[("RATE_LIMIT_UPLOAD_PER_IP", "lots")]).unwrap_err().variable,
        "RATE_LIMIT_UPLOAD_PER_IP"
    );
    assert_eq!(
        load(&[("TRUSTED_PROXIES", "proxy.local")]).unwrap_err().variable,
        "TRUSTED_PROXIES"
    );
}

#[test]
fn environment_overrides_defaults() {
    let s = load(&[
        ("DATABASE_URL", "postgres://u@db/auth"),
        ("PORT", "8080"),
        ("BCRYPT_COST", "4"),
        ("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example"),
        ("PUBLIC_URL", "https://auth.example/"),
    ])
    .unwrap();
    assert_eq!(s.database.url, DatabaseUrl::Postgres("postgres://u@db/auth".into()));
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.passwords.bcrypt_cost, 4);
    assert_eq!(s.server.cors_allowed_origins, vec!["https://a.example", "https://b.example"]);
    assert_eq!(s.server.public_base_url(), Some("https://auth.example"));
}

#[test]
fn unparsable_port_names_the_variable() {
    let err = load(&[("PORT", "fivethousand")]).unwrap_err();
    assert_eq!(err.variable, "PORT");
    assert_eq!(
        err.to_string(),
        "invalid configuration: PORT: \"fivethousand\" is not a valid number for this setting"
    );
}

#[test]
fn unknown_database_scheme_names_the_variable() {
    let err = load(&[("DATABASE_URL", "mysql://x/y")]).unwrap_err();
    assert_eq!(err.variable, "DATABASE_URL");
}

#[test]
fn production_requires_a_long_secret() {
    let err = load(&[("APP_ENV", "production")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: JWT_SECRET: is required when APP_ENV=production"
    );
    let err = load(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]).unwrap_err();
    assert_eq!(err.variable, "JWT_SECRET");
    let long = "x".repeat(32);
    let mut production = PRODUCTION.to_vec();
    production.push(("JWT_SECRET", &long));
    assert!(load(&production).is_ok());
}

/// A production configuration that passes every production rule (with a JWT key).
const PRODUCTION: [(&str, &str); 7] = [
    ("APP_ENV", "production"),
    ("WEBAUTHN_RP_ID", "example.com"),
    ("WEBAUTHN_ORIGINS", "https://www.example.com"),
    ("METRICS_ADDR", "10.0.0.5:9100"),
    ("CORS_ALLOWED_ORIGINS", "https://www.example.com"),
    ("PUBLIC_URL", "https://auth.example.com"),
    ("SMTP_URL", "smtps://mailer:secret@smtp.example.com:465"),
];

#[test]
fn app_env_is_matched_exactly() {
    for app_env in ["Production", "prod", "PRODUCTION", " production", "staging", ""] {
        let error = load(&[("APP_ENV", app_env)]).unwrap_err();
        let expected = format!("{app_env:?} is neither development nor production");
        assert_eq!(error, invalid("APP_ENV", expected));
    }
    assert_eq!(load(&[("APP_ENV", "development")]).unwrap().app_env, "development");
}

#[test]
fn production_refuses_each_unsafe_setting_by_name() {
    let secret = "x".repeat(32);
    let with = |changes: &[(&'static str, &'static str)], without: &str| {
        let mut vars: Vec<(&str, &str)> =
            PRODUCTION.iter().copied().filter(|(name, _)| *name != without).collect();
        vars.push(("JWT_SECRET", secret.as_str()));
        vars.extend_from_slice(changes);
        load(&vars)
    };
    let when = "when APP_ENV=production";
    let metrics = format!("or METRICS_ADDR is required {when} (GET /metrics would be public)");
    let cors = format!("must list the website's origins, not *, {when}");
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, SettingsError);
    let cases: [Case; 9] = [
        (&[], "WEBAUTHN_RP_ID", invalid("WEBAUTHN_RP_ID", format!("is required {when}"))),
        (&[], "WEBAUTHN_ORIGINS", invalid("WEBAUTHN_ORIGINS", format!("is required {when}"))),
        (&[], "METRICS_ADDR", invalid("METRICS_TOKEN", metrics)),
        (
            &[("BCRYPT_COST", "9")],
            "",
            invalid("BCRYPT_COST", format!("must be at least 10 {when}")),
        ),
        (
            &[("RATE_LIMIT_ENABLED", "false")],
            "",
            invalid("RATE_LIMIT_ENABLED", format!("must be true {when}")),
        ),
        (
            &[("CORS_ALLOWED_ORIGINS", "https://a.example,*")],
            "CORS_ALLOWED_ORIGINS",
            invalid("CORS_ALLOWED_ORIGINS", cors),
        ),
        (&[], "PUBLIC_URL", invalid("PUBLIC_URL", format!("is required {when}"))),
        (&[], "SMTP_URL", invalid("SMTP_URL", format!("is required {when}"))),
        (&[("MAIL_TRANSPORT", "file")], "", invalid("SMTP_URL", format!("is required {when}"))),
    ];
    for (changes, without, expected) in cases {
        assert_eq!(with(changes, without).unwrap_err(), expected);
    }
    assert!(with(&[("METRICS_TOKEN", "scrape-token")], "METRICS_ADDR").is_ok());
    assert!(with(&[("BCRYPT_COST", "10")], "").is_ok());
}

#[test]
fn eddsa_needs_a_key_file_and_no_secret_in_production() {
    let err = load(&[("JWT_ALGORITHM", "EdDSA")]).unwrap_err();
    assert_eq!(err.variable, "JWT_PRIVATE_KEY_FILE");
    let mut vars = PRODUCTION.to_vec();
    vars.extend([
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_PRIVATE_KEY_FILE", "/run/secrets/jwt.pem"),
        ("JWT_PREVIOUS_KEY_FILES", "/a.pem, /b.pem"),
    ]);
    let s = load(&vars).unwrap();
    assert_eq!(s.tokens.jwt_previous_key_files.len(), 2);
    // HS256 secrets are for HS256 alone: with EdDSA, a token signed by one is refused.
    let old_secret = "an-old-hs256-secret-of-32-bytes-x";
    vars.push(("JWT_PREVIOUS_SECRETS", old_secret));
    assert_eq!(load(&vars).unwrap_err().variable, "JWT_PREVIOUS_SECRETS");
    assert_eq!(load(&[("JWT_ALGORITHM", "RS256")]).unwrap_err().variable, "JWT_ALGORITHM");
}

#[test]
fn every_hs256_secret_is_long_in_every_mode() {
    let must = "must be at least 32 bytes";
    assert_eq!(load(&[("JWT_SECRET", "short")]).unwrap_err(), invalid("JWT_SECRET", must));
    let long = "x".repeat(32);
    let previous = format!("{long},three");
    assert_eq!(
        load(&[("JWT_SECRET", &long), ("JWT_PREVIOUS_SECRETS", &previous)]).unwrap_err(),
        invalid("JWT_PREVIOUS_SECRETS", format!("{must} each"))
    );
    assert!(load(&[("JWT_SECRET", &long), ("JWT_PREVIOUS_SECRETS", &long)]).is_ok());
}

#[test]
fn tokens_name_their_issuer_and_audience() {
    let s = load(&[]).unwrap();
    assert_eq!(
        (s.tokens.issuer.as_str(), s.tokens.audience.as_str()),
        ("auth-service", "auth-service")
    );
    let s = load(&[("PUBLIC_URL", "https://auth.example.com/")]).unwrap();
    assert_eq!(s.tokens.issuer, "https://auth.example.com");
    let s = load(&[
        ("PUBLIC_URL", "https://a.example"),
        ("JWT_ISSUER", "urn:example:auth"),
        ("JWT_AUDIENCE", "api"),
    ])
    .unwrap();
    assert_eq!((s.tokens.issuer.as_str(), s.tokens.audience.as_str()), ("urn:example:auth", "api"));
}

#[test]
fn refresh_tokens_cannot_die_before_access_tokens() {
    let err = load(&[("REFRESH_TOKEN_TTL_SECS", "60")]).unwrap_err();
    assert_eq!(err.variable, "REFRESH_TOKEN_TTL_SECS");
}

#[test]
fn each_setting_is_checked_where_it_is_read() {
    for name in [
        "DATABASE_POOL_TIMEOUT_SECS",
        "DATABASE_STATEMENT_TIMEOUT_MS",
        "ACCESS_TOKEN_TTL_SECS",
        "MAX_UPLOAD_BYTES",
        "UPLOAD_TIMEOUT_SECS",
        "IMAGE_THREADS",
        "IMAGE_QUEUE_CAPACITY",
        "IMAGE_MAX_WAIT_MS",
        "WORKERS",
    ] {
        let error = load(&[(name, "0")]).unwrap_err();
        assert_eq!(error, invalid(name, "must be at least 1"));
    }
    assert_eq!(load(&[("WORKERS", "")]).unwrap().server.workers, None);
    assert_eq!(load(&[("WORKERS", "3")]).unwrap().server.workers, Some(3));
    assert_eq!(
        load(&[("PUBLIC_URL", "ftp://files.example")]).unwrap_err(),
        invalid("PUBLIC_URL", "must start with http:// or https://")
    );
    assert_eq!(
        load(&[("CORS_ALLOWED_ORIGINS", " , ")]).unwrap_err().variable,
        "CORS_ALLOWED_ORIGINS"
    );
}

#[test]
fn upload_dir_may_not_hold_the_sqlite_database() {
    for (database, uploads) in [
        ("sqlite://uploads/auth.db", "uploads"),
        ("sqlite://uploads/data/auth.db", "uploads"),
        ("sqlite:///app/uploads/auth.db", "/app/uploads"),
        ("sqlite://auth.db", "."),
    ] {
        let error = load(&[("DATABASE_URL", database), ("UPLOAD_DIR", uploads)]).unwrap_err();
        assert_eq!(error.variable, "UPLOAD_DIR", "{database} in {uploads}");
        assert!(error.problem.starts_with("must not hold the SQLite database"), "{error}");
    }
    for (database, uploads) in
        [("sqlite://data/auth.db", "uploads"), ("sqlite://up/a.db", "uploads")]
    {
        assert!(load(&[("DATABASE_URL", database), ("UPLOAD_DIR", uploads)]).is_ok(), "{database}");
    }
}

#[test]
fn storage_is_the_folder_unless_a_bucket_is_named() {
    assert_eq!(load(&[]).unwrap().storage, StorageSettings::Fs);
    let s3 = [
        ("STORAGE", "s3"),
        ("S3_BUCKET", "pictures"),
        ("S3_ENDPOINT", "http://127.0.0.1:8333"),
        ("S3_PREFIX", "avatars/"),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("S3_PUBLIC_URL", "https://cdn.example.com/"),
        ("AWS_ACCESS_KEY_ID", "id"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];
    assert_eq!(
        load(&s3).unwrap().storage,
        StorageSettings::S3(S3Settings {
            bucket: "pictures".into(),
            endpoint: Some("http://127.0.0.1:8333".into()),
            region: "us-east-1".into(),
            prefix: "avatars/".into(),
            force_path_style: true,
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            public_url: Some("https://cdn.example.com".into()),
        })
    );
    // The keys never reach a log line.
    let shown = format!("{:?}", load(&s3).unwrap().storage);
    assert!(!shown.contains("secret") && !shown.contains("\"id\""), "{shown}");
    assert_eq!(
        load(&[("STORAGE", "s3")]).unwrap_err(),
        invalid("S3_BUCKET", "is required when STORAGE=s3")
    );
    assert_eq!(
        load(&[("STORAGE", "s3"), ("S3_BUCKET", "b"), ("AWS_ACCESS_KEY_ID", "id")])
            .unwrap_err()
            .variable,
        "AWS_SECRET_ACCESS_KEY"
    );
    assert_eq!(
        load(&[("STORAGE", "gcs")]).unwrap_err(),
        invalid("STORAGE", "\"gcs\" is neither fs nor s3")
    );
    assert_eq!(
        load(&[("STORAGE", "s3"), ("S3_BUCKET", "b"), ("S3_ENDPOINT", "minio:9000")])
            .unwrap_err()
            .variable,
        "S3_ENDPOINT"
    );
}

#[test]
fn secrets_may_come_from_files() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("jwt_secret");
    std::fs::write(&path, "from-a-file-secret-of-32-bytes-or-more\n").unwrap();
    let path = path.to_str().unwrap();
    let s = load(&[("JWT_SECRET_FILE", path), ("METRICS_TOKEN_FILE", path)]).unwrap();
    assert_eq!(s.tokens.jwt_secret.as_deref(), Some("from-a-file-secret-of-32-bytes-or-more"));
    assert_eq!(s.metrics.token.as_deref(), Some("from-a-file-secret-of-32-bytes-or-more"));
    assert_eq!(
        load(&[("JWT_SECRET_FILE", path), ("JWT_SECRET", "x")]).unwrap_err(),
        invalid("JWT_SECRET_FILE", "and JWT_SECRET are both set")
    );
    let missing = load(&[("JWT_SECRET_FILE", "/nonexistent/secret")]).unwrap_err();
    assert_eq!(missing.variable, "JWT_SECRET_FILE");
    // Empty, as compose passes a variable .env leaves out, is unset.
    assert_eq!(load(&[("JWT_SECRET_FILE", "")]).unwrap().tokens.jwt_secret, None);
    // Only secrets: other variables have no _FILE form.
    assert_eq!(load(&[("PORT_FILE", path)]).unwrap().server.port, 5000);
}

#[test]
fn bcrypt_cost_out_of_range_is_refused() {
    assert_eq!(load(&[("BCRYPT_COST", "3")]).unwrap_err().variable, "BCRYPT_COST");
    assert_eq!(load(&[("BCRYPT_COST", "32")]).unwrap_err().variable, "BCRYPT_COST");
}

#[test]
fn passkeys_default_to_the_local_server_and_refuse_inconsistent_settings() {
    let s = load(&[]).unwrap();
    assert_eq!(s.passkeys.rp_id, "localhost");
    let origins: Vec<&str> = s.passkeys.origins.iter().map(|o| o.as_str()).collect();
    assert_eq!(origins, ["http://localhost:5000/"]);
    let s = load(&[("PUBLIC_URL", "https://auth.example.com")]).unwrap();
    assert_eq!(s.passkeys.rp_id, "auth.example.com");
    // A PUBLIC_URL no browser would run a ceremony at does not stop a development start.
    for public_url in ["http://127.0.0.1:8080", "http://auth.internal:8080"] {
        let s = load(&[("PUBLIC_URL", public_url), ("PORT", "8081")]).unwrap();
        assert_eq!(s.passkeys.origins[0].as_str(), "http://localhost:8081/", "{public_url}");
    }
    let s = load(&[
        ("WEBAUTHN_RP_ID", "example.com"),
        ("WEBAUTHN_ORIGINS", "https://www.example.com, https://example.com:8443"),
    ])
    .unwrap();
    assert_eq!(s.passkeys.origins.len(), 2);

    let origins = |value| load(&[("WEBAUTHN_RP_ID", "example.com"), ("WEBAUTHN_ORIGINS", value)]);
    let refused = [
        (
            "https://www.example.org",
            "https://www.example.org/ is not on the domain of WEBAUTHN_RP_ID (example.com)",
        ),
        (
            "https://notexample.com",
            "https://notexample.com/ is not on the domain of WEBAUTHN_RP_ID (example.com)",
        ),
        (
            "http://www.example.com",
            "\"http://www.example.com\" must be https (http only on localhost)",
        ),
        (
            "https://www.example.com/login",
            "\"https://www.example.com/login\" must be an origin: scheme, host and port only",
        ),
        ("www.example.com", "\"www.example.com\" is not a URL: relative URL without a base"),
    ];
    for (value, problem) in refused {
        assert_eq!(origins(value).unwrap_err(), invalid("WEBAUTHN_ORIGINS", problem), "{value}");
    }
    for rp_id in ["https://example.com", "Example.com", "127.0.0.1", "example.com:443", ""] {
        let error = load(&[("WEBAUTHN_RP_ID", rp_id), ("WEBAUTHN_ORIGINS", "https://example.com")]);
        if rp_id.is_empty() {
            // Empty is unset: the RP ID is the first origin's host.
            assert_eq!(error.unwrap().passkeys.rp_id, "example.com");
        } else {
            assert_eq!(error.unwrap_err().variable, "WEBAUTHN_RP_ID", "{rp_id}");
        }
    }
}

#[test]
fn outside_providers_are_read_by_name_and_apple_signs_its_own_secret() {
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/apple-test-key.p8");
    let base = [
        ("OIDC_PROVIDERS", "google, apple, corp"),
        ("OAUTH_REDIRECT_ALLOWLIST", "https://example.com/signed-in"),
        ("OIDC_GOOGLE_CLIENT_ID", "g-id"),
        ("OIDC_GOOGLE_CLIENT_SECRET", "g-secret"),
        ("OIDC_APPLE_CLIENT_ID", "com.example.web"),
        ("OIDC_APPLE_TEAM_ID", "TEAM"),
        ("OIDC_APPLE_KEY_ID", "KEY"),
        ("OIDC_APPLE_PRIVATE_KEY_FILE", key),
        ("OIDC_CORP_CLIENT_ID", "c-id"),
        ("OIDC_CORP_CLIENT_SECRET", "c-secret"),
        ("OIDC_CORP_ISSUER", "https://id.example.com"),
    ];
    let s = load(&base).unwrap();
    // As compose passes what .env leaves out: empty, which is unset.
    let mut empties = base.to_vec();
    empties.extend([("OIDC_APPLE_CLIENT_SECRET", ""), ("OIDC_GOOGLE_PRIVATE_KEY_FILE", "")]);
    assert_eq!(format!("{:?}", load(&empties).unwrap().federation), format!("{:?}", s.federation));
    let providers = &s.federation.providers;
    let kinds: Vec<_> = providers.iter().map(|p| (p.name.as_str(), p.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("google", ProviderKind::Google),
            ("apple", ProviderKind::Apple),
            ("corp", ProviderKind::OpenId)
        ]
    );
    assert_eq!(providers[0].issuer.as_deref(), Some("https://accounts.google.com"));
    assert!(matches!(&providers[0].credential, ClientCredential::Secret(s) if s == "g-secret"));
    let ClientCredential::AppleKey { team_id, key_id, private_key_pem } = &providers[1].credential
    else {
        panic!("{:?}", providers[1].credential);
    };
    assert_eq!((team_id.as_str(), key_id.as_str()), ("TEAM", "KEY"));
    assert!(private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(!providers[2].trust_email && !providers[2].trust_mfa);

    let with = |changes: &[(&'static str, &'static str)]| {
        let mut vars: Vec<_> =
            base.iter().filter(|(k, _)| !changes.iter().any(|(c, _)| c == k)).copied().collect();
        vars.extend(changes.iter().copied().filter(|(_, v)| !v.is_empty()));
        load(&vars).unwrap_err()
    };
    assert_eq!(
        with(&[("OIDC_APPLE_CLIENT_SECRET", "a-jwt")]),
        invalid("OIDC_APPLE_CLIENT_SECRET", "and OIDC_APPLE_PRIVATE_KEY are both set")
    );
    assert_eq!(
        with(&[("OIDC_APPLE_PRIVATE_KEY_FILE", ""), ("OIDC_APPLE_PRIVATE_KEY", "nonsense")])
            .variable,
        "OIDC_APPLE_PRIVATE_KEY"
    );
    assert_eq!(with(&[("OIDC_APPLE_TEAM_ID", "")]), invalid("OIDC_APPLE_TEAM_ID", "is not set"));
    assert_eq!(
        with(&[("OIDC_CORP_ISSUER", "")]),
        invalid("OIDC_CORP_ISSUER", "is required (the provider's issuer URL)")
    );
    assert_eq!(with(&[("OAUTH_REDIRECT_ALLOWLIST", "")]).variable, "OAUTH_REDIRECT_ALLOWLIST");
}

#[test]
fn webhooks_retry_on_the_standard_schedule_and_refuse_private_addresses_by_default() {
    let s = load(&[]).unwrap().webhooks;
    let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
    assert_eq!(
        s.retry_schedule,
        [
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(1800),
            hours(2),
            hours(5),
            hours(10),
            hours(10)
        ]
    );
    assert!(!s.allow_private);
    assert_eq!(s.timeout, std::time::Duration::from_secs(15));
    let fast = load(&[("WEBHOOK_RETRY_SCHEDULE", "1s,2s,4s")]).unwrap().webhooks.retry_schedule;
    assert_eq!(fast.iter().map(|d| d.as_secs()).collect::<Vec<_>>(), [1, 2, 4]);
    for bad in ["", "soon", "5x", "1s,,lots"] {
        let error = load(&[("WEBHOOK_RETRY_SCHEDULE", bad)]).unwrap_err();
        assert_eq!(error.variable, "WEBHOOK_RETRY_SCHEDULE", "{bad:?}");
    }
}
