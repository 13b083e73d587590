//! Security headers on every response (SECURITY HD-01, HD-02, HD-03).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The content security policy of every HTML page: no scripts or styles but our own, no
/// framing, forms only to ourselves. (HD-01)
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response of `router` that does not set its own.
///
/// `Cache-Control: no-store` is the default too (HD-03): admin API data, signed-in pages,
/// error answers and sign-in redirects are then never kept by a browser or proxy cache,
/// including those of routes added later. An answer meant to be cached (the static assets,
/// discovery, JWKS) says so itself.
///
/// HSTS is sent only when the portal is served over https: a browser on a plain-http
/// development address ignores it anyway.
pub fn secure<S: Clone + Send + Sync + 'static>(router: Router<S>, https: bool) -> Router<S> {
    let fixed: [(HeaderName, &'static str); 7] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ];
    let mut router = router;
    for (name, value) in fixed {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if https {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    router
}

/// `Cache-Control: no-store` for responses that carry tokens or personal pages (OP-11, HD-03).
pub fn no_store() -> (HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// A part's route table as it lists it next to its router: `(method, path template)`,
/// e.g. `("GET", "/users/{id}")`. The whole-portal header test requests every entry
/// (SECURITY HD-02: "checked across the whole route table").
pub type RouteTable = &'static [(&'static str, &'static str)];

/// The path templates `router` serves, sorted, read from the router itself.
///
/// axum has no API that lists a router's routes, but its `Debug` output holds the path of
/// every route (`node: Node { paths: {RouteId(1): "/jwks", …} }`), however it was added:
/// `.route`, `.merge` or `.nest` of another router. A service mounted with `nest_service`
/// shows only as its prefix. The unit test below pins that format, so an axum upgrade that
/// changes it fails there instead of silently listing nothing.
pub fn route_paths<S>(router: &Router<S>) -> Vec<String> {
    const MARK: &str = "node: Node { paths: {";
    let debug = format!("{router:?}");
    let Some(at) = debug.find(MARK) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut chars = debug[at + MARK.len()..].chars();
    while let Some(c) = chars.next() {
        match c {
            '}' => break,
            '"' => {
                let mut path = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => path.extend(chars.next()),
                        '"' => break,
                        c => path.push(c),
                    }
                }
                paths.push(path);
            }
            _ => {}
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

/// Whether the paths `router` serves are exactly those of `listed`: `Err` names every path
/// served but not listed, and every path listed but not served.
pub fn check_route_table<S>(router: &Router<S>, listed: &[(&str, &str)]) -> Result<(), String> {
    compare_route_table(&route_paths(router), listed)
}

/// [`check_route_table`] for paths read from several routers (see [`route_paths`]).
pub fn compare_route_table(served: &[String], listed: &[(&str, &str)]) -> Result<(), String> {
    let mut wanted: Vec<&str> = listed.iter().map(|(_, path)| *path).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let unlisted: Vec<&String> = served
        .iter()
        .filter(|p| !wanted.contains(&p.as_str()))
        .collect();
    let missing: Vec<&&str> = wanted
        .iter()
        .filter(|p| !served.iter().any(|s| s == **p))
        .collect();
    if unlisted.is_empty() && missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "served but not in the route table: {unlisted:?}; listed but not served: {missing:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};

    #[test]
    fn a_routers_paths_are_read_from_the_router_itself() {
        let inner: Router<()> = Router::new().route("/b/{id}", post(|| async {}));
        let router: Router<()> = Router::new()
            .route("/a", get(|| async {}).post(|| async {}))
            .merge(Router::new().route("/\"quoted\"", get(|| async {})))
            .nest("/n", inner)
            .fallback(|| async {})
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ));
        assert_eq!(
            route_paths(&router),
            ["/\"quoted\"", "/a", "/n/b/{id}"],
            "{router:?}"
        );
        assert_eq!(
            check_route_table(
                &router,
                &[
                    ("GET", "/a"),
                    ("POST", "/a"),
                    ("GET", "/\"quoted\""),
                    ("POST", "/n/b/{id}")
                ]
            ),
            Ok(())
        );
        let complaint = check_route_table(&router, &[("GET", "/a"), ("GET", "/c")])
            .err()
            .unwrap_or_default();
        assert!(
            complaint.contains("\"/n/b/{id}\"") && complaint.contains("\"/c\""),
            "{complaint}"
        );
        assert!(route_paths(&Router::<()>::new()).is_empty());
    }
}
