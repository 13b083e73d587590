//! The load generator of `bench/run` (issue 8; method in `../shared/guides/PERFORMANCE.md`).
//!
//! Runs a workload against a running server for a bounded time with a fixed number of
//! keep-alive connections, checks every answer, reads the server's CPU time and peak
//! memory from `/proc`, and appends one JSON line to the results file; `report` turns
//! the file into the table of `docs/PERFORMANCE.md`. The simple one-request workloads
//! (client credentials, discovery, JWKS, introspection) go through `wrk`, the flows that
//! need state (a full sign-in, refresh rotation, a signed-in portal page) are driven
//! here. It runs on one thread: `bench/run` pins it to the core the server is not on.

mod driver;
mod flows;
mod process;
mod record;
mod report;
mod verify;
mod wrk;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use reqwest::Url;

use crate::driver::{Tally, drive};
use crate::flows::{Browser, Rp};
use crate::record::Record;

#[derive(Parser)]
#[command(about = "Load generator of bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Full password sign-ins: authorize → sign-in page → password → code → token.
    Signin(FlowArgs),
    /// Refresh with rotation: each connection signs in once, then refreshes in a loop.
    Refresh(FlowArgs),
    /// A signed-in portal page: each connection signs in to it once, then GETs it.
    Page(PageArgs),
    /// Runs `wrk` (after `--`) and records its summary with the server's CPU and memory.
    Wrk(WrkArgs),
    /// Waits for the first answer of a server started at `--since-ns` (ns since epoch).
    Ready(ReadyArgs),
    /// Records the resident memory of an idle server.
    Idle(ServerArgs),
    /// Records the machine's limits: argon2id with the idp's parameters, and the
    /// sign rates of `openssl speed -mr` output read from a file.
    Limits(LimitArgs),
    /// Prints the table of a results file.
    Report(ReportArgs),
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// The label of the server in the table (`ours-sqlite`, `ours-postgres`, `anchor`).
    #[arg(long)]
    server: String,
    /// The server's process id (for /proc).
    #[arg(long)]
    pid: u32,
    /// The results file (JSON Lines) to append to.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The workload's name in the table.
    #[arg(long)]
    name: String,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    #[arg(long, default_value_t = 16)]
    concurrency: u32,
}

#[derive(Args, Clone)]
struct FlowArgs {
    #[command(flatten)]
    run: RunArgs,
    /// The idp's issuer, e.g. http://127.0.0.1:8080/idp.
    #[arg(long)]
    issuer: Url,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    secret: String,
    #[arg(long)]
    redirect_uri: String,
    /// The logins to sign in with: `{}` is replaced by 1 … `--logins`.
    #[arg(long)]
    login_pattern: String,
    #[arg(long, default_value_t = 1)]
    logins: u32,
    #[arg(long)]
    password: String,
}

#[derive(Args, Clone)]
struct PageArgs {
    #[command(flatten)]
    run: RunArgs,
    /// The page, e.g. http://127.0.0.1:8080/dip.
    #[arg(long)]
    url: Url,
    #[arg(long)]
    login: String,
    #[arg(long)]
    password: String,
    /// Text the page must contain.
    #[arg(long)]
    expect: String,
}

#[derive(Args)]
struct WrkArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long)]
    name: String,
    /// The connections wrk opens (as passed to it with -c), for the table.
    #[arg(long)]
    concurrency: u32,
    #[arg(last = true, required = true)]
    wrk: Vec<String>,
}

#[derive(Args)]
struct ReadyArgs {
    #[arg(long)]
    server: String,
    #[arg(long)]
    out: PathBuf,
    /// host:port to ask `GET {path}`.
    #[arg(long)]
    address: String,
    #[arg(long, default_value = "/healthz")]
    path: String,
    /// When the server process was started, in nanoseconds since the epoch (`date +%s%N`).
    #[arg(long)]
    since_ns: u128,
}

#[derive(Args)]
struct LimitArgs {
    #[arg(long)]
    out: PathBuf,
    /// Output of `openssl speed -mr -seconds 5 rsa2048 ecdsap256 ed25519`.
    #[arg(long)]
    openssl: PathBuf,
}

#[derive(Args)]
struct ReportArgs {
    file: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Signin(args) => runtime.block_on(signin(args)),
        Command::Refresh(args) => runtime.block_on(refresh(args)),
        Command::Page(args) => runtime.block_on(page(args)),
        Command::Wrk(args) => {
            let record = wrk::run(
                &args.name,
                &args.server.server,
                args.server.pid,
                args.concurrency,
                &args.wrk,
            )?;
            record.keep(&args.server.out)
        }
        Command::Ready(args) => ready(&args),
        Command::Idle(args) => {
            let (rss_kb, _) = process::memory_kb(args.pid)?;
            Record::Idle {
                server: args.server,
                rss_kb,
            }
            .keep(&args.out)
        }
        Command::Limits(args) => runtime.block_on(limits(&args)),
        Command::Report(args) => report::print(&Record::read_all(&args.file)?),
    }
}

