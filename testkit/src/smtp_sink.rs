//! An SMTP server inside the test process that accepts every message and keeps it, so tests
//! can read the mail the portal sends (activation, reset, notices) without an outside process.
//!
//! It speaks plain SMTP only (no STARTTLS, no AUTH): point the mailer at it with lettre's
//! `builder_dangerous(host).port(port)`. It never delivers anything anywhere.

use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, response};

/// How often [`SmtpSink::wait_for`] looks at the received messages.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// One message as received: the SMTP envelope and the raw DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// Envelope recipients (`RCPT TO`), without angle brackets, in the order given.
    pub to: Vec<String>,
    /// The message as sent after `DATA` (headers and body, MIME-encoded, CRLF line ends,
    /// dot-unstuffed), decoded as UTF-8 with invalid bytes replaced.
    pub data: String,
}

type Inbox = Arc<Mutex<Vec<ReceivedMail>>>;

/// A running SMTP server on 127.0.0.1 with an OS-assigned port.
///
/// The server runs on its own thread until the test process exits (mailin's `serve` never
/// returns); dropping the sink only drops this handle.
///
/// ```no_run
/// # async fn demo() {
/// let sink = testkit::SmtpSink::start();
/// // … configure the app with sink.url(), trigger a mail …
/// let mail = sink
///     .wait_for(|m| m.to.iter().any(|t| t == "jan@example.nl"), std::time::Duration::from_secs(5))
///     .await
///     .expect("no mail for jan");
/// assert!(mail.data.contains("Subject:"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SmtpSink {
    port: u16,
    inbox: Inbox,
    pace: Arc<Pace>,
}

/// How the sink answers: how long it waits before accepting a message, and how many
/// messages have begun to arrive (for tests of a process stopping mid-delivery).
#[derive(Debug, Default)]
struct Pace {
    reply_delay_ms: AtomicU64,
    started: AtomicUsize,
}

impl SmtpSink {
    /// Binds 127.0.0.1:0 and starts serving on a background thread.
    ///
    /// The listener is handed to mailin as is, so there is no window in which another process
    /// could take the port.
    ///
    /// # Panics
    /// When no socket can be bound or the server thread cannot be spawned.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts the sink on a given port of 127.0.0.1 (0: any free one). A test of mail
    /// delivery while the server is down first points the portal at a free port with
    /// nothing behind it, then starts the sink there.
    ///
    /// # Panics
    /// When the port cannot be bound or the server thread cannot be spawned.
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("testkit: SMTP sink cannot bind 127.0.0.1:{port}: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("testkit: SMTP sink has no local address: {e}"))
            .port();
        let inbox: Inbox = Arc::default();
        let pace: Arc<Pace> = Arc::default();

        let mut server = Server::new(Collector {
            inbox: Arc::clone(&inbox),
            pace: Arc::clone(&pace),
            current: None,
        });
        server
            .with_name("smtp-sink.testkit.localhost")
            .with_tcp_listener(listener);
        // `serve` blocks for ever and its error is not `Send`, so it gets a plain thread, and
        // the error (only possible at start-up) is dropped there.
        std::thread::Builder::new()
            .name(format!("smtp-sink-{port}"))
            .spawn(move || {
                let _ = server.serve();
            })
            .unwrap_or_else(|e| panic!("testkit: cannot spawn the SMTP sink thread: {e}"));

        SmtpSink { port, inbox, pace }
    }

    /// From now on, waits `delay` after a message's last byte before accepting it, so a
    /// test can act while the sender waits for the answer.
    pub fn delay_replies(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.pace.reply_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many messages have begun to arrive (`DATA` accepted), whether or not they were
    /// completed and accepted since.
    pub fn started(&self) -> usize {
        self.pace.started.load(Ordering::SeqCst)
    }

    /// The port the sink listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.inbox).clone()
    }

    /// The first message (already received or arriving within `timeout`) for which `pred`
    /// holds, or `None` when none did in time.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&ReceivedMail) -> bool,
        timeout: Duration,
    ) -> Option<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = lock(&self.inbox).iter().find(|m| pred(m)) {
                return Some(found.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// A test that panicked while holding the lock must not hide the mail from the next one.
fn lock(inbox: &Inbox) -> std::sync::MutexGuard<'_, Vec<ReceivedMail>> {
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// mailin clones the handler per connection, so `current` is per connection and the inbox is
/// shared.
#[derive(Clone)]
struct Collector {
    inbox: Inbox,
    pace: Arc<Pace>,
    current: Option<Pending>,
}

/// A message whose DATA is still arriving; decoded once complete, so a multi-byte character
/// split across chunks survives.
#[derive(Clone)]
struct Pending {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Pending {
            from: from.to_owned(),
            to: to.to_vec(),
            data: Vec::new(),
        });
        self.pace.started.fetch_add(1, Ordering::SeqCst);
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(mail) = &mut self.current {
            mail.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let delay = self.pace.reply_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if let Some(Pending { from, to, data }) = self.current.take() {
            let data = String::from_utf8_lossy(&data).into_owned();
            lock(&self.inbox).push(ReceivedMail { from, to, data });
        }
        response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        self.current = None;
        response::OK
    }
}
