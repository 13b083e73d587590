//! Runs `wrk` (with `bench/wrk/report.lua`, which counts every answer that is not 200 with
//! the expected text and prints one JSON line at the end) while reading the server's CPU
//! time and peak memory from `/proc`.

use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::process;
use crate::record::Record;

#[derive(Deserialize)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    p50_us: f64,
    p99_us: f64,
    /// Answers that were not 200 or lacked the expected text.
    bad: u64,
    /// Connect, read, write and timeout errors.
    socket_errors: u64,
}

pub fn run(
    name: &str,
    server: &str,
    pid: u32,
    concurrency: u32,
    wrk: &[String],
) -> anyhow::Result<Record> {
    let Some((program, args)) = wrk.split_first() else {
        bail!("no wrk command given after --");
    };
    let cpu_before = process::cpu_seconds(pid)?;
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    let cpu_after = process::cpu_seconds(pid)?;
    let (_, peak_kb) = process::memory_kb(pid)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{program} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"wrk\""))
        .with_context(|| {
            format!("no summary line from wrk (is bench/wrk/report.lua loaded?): {stdout}")
        })?;
    let summary: WrkSummary = serde_json::from_str(line).context("wrk's summary line")?;
    Ok(Record::Load {
        name: name.to_owned(),
        server: server.to_owned(),
        concurrency,
        requests: summary.requests,
        errors: summary.bad + summary.socket_errors,
        seconds: summary.duration_us as f64 / 1e6,
        cpu_seconds: cpu_after - cpu_before,
        p50_ms: summary.p50_us / 1000.0,
        p99_ms: summary.p99_us / 1000.0,
        peak_kb,
    })
}
