//! Client registrations served from memory, dropped the moment any process changes one.
//!
//! Every token, introspection and revocation request authenticates its client, and reading
//! the registration was the only query of a `client_credentials` request: on SQLite a hand-off
//! to sqlx's connection thread and back, which cost as much CPU as an ES256 signature many
//! times over (docs/PERFORMANCE.md). The cache must never let a replaced secret or a removed
//! grant type outlive its change (issue 8: "no cached authorization decision that outlives a
//! revocation"), also when the change comes from another process (the CLI on the same SQLite
//! file, another node on PostgreSQL). So an entry is only served while a change signal is
//! watched, and every signal drops every entry:
//!
//! - **SQLite file**: [`clients::register`] appends a byte to a stamp file beside the database
//!   after its commit ([`stamp_path`]); every lookup first compares the stamp's
//!   (device, inode, length) with the last one seen (one `stat`, no thread hand-off). A
//!   change is seen by the first request after the writer's commit returned: the CLI prints
//!   "registered" only after both.
//! - **PostgreSQL**: `register` sends `NOTIFY portal_clients` in its transaction;
//!   [`ClientCache::watch`] listens. Entries are served only while the listener is
//!   connected; a lost connection drops everything and serves from the database until the
//!   listener is back. Another node's change reaches this node when PostgreSQL delivers the
//!   notification (milliseconds after the commit); this node's own changes are dropped at
//!   once ([`ClientCache::changed`]).
//! - **SQLite in memory**: one process only, so only this process's own changes.
//!
//! Unknown client ids are never cached (they would let anyone fill memory), and the cache
//! holds at most [`MAX_ENTRIES`] registrations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::clients::{self, Client};
use super::{Db, StoreError};

/// The PostgreSQL notification channel of client changes.
pub const CHANNEL: &str = "portal_clients";

/// More registrations than this and the cache starts over (1,000 clients fit many times).
pub const MAX_ENTRIES: usize = 10_000;

/// The longest an entry is served, whatever the signals say: a backstop for a change signal
/// lost without anyone noticing (a PostgreSQL connection dropped silently by a firewall
/// before the heartbeat finds out).
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// How long the PostgreSQL listener may be silent before it proves its connection with a
/// query, and how long that query may take.
const HEARTBEAT: Duration = Duration::from_secs(20);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `id` has the shape of a registrable client id (`oidc_clients::prepare`): others
/// are read from the database without touching the cache, so that no caller-chosen text
/// is kept in memory.
fn registrable(id: &str) -> bool {
    (1..=100).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Where a SQLite database signals client changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampPlace {
    /// In memory: one process only, nothing to signal.
    InMemory,
    /// A file: its stamp `<file>-clients`, beside it (canonical, so that every process names
    /// the same stamp however its URL spelled the path).
    File(PathBuf),
    /// A file whose path cannot be resolved: nothing may be served from memory.
    Unknown,
}

/// The stamp of a SQLite pool's database.
pub fn stamp_place(pool: &sqlx::SqlitePool) -> StampPlace {
    let options = pool.connect_options();
    let file = options.get_filename();
    let name = file.to_string_lossy();
    // sqlx names an in-memory database `file:sqlx-in-memory-N` (from `sqlite::memory:`).
    if name.is_empty()
        || name.starts_with(":memory:")
        || name.starts_with("file:sqlx-in-memory")
        || name.contains("mode=memory")
    {
        return StampPlace::InMemory;
    }
    match std::fs::canonicalize(file) {
        Ok(file) => {
            let mut stamp = file.into_os_string();
            stamp.push("-clients");
            StampPlace::File(PathBuf::from(stamp))
        }
        Err(e) => {
            tracing::warn!(file = %name, error = %e, "the database path cannot be resolved; clients are read from the database");
            StampPlace::Unknown
        }
    }
}

/// The stamp file of a SQLite database file, if it has one.
pub fn stamp_path(pool: &sqlx::SqlitePool) -> Option<PathBuf> {
    match stamp_place(pool) {
        StampPlace::File(path) => Some(path),
        _ => None,
    }
}

/// Opens the stamp for appending, before a change is made: a stamp that cannot be written
/// refuses the change, instead of leaving it committed and unannounced. A stamp made by
/// another user (the CLI run as root) is given to the database file's owner, so that the
/// server can still write it.
pub(crate) fn open_stamp(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let database = path.with_file_name(
        path.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix("-clients"))
            .unwrap_or_default(),
    );
    if let (Ok(db), Ok(stamp)) = (std::fs::metadata(&database), file.metadata())
        && (db.uid(), db.gid()) != (stamp.uid(), stamp.gid())
    {
        // Only root may change the owner; anyone else already is the owner's peer.
        let _ = std::os::unix::fs::fchown(&file, Some(db.uid()), Some(db.gid()));
    }
    Ok(file)
}

