//! The one stylesheet, embedded and served at `/static/portal.css` (the CSP allows styles
//! from 'self' only, so pages carry no inline style).

use axum::Router;
use axum::http::header;
use axum::routing::get;

const PORTAL_CSS: &str = include_str!("../static/portal.css");

/// `GET /static/portal.css`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
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
