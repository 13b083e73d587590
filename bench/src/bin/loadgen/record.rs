//! One line of the results file (JSON Lines): a measured run, a limit of the machine, a
//! start-up time or a memory reading. `bench/run` appends them; `report` reads them back.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A load run against `server` (e.g. `ours-sqlite`, `anchor`).
    Load {
        name: String,
        server: String,
        concurrency: u32,
        requests: u64,
        errors: u64,
        seconds: f64,
        /// CPU time the server used during the run (user + system, all threads).
        cpu_seconds: f64,
        p50_ms: f64,
        p99_ms: f64,
        /// VmHWM of the server after the run.
        peak_kb: u64,
    },
    /// What one core of this machine can do at most (openssl speed, argon2id).
    Limit { name: String, per_second: f64 },
    /// From starting the server process to its first answer.
    Startup { server: String, ms: f64 },
    /// VmRSS of an idle server.
    Idle { server: String, rss_kb: u64 },
}

impl Record {
    /// Prints the record and appends it to `out`.
    pub fn keep(&self, out: &Path) -> anyhow::Result<()> {
        let line = serde_json::to_string(self)?;
        println!("{line}");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)?;
        writeln!(file, "{line}")?;
        Ok(())
    }

    pub fn read_all(path: &Path) -> anyhow::Result<Vec<Record>> {
        let text = std::fs::read_to_string(path)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(serde_json::from_str(l)?))
            .collect()
    }
}
