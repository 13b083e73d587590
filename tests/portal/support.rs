//! A running portal process and a browser-like HTTP client for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use idp::store::Db;
use reqwest::StatusCode;
use testkit::{SmtpSink, TestDatabase};

/// A portal started for one test, with its own database, data directory and SMTP sink.
pub struct Portal {
    pub base: String,
    pub db_url: String,
    pub data_dir: PathBuf,
    pub smtp: SmtpSink,
    /// Where mail goes: the sink's URL, or (for outage tests) any other.
    pub smtp_url: String,
    /// Further `PORTAL_*` settings for the server and the CLI, e.g. trusted proxies.
    pub extra_env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Portal {
    /// The demo password `serve --demo` prints, once it has printed it (at most 10 s).
    pub async fn demo_password(&self) -> String {
        for _ in 0..200 {
            if let Some(p) = self
                .output()
                .lines()
                .find_map(|l| l.split("the password: ").nth(1))
            {
                return p.trim().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the demo password is not printed: {}", self.output());
    }

    /// Prepares the environment (no process yet).
    pub fn new(db: &TestDatabase) -> Self {
        let port = testkit::free_port();
        let data_dir =
            std::env::temp_dir().join(format!("portal-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let smtp = SmtpSink::start();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            db_url: db.url.clone(),
            data_dir,
            smtp_url: smtp.url(),
            smtp,
            extra_env: Vec::new(),
            child: None,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_portal"));
        let listen = self.base.trim_start_matches("http://");
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORTAL_DATABASE_URL", &self.db_url)
            .env("PORTAL_LISTEN", listen)
            .env("PORTAL_PUBLIC_URL", &self.base)
            .env("PORTAL_DATA_DIR", &self.data_dir)
            .env("PORTAL_SMTP_URL", &self.smtp_url)
            .env("PORTAL_LOG", "warn")
            // Most tests are about something else than 2FA: they run as before the
            // mandatory date, where a password alone signs in. The 2FA tests set the date
            // back to the default (`extra_env` comes after and wins).
            .env("PORTAL_MFA_REQUIRED_FROM", "2999-01-01")
            // Likewise four-eyes (issue 10): most tests change offices and rights with one
            // admin; `four_eyes` sets the default list back.
            .env("PORTAL_FOUR_EYES", "")
            .current_dir(&self.data_dir);
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Runs one CLI command to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Starts `portal serve` and waits until it answers.
    pub async fn start(&mut self) {
        self.start_with(&[]).await;
    }

    /// Starts `portal serve ARGS…` (its standard output goes to `serve.out` in the data
    /// directory, see [`Portal::output`]; its standard error to `serve.err`) and waits
    /// until it answers, at most 30 s. A server that stops before answering fails the
    /// test with what it said (e.g. that it cannot listen on its port).
    pub async fn start_with(&mut self, args: &[&str]) {
        self.stop();
        let out = std::fs::File::create(self.data_dir.join("serve.out")).unwrap();
        let err = std::fs::File::create(self.data_dir.join("serve.err")).unwrap();
        let child = self
            .command()
            .arg("serve")
            .args(args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                panic!(
                    "portal serve ended ({status}) before answering: {}",
                    std::fs::read_to_string(self.data_dir.join("serve.err")).unwrap_or_default()
                );
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the portal did not start at {}: {}",
            self.base,
            std::fs::read_to_string(self.data_dir.join("serve.err")).unwrap_or_default()
        );
    }

    /// What `portal serve` printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("serve.out")).unwrap_or_default()
    }

    /// Stops the server process, if one runs.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends the server process a signal by name (`TERM`, `KILL`, …).
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("no server runs").id();
        let status = Command::new("kill")
            .args(["-s", name, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name} {pid} failed");
    }

    /// The server's exit status, once it has ended; `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        Some(status)
    }

    /// Waits at most `limit` for the server to end and returns how it ended.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// The portal's database, for checking what was (not) stored.
    pub async fn db(&self) -> Db {
        Db::connect(&self.db_url).await.unwrap()
    }

    /// Waits for the mail to `to` and returns the link to the idp in its text part.
    pub async fn activation_link(&self, to: &str) -> String {
        let mail = self
            .smtp
            .wait_for(|m| m.to.iter().any(|t| t == to), Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("no mail to {to}"));
        let text = quoted_printable(&mail.data);
        assert!(text.contains("Subject: Activeer uw account"), "{text}");
        let start = text
            .find(&format!("{}/idp/activate/", self.base))
            .expect("no activation link in the mail");
        text[start..]
            .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .next()
            .unwrap()
            .to_owned()
    }
}

impl Portal {
    /// Removes the demo quotes of office `number` from the product portals' store (here the
    /// same database), for tests of deleting an office that never quoted (O7).
    pub async fn forget_quotes_of(&self, number: &str) {
        let db = self.db().await;
        idp::with_db!(&db, |pool| sqlx::query(
            "DELETE FROM quotes WHERE office_number = $1"
        )
        .bind(number)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    }

    /// Adds a setting for the next start or CLI command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    /// Waits until `count` mails to `to` carry a link containing `marker` (such as
    /// `/idp/reset/`) and returns the link of the last of them.
    pub async fn nth_link(&self, to: &str, marker: &str, count: usize) -> String {
        let needle = format!("{}{marker}", self.base);
        let links = |sink: &SmtpSink| -> Vec<String> {
            sink.messages()
                .iter()
                .filter(|m| m.to.iter().any(|t| t == to))
                .map(|m| quoted_printable(&m.data))
                .filter_map(|text| {
                    let start = text.find(&needle)?;
                    text[start..]
                        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
                        .next()
                        .map(str::to_owned)
                })
                .collect()
        };
        for _ in 0..400 {
            let found = links(&self.smtp);
            if found.len() >= count {
                return found[count - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {count} mails to {to} with {marker}");
    }

    /// How many mails to `to` arrived so far.
    pub fn mails_to(&self, to: &str) -> usize {
        self.smtp
            .messages()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .count()
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Undoes quoted-printable soft line breaks and `=3D`, enough to read links from a mail.
pub fn quoted_printable(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// Reverses minijinja's HTML escaping of attribute values.
pub fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `name="…" value="…"` or `action="…"` in a page.
pub fn attribute(page: &str, before: &str, attr: &str) -> Option<String> {
    let from = page.find(before)?;
    let rest = &page[from..];
    let at = rest.find(&format!("{attr}=\""))? + attr.len() + 2;
    let end = rest[at..].find('"')?;
    Some(unescape(&rest[at..at + end]))
}

/// A browser: a cookie jar, no automatic redirects (each hop is followed and counted).
pub struct Browser {
    pub http: reqwest::Client,
    base: String,
}

/// The last answer of a followed navigation.
pub struct Page {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
    /// Every URL visited on the way, for assertions about the route taken.
    pub hops: Vec<String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    /// A browser that opens a new connection for every request (no idle connections are
    /// kept), so a proxy in front of several nodes can steer each request.
    pub fn fresh_connections(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    async fn follow(&self, mut res: reqwest::Response) -> Page {
        let mut hops = vec![res.url().to_string()];
        while res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let next = res.url().join(&location).unwrap().to_string();
            hops.push(next.clone());
            if !next.starts_with(&self.base) {
                // A redirect off the portal (to a client's redirect URI): stop there.
                return Page {
                    status: res.status(),
                    url: next,
                    body: String::new(),
                    hops,
                };
            }
            assert!(hops.len() < 15, "redirect loop: {hops:?}");
            res = self.http.get(&next).send().await.unwrap();
        }
        Page {
            status: res.status(),
            url: res.url().to_string(),
            body: res.text().await.unwrap(),
            hops,
        }
    }

    /// GET, following redirects.
    pub async fn get(&self, url: &str) -> Page {
        let res = self.http.get(self.absolute(url)).send().await.unwrap();
        self.follow(res).await
    }

    /// POST a form, following redirects.
    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(self.absolute(url))
            .form(form)
            .send()
            .await
            .unwrap();
        self.follow(res).await
    }

    /// Fills in the sign-in page it is on.
    pub async fn sign_in(&self, login_page: &Page, username: &str, password: &str) -> Page {
        assert!(
            login_page.body.contains("name=\"username\""),
            "not the sign-in page: {}",
            login_page.body
        );
        let action = attribute(&login_page.body, "<form", "action").unwrap();
        let return_to = attribute(&login_page.body, "name=\"return_to\"", "value").unwrap();
        let action = reqwest::Url::parse(&login_page.url)
            .unwrap()
            .join(&action)
            .unwrap();
        self.post(
            action.as_str(),
            &[
                ("username", username),
                ("password", password),
                ("return_to", &return_to),
            ],
        )
        .await
    }
}

/// Debian's Chromium, which the browser tests drive headless.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// `tests/interop`: the Node scripts the browser tests run, and their `node_modules`.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Whether a browser test can run: `npm` `packages` under `tests/interop`, Chromium and
/// node. When something is missing it says SKIPPED loudly and answers `false`, except
/// under `CI=true`, where it fails the test.
pub fn browser_available(test: &str, packages: &[&str]) -> bool {
    let mut missing = Vec::new();
    for package in packages {
        if !interop_dir().join("node_modules").join(package).is_dir() {
            missing.push(format!(
                "tests/interop/node_modules/{package} (run `npm ci --prefix tests/interop`)"
            ));
        }
    }
    if !Path::new(CHROMIUM).is_file() {
        missing.push(format!(
            "{CHROMIUM} (apt-get install chromium chromium-driver)"
        ));
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node {
        missing.push("node on PATH".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: browser prerequisites missing under CI: {missing:?}"
    );
    eprintln!("\n!!!!! SKIPPED {test}: missing {missing:?} !!!!!\n");
    false
}