/// One HTTP client per connection of the run, keep-alive, no redirects followed.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()?)
}

impl FlowArgs {
    fn rp(&self) -> Rp {
        Rp {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            secret: self.secret.clone(),
            redirect_uri: self.redirect_uri.clone(),
        }
    }

    fn login(&self, n: u64) -> String {
        let index = n % u64::from(self.logins.max(1)) + 1;
        self.login_pattern.replace("{}", &index.to_string())
    }
}

/// Measures `tally` against the server: CPU time from before to after, and its peak.
fn finish(run: &RunArgs, tally: &Tally, cpu_before: f64) -> anyhow::Result<()> {
    let cpu_seconds = process::cpu_seconds(run.server.pid)? - cpu_before;
    let (_, peak_kb) = process::memory_kb(run.server.pid)?;
    for e in &tally.first_errors {
        eprintln!("{}: error: {e}", run.name);
    }
    Record::Load {
        name: run.name.clone(),
        server: run.server.server.clone(),
        concurrency: run.concurrency,
        requests: tally.ok + tally.errors,
        errors: tally.errors,
        seconds: tally.seconds,
        cpu_seconds,
        p50_ms: tally.millis(0.5),
        p99_ms: tally.millis(0.99),
        peak_kb,
    }
    .keep(&run.server.out)
}

struct SigninWorker {
    http: reqwest::Client,
    next: u64,
    stride: u64,
}

/// The last access token a run received, verified after the run.
type Sample = Rc<RefCell<Option<String>>>;

