//! Free TCP ports on 127.0.0.1 for servers that can only be told a port number.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The OS assigns it to a listener that is dropped at once, so another process can take it
/// before the caller binds it (a small race). Prefer binding `127.0.0.1:0` and passing the
/// listener itself wherever the server accepts one, as [`SmtpSink`](crate::SmtpSink) does.
///
/// # Panics
/// When no socket can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("testkit: cannot bind 127.0.0.1:0: {e}"))
}
