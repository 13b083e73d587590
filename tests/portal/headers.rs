//! SECURITY HD-01, HD-02, HD-03 on the whole route table, not on a sample: every route of
//! every part the portal serves (the idp, the admin API, the management UI with its relying
//! party, each product portal with its relying party, the static assets and /healthz), with
//! every method it serves, is requested from the running binary, signed out and signed in,
//! and each answer (200, 303, 400, 401, 403, 404, 405, 422, …) must carry the headers. A
//! second walk, signed out, runs against a portal behind TLS for HSTS on every answer.
//!
//! The route table is each part's own `ROUTES`, listed next to its router
//! (`idp::oidc::ROUTES`, `idp::login::ROUTES`, `idp::api::ROUTES`, `admin_ui::ROUTES`,
//! `product_adapters::ROUTES`, `web_kit::assets::ROUTES`). It cannot drift from the routers:
//! `every_route_is_in_a_route_table` compares its paths with the paths the routers
//! themselves hold (`web_kit::headers::route_paths`), and the server test compares its
//! methods with the `Allow` header each path's 405 answer gives. A route added to a router
//! but not to its table therefore fails this file, and so does a part whose answers lose
//! the headers (e.g. a router merged outside `harden()` in src/serve.rs).
//!
//! Runs on both databases: the headers come from layers that do not look at the database,
//! but many of the answers checked here (401s, 404 pages, sign-in redirects) are decided by
//! a store read first, and each backend takes its own error paths.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use product_registry::Registry;
use relying_party::{RelyingParty, RpSettings};
use reqwest::{Method, Response};
use testkit::TestDatabase;
use web_kit::headers::{RouteTable, check_route_table, compare_route_table, route_paths};

use crate::support::{Browser, Portal};

/// What `harden()` in src/serve.rs serves itself besides the static assets. serve.rs is in
/// the binary, whose router a test cannot build, so this one is listed here by hand.
const HARDEN_ROUTES: RouteTable = &[("GET", "/healthz")];

/// Where the idp and its admin API are mounted (src/serve.rs, the default issuer path).
const IDP: &str = "/idp";
const API: &str = "/api/v1";

/// Answers meant to be cached by anyone: they hold nothing about a person.
const PUBLIC: [&str; 5] = [
    "/static/passkey.js",
    "/static/portal.css",
    "/idp/.well-known/openid-configuration",
    "/idp/jwks",
    "/healthz",
];

/// The only routes that may answer a cross-origin request (SECURITY OP-27): public
/// documents and the endpoints a browser-based client calls with a token, never with
/// credentials (cookies).
const CORS_ALLOWED: [&str; 4] = [
    "/idp/.well-known/openid-configuration",
    "/idp/jwks",
    "/idp/token",
    "/idp/userinfo",
];

/// Routes whose every answer, signed in or not, must say `Cache-Control: no-store`
/// (tokens, claims and the admin API; OP-11, HD-03).
fn always_no_store(path: &str) -> bool {
    [
        "/idp/par",
        "/idp/token",
        "/idp/userinfo",
        "/idp/introspect",
        "/idp/revoke",
    ]
    .contains(&path)
        || path.starts_with("/api/v1/")
}

/// One route of the running portal.
#[derive(Debug, Clone)]
struct Route {
    part: &'static str,
    method: &'static str,
    /// The full path template, e.g. `/api/v1/users/{id}`.
    path: String,
}

fn mounted(part: &'static str, prefix: &str, table: RouteTable, out: &mut Vec<Route>) {
    for (method, path) in table {
        out.push(Route {
            part,
            method,
            path: format!("{prefix}{path}"),
        });
    }
}

/// The products `portal serve` mounts: the registry's (the shipped one; the tests set no
/// PORTAL_PRODUCTS_FILE) that run in this process and have an adapter.
fn products() -> Vec<(
    product_registry::Product,
    Arc<dyn product_adapters::ProductAdapter>,
)> {
    let registry = Registry::builtin().unwrap();
    let adapters = product_adapters::builtin_adapters();
    registry
        .products()
        .iter()
        .filter(|p| p.url.is_none())
        .filter_map(|p| {
            let a = adapters.iter().find(|a| a.code() == p.code.as_str())?;
            Some((p.clone(), a.clone()))
        })
        .collect()
}

