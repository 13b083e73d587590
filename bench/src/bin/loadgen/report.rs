//! The table of a results file: per workload, throughput per core the server used on
//! each server, the ratios to the anchor and to the machine's limit, latency, errors and
//! the goal of PERFORMANCE.md with whether it was reached; then memory and start-up.

use anyhow::bail;

use crate::record::Record;

/// A goal of PERFORMANCE.md for one workload. Every bound that is set must hold.
struct Goal {
    workload: &'static str,
    /// The machine limit the workload is held against (a `Limit` record's name).
    limit: Option<&'static str>,
    min_per_core: Option<f64>,
    min_of_limit: Option<f64>,
    min_of_anchor: Option<f64>,
    max_p99_ms: Option<f64>,
    text: &'static str,
}

const RSA_SIGN: &str = "RSA-2048 sign";
const RSA_VERIFY: &str = "RSA-2048 verify";
const ECDSA_SIGN: &str = "ECDSA P-256 sign";
const ARGON2: &str = "argon2id hash";

const GOALS: &[Goal] = &[
    Goal {
        workload: "client_credentials RS256",
        limit: Some(RSA_SIGN),
        min_per_core: None,
        min_of_limit: Some(0.9),
        min_of_anchor: Some(1.7),
        max_p99_ms: Some(10.0),
        text: ">= 90% of RSA sign, >= 1.7x anchor, p99 <= 10 ms",
    },
    Goal {
        workload: "client_credentials ES256",
        limit: Some(ECDSA_SIGN),
        min_per_core: Some(25_000.0),
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 25,000/s per core",
    },
    Goal {
        workload: "password sign-in",
        limit: Some(ARGON2),
        min_per_core: None,
        min_of_limit: Some(0.8),
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 80% of argon2id per core",
    },
    Goal {
        workload: "refresh rotation",
        limit: Some(RSA_SIGN),
        min_per_core: Some(2_000.0),
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 2,000/s per core",
    },
    Goal {
        workload: "discovery",
        limit: None,
        min_per_core: Some(60_000.0),
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 60,000/s per core",
    },
    Goal {
        workload: "JWKS",
        limit: None,
        min_per_core: Some(60_000.0),
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 60,000/s per core",
    },
    Goal {
        workload: "introspection",
        limit: Some(RSA_VERIFY),
        min_per_core: Some(20_000.0),
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 20,000/s per core",
    },
    Goal {
        workload: "product portal page",
        limit: Some(RSA_VERIFY),
        min_per_core: Some(50_000.0),
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: None,
        text: ">= 50,000/s per core",
    },
    Goal {
        workload: "Gebruikers list (filled)",
        limit: None,
        min_per_core: None,
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: Some(50.0),
        text: "p99 <= 50 ms",
    },
    Goal {
        workload: "dashboard (filled)",
        limit: None,
        min_per_core: None,
        min_of_limit: None,
        min_of_anchor: None,
        max_p99_ms: Some(50.0),
        text: "p99 <= 50 ms",
    },
];

/// The sign and verify rates in the output of `openssl speed -mr` (OpenSSL 3: `+F2` RSA,
/// `+F4` ECDSA, `+F6` EdDSA lines, rates per second of one process).
pub fn openssl_limits(speed: &str) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    for line in speed.lines() {
        let fields: Vec<&str> = line.trim().split(':').collect();
        let (names, sign, verify) = match fields.as_slice() {
            ["+F2", _, "2048", sign, verify] => {
                (("RSA-2048 sign", "RSA-2048 verify"), sign, verify)
            }
            ["+F4", _, "256", sign, verify] => ((ECDSA_SIGN, "ECDSA P-256 verify"), sign, verify),
            ["+F6", _, _, "Ed25519", sign, verify] => {
                (("Ed25519 sign", "Ed25519 verify"), sign, verify)
            }
            _ => continue,
        };
        records.push(Record::Limit {
            name: names.0.into(),
            per_second: sign.parse()?,
        });
        records.push(Record::Limit {
            name: names.1.into(),
            per_second: verify.parse()?,
        });
    }
    if records.len() != 6 {
        bail!("expected RSA-2048, ECDSA P-256 and Ed25519 lines in the openssl speed -mr output");
    }
    Ok(records)
}

struct Load<'a> {
    name: &'a str,
    server: &'a str,
    concurrency: u32,
    requests: u64,
    errors: u64,
    seconds: f64,
    per_core: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_kb: u64,
}

fn loads(records: &[Record]) -> Vec<Load<'_>> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Load {
                name,
                server,
                concurrency,
                requests,
                errors,
                seconds,
                cpu_seconds,
                p50_ms,
                p99_ms,
                peak_kb,
            } => Some(Load {
                name,
                server,
                concurrency: *concurrency,
                requests: *requests,
                errors: *errors,
                seconds: *seconds,
                per_core: if *cpu_seconds > 0.0 {
                    (requests - errors) as f64 / cpu_seconds
                } else {
                    0.0
                },
                p50_ms: *p50_ms,
                p99_ms: *p99_ms,
                peak_kb: *peak_kb,
            }),
            _ => None,
        })
        .collect()
}

