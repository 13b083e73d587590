//! Runs one workload: `concurrency` workers on one thread, each repeating its step until the
//! deadline; every step is timed into a histogram and its answer checked (an answer that
//! is not what the workload expects counts as an error, with the first few kept to print).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What the workers of one run did.
pub struct Tally {
    latency: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    pub seconds: f64,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs … 60 s at 3 significant digits.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            ok: 0,
            errors: 0,
            first_errors: Vec::new(),
            seconds: 0.0,
        })
    }

    fn record(&mut self, took: Duration, outcome: Result<(), String>) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // Saturates at the upper bound instead of failing.
        self.latency.saturating_record(micros.max(1));
        match outcome {
            Ok(()) => self.ok += 1,
            Err(e) => {
                self.errors += 1;
                if self.first_errors.len() < 5 {
                    self.first_errors.push(e);
                }
            }
        }
    }

    /// The latency at `quantile` (0.5, 0.99) in milliseconds.
    pub fn millis(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Runs `step` on every worker until `duration` is over. Workers are futures on the
/// current thread (the load generator is pinned to its own core), so they need not be
/// `Send`; `step` gets the worker's own state.
pub async fn drive<W, F, Fut>(workers: Vec<W>, duration: Duration, step: F) -> anyhow::Result<Tally>
where
    W: 'static,
    F: Fn(Rc<RefCell<W>>) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let tally = Rc::new(RefCell::new(Tally::new()?));
    let started = Instant::now();
    let deadline = started + duration;
    let local = tokio::task::LocalSet::new();
    for worker in workers {
        let worker = Rc::new(RefCell::new(worker));
        let tally = Rc::clone(&tally);
        let step = step.clone();
        local.spawn_local(async move {
            while Instant::now() < deadline {
                let began = Instant::now();
                let outcome = step(Rc::clone(&worker)).await;
                tally.borrow_mut().record(began.elapsed(), outcome);
            }
        });
    }
    local.await;
    let seconds = started.elapsed().as_secs_f64();
    let mut tally = Rc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("a worker outlived the run"))?
        .into_inner();
    tally.seconds = seconds;
    Ok(tally)
}