/// The whole route table, after checking that each part's table holds exactly the paths
/// its router serves.
fn route_table() -> Vec<Route> {
    let templates = web_kit::Templates::load().unwrap();
    let base = "http://127.0.0.1:8080";
    let mut routes = Vec::new();

    let idp_table = [idp::oidc::ROUTES, idp::login::ROUTES].concat();
    check_route_table(&idp::routes(), &idp_table).unwrap_or_else(|e| panic!("idp: {e}"));
    for (method, path) in idp_table {
        routes.push(Route {
            part: "idp",
            method,
            path: format!("{IDP}{path}"),
        });
    }

    check_route_table(&idp::api::routes(), idp::api::ROUTES)
        .unwrap_or_else(|e| panic!("admin API: {e}"));
    mounted("admin API", API, idp::api::ROUTES, &mut routes);

    let shell = admin_ui::AdminUi::new(
        &admin_ui::AdminUiSettings {
            public_url: base.into(),
            issuer: format!("{base}{IDP}"),
            client_secret: "a-secret-for-the-route-table-0123456789".into(),
            secure_cookies: false,
            api_url: format!("{base}{API}"),
        },
        &Registry::builtin().unwrap(),
        templates.clone(),
    )
    .unwrap();
    check_route_table(&shell.router(), admin_ui::ROUTES)
        .unwrap_or_else(|e| panic!("management UI: {e}"));
    mounted("management UI", "", admin_ui::ROUTES, &mut routes);

    let products = products();
    assert!(!products.is_empty(), "no product portal is mounted");
    for (product, adapter) in products {
        let rp = Arc::new(
            RelyingParty::new(
                &RpSettings {
                    issuer: format!("{base}{IDP}"),
                    client_id: product.client_id.clone(),
                    client_secret: "a-secret-for-the-route-table-0123456789".into(),
                    redirect_uri: format!("{base}{}/auth/callback", product.path),
                    post_logout_redirect_uri: None,
                    cookie_name: "route_table".into(),
                    cookie_path: product.path.clone(),
                    secure_cookies: false,
                    scopes: relying_party::DEFAULT_SCOPES.into(),
                    session_lifetime: relying_party::DEFAULT_SESSION_LIFETIME,
                },
                templates.clone(),
            )
            .unwrap(),
        );
        let mut served = route_paths(
            &product_adapters::guarded_routes(adapter.as_ref())
                .merge(product_adapters::open_routes()),
        );
        served.extend(route_paths(&rp.routes()));
        compare_route_table(&served, product_adapters::ROUTES)
            .unwrap_or_else(|e| panic!("product portal {}: {e}", product.code));
        let part: &'static str = String::leak(format!("product portal {}", product.code));
        mounted(part, &product.path, product_adapters::ROUTES, &mut routes);
    }

    check_route_table(&web_kit::assets::routes::<()>(), web_kit::assets::ROUTES)
        .unwrap_or_else(|e| panic!("static assets: {e}"));
    mounted("static assets", "", web_kit::assets::ROUTES, &mut routes);
    mounted("health", "", HARDEN_ROUTES, &mut routes);
    routes
}

/// A route added to a router but not to its part's `ROUTES` fails here (and in that
/// part's own unit test), before any server is started.
#[test]
fn every_route_is_in_a_route_table() {
    let routes = route_table();
    assert!(routes.len() > 100, "{} routes", routes.len());
}

/// The path with its parameters filled in: the ids of real objects where the test has
/// them (so a signed-in GET shows the object), else a plausible value.
fn fill(template: &str, ids: &BTreeMap<&'static str, String>) -> String {
    let mut path = String::new();
    for segment in template.split('/').skip(1) {
        path.push('/');
        match segment {
            "{id}" => {
                let known = ids
                    .iter()
                    .find(|(prefix, _)| template.starts_with(*prefix))
                    .map(|(_, id)| id.clone());
                path.push_str(&known.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()));
            }
            "{token}" => path.push_str("dGhpcy1pcy1ub3QtYS10b2tlbi1vZi10aGlzLXBvcnRhbA"),
            "{kind}" => path.push_str("reset"),
            s if s.starts_with('{') => {
                panic!("{template}: a new path parameter {s}; give it a plausible value here")
            }
            s => path.push_str(s),
        }
    }
    path
}

