//! The client's address, for throttling and the audit log (SECURITY AV-04, AD-01).
//!
//! It is the TCP peer, unless that peer is one of `PORTAL_TRUSTED_PROXIES`: then the
//! `X-Forwarded-For` chain is read from the right, skipping our own proxies, and the first
//! address not among them is the client. A header from any other peer is ignored, so a
//! client cannot pick its own address to dodge a limit or blame someone else.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

/// The client address of a request; `None` only when the server runs without connection
/// information (a router driven directly in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The address as stored in the audit log and used as a throttle key.
    pub fn text(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Infallible> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self(None));
        };
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(Self(Some(client_ip(
            peer.ip(),
            &forwarded,
            &app.settings.trusted_proxies,
        ))))
    }
}

/// The client behind `peer`, given the `X-Forwarded-For` header lines and our proxies.
pub fn client_ip(peer: IpAddr, forwarded: &[&str], trusted: &[IpAddr]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.iter().any(|t| canonical(*t) == peer) {
        return peer;
    }
    let mut client = peer;
    // Each proxy appends the address it saw: the rightmost entries are the most trusted.
    for entry in forwarded.iter().flat_map(|l| l.split(',')).rev() {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // Garbage in the chain: stop at the last address we could vouch for.
            return client;
        };
        let ip = canonical(ip);
        client = ip;
        if !trusted.iter().any(|t| canonical(*t) == ip) {
            return ip;
        }
    }
    client
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        assert_eq!(
            client_ip(ip("203.0.113.7"), &["10.9.9.9"], &[]),
            ip("203.0.113.7")
        );
        // A direct peer cannot choose its address by sending the header.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &["10.9.9.9"], &[ip("10.0.0.1")]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_client_counts() {
        let proxies = [ip("127.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &["198.51.100.4"], &proxies),
            ip("198.51.100.4")
        );
        // A spoofed left part is skipped: the rightmost untrusted address is the client.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &["1.1.1.1, 198.51.100.4, 10.0.0.2"],
                &proxies
            ),
            ip("198.51.100.4")
        );
        // Several header lines form one list.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &["1.1.1.1", "198.51.100.4"], &proxies),
            ip("198.51.100.4")
        );
        // No header: the proxy itself.
        assert_eq!(client_ip(ip("127.0.0.1"), &[], &proxies), ip("127.0.0.1"));
        // Garbage stops the walk at the last good address.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &["198.51.100.4, nonsense"], &proxies),
            ip("127.0.0.1")
        );
        // IPv4-mapped IPv6 peers match IPv4 proxies.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &["198.51.100.4"], &proxies),
            ip("198.51.100.4")
        );
    }
}
