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
