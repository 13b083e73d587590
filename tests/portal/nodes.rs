//! Several nodes on one PostgreSQL (issue 9): three `portal serve` processes behind one
//! public address, as a load balancer would put them. Everything a sign-in, a grant or a
//! limit depends on lives in the database, so it holds whichever node answers: a user signs
//! in on one node, redeems the code on a second and refreshes on a third; a refresh-token
//! reuse seen by one node revokes the family on all; a key rotation reaches every node
//! within a minute; the sign-in lock and TOTP replay protection count across nodes; and a
//! node killed with SIGKILL in the middle of a load run loses nothing the others answered.
//!
//! The proxy in front is a plain TCP forwarder on its own thread. The test steers it: every
//! new connection goes to the node it names, or round-robin over the nodes that take
//! connections. The browsers here open a new connection per request, so each request goes
//! where the test says.

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use idp::domain::totp::{Seed, step_at};
use serde_json::{Value, json};
use testkit::{Backend, TestDatabase};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};

use crate::oidc::{pkce, query_param, url_form};
use crate::support::{Browser, Page, Portal, attribute, quoted_printable};

const CLIENT: &str = "extern";
const ADMIN_CLIENT: &str = "beheer-test";
const SERVICE: &str = "dienst";
const SECRET: &str = "a-client-secret-for-the-node-tests-0123456789";
const REDIRECT: &str = "https://rp.example.nl/cb";
const PASSWORD: &str = "blauwe tulpen in de lente";
const LOGIN: &str = "info@meerknopen.nl";

/// Route value meaning: round-robin over the nodes that accept a connection.
const ROUND_ROBIN: usize = usize::MAX;

/// A TCP forwarder at the public address, in front of the nodes.
struct Proxy {
    port: u16,
    route: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `nodes` (`host:port`).
    fn start(nodes: Vec<String>) -> Self {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let route = Arc::new(AtomicUsize::new(ROUND_ROBIN));
        let steer = route.clone();
        // Its own runtime on its own thread: the test's runtime may be busy in a blocking
        // call (a CLI command) while a node needs the public address.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                forward(TcpListener::from_std(listener).unwrap(), nodes, steer).await;
            });
        });
        Self { port, route }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// New connections go to node `i` only.
    fn to(&self, i: usize) {
        self.route.store(i, Ordering::SeqCst);
    }

    fn round_robin(&self) {
        self.route.store(ROUND_ROBIN, Ordering::SeqCst);
    }
}