async fn signin(args: FlowArgs) -> anyhow::Result<()> {
    let rp = Rc::new(args.rp());
    let args = Rc::new(args);
    let workers = (0..args.run.concurrency)
        .map(|w| {
            Ok(SigninWorker {
                http: client()?,
                next: u64::from(w),
                stride: u64::from(args.run.concurrency),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sample = Sample::default();
    let cpu_before = process::cpu_seconds(args.run.server.pid)?;
    let (rp2, args2, sample2) = (Rc::clone(&rp), Rc::clone(&args), Rc::clone(&sample));
    let tally = drive(
        workers,
        Duration::from_secs(args.run.seconds),
        move |worker: Rc<RefCell<SigninWorker>>| {
            let (rp, args, sample) = (Rc::clone(&rp2), Rc::clone(&args2), Rc::clone(&sample2));
            async move {
                let (http, login) = {
                    let mut w = worker.borrow_mut();
                    let login = args.login(w.next);
                    w.next += w.stride;
                    (w.http.clone(), login)
                };
                // A fresh browser each time: no session, so the password is always asked.
                let mut browser = Browser::new(http);
                let tokens = rp
                    .sign_in(&mut browser, &login, &args.password, "openid portal")
                    .await?;
                *sample.borrow_mut() = Some(tokens.access_token);
                Ok(())
            }
        },
    )
    .await?;
    finish(&args.run, &tally, cpu_before)?;
    sample_check(&rp, &sample).await
}

/// Verifies the last token a run received against the issuer's JWKS ("real tokens").
async fn sample_check(rp: &Rp, sample: &Sample) -> anyhow::Result<()> {
    let Some(token) = sample.borrow_mut().take() else {
        bail!("no request succeeded");
    };
    let issuer = rp.issuer.as_str().trim_end_matches('/');
    let alg = verify::against_jwks(&client()?, &format!("{issuer}/jwks"), issuer, &token).await?;
    eprintln!("sample access token verified against {issuer}/jwks ({alg})");
    Ok(())
}

struct RefreshWorker {
    http: reqwest::Client,
    refresh_token: String,
}

async fn refresh(args: FlowArgs) -> anyhow::Result<()> {
    let rp = Rc::new(args.rp());
    let mut workers = Vec::new();
    for w in 0..args.run.concurrency {
        let mut browser = Browser::new(client()?);
        let tokens = rp
            .sign_in(
                &mut browser,
                &args.login(u64::from(w)),
                &args.password,
                "openid portal offline_access",
            )
            .await
            .map_err(|e| anyhow::anyhow!("signing in before the refresh run: {e}"))?;
        workers.push(RefreshWorker {
            http: client()?,
            refresh_token: tokens
                .refresh_token
                .context("no refresh token: is offline_access allowed for the client?")?,
        });
    }
    let sample = Sample::default();
    let cpu_before = process::cpu_seconds(args.run.server.pid)?;
    let (rp2, sample2) = (Rc::clone(&rp), Rc::clone(&sample));
    let tally = drive(
        workers,
        Duration::from_secs(args.run.seconds),
        move |worker: Rc<RefCell<RefreshWorker>>| {
            let (rp, sample) = (Rc::clone(&rp2), Rc::clone(&sample2));
            async move {
                // No borrow is held across the request (a RefCell borrow must not span an await).
                let (http, old) = {
                    let w = worker.borrow();
                    (w.http.clone(), w.refresh_token.clone())
                };
                let tokens = rp.refresh(&http, &old).await?;
                let mut w = worker.borrow_mut();
                w.refresh_token = tokens.refresh_token.unwrap_or_default();
                *sample.borrow_mut() = Some(tokens.access_token);
                Ok(())
            }
        },
    )
    .await?;
    finish(&args.run, &tally, cpu_before)?;
    sample_check(&rp, &sample).await
}

struct PageWorker {
    browser: Browser,
}

async fn page(args: PageArgs) -> anyhow::Result<()> {
    let mut workers = Vec::new();
    for _ in 0..args.run.concurrency {
        let mut browser = Browser::new(client()?);
        let first = browser.get(&args.url).await.map_err(anyhow::Error::msg)?;
        let landed = browser
            .sign_in(&first, &args.login, &args.password)
            .await
            .map_err(anyhow::Error::msg)?;
        if !landed.body.contains(&args.expect) {
            bail!(
                "after signing in, {} does not show {:?} ({} at {})",
                args.url,
                args.expect,
                landed.status,
                landed.url
            );
        }
        workers.push(PageWorker { browser });
    }
    let cpu_before = process::cpu_seconds(args.run.server.pid)?;
    let args = Rc::new(args);
    let args2 = Rc::clone(&args);
    let tally = drive(
        workers,
        Duration::from_secs(args.run.seconds),
        move |worker: Rc<RefCell<PageWorker>>| {
            let args = Rc::clone(&args2);
            async move {
                // A copy of the browser for the request, its cookies kept after it.
                let mut browser = worker.borrow().browser.clone();
                let result = browser.get(&args.url).await;
                worker.borrow_mut().browser = browser;
                let landed = result?;
                if landed.status != reqwest::StatusCode::OK || landed.url != args.url {
                    return Err(format!("{} at {}", landed.status, landed.url));
                }
                if !landed.body.contains(&args.expect) {
                    return Err(format!("{} does not show {:?}", landed.url, args.expect));
                }
                Ok(())
            }
        },
    )
    .await?;
    finish(&args.run, &tally, cpu_before)?;
    if tally.ok == 0 {
        bail!("no request succeeded");
    }
    Ok(())
}

/// Polls `GET path` every millisecond until an answer with status 200 arrives.
fn ready(args: &ReadyArgs) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let since = Duration::from_nanos(u64::try_from(args.since_ns)?);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut conn) = std::net::TcpStream::connect(&args.address) {
            let request = format!(
                "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
                args.path, args.address
            );
            let mut answer = [0u8; 16];
            if conn.write_all(request.as_bytes()).is_ok()
                && conn.read_exact(&mut answer).is_ok()
                && answer.starts_with(b"HTTP/1.")
                && answer[9..12] == *b"200"
            {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
                let ms = now.saturating_sub(since).as_secs_f64() * 1000.0;
                return Record::Startup {
                    server: args.server.clone(),
                    ms,
                }
                .keep(&args.out);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    bail!("{} did not answer 200 within 60 s", args.address)
}

async fn limits(args: &LimitArgs) -> anyhow::Result<()> {
    // argon2id with the idp's own parameters, one lane, as one sign-in costs.
    let hasher = idp::hasher::Hasher::new(1)?;
    let mut times = Vec::new();
    for _ in 0..21 {
        let began = Instant::now();
        hasher
            .hash(secrecy::SecretString::from(
                "correct horse battery staple".to_owned(),
            ))
            .await?;
        times.push(began.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Record::Limit {
        name: "argon2id hash".into(),
        per_second: 1.0 / median,
    }
    .keep(&args.out)?;
    let speed = std::fs::read_to_string(&args.openssl)
        .with_context(|| format!("reading {}", args.openssl.display()))?;
    for record in report::openssl_limits(&speed)? {
        record.keep(&args.out)?;
    }
    Ok(())
}