/// A `Content-Security-Policy` as directive → value.
fn directives(csp: &str) -> BTreeMap<String, String> {
    csp.split(';')
        .filter_map(|d| {
            let d = d.trim();
            let (name, value) = d.split_once(' ').unwrap_or((d, ""));
            (!name.is_empty()).then(|| (name.to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

/// What the answers broke, and what they were.
#[derive(Default)]
struct Findings {
    failures: Vec<String>,
    /// (signed in, status) → answers.
    statuses: BTreeMap<(bool, u16), usize>,
    html: usize,
}

impl Findings {
    /// Checks one answer against every rule of HD-01..HD-03 it can be checked against.
    /// `path` is the route's template; `signed_in` whether the request carried a session.
    fn check(&mut self, what: &str, path: &str, res: &Response, signed_in: bool) {
        *self
            .statuses
            .entry((signed_in, res.status().as_u16()))
            .or_default() += 1;
        let html = rules(path, res, signed_in);
        self.html += usize::from(html.0);
        self.failures.extend(
            html.1
                .into_iter()
                .map(|rule| format!("{what} ({}): {rule}", res.status())),
        );
    }
}

/// Whether `res` is an HTML answer, and the rules it breaks.
fn rules(path: &str, res: &Response, signed_in: bool) -> (bool, Vec<String>) {
    let h = res.headers();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut broken = Vec::new();
    let mut fail = |rule: &str| broken.push(rule.to_owned());
    if get("x-content-type-options") != "nosniff" {
        fail("no X-Content-Type-Options: nosniff");
    }
    if get("x-frame-options") != "DENY" {
        fail("no X-Frame-Options: DENY");
    }
    if get("referrer-policy") != "no-referrer" {
        fail("no Referrer-Policy: no-referrer");
    }
    if get("cross-origin-opener-policy") != "same-origin" {
        fail("no Cross-Origin-Opener-Policy: same-origin");
    }
    if get("permissions-policy").is_empty() {
        fail("no Permissions-Policy");
    }
    for name in ["server", "x-powered-by"] {
        if h.contains_key(name) {
            fail(&format!("a {name} header: {}", get(name)));
        }
    }
    if h.contains_key("access-control-allow-credentials") {
        fail("CORS with credentials");
    }
    if h.contains_key("access-control-allow-origin") && !CORS_ALLOWED.contains(&path) {
        fail(&format!(
            "CORS: access-control-allow-origin: {}",
            get("access-control-allow-origin")
        ));
    }
    let csp = directives(get("content-security-policy"));
    if csp.get("frame-ancestors").is_some_and(|v| v != "'none'") {
        fail("CSP frame-ancestors is not 'none'");
    }
    let html = get("content-type").starts_with("text/html");
    if html {
        // HD-01. A directive left out falls back to default-src (CSP 3 §6.1), so the
        // effective script-src and object-src are checked.
        let effective = |name: &str| csp.get(name).or_else(|| csp.get("default-src"));
        if csp.is_empty() {
            fail("an HTML answer without Content-Security-Policy");
        } else {
            if !csp.contains_key("default-src") {
                fail("CSP without default-src");
            }
            if effective("script-src").is_none_or(|v| {
                v.contains("'unsafe-inline'") || v.contains("'unsafe-eval'") || v.contains('*')
            }) {
                fail("CSP script-src missing or allowing inline, eval or any host");
            }
            if effective("object-src").is_none_or(|v| v != "'none'") {
                fail("CSP object-src is not 'none'");
            }
            if csp.get("frame-ancestors").is_none_or(|v| v != "'none'") {
                fail("CSP frame-ancestors is not 'none'");
            }
            if csp.get("base-uri").is_none_or(|v| v != "'none'") {
                fail("CSP base-uri is not 'none'");
            }
            if csp
                .get("form-action")
                .is_none_or(|v| v.is_empty() || v.contains('*'))
            {
                fail("CSP form-action missing or open");
            }
        }
    }
    let must_not_store = always_no_store(path) || (signed_in && !PUBLIC.contains(&path));
    if must_not_store && !get("cache-control").contains("no-store") {
        fail(&format!(
            "Cache-Control {:?}, not no-store",
            get("cache-control")
        ));
    }
    (html, broken)
}

/// A client that keeps no cookies and follows no redirect.
fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const EVIL: &str = "https://evil.example";

/// The first quote id on a product's dashboard, if the demo data gave the user one there.
async fn a_quote_on(browser: &Browser, product_path: &str) -> Option<String> {
    let page = browser.get(&format!("{product_path}/dashboard")).await;
    let marker = format!("{product_path}/offertes/");
    page.body.match_indices(&marker).find_map(|(at, _)| {
        let id = page.body.get(at + marker.len()..at + marker.len() + 36)?;
        uuid::Uuid::parse_str(id).ok().map(|_| id.to_owned())
    })
}

testkit::both_databases! {
    async fn every_route_of_every_part_carries_the_security_headers(db: &TestDatabase) {
        walk_every_route(db).await;
    }

    async fn every_answer_on_https_carries_hsts(db: &TestDatabase) {
        walk_on_https(db).await;
    }
}

/// The route table by full path template: the part and the methods.
fn by_path(routes: &[Route]) -> BTreeMap<String, (&'static str, BTreeSet<&'static str>)> {
    let mut by_path: BTreeMap<String, (&'static str, BTreeSet<&'static str>)> = BTreeMap::new();
    for r in routes {
        by_path
            .entry(r.path.clone())
            .or_insert((r.part, BTreeSet::new()))
            .1
            .insert(r.method);
    }
    by_path
}

/// `method url` without a session. A GET comes cross-origin (CORS must not answer it);
/// other methods come without Origin, as from a non-browser client, so that the CSRF layer
/// lets them reach the route.
async fn signed_out(bare: &reqwest::Client, method: &str, url: &str) -> Response {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let req = bare.request(m.clone(), url);
    let req = if m == Method::GET {
        req.header("origin", EVIL)
    } else {
        req.header("content-type", "application/x-www-form-urlencoded")
            .body("")
    };
    req.send().await.unwrap()
}

/// HD-02's HSTS, on every route and method: behind TLS (`PORTAL_PUBLIC_URL` https, as in
/// `attacks::se01_…`) every answer, signed out, carries at least a year with
/// includeSubDomains, besides every other rule. Signed-in requests are not repeated here:
/// the portal's cookies are then `Secure`, and this client talks plain http to it. Nor is
/// the status checked: the shell and the product portals cannot reach their idp at its
/// https address here, and answer a sign-in with their 502 page (headers and all).
async fn walk_on_https(db: &TestDatabase) {
    let routes = route_table();
    let mut portal = Portal::new(db);
    let port = portal.base.rsplit(':').next().unwrap().to_owned();
    portal.set_env("PORTAL_PUBLIC_URL", &format!("https://localhost:{port}"));
    portal.start().await;
    let bare = anonymous();
    let mut found = Findings::default();
    let hsts = |what: &str, res: &Response, found: &mut Findings| {
        let value = res
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let max_age: u64 = value
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if max_age < 31_536_000 || !value.contains("includeSubDomains") {
            found
                .failures
                .push(format!("{what} ({}): HSTS {value:?}", res.status()));
        }
    };
    let no_ids = BTreeMap::new();
    for (template, (_, methods)) in &by_path(&routes) {
        let path = fill(template, &no_ids);
        let url = format!("{}{path}", portal.base);
        let res = bare
            .request(Method::OPTIONS, &url)
            .header("origin", EVIL)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        found.check(&format!("OPTIONS {path}"), template, &res, false);
        hsts(&format!("OPTIONS {path}"), &res, &mut found);
        for method in methods {
            let res = signed_out(&bare, method, &url).await;
            found.check(&format!("{method} {path}"), template, &res, false);
            hsts(&format!("{method} {path}"), &res, &mut found);
        }
    }
    let requests: usize = found.statuses.values().sum();
    println!("headers on https: {requests} answers checked, HSTS included");
    assert!(
        found.failures.is_empty(),
        "{} answers break HD-01..HD-03:\n{}",
        found.failures.len(),
        found.failures.join("\n")
    );
}

/// The ids of real objects for the `{id}` of paths starting with these prefixes: the
/// demo's employee and sub-office, and a quote of the user in each product portal.
async fn real_ids(portal: &Portal, browser: &Browser) -> BTreeMap<&'static str, String> {
    use crate::admin_api::{EMPLOYEE, SUB_MAIN, user_id};
    let employee = user_id(portal, EMPLOYEE).await;
    let db = portal.db().await;
    let office: Option<uuid::Uuid> = idp::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT office_id FROM users WHERE email = $1"
    )
    .bind(SUB_MAIN)
    .fetch_one(pool)
    .await
    .unwrap());
    db.close().await;
    let office = office.unwrap().to_string();
    let mut ids = BTreeMap::from([
        ("/gebruikers/", employee.clone()),
        ("/api/v1/users/", employee),
        ("/subkantoren/", office.clone()),
        ("/api/v1/offices/", office),
    ]);
    for (product, _) in products() {
        if let Some(id) = a_quote_on(browser, &product.path).await {
            ids.insert(String::leak(format!("{}/offertes/", product.path)), id);
        }
    }
    ids
}

async fn walk_every_route(db: &TestDatabase) {
    use crate::admin_api::{MAIN, token_for};
    let routes = route_table();
    let (portal, password) = crate::admin_api::demo(db, false).await;
    let bearer = token_for(&portal, MAIN, &password).await;

    // A main user with every product right, signed in to the shell, the idp and each
    // product portal.
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let page = browser.sign_in(&page, MAIN, &password).await;
    assert_eq!(page.status, 200, "{:?}", page.hops);
    for (product, _) in products() {
        let page = browser.get(&product.path).await;
        assert_eq!(page.status, 200, "{}: {:?}", product.path, page.hops);
    }
    let ids = real_ids(&portal, &browser).await;

    let bare = anonymous();
    let mut found = Findings::default();
    let by_path = by_path(&routes);
    let mut per_part: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (template, (part, methods)) in &by_path {
        let counted = per_part.entry(part).or_default();
        counted.0 += 1;
        counted.1 += methods.len();
        let path = fill(template, &ids);
        let url = format!("{}{path}", portal.base);

        // A cross-origin preflight, signed in (so the product portals' rights guard lets it
        // through to the router): 405, and `Allow` names exactly the listed methods.
        let res = browser
            .http
            .request(Method::OPTIONS, &url)
            .header("origin", EVIL)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        found.check(&format!("OPTIONS {path}"), template, &res, true);
        assert_eq!(res.status(), 405, "OPTIONS {path}");
        let allow: BTreeSet<&str> = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty() && *m != "HEAD")
            .collect();
        assert_eq!(
            &allow, methods,
            "{part}: the methods of {template} differ from its route table"
        );
        // HD-03: TRACE is served nowhere (signed in, so the rights guard lets it through).
        let res = browser
            .http
            .request(Method::TRACE, &url)
            .send()
            .await
            .unwrap();
        found.check(&format!("TRACE {path}"), template, &res, true);
        assert_eq!(res.status(), 405, "TRACE {path}");

        for method in methods {
            let res = signed_out(&bare, method, &url).await;
            found.check(
                &format!("{method} {path} signed out"),
                template,
                &res,
                false,
            );
            assert!(
                res.status().as_u16() < 500,
                "{method} {path}: {}",
                res.status()
            );

            // Signed in: GETs only, which change nothing; the admin API and userinfo with
            // the main user's access token.
            if *method == "GET" {
                let mut req = browser.http.get(&url).header("origin", EVIL);
                if always_no_store(template) {
                    req = req.bearer_auth(&bearer);
                }
                let res = req.send().await.unwrap();
                found.check(&format!("GET {path} signed in"), template, &res, true);
                assert!(
                    res.status().as_u16() < 500,
                    "GET {path} signed in: {}",
                    res.status()
                );
            }
        }
    }
    // An unrouted path in each part: a 404 is an answer like any other.
    for path in [
        "/geen-route",
        "/idp/geen-route",
        "/api/v1/geen-route",
        "/dip/geen-route",
        "/static/geen.css",
    ] {
        let res = bare
            .get(format!("{}{path}", portal.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
        found.check(&format!("GET {path}"), path, &res, false);
    }
    // The signed-in requests were signed in, to the end.
    let page = browser.get("/").await;
    assert_eq!(
        (page.status.as_u16(), page.hops.len()),
        (200, 1),
        "still signed in: {:?}",
        page.hops
    );

    for (part, (paths, methods)) in &per_part {
        println!("headers: {part}: {paths} paths, {methods} route methods");
    }
    let requests: usize = found.statuses.values().sum();
    println!(
        "headers: {} paths, {} route methods; {requests} answers checked ({} HTML), by (signed in, status): {:?}",
        by_path.len(),
        routes.len(),
        found.html,
        found.statuses
    );
    assert!(
        found.failures.is_empty(),
        "{} answers break HD-01..HD-03:\n{}",
        found.failures.len(),
        found.failures.join("\n")
    );
}
