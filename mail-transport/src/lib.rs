//! Where the portal's mail goes, shared by the idp's outbox worker and the product
//! portals' one: an SMTP server (`PORTAL_SMTP_URL`), or `.eml` files in a directory when
//! none is set (a laptop, a demo). The back-off between failed deliveries, and the loop
//! both workers run until shutdown. It knows nothing of what a mail says or of any outbox
//! table.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::Duration;
use tokio::sync::{Notify, watch};

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

    /// Sends one message. The error says whether trying again can help: an SMTP server
    /// that is down or answers 4xx may take it later; one that answers 5xx (no such
    /// mailbox, refused) never will.
    pub async fn send(&self, msg: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(t) => t.send(msg).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
            Self::Files(t) => t
                .send(msg)
                .await
                .map(|_| ())
                .map_err(|e| SendError::transient(e.to_string())),
        }
    }
}

/// A message that was not delivered, with the transport's own text for the outbox row.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong.
    pub message: String,
    /// `true` when sending it again cannot succeed.
    pub permanent: bool,
}

impl SendError {
    /// A failure that may pass (the server is down, busy, the disk is full).
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure that will not pass (a refused address, a message that cannot be built).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// The delay before attempt `attempts + 1`: 5 s, 10 s, 20 s, 40 s, then every minute.
/// Capped at a minute because the retries are cheap (one connection attempt) and a queue
/// held up by an SMTP outage should go out within a minute of the server coming back.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    Duration::seconds((5_i64 << exp).min(60))
}

/// How long a worker holds a row while sending it. A sending is a few SMTP commands of at
/// most 20 s each, so this leaves room; it is short because mail goes out in order, so a
/// node that dies while sending holds up the whole line until its lease lapses.
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// How often a worker looks at its outbox when nobody wakes it.
const IDLE_PASS: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `pass` at once, then whenever `wake` is notified and at least every second, until
/// `stop` turns `true` (or its sender is gone). A pass under way is always finished first:
/// a mail being handed to the server is then marked sent or failed before the process ends,
/// instead of staying claimed and going out a second time after the claim lapses.
pub async fn run_worker<F, Fut>(wake: Arc<Notify>, mut stop: watch::Receiver<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    while !*stop.borrow_and_update() {
        pass().await;
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            _ = tokio::time::timeout(IDLE_PASS, wake.notified()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_worker_finishes_its_pass_and_then_stops() {
        let (stop_tx, stop) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let passes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (in_pass_tx, mut in_pass) = tokio::sync::mpsc::channel(1);
        let counted = passes.clone();
        let worker = tokio::spawn(run_worker(wake.clone(), stop, move || {
            let counted = counted.clone();
            let in_pass_tx = in_pass_tx.clone();
            async move {
                let _ = in_pass_tx.send(()).await;
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
        // Stop while the first pass sleeps: it still completes, and no second one starts.
        in_pass.recv().await.unwrap();
        stop_tx.send(true).unwrap();
        worker.await.unwrap();
        assert_eq!(passes.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_woken_worker_passes_again_until_stopped() {
        let (stop_tx, stop) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let (pass_tx, mut pass_rx) = tokio::sync::mpsc::unbounded_channel();
        let worker = tokio::spawn(run_worker(wake.clone(), stop, move || {
            let _ = pass_tx.send(());
            async {}
        }));
        pass_rx.recv().await.unwrap();
        wake.notify_one();
        pass_rx.recv().await.unwrap();
        // Without a wake-up, the next pass comes after a second (time is paused and jumps).
        pass_rx.recv().await.unwrap();
        drop(stop_tx);
        worker.await.unwrap();
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::seconds(5));
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(3), Duration::seconds(40));
        assert_eq!(backoff(4), Duration::seconds(60));
        assert_eq!(backoff(9), Duration::seconds(60));
        assert_eq!(backoff(50), Duration::seconds(60));
        assert_eq!(backoff(-1), Duration::seconds(5));
    }
}
