//! Password hashing with argon2id at the OWASP parameters (m = 19456 KiB, t = 2, p = 1),
//! off the async runtime and behind a semaphore: a flood of sign-ins queues here instead
//! of starving token issuance and health checks (SECURITY AV-05).
//!
//! The hashes run on a fixed set of threads, one per permit, not on tokio's blocking
//! pool, and each thread keeps its 19 MiB of argon2 memory for the next hash instead of
//! allocating it per hash: the allocator kept every freed 19 MiB in the arena of the
//! thread that used it, the blocking pool starts new threads whenever none is idle at
//! that instant, and under a stream of sign-ins the portal grew to ~265 MB RSS (bench/run,
//! 4 parallel sign-ins; 130 MB with fixed threads alone). Now the memory of the hashes is
//! one argon2 memory per thread, made at its first hash.
//!
//! An unknown login still costs one verification against a dummy hash, so the answer
//! takes as long as for a known login with a wrong password (AU-02).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, oneshot};

/// Hashing failed (not: the password was wrong).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 refused the input or the RNG failed.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The blocking task died.
    #[error("hashing task failed")]
    Task,
}

/// A job for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    dummy: Arc<str>,
}

impl Hasher {
    /// A hasher allowing `parallel` hashes at once (the number of cores is right), on as
    /// many threads of its own. The threads end when the last clone of the hasher is gone.
    pub fn new(parallel: usize) -> Result<Self, HashError> {
        let dummy = dummy_hash()?;
        let parallel = parallel.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..parallel {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            // A panicking job must not take a thread of the pool with it
                            // (its caller gets HashError::Task from the dropped sender).
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(mpsc::RecvError) => return,
                        }
                    }
                })
                .map_err(|_| HashError::Task)?;
        }
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallel)),
            jobs,
            dummy: dummy.into(),
        })
    }

    /// Runs `work` on a hashing thread once a permit is free. Waiting for the permit is
    /// async and ends when the caller is dropped (a client that gave up queues no work).
    /// The permit goes with the job and is given back when the hash is done, so callers
    /// that leave after queueing cannot pile up work beyond `parallel` jobs (AV-05); a
    /// job whose caller has gone by the time it starts is skipped.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Task)?;
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _permit = permit;
                if !done.is_closed() {
                    // The caller may still go meanwhile; then the result is not wanted.
                    let _ = done.send(work());
                }
            }))
            .map_err(|_| HashError::Task)?;
        result.await.map_err(|_| HashError::Task)
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.run(move || hash_password(password.expose_secret().as_bytes()))
            .await?
    }

    /// Whether `password` matches `phc`; with no hash (unknown login, not activated) it
    /// verifies against the dummy hash and answers `false`, taking the same time.
    pub async fn verify(
        &self,
        password: SecretString,
        phc: Option<String>,
    ) -> Result<Verdict, HashError> {
        let dummy = self.dummy.clone();
        self.run(move || {
            let (hash, real) = match &phc {
                Some(h) => (h.as_str(), true),
                None => (&*dummy, false),
            };
            let Ok(parsed) = PasswordHash::new(hash) else {
                return Ok(Verdict::Wrong);
            };
            let ok = matches(password.expose_secret().as_bytes(), &parsed);
            Ok(match (real && ok, outdated(&parsed)) {
                (false, _) => Verdict::Wrong,
                (true, false) => Verdict::Right,
                (true, true) => Verdict::RightButOutdated,
            })
        })
        .await?
    }
}

thread_local! {
    /// The argon2 memory of this thread, kept from one hash to the next.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` blocks of this thread's argon2 memory (grown when a hash needs
/// more, as an old hash with other parameters may; shrunk back to today's size after it).
/// argon2 writes every block before it reads it, so what a previous hash left there does
/// not matter. Memory that cannot be had is an error, not an abort.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> Result<T, HashError> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let missing = blocks.saturating_sub(memory.len());
        if missing > 0 {
            memory
                .try_reserve_exact(missing)
                .map_err(|e| HashError::Argon2(e.to_string()))?;
            memory.resize(blocks, Block::default());
        }
        let result = f(&mut memory[..blocks]);
        let usual = Params::default().block_count();
        if memory.len() > usual {
            memory.truncate(usual);
            memory.shrink_to_fit();
        }
        Ok(result)
    })
}

/// Whether a stored hash asks for more work than a sign-in may cost: at most twice
/// today's memory, ten passes and four lanes. Every hash the portal stores has today's
/// parameters (older ones have less), so only a hash written outside the portal can be
/// over this; it is treated as wrong instead of tying up a hashing thread (AV-05).
fn too_costly(params: &Params) -> bool {
    let usual = Params::default();
    params.m_cost() > 2 * usual.m_cost() || params.t_cost() > 10 || params.p_cost() > 4
}

