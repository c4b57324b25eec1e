//! Where a webhook may go: an http(s) URL whose host is on a public address, unless the
//! operator allows private ones (`WEBHOOK_ALLOW_PRIVATE`). Checked when an endpoint is added
//! (a literal address or `localhost`) and at every try, after resolving the name (a name that
//! resolves to a private address is refused then, and the connection goes to the address that
//! was checked: no second lookup to rebind).

use std::net::{IpAddr, SocketAddr};

use url::{Host, Url};

/// An endpoint's URL as given, or why not.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("url {text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
        return Err(format!("url {text:?} must be http(s)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("url {text:?} must not carry credentials"));
    }
    let private = match url.host() {
        Some(Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost")
        }
        None => return Err(format!("url {text:?} has no host")),
    };
    if private && !allow_private {
        return Err(format!(
            "url {text:?} is on a private or loopback address (WEBHOOK_ALLOW_PRIVATE=true allows it)"
        ));
    }
    Ok(url)
}

/// The addresses `url`'s host resolves to that a try may connect to.
pub async fn addresses(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let host = url.host_str().ok_or("no host")?.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().ok_or("no port")?;
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let usable: Vec<SocketAddr> =
        found.iter().copied().filter(|a| allow_private || is_public(a.ip())).collect();
    if usable.is_empty() {
        return Err(format!("{host} resolves to no public address"));
    }
    Ok(usable)
}

/// Whether `ip` is on the public internet: not loopback, private, link-local, shared (CGNAT),
/// unspecified, broadcast, documentation, benchmarking, multicast or unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || ip.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = ip.segments()[0];
                !(ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || first == 0x2001 && ip.segments()[1] == 0x0db8)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn endpoint_urls_are_http_with_a_public_host_unless_allowed() {
        assert!(check_url("https://hooks.example.com/auth", false).is_ok());
        for refused in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest",
        ] {
            let error = check_url(refused, false).unwrap_err();
            assert!(error.contains("WEBHOOK_ALLOW_PRIVATE"), "{refused}: {error}");
            assert!(check_url(refused, true).is_ok(), "{refused}");
        }
        for bad in ["ftp://example.com/", "not a url", "https://user:pw@example.com/"] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
    }
}
