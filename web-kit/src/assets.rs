//! The stylesheet and the one script (passkeys), embedded and served under `/static/`
//! (the CSP allows styles and scripts from 'self' only, so pages carry nothing inline).

use axum::Router;
use axum::http::header;
use axum::routing::get;

const PORTAL_CSS: &str = include_str!("../static/portal.css");
const PASSKEY_JS: &str = include_str!("../static/passkey.js");

/// Every route of [`routes`], for the whole-portal header test (SECURITY HD-02).
pub const ROUTES: crate::headers::RouteTable =
    &[("GET", "/static/passkey.js"), ("GET", "/static/portal.css")];

/// `GET /static/portal.css` and `GET /static/passkey.js`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/static/passkey.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    PASSKEY_JS,
                )
            }),
        )
        .route(
            "/static/portal.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    PORTAL_CSS,
                )
            }),
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_lists_every_route() {
        let router: axum::Router = super::routes();
        assert_eq!(
            crate::headers::check_route_table(&router, super::ROUTES),
            Ok(())
        );
    }
}