/// Signals a committed change: one byte appended to the stamp, so that its length only
/// grows.
pub(crate) fn touch_stamp(mut file: &std::fs::File) -> std::io::Result<()> {
    use std::io::Write;
    file.write_all(b".")
}

/// What identifies one state of the stamp file; `Missing` before the first change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Missing,
    Present {
        dev: u64,
        ino: u64,
        len: u64,
        ctime: (i64, i64),
    },
}

impl Stamp {
    /// The stamp now; `None` when it cannot be read (then nothing is served from memory).
    fn read(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(m) => Some(Self::Present {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
                // A deleted and recreated stamp may get the old inode back and the same
                // length; its change time tells them apart.
                ctime: (m.ctime(), m.ctime_nsec()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Self::Missing),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "client stamp unreadable; clients are read from the database");
                None
            }
        }
    }
}

/// How changes made by other processes are seen.
#[derive(Debug)]
enum Watch {
    /// SQLite in memory: no other process can change it.
    Memory,
    /// A SQLite file without a usable stamp: nothing is served from memory.
    Disabled,
    /// A SQLite file: the stamp beside it, and the state last seen.
    Stamp {
        path: PathBuf,
        seen: Mutex<Option<Stamp>>,
    },
    /// PostgreSQL: whether the `LISTEN` connection is up.
    Listener { live: AtomicBool },
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    client: Arc<Client>,
    read_at: std::time::Instant,
}

/// A request's hold on a client id's gate, released however the request ends.
struct GateGuard<'a> {
    cache: &'a ClientCache,
    client_id: &'a str,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.cache.release_gate(self.client_id, &self.gate);
    }
}

