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
        ("object_store", [0, 10, 2], "RUSTSEC-2024-0358"),
        // The S3 client's HTTP/2 (reqwest, for object_store); unbounded empty DATA frames.
        ("h2", [0, 4, 16], "RUSTSEC-2026-0258"),
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
fn the_listener_links_no_http2_stack() {
    // The listener speaks HTTP/1.1 only: actix-web's `http2` feature (h2 0.3, RUSTSEC-2026-0258)
    // stays off. h2 0.4 comes in with the S3 client alone, checked above.
    let manifest = include_str!("../../Cargo.toml");
    let actix = manifest.lines().find(|line| line.starts_with("actix-web = ")).unwrap();
    assert!(actix.contains("default-features = false") && !actix.contains("http2"), "{actix}");
    assert!(locked_versions("h2").iter().all(|version| version[..2] == [0, 4]));
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
