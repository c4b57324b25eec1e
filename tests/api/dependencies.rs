//! `cargo audit` needs the RustSec advisory database, which these machines cannot fetch (only
//! package registries are reachable). Until CI can run it, the advisories the project knows of
//! are pinned here against the versions Cargo.lock actually resolves.

/// Every version of `name` in Cargo.lock.
fn locked_versions(name: &str) -> Vec<Vec<u64>> {
    let lock = include_str!("../../Cargo.lock");
    lock.split("[[package]]")
        .filter(|package| package.contains(&format!("\nname = \"{name}\"\n")))
        .filter_map(|package| {
            let version = package.split("\nversion = \"").nth(1)?.split('"').next()?;
            Some(version.split('.').map(|part| part.parse().unwrap_or(0)).collect())
        })
        .collect()
}

#[test]
fn locked_dependencies_are_past_known_advisories() {
    for (name, fixed, advisory) in [
        ("bcrypt", [0, 19, 2], "RUSTSEC-2026-0199"),
        ("jsonwebtoken", [10, 3, 0], "CVE-2026-25537"),
    ] {
        let versions = locked_versions(name);
        assert!(!versions.is_empty(), "{name} is not in Cargo.lock");
        for version in versions {
            assert!(
                version.as_slice() >= &fixed[..],
                "{name} {version:?} is affected by {advisory}"
            );
        }
    }
}

#[test]
fn no_http2_stack_is_linked() {
    // The listener speaks HTTP/1.1 only; h2 0.3 (RUSTSEC-2026-0258) came in through actix-web's
    // default `http2` feature alone.
    assert_eq!(locked_versions("h2"), Vec::<Vec<u64>>::new(), "h2 is in Cargo.lock");
}

#[test]
fn lettre_without_the_dot_stuffing_fix_is_used_through_its_builder_only() {
    // RUSTSEC-2026-0561 (newer than the advisory snapshot): lettre before 0.11.24 does not
    // dot-stuff after a bare CR or LF. The registry serves 0.11.23, so every message is built
    // by lettre's builder from a String body with LF line endings only (mail::templates), never
    // sent raw; tests/api/password_reset.rs sends a `.` line and a bare CR through a real server.
    for version in locked_versions("lettre") {
        if version.as_slice() >= &[0, 11, 24][..] {
            continue;
        }
        let sources = ["src/mail/transport.rs", "src/mail/delivery.rs", "src/mail/templates.rs"];
        for path in sources {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(!text.contains("send_raw"), "{path} sends raw bytes with lettre {version:?}");
        }
    }
}
