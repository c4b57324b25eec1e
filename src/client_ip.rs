//! `ClientIp`: the client's address, as rate limits, audit events and request ids see it. It
//! is the socket's peer unless that peer is one of `TRUSTED_PROXIES`; then it is the right-most
//! entry of the proxies' header (`TRUSTED_PROXY_HEADER`: `X-Forwarded-For` or RFC 7239
//! `Forwarded`) that is not a trusted proxy, the one the nearest trusted proxy saw. Entries
//! further left were written by the client and are never believed. Only the header the proxies
//! write is read: one they pass through untouched would be the client's to forge.

use std::{
    future::{Ready, ready},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use ipnet::IpNet;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The header the trusted proxies append the client's address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    XForwardedFor,
    Forwarded,
}

impl ProxyHeader {
    fn name(self) -> &'static str {
        match self {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
        }
    }
}

impl FromStr for ProxyHeader {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ProxyHeader::XForwardedFor),
            "forwarded" => Ok(ProxyHeader::Forwarded),
            _ => Err(format!("{value:?} is neither X-Forwarded-For nor Forwarded")),
        }
    }
}

/// Which peers are proxies, and which header they write.
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    pub networks: Vec<IpNet>,
    pub header: ProxyHeader,
}

impl TrustedProxies {
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(&peer))
    }
}

impl ClientIp {
    /// The string counters are keyed by. An IPv6 client usually holds a whole /64, so it is
    /// counted as one: otherwise it could rotate addresses to escape every limit.
    pub fn rate_limit_subject(self) -> String {
        match self.0 {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => ipv6_prefix(ip, 64),
        }
    }

    /// For an IPv6 client, the /48 it is in (a site: 65,536 /64s), counted against a higher
    /// ceiling than one /64, so a site cannot spread its guesses over its /64s.
    pub fn rate_limit_site(self) -> Option<String> {
        match self.0 {
            IpAddr::V4(_) => None,
            IpAddr::V6(ip) => Some(ipv6_prefix(ip, 48)),
        }
    }

    /// The network a user is shown for a session and a new device is judged by: the /24 of an
    /// IPv4 address, the /64 of an IPv6 one (one household's, or one provider's customer's).
    pub fn network(self) -> String {
        match self.0 {
            IpAddr::V4(ip) => format!("{}/24", Ipv4Addr::from(u32::from(ip) & 0xffff_ff00)),
            IpAddr::V6(ip) => ipv6_prefix(ip, 64),
        }
    }
}

fn ipv6_prefix(ip: Ipv6Addr, bits: u32) -> String {
    let prefix = u128::from(ip) & (u128::MAX << (128 - bits));
    format!("{}/{bits}", Ipv6Addr::from(prefix))
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(proxies) = req.app_data::<web::Data<TrustedProxies>>() else {
            return ready(Err(ApiError::internal("TrustedProxies is not registered")));
        };
        let Some(peer) = req.peer_addr() else {
            return ready(Err(ApiError::internal("request without a peer address")));
        };
        let chain: Vec<&str> = req
            .headers()
            .get_all(proxies.header.name())
            .filter_map(|value| value.to_str().ok())
            .collect();
        ready(Ok(ClientIp(client_ip(peer.ip(), &chain.join(","), proxies))))
    }
}

/// The client's address given the peer, the proxies' header (all its lines joined by commas)
/// and the trusted proxies.
pub fn client_ip(peer: IpAddr, chain: &str, proxies: &TrustedProxies) -> IpAddr {
    let is_trusted = |ip: &IpAddr| proxies.trusts(*ip);
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let entries: Vec<&str> = match proxies.header {
        ProxyHeader::XForwardedFor => chain.split(',').map(str::trim).collect(),
        ProxyHeader::Forwarded => forwarded_for_nodes(chain),
    };
    for entry in entries.into_iter().rev() {
        match address_of(entry) {
            Some(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    return client;
                }
            }
            // Not an address: nothing to its left can be trusted either.
            None => return client,
        }
    }
    client
}