/// The registrations read so far, valid for one generation; any change starts the next.
#[derive(Debug)]
pub struct ClientCache {
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Entry>>,
    watch: Watch,
    hits: AtomicU64,
    /// One database read per client id at a time: without it, the first burst for a client
    /// not yet in memory sends every concurrent request to the pool at once (64 requests
    /// on a cold entry made the pool open connections while the core was busy, and some
    /// waited 2 s).
    filling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ClientCache {
    /// A cache for `db`. On PostgreSQL it serves nothing until [`ClientCache::watch`] runs.
    pub fn new(db: &Db) -> Self {
        let watch = match db {
            Db::Sqlite(pool) => match stamp_place(pool) {
                StampPlace::File(path) => Watch::Stamp {
                    path,
                    seen: Mutex::new(None),
                },
                StampPlace::InMemory => Watch::Memory,
                StampPlace::Unknown => Watch::Disabled,
            },
            Db::Postgres(_) => Watch::Listener {
                live: AtomicBool::new(false),
            },
        };
        Self {
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            watch,
            hits: AtomicU64::new(0),
            filling: Mutex::new(HashMap::new()),
        }
    }

    /// The registration of `client_id`: from memory when the change signal allows it,
    /// otherwise from the database (and kept for the next request).
    pub async fn get(&self, db: &Db, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let generation = match self.generation_now() {
            Some(g) if registrable(client_id) => g,
            _ => return Ok(clients::get(db, client_id).await?.map(Arc::new)),
        };
        if let Some(client) = self.lookup(client_id, generation) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(client));
        }
        let gate = GateGuard {
            cache: self,
            client_id,
            gate: self.gate(client_id),
        };
        let turn = gate.gate.lock().await;
        // A request ahead in the queue may have read it meanwhile (for this generation).
        let fresh = match self.lookup(client_id, generation) {
            Some(client) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(client))
            }
            None => clients::get(db, client_id).await.map(|c| c.map(Arc::new)),
        };
        if let Ok(Some(client)) = &fresh {
            self.insert(client_id, generation, client.clone());
        }
        drop(turn);
        drop(gate);
        fresh
    }

    /// The gate of `client_id`'s database reads, made when none is open.
    fn gate(&self, client_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut filling = match self.filling.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        filling.entry(client_id.to_owned()).or_default().clone()
    }

    /// Forgets `client_id`'s gate once nobody else holds it (a clone needs this lock, so
    /// none can appear while the count is read). Called from [`GateGuard`]'s drop, so that a
    /// request dropped while it waits or reads (a closed connection, a timeout) leaves nothing.
    fn release_gate(&self, client_id: &str, gate: &Arc<tokio::sync::Mutex<()>>) {
        let mut filling = match self.filling.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if Arc::strong_count(gate) <= 2 {
            filling.remove(client_id);
        }
    }

    /// Drops every entry: a registration changed (called by this process's own writers, and
    /// by the watchers for other processes' changes).
    pub fn changed(&self) {
        let mut entries = match self.entries.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// How many lookups were answered from memory (for tests and the benchmark's notes).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The generation entries must have to be served, after taking in any change signal;
    /// `None` when nothing may be served from memory now.
    fn generation_now(&self) -> Option<u64> {
        match &self.watch {
            Watch::Memory => {}
            Watch::Disabled => return None,
            Watch::Stamp { path, seen } => {
                let now = Stamp::read(path)?;
                let mut seen = match seen.lock() {
                    Ok(guard) => guard,
                    Err(poisoned) => poisoned.into_inner(),
                };
                if *seen != Some(now) {
                    self.changed();
                    *seen = Some(now);
                }
            }
            Watch::Listener { live } => {
                if !live.load(Ordering::Acquire) {
                    return None;
                }
            }
        }
        Some(self.generation.load(Ordering::Acquire))
    }

    fn lookup(&self, client_id: &str, generation: u64) -> Option<Arc<Client>> {
        let entries = match self.entries.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries
            .get(client_id)
            .filter(|e| e.generation == generation && e.read_at.elapsed() < MAX_AGE)
            .map(|e| e.client.clone())
    }

    /// Keeps `client`, read during `generation`, unless a change came in meanwhile (then it
    /// may be the registration from before that change).
    fn insert(&self, client_id: &str, generation: u64, client: Arc<Client>) {
        let mut entries = match self.entries.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            client_id.to_owned(),
            Entry {
                generation,
                client,
                read_at: std::time::Instant::now(),
            },
        );
    }

    /// On PostgreSQL, listens for other processes' changes for as long as the process runs
    /// (reconnecting after a lost connection); elsewhere returns at once.
    pub async fn watch(self: Arc<Self>, db: Db) {
        let (Db::Postgres(pool), Watch::Listener { live }) = (&db, &self.watch) else {
            return;
        };
        loop {
            match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(CHANNEL).await {
                        tracing::warn!(error = %e, "cannot listen for client changes; clients are read from the database");
                    } else {
                        // Listening first, then serving: whatever was read before is dropped.
                        live.store(true, Ordering::Release);
                        self.changed();
                        loop {
                            match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
                                Ok(Ok(Some(_))) => self.changed(),
                                Ok(Ok(None) | Err(_)) => break,
                                // Silent for a while: the connection must answer a query, or
                                // it is taken for lost (a firewall may drop it without a word).
                                Err(_) => {
                                    let ping = sqlx::query("SELECT 1").execute(&mut listener);
                                    if !matches!(
                                        tokio::time::timeout(HEARTBEAT_TIMEOUT, ping).await,
                                        Ok(Ok(_))
                                    ) {
                                        break;
                                    }
                                    // The wait was cut short: should that have dropped a
                                    // notification half read, start over to be sure.
                                    self.changed();
                                }
                            }
                        }
                        tracing::warn!(
                            "client change listener lost its connection; clients are read from the database until it is back"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for client changes; clients are read from the database");
                }
            }
            live.store(false, Ordering::Release);
            self.changed();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Whether entries are served now (PostgreSQL: the listener is connected).
    pub fn is_live(&self) -> bool {
        match &self.watch {
            Watch::Listener { live } => live.load(Ordering::Acquire),
            _ => true,
        }
    }
}
