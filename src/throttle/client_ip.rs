//! `ClientIp`: the address rate limits count against. It is the socket's peer unless that peer
//! is one of `TRUSTED_PROXIES`; then it is the right-most `X-Forwarded-For` entry that is not a
//! trusted proxy, the one the nearest trusted proxy saw. Entries further left were written by
//! the client and are never believed.

use std::{
    future::{Ready, ready},
    net::{IpAddr, Ipv6Addr},
};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use ipnet::IpNet;

use crate::{error::ApiError, startup::AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The string counters are keyed by. An IPv6 client usually holds a whole /64, so it is
    /// counted as one: otherwise it could rotate addresses to escape every limit.
    pub fn rate_limit_subject(self) -> String {
        match self.0 {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => {
                let prefix = u128::from(ip) & (u128::MAX << 64);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        }
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::internal("AppState is not registered")));
        };
        let Some(peer) = req.peer_addr() else {
            return ready(Err(ApiError::internal("request without a peer address")));
        };
        let forwarded_for: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        ready(Ok(ClientIp(client_ip(
            peer.ip(),
            &forwarded_for.join(","),
            &state.trusted_proxies,
        ))))
    }
}

/// The client's address given the peer, the `X-Forwarded-For` chain (all headers joined by
/// commas) and the trusted proxies.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    for entry in forwarded_for.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    return client;
                }
            }
            // Not an address: nothing to its left can be trusted either.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    proptest::proptest! {
        #[test]
        fn forwarded_chain_never_overrides_an_untrusted_peer(peer in proptest::num::u32::ANY, chain in "\\PC*") {
            let peer = IpAddr::from(std::net::Ipv4Addr::from(peer));
            let proxies = nets(&["10.0.0.0/8"]);
            let client = client_ip(peer, &chain, &proxies);
            if !proxies[0].contains(&peer) {
                proptest::prop_assert_eq!(client, peer);
            }
        }
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &[]),
            ip("203.0.113.9")
        );
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &proxies),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxy_chain_is_walked_from_the_right() {
        let proxies = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        // The client forged "1.1.1.1"; the proxy appended what it saw, 198.51.100.7.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                "1.1.1.1, 198.51.100.7, 192.168.1.1",
                &proxies
            ),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), "", &proxies), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), "garbage, 10.1.1.1", &proxies),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), "10.3.3.3", &proxies),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_plain_ipv4() {
        let proxies = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), "198.51.100.7", &proxies),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(
            ClientIp(ip("2001:db8:1:2:3:4:5:6")).rate_limit_subject(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ClientIp(ip("2001:db8:1:2::ffff")).rate_limit_subject(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ClientIp(ip("198.51.100.7")).rate_limit_subject(),
            "198.51.100.7"
        );
    }
}