/// The address of one entry of a forwarding header, as proxies write them: `1.2.3.4`,
/// `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`, quoted or not.
fn address_of(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Some(bracketed) = entry.strip_prefix('[') {
        let (address, rest) = bracketed.split_once(']')?;
        let port_only = rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port);
        return port_only.then(|| address.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    match entry.split_once(':') {
        // One colon: an IPv4 address and a port. More: an IPv6 address.
        Some((address, port)) if !port.contains(':') => {
            is_port(port).then(|| address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))?
        }
        _ => entry.parse().ok(),
    }
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// The `for=` node of each element of an RFC 7239 `Forwarded` value, in order (its address
/// read by `address_of`). Obfuscated and `unknown` nodes stay as they are and then fail to
/// parse as addresses.
fn forwarded_for_nodes(header: &str) -> Vec<&str> {
    header
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then_some(value.trim())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> TrustedProxies {
        TrustedProxies {
            networks: list.iter().map(|s| s.parse().unwrap()).collect(),
            header: ProxyHeader::XForwardedFor,
        }
    }

    proptest::proptest! {
        #[test]
        fn forwarded_chain_never_overrides_an_untrusted_peer(peer in proptest::num::u32::ANY, chain in "\\PC*") {
            let peer = IpAddr::from(std::net::Ipv4Addr::from(peer));
            let proxies = nets(&["10.0.0.0/8"]);
            let client = client_ip(peer, &chain, &proxies);
            if !proxies.networks[0].contains(&peer) {
                proptest::prop_assert_eq!(client, peer);
            }
        }
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(client_ip(ip("203.0.113.9"), "1.2.3.4", &nets(&[])), ip("203.0.113.9"));
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("203.0.113.9"), "1.2.3.4", &proxies), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxy_chain_is_walked_from_the_right() {
        let proxies = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        // The client forged "1.1.1.1"; the proxy appended what it saw, 198.51.100.7.
        assert_eq!(
            client_ip(ip("10.0.0.2"), "1.1.1.1, 198.51.100.7, 192.168.1.1", &proxies),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), "", &proxies), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), "garbage, 10.1.1.1", &proxies), ip("10.1.1.1"));
        assert_eq!(client_ip(ip("10.0.0.2"), "10.3.3.3", &proxies), ip("10.3.3.3"));
    }

    #[test]
    fn forwarded_header_nodes_are_walked_from_the_right() {
        let mut proxies = nets(&["10.0.0.0/8"]);
        proxies.header = ProxyHeader::Forwarded;
        let chain = r#"for=1.1.1.1;proto=https, For="[2001:db8:cafe::17]:4711", for="198.51.100.7:8080";by=10.0.0.1, for=10.9.9.9"#;
        assert_eq!(client_ip(ip("10.0.0.2"), chain, &proxies), ip("198.51.100.7"));
        let chain = r#"for=1.1.1.1, for="[2001:db8:cafe::17]:4711""#;
        assert_eq!(client_ip(ip("10.0.0.2"), chain, &proxies), ip("2001:db8:cafe::17"));
        // An obfuscated node stops the walk at the proxy that wrote it.
        assert_eq!(
            client_ip(ip("10.0.0.2"), "for=_hidden, for=10.1.1.1", &proxies),
            ip("10.1.1.1")
        );
        assert_eq!(
            forwarded_for_nodes(r#"for=192.0.2.60;proto=http;by=203.0.113.43, for=unknown"#),
            ["192.0.2.60", "unknown"]
        );
    }

    #[test]
    fn forwarded_entries_with_ports_and_brackets_are_read() {
        for (entry, address) in [
            ("198.51.100.7", "198.51.100.7"),
            ("198.51.100.7:5678", "198.51.100.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("\"[2001:db8::1]:4711\"", "2001:db8::1"),
        ] {
            assert_eq!(address_of(entry), Some(ip(address)), "{entry}");
        }
        for junk in ["", "unknown", "_hidden", "1.2.3.4:", "1.2.3.4:http", "[1.2.3.4]", "[::1]x"] {
            assert_eq!(address_of(junk), None, "{junk}");
        }
        // The review's case: a proxy that writes ports no longer stops the walk at itself.
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.2"), "198.51.100.7:5678", &proxies), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.2"), "[2001:db8::1]:443", &proxies), ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_mapped_peers_are_plain_ipv4() {
        let proxies = nets(&["127.0.0.1/32"]);
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), "198.51.100.7", &proxies), ip("198.51.100.7"));
    }

    #[test]
    fn a_network_is_the_24_or_the_64() {
        assert_eq!(ClientIp(ip("203.0.113.77")).network(), "203.0.113.0/24");
        assert_eq!(ClientIp(ip("2001:db8:1:2:3:4:5:6")).network(), "2001:db8:1:2::/64");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(ClientIp(ip("2001:db8:1:2:3:4:5:6")).rate_limit_subject(), "2001:db8:1:2::/64");
        assert_eq!(ClientIp(ip("2001:db8:1:2::ffff")).rate_limit_subject(), "2001:db8:1:2::/64");
        assert_eq!(ClientIp(ip("198.51.100.7")).rate_limit_subject(), "198.51.100.7");
        assert_eq!(
            ClientIp(ip("2001:db8:1:2::ffff")).rate_limit_site().unwrap(),
            "2001:db8:1::/48"
        );
        assert_eq!(ClientIp(ip("198.51.100.7")).rate_limit_site(), None);
    }
}