fn limit(records: &[Record], wanted: &str) -> Option<f64> {
    records.iter().find_map(|r| match r {
        Record::Limit { name, per_second } if name == wanted => Some(*per_second),
        _ => None,
    })
}

fn number(n: f64) -> String {
    let whole = n.round() as i64;
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if whole < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// Prints the tables (Markdown, so they can go into docs/PERFORMANCE.md as printed).
pub fn print(records: &[Record]) -> anyhow::Result<()> {
    let loads = loads(records);
    println!(
        "| workload | server | c | requests | errors | req/s | per core used | p50 ms | p99 ms | limit/s per core | ÷ limit | ÷ anchor | goal | reached |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for load in &loads {
        let goal = GOALS.iter().find(|g| g.workload == load.name);
        let limit_rate = goal.and_then(|g| g.limit).and_then(|l| limit(records, l));
        let anchor = loads
            .iter()
            .find(|a| a.server == "anchor" && a.name == load.name && load.server != "anchor");
        let of_limit = limit_rate.map(|l| load.per_core / l);
        let of_anchor = anchor
            .filter(|a| a.per_core > 0.0)
            .map(|a| load.per_core / a.per_core);
        let reached = match goal {
            Some(_) if load.server == "anchor" => "",
            Some(g) => {
                let ok = load.errors == 0
                    && g.min_per_core.is_none_or(|m| load.per_core >= m)
                    && g.min_of_limit
                        .is_none_or(|m| of_limit.is_some_and(|r| r >= m))
                    && g.min_of_anchor
                        .is_none_or(|m| of_anchor.is_none_or(|r| r >= m))
                    && g.max_p99_ms.is_none_or(|m| load.p99_ms <= m);
                if ok { "yes" } else { "**no**" }
            }
            None => "",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            load.name,
            load.server,
            load.concurrency,
            number(load.requests as f64),
            load.errors,
            number((load.requests - load.errors) as f64 / load.seconds.max(1e-9)),
            number(load.per_core),
            load.p50_ms,
            load.p99_ms,
            limit_rate.map(number).unwrap_or_default(),
            of_limit.map(|r| format!("{r:.2}")).unwrap_or_default(),
            of_anchor.map(|r| format!("{r:.2}×")).unwrap_or_default(),
            if load.server == "anchor" {
                ""
            } else {
                goal.map(|g| g.text).unwrap_or("")
            },
            reached,
        );
    }
    println!();
    println!("| server | start-up to first answer | RSS idle | RSS peak (VmHWM) | goal |");
    println!("|---|---|---|---|---|");
    let mut servers: Vec<&str> = loads.iter().map(|l| l.server).collect();
    servers.dedup();
    for server in servers {
        let startup = records.iter().find_map(|r| match r {
            Record::Startup { server: s, ms } if s == server => Some(*ms),
            _ => None,
        });
        let idle = records.iter().find_map(|r| match r {
            Record::Idle { server: s, rss_kb } if s == server => Some(*rss_kb),
            _ => None,
        });
        let peak = loads
            .iter()
            .filter(|l| l.server == server)
            .map(|l| l.peak_kb)
            .max();
        println!(
            "| {server} | {} | {} | {} | {} |",
            startup.map(|ms| format!("{ms:.0} ms")).unwrap_or_default(),
            idle.map(|kb| format!("{:.1} MB", kb as f64 / 1024.0))
                .unwrap_or_default(),
            peak.map(|kb| format!("{:.1} MB", kb as f64 / 1024.0))
                .unwrap_or_default(),
            if server == "anchor" {
                ""
            } else {
                "≤ 150 ms; ≤ 25 MB idle; ≤ 80 MB peak"
            },
        );
    }
    println!();
    println!("| limit of one core (same run) | per second |");
    println!("|---|---|");
    for r in records {
        if let Record::Limit { name, per_second } = r {
            println!("| {name} | {} |", number(*per_second));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_openssl_3_machine_readable_output() {
        let speed = "+DTP:2048:private:rsa:5\n+F2:2:2048:3201.754386:50854.285714\n\
                     +F4:3:256:44250.769231:15462.121212\n+F6:0:253:Ed25519:21250.793651:9081.690141\n";
        let limits = openssl_limits(speed).unwrap();
        let rate = |n: &str| limit(&limits, n).unwrap();
        assert!((rate(RSA_SIGN) - 3201.754386).abs() < 1e-6);
        assert!((rate(RSA_VERIFY) - 50854.285714).abs() < 1e-6);
        assert!((rate(ECDSA_SIGN) - 44250.769231).abs() < 1e-6);
        assert!((rate("Ed25519 verify") - 9081.690141).abs() < 1e-6);
        assert!(openssl_limits("+F2:2:2048:1:2\n").is_err());
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(-1000.0), "-1,000");
    }
}
