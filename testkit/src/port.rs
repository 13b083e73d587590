//! Free TCP ports on 127.0.0.1 for servers that can only be told a port number.

use std::net::TcpListener;

/// Ports handed out are taken from below Linux's default ephemeral range (32768–60999).
/// A port the OS picks for `127.0.0.1:0` lies in that range, which is also where every
/// outgoing connection of the tests running in parallel gets its local port: between
/// the check here and the server's own bind, one of those could take it (CI saw a portal
/// that never started). Outgoing connections never use ports below the range.
const FIRST: u16 = 20_000;
const LAST: u16 = 32_000;

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// A random port below the ephemeral range that can be bound now; the listener is dropped
/// at once, so another test could still pick the same port before the caller binds it (a
/// small race among our own servers only). Prefer binding `127.0.0.1:0` and passing the
/// listener itself wherever the server accepts one, as [`SmtpSink`](crate::SmtpSink) does.
///
/// # Panics
/// When no socket can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let random = u16::from_le_bytes([
            uuid::Uuid::new_v4().as_bytes()[0],
            uuid::Uuid::new_v4().as_bytes()[1],
        ]);
        let port = FIRST + random % (LAST - FIRST);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("testkit: cannot bind 127.0.0.1:0: {e}"))
}
