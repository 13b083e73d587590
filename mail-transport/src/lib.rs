//! Where the portal's mail goes, shared by the idp's outbox worker and the product
//! portals' one: an SMTP server (`PORTAL_SMTP_URL`), or `.eml` files in a directory when
//! none is set (a laptop, a demo). And the back-off between failed deliveries. It knows
//! nothing of what a mail says or of any outbox table.

use std::path::PathBuf;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::Duration;

/// The transport's configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("mail transport: {0}")]
pub struct TransportError(pub String);

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory (no SMTP server configured).
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    /// The SMTP transport for `url` (`smtp://host:25`, `smtps://user:pass@host`, …), or the
    /// file transport writing into `dir`, which is created when missing.
    pub fn new(smtp_url: Option<&str>, dir: PathBuf) -> Result<Self, TransportError> {
        match smtp_url {
            Some(url) => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| TransportError(e.to_string()))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build();
                Ok(Self::Smtp(t))
            }
            None => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| TransportError(format!("{}: {e}", dir.display())))?;
                Ok(Self::Files(AsyncFileTransport::new(dir)))
            }
        }
    }

    /// Sends one message; the error is the transport's own text, for the outbox row.
    pub async fn send(&self, msg: Message) -> Result<(), String> {
        match self {
            Self::Smtp(t) => t.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Self::Files(t) => t.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// The delay before attempt `attempts + 1`: 5 s, 10 s, 20 s … at most 10 minutes.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    Duration::seconds((5_i64 << exp).min(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::seconds(5));
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(3), Duration::seconds(40));
        assert_eq!(backoff(9), Duration::seconds(600));
        assert_eq!(backoff(50), Duration::seconds(600));
        assert_eq!(backoff(-1), Duration::seconds(5));
    }
}