fn argon2_error(e: impl std::fmt::Display) -> HashError {
    HashError::Argon2(e.to_string())
}

/// A PHC string with today's parameters, a random salt and a random output: verifying
/// against it costs exactly what a real hash costs, and nothing matches it (no password
/// is known to give that output, and a match would count as wrong anyway). Made without
/// hashing, so the portal does not hold argon2 memory before its first sign-in.
fn dummy_hash() -> Result<String, HashError> {
    let params = Params::default();
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(argon2_error)?;
    aws_lc_rs::rand::fill(&mut out).map_err(argon2_error)?;
    phc_string(&params, &salt, &out)
}

/// The PHC string of an argon2id v=19 hash.
fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> Result<String, HashError> {
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(argon2_error)?,
        salt: Some(Salt::new(salt).map_err(argon2_error)?),
        hash: Some(Output::new(out).map_err(argon2_error)?),
    };
    Ok(phc.to_string())
}

/// A PHC string of `password` with today's parameters (argon2id, v=19, OWASP) and a
/// random 16-byte salt.
fn hash_password(password: &[u8]) -> Result<String, HashError> {
    let params = Params::default();
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    aws_lc_rs::rand::fill(&mut salt).map_err(argon2_error)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, &salt, &mut out, memory)
    })?
    .map_err(argon2_error)?;
    phc_string(&params, &salt, &out)
}

/// Whether `password` hashes to `phc`'s output with `phc`'s algorithm, version,
/// parameters and salt; compared in constant time.
fn matches(password: &[u8], phc: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(phc) else {
        return false;
    };
    if too_costly(&params) {
        tracing::warn!(
            "a stored password hash asks for more than a sign-in may cost; treated as wrong"
        );
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    with_memory(blocks, |memory| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, memory)
    })
    .is_ok_and(|hashed| hashed.is_ok())
        && crate::crypto::same(&out, expected.as_bytes())
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It matches.
    Right,
    /// It matches, but the hash uses older parameters: store a fresh hash (AU-03).
    RightButOutdated,
    /// It does not match (or there was nothing to match).
    Wrong,
}

/// Whether a stored hash was made with parameters other than today's defaults.
fn outdated(hash: &PasswordHash) -> bool {
    let want = argon2::Params::default();
    let param = |name: &str| {
        hash.params
            .get_decimal(name)
            .map(u64::from)
            .unwrap_or_default()
    };
    hash.algorithm.as_str() != "argon2id"
        || param("m") != u64::from(want.m_cost())
        || param("t") != u64::from(want.t_cost())
        || param("p") != u64::from(want.p_cost())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn s(p: &str) -> SecretString {
        SecretString::from(p.to_owned())
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_logins_are_wrong() {
        let h = Hasher::new(2).unwrap();
        let phc = h.hash(s("correct horse battery")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            h.verify(s("correct horse battery"), Some(phc.clone()))
                .await
                .unwrap(),
            Verdict::Right
        );
        assert_eq!(
            h.verify(s("Correct horse battery"), Some(phc))
                .await
                .unwrap(),
            Verdict::Wrong
        );
        assert_eq!(
            h.verify(s("dummy password for unknown logins"), None)
                .await
                .unwrap(),
            Verdict::Wrong
        );
        assert_eq!(
            h.verify(s("x"), Some("garbage".into())).await.unwrap(),
            Verdict::Wrong
        );
    }

    /// The hashes made with the reused memory are the argon2 crate's own: each side
    /// verifies the other's (stored hashes from before keep working), and a reused
    /// memory holding another hash's blocks changes nothing.
    #[test]
    fn reused_memory_gives_the_argon2_crates_hashes() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let ours = hash_password(b"correct horse battery").unwrap();
        let ours_parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &ours_parsed)
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        let theirs = PasswordHash::new(&theirs).unwrap();
        // The thread's memory now holds the blocks of `ours`: still the same result.
        assert!(matches(b"correct horse battery", &theirs));
        assert!(matches(b"correct horse battery", &ours_parsed));
        assert!(!matches(b"correct horse batterY", &theirs));
        assert!(!matches(b"correct horse batterY", &ours_parsed));
        assert_ne!(
            ours,
            hash_password(b"correct horse battery").unwrap(),
            "a fresh salt each time"
        );
    }

    #[tokio::test]
    async fn weaker_hashes_are_flagged_for_rehash() {
        use argon2::PasswordHasher;
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        let h = Hasher::new(1).unwrap();
        assert_eq!(
            h.verify(s("correct horse battery"), Some(weak))
                .await
                .unwrap(),
            Verdict::RightButOutdated
        );
    }
}