async fn forward(listener: TcpListener, nodes: Vec<String>, route: Arc<AtomicUsize>) {
    let nodes = Arc::new(nodes);
    let next = AtomicUsize::new(0);
    while let Ok((mut inbound, _)) = listener.accept().await {
        let order: Vec<usize> = match route.load(Ordering::SeqCst) {
            ROUND_ROBIN => {
                let first = next.fetch_add(1, Ordering::SeqCst);
                (0..nodes.len())
                    .map(|i| (first + i) % nodes.len())
                    .collect()
            }
            i => vec![i],
        };
        let nodes = nodes.clone();
        tokio::spawn(async move {
            // A node that refuses the connection is skipped, as a load balancer does.
            for i in order {
                if let Ok(mut outbound) = TcpStream::connect(&nodes[i]).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}

/// Nodes on one database behind one proxy. Node 0's SMTP sink receives every node's mail.
struct Cluster {
    proxy: Proxy,
    nodes: Vec<Portal>,
    public: String,
}

impl Cluster {
    /// `n` nodes sharing the database, the master key, the public URL and the mail server;
    /// node 0 starts first (it migrates), with `env` set on every node.
    async fn start(db: &TestDatabase, n: usize, env: &[(&str, &str)]) -> Self {
        let mut nodes: Vec<Portal> = (0..n).map(|_| Portal::new(db)).collect();
        let proxy = Proxy::start(
            nodes
                .iter()
                .map(|p| p.base.trim_start_matches("http://").to_owned())
                .collect(),
        );
        let public = proxy.url();
        let key = [
            uuid::Uuid::new_v4().into_bytes(),
            uuid::Uuid::new_v4().into_bytes(),
        ]
        .concat();
        let key = STANDARD.encode(key);
        let smtp = nodes[0].smtp.url();
        for node in &mut nodes {
            node.smtp_url = smtp.clone();
            node.set_env("PORTAL_PUBLIC_URL", &public);
            node.set_env("PORTAL_MASTER_KEY", &key);
            node.set_env(
                "PORTAL_ADMIN_CLIENTS",
                &format!("offerteportaal,{ADMIN_CLIENT}"),
            );
            for (k, v) in env {
                node.set_env(k, v);
            }
        }
        for node in &mut nodes {
            node.start().await;
        }
        let cluster = Self {
            proxy,
            nodes,
            public,
        };
        cluster.cli(&[
            "office",
            "add-head",
            "--number",
            "12345",
            "--name",
            "Meer Knopen Advies",
            "--email",
            LOGIN,
            "--rights",
            "DIP,DIL",
        ]);
        for (id, grants) in [
            (CLIENT, &["authorization_code", "refresh_token"][..]),
            (ADMIN_CLIENT, &["authorization_code", "refresh_token"][..]),
            (SERVICE, &["client_credentials"][..]),
        ] {
            let mut args = vec!["client", "add", "--id", id, "--secret", SECRET];
            if id != SERVICE {
                args.extend(["--redirect-uri", REDIRECT]);
            }
            for g in grants {
                args.extend(["--grant-type", g]);
            }
            cluster.cli(&args);
        }
        // The main user activates (through node 0).
        cluster.proxy.to(0);
        let link = cluster.link_in_mail(LOGIN, "/idp/activate/").await;
        let done = Browser::fresh_connections(&cluster.public)
            .post(
                &link,
                &[("password", PASSWORD), ("password_repeat", PASSWORD)],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        cluster.proxy.round_robin();
        cluster
    }

    /// Runs a CLI command (on node 0's settings) and insists it succeeds.
    fn cli(&self, args: &[&str]) -> String {
        let out = self.nodes[0].cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The first link under `path` of the public URL in a mail to `to` (within 20 s).
    async fn link_in_mail(&self, to: &str, path: &str) -> String {
        let needle = format!("{}{path}", self.public);
        let mail = self.nodes[0]
            .smtp
            .wait_for(
                |m| m.to.iter().any(|t| t == to) && quoted_printable(&m.data).contains(&needle),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|| panic!("no mail to {to} with {needle}"));
        let text = quoted_printable(&mail.data);
        let start = text.find(&needle).unwrap();
        text[start..]
            .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .next()
            .unwrap()
            .to_owned()
    }

    /// The authorization request of `client` for `browser`; signs in with `password` when
    /// the sign-in page comes. Returns the page the flow stopped on.
    async fn authorize(&self, browser: &Browser, client: &str, password: &str) -> (Page, String) {
        let (verifier, challenge) = pkce();
        let mut url = reqwest::Url::parse(&format!("{}/idp/authorize", self.public)).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid portal offline_access")
            .append_pair("state", "st")
            .append_pair("nonce", "n")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut page = browser.get(url.as_str()).await;
        if page.body.contains("name=\"username\"") {
            page = browser.sign_in(&page, LOGIN, password).await;
        }
        (page, verifier)
    }

    /// POSTs a form to `/idp/<path>` of the public URL as `client`.
    async fn post_as(&self, path: &str, client: &str, form: &[(&str, &str)]) -> reqwest::Response {
        post_as(&self.public, path, client, form).await
    }
}

/// POSTs a form to `base/idp/<path>` as `client` (client_secret_basic), on a new connection.
async fn post_as(base: &str, path: &str, client: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let basic = STANDARD.encode(format!("{client}:{}", url_form(SECRET)));
    fresh()
        .post(format!("{base}/idp/{path}"))
        .header("authorization", format!("Basic {basic}"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// An HTTP client without idle connections: every request is a new connection.
fn fresh() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn kid(jwt: &str) -> String {
    let part = jwt.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The `kid`s a node publishes.
async fn published_kids(node: &Portal) -> Vec<String> {
    let jwks: Value = fresh()
        .get(format!("{}/idp/jwks", node.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A fresh PostgreSQL database, or `None` after a loud skip (a failure under `CI=true`).
async fn postgres() -> Option<TestDatabase> {
    testkit::fresh_database(Backend::Postgres).await
}

#[test]
fn a_sign_in_on_one_node_redeems_on_a_second_and_refreshes_on_a_third() {
    testkit::block_on(async {
        let Some(db) = postgres().await else { return };
        let cluster = Cluster::start(&db, 3, &[]).await;
        let browser = Browser::fresh_connections(&cluster.public);

        // Node 0 signs the user in and issues the code.
        cluster.proxy.to(0);
        let (page, verifier) = cluster.authorize(&browser, CLIENT, PASSWORD).await;
        assert!(
            page.url.starts_with(REDIRECT),
            "{:?} {}",
            page.hops,
            page.body
        );
        let code = query_param(&page.url, "code").unwrap();

        // Node 1 redeems it.
        cluster.proxy.to(1);
        let (status, first) = json_of(
            cluster
                .post_as(
                    "token",
                    CLIENT,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", &verifier),
                    ],
                )
                .await,
        )
        .await;
        assert_eq!(status, 200, "{first}");
        let id_token = first["id_token"].as_str().unwrap();
        assert_eq!(claims(id_token)["iss"], cluster.public.clone() + "/idp");
        // The signing key is one every node publishes.
        for node in &cluster.nodes {
            assert!(published_kids(node).await.contains(&kid(id_token)));
        }
        let rt1 = first["refresh_token"].as_str().unwrap().to_owned();

        // Node 2 rotates the refresh token.
        cluster.proxy.to(2);
        let cl = &cluster;
        let refresh = |rt: String| async move {
            json_of(
                cl.post_as(
                    "token",
                    CLIENT,
                    &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                )
                .await,
            )
            .await
        };
        let (status, second) = refresh(rt1.clone()).await;
        assert_eq!(status, 200, "{second}");
        let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
        let access2 = second["access_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2);
        let userinfo = |i: usize, token: String| {
            let base = cluster.nodes[i].base.clone();
            async move {
                fresh()
                    .get(format!("{base}/idp/userinfo"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        for i in 0..3 {
            assert_eq!(
                userinfo(i, access2.clone()).await,
                200,
                "node {i} accepts the token"
            );
        }

        // Node 0 sees the old refresh token again: a reuse. The family is revoked for all.
        cluster.proxy.to(0);
        let (status, reuse) = refresh(rt1).await;
        assert_eq!(
            (status, reuse["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        cluster.proxy.to(1);
        let (status, after) = refresh(rt2).await;
        assert_eq!(
            (status, after["error"].as_str()),
            (400, Some("invalid_grant")),
            "the newest token of the family is revoked on another node"
        );
        for i in 0..3 {
            assert_eq!(
                userinfo(i, access2.clone()).await,
                401,
                "node {i} refuses the revoked token"
            );
        }
        let audit = fresh_count(
            &cluster.nodes[0],
            "SELECT COUNT(*) FROM audit_log WHERE action = 'oauth.refresh_reused'",
        )
        .await;
        assert_eq!(audit, 1);
    });
}

async fn fresh_count(node: &Portal, sql: &'static str) -> i64 {
    let db = node.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await)
    .unwrap()
}

#[test]
fn a_key_rotated_on_one_node_is_served_by_every_node_within_a_minute() {
    testkit::block_on(async {
        let Some(db) = postgres().await else { return };
        let cluster = Cluster::start(&db, 3, &[]).await;
        let out = cluster.cli(&["keys", "rotate"]);
        let new_kid = out
            .split("new signing key ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no kid in {out:?}"))
            .to_owned();
        // Every node re-reads the keys at least once a minute.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(75);
        for (i, node) in cluster.nodes.iter().enumerate() {
            while !published_kids(node).await.contains(&new_kid) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "node {i} did not publish {new_kid} within a minute"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        // Meanwhile every node still signs with a key every node publishes.
        for i in 0..3 {
            let (status, body) = json_of(
                post_as(
                    &cluster.nodes[i].base,
                    "token",
                    SERVICE,
                    &[("grant_type", "client_credentials")],
                )
                .await,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let signed_with = kid(body["access_token"].as_str().unwrap());
            for node in &cluster.nodes {
                assert!(published_kids(node).await.contains(&signed_with));
            }
        }
    });
}

#[test]
fn the_sign_in_lock_and_totp_replay_protection_hold_across_nodes() {
    testkit::block_on(async {
        let Some(db) = postgres().await else { return };
        let cluster = Cluster::start(&db, 3, &[("PORTAL_MFA_REQUIRED_FROM", "2025-07-01")]).await;

        // TOTP: enrolment on node 0; a code used on node 1 is refused on node 2.
        cluster.proxy.to(0);
        let browser = Browser::fresh_connections(&cluster.public);
        let (setup, _) = cluster.authorize(&browser, CLIENT, PASSWORD).await;
        assert!(
            setup.url.ends_with("/idp/2fa/instellen"),
            "{} {}",
            setup.url,
            setup.body
        );
        let from = setup.body.find("id=\"totp-key\" class=\"key\">").unwrap()
            + "id=\"totp-key\" class=\"key\">".len();
        let key = &setup.body[from..from + setup.body[from..].find("</code>").unwrap()];
        let seed = Seed::from_display_key(key).expect("a base32 key on the page");
        let now = step_at(OffsetDateTime::now_utc());
        let codes = submit(
            &browser,
            &setup,
            &[("code", &seed.code_at_step(now).unwrap())],
        )
        .await;
        assert!(codes.body.contains("Uw herstelcodes"), "{}", codes.body);

        let next = seed.code_at_step(now + 1).unwrap();
        cluster.proxy.to(1);
        let second = Browser::fresh_connections(&cluster.public);
        let (code_page, _) = cluster.authorize(&second, CLIENT, PASSWORD).await;
        assert!(code_page.url.ends_with("/idp/2fa"), "{}", code_page.url);
        let done = submit(&second, &code_page, &[("code", &next)]).await;
        assert!(
            done.url.starts_with(REDIRECT),
            "{:?} {}",
            done.hops,
            done.body
        );

        cluster.proxy.to(2);
        let third = Browser::fresh_connections(&cluster.public);
        let (code_page, _) = cluster.authorize(&third, CLIENT, PASSWORD).await;
        let replay = submit(&third, &code_page, &[("code", &next)]).await;
        assert!(
            replay.body.contains("Deze code is onjuist of verlopen."),
            "{}",
            replay.body
        );
        assert!(!replay.url.starts_with(REDIRECT));
        assert_eq!(
            fresh_count(
                &cluster.nodes[0],
                "SELECT COUNT(*) FROM audit_log WHERE action = 'totp.replayed'"
            )
            .await,
            1
        );

        // The sign-in lock: five wrong passwords spread over the nodes lock the account
        // on every node, even for the right password.
        for attempt in 0..5 {
            cluster.proxy.to(attempt % 3);
            let b = Browser::fresh_connections(&cluster.public);
            let (page, _) = cluster.authorize(&b, CLIENT, "een fout wachtwoord").await;
            assert_eq!(page.status, 200, "attempt {attempt}: {}", page.body);
        }
        for i in 0..3 {
            cluster.proxy.to(i);
            let b = Browser::fresh_connections(&cluster.public);
            let (page, _) = cluster.authorize(&b, CLIENT, PASSWORD).await;
            assert_eq!(page.status, 429, "node {i}: {}", page.body);
        }
    });
}

/// Posts the first form on `page` with `fields`.
async fn submit(browser: &Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
    let action = attribute(&page.body, "<form", "action").unwrap();
    let url = reqwest::Url::parse(&page.url)
        .unwrap()
        .join(&action)
        .unwrap();
    browser.post(url.as_str(), fields).await
}

/// The outcome of one request of the load run.
#[derive(Debug)]
struct Outcome {
    node: usize,
    /// The status, or `None` when the connection failed.
    status: Option<u16>,
    /// The user created, for a creation answered 201.
    created: Option<String>,
}

#[test]
fn a_node_killed_in_the_middle_of_a_load_run_loses_nothing() {
    testkit::block_on(async {
        let Some(db) = postgres().await else { return };
        let mut cluster = Cluster::start(&db, 3, &[]).await;

        // The main user signs in on node 1 (the one to be killed) and gets an admin token.
        cluster.proxy.to(1);
        let browser = Browser::fresh_connections(&cluster.public);
        let (page, verifier) = cluster.authorize(&browser, ADMIN_CLIENT, PASSWORD).await;
        let code = query_param(&page.url, "code").unwrap();
        let (status, tokens) = json_of(
            cluster
                .post_as(
                    "token",
                    ADMIN_CLIENT,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", &verifier),
                    ],
                )
                .await,
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        let admin = tokens["access_token"].as_str().unwrap().to_owned();

        // The load: workers taking turns over the nodes (client-side rotation, so each
        // answer is known to come from its node), half token requests, half new users.
        let bases: Arc<Vec<String>> =
            Arc::new(cluster.nodes.iter().map(|n| n.base.clone()).collect());
        let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counter = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for w in 0..6 {
            let (bases, dead, counter, admin) =
                (bases.clone(), dead.clone(), counter.clone(), admin.clone());
            workers.push(tokio::spawn(async move {
                let http = fresh();
                let mut outcomes = Vec::new();
                let until = tokio::time::Instant::now() + Duration::from_secs(8);
                while tokio::time::Instant::now() < until {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let node = n % 3;
                    if node == 1 && dead.load(Ordering::SeqCst) {
                        continue;
                    }
                    let base = &bases[node];
                    let outcome = if (n + w) % 2 == 0 {
                        let basic = STANDARD.encode(format!("{SERVICE}:{}", url_form(SECRET)));
                        let res = http
                            .post(format!("{base}/idp/token"))
                            .header("authorization", format!("Basic {basic}"))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await;
                        let status = match res {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let body: Value = r.json().await.unwrap_or(Value::Null);
                                let real = body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3);
                                Some(if status == 200 && !real { 599 } else { status })
                            }
                            Err(_) => None,
                        };
                        Outcome { node, status, created: None }
                    } else {
                        let email = format!("last{n}@meerknopen.nl");
                        let res = http
                            .post(format!("{base}/api/v1/users"))
                            .bearer_auth(&admin)
                            .json(&json!({"name": format!("Belasting {n}"), "email": email, "rights": ["DIL"]}))
                            .send()
                            .await;
                        let status = res.ok().map(|r| r.status().as_u16());
                        let created = (status == Some(201)).then_some(email);
                        Outcome { node, status, created }
                    };
                    outcomes.push(outcome);
                }
                outcomes
            }));
        }

        // Two seconds in, node 1 dies without warning; four seconds in, it comes back.
        tokio::time::sleep(Duration::from_secs(2)).await;
        dead.store(true, Ordering::SeqCst);
        cluster.nodes[1].signal("KILL");
        assert!(
            cluster.nodes[1]
                .wait_exit(Duration::from_secs(10))
                .await
                .is_some()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.nodes[1].start().await;
        dead.store(false, Ordering::SeqCst);

        let mut outcomes = Vec::new();
        for w in workers {
            outcomes.extend(w.await.unwrap());
        }
        let total = outcomes.len();
        let failed_elsewhere: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.node != 1 && !matches!(o.status, Some(200 | 201)))
            .collect();
        assert!(
            failed_elsewhere.is_empty(),
            "requests to the surviving nodes failed: {failed_elsewhere:?}"
        );
        let lost_on_killed = outcomes
            .iter()
            .filter(|o| o.node == 1 && o.status.is_none())
            .count();
        let created: Vec<&String> = outcomes.iter().filter_map(|o| o.created.as_ref()).collect();
        eprintln!(
            "load over three nodes with a SIGKILL: {total} requests, {} users created, {lost_on_killed} cut off on the killed node, 0 failed elsewhere",
            created.len()
        );
        assert!(created.len() > 10, "the load ran: {total} requests");

        // The session made on the killed node lives on: node 0 gives the browser a code
        // without asking for the password again; the admin token minted there still works.
        cluster.proxy.to(0);
        let (page, _) = cluster
            .authorize(&browser, ADMIN_CLIENT, "niet nodig")
            .await;
        assert!(
            page.url.starts_with(REDIRECT),
            "the session is gone: {:?}",
            page.hops
        );
        let res = fresh()
            .get(format!("{}/api/v1/users", cluster.nodes[2].base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        // Every user answered 201 exists, and every user the load made (answered or cut off
        // on the killed node) has its activation mail: changes and mails come together.
        let db = cluster.nodes[0].db().await;
        let stored: Vec<String> = idp::with_db!(&db, |pool| sqlx::query_scalar::<_, String>(
            "SELECT email FROM users WHERE email LIKE 'last%'"
        )
        .fetch_all(pool)
        .await)
        .unwrap();
        for email in &created {
            assert!(
                stored.contains(email),
                "{email} was answered 201 and is gone"
            );
        }
        // A mail claimed by the killed node is taken up again when its claim lapses (a
        // minute; mail goes out in order, so the line waits for it), so the wait allows for that.
        let sink = &cluster.nodes[0].smtp;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let missing: Vec<&String> = stored
                .iter()
                .filter(|email| {
                    !sink
                        .messages()
                        .iter()
                        .any(|m| m.to.iter().any(|t| t == *email))
                })
                .collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "activation mails lost: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // The killed node, restarted, serves.
        let (status, body) = json_of(
            post_as(
                &cluster.nodes[1].base,
                "token",
                SERVICE,
                &[("grant_type", "client_credentials")],
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    });
}
