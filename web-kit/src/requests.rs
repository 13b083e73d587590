//! Every request gets an id of ours, and a handler that panics gets a generic 500 that
//! names it instead of a dropped connection (SECURITY HD-03).
//!
//! The id is a fresh UUID: an `X-Request-Id` the client sent is replaced, so a log line
//! never carries a caller's text as if it were ours. It is the `id` of the `request` span
//! that everything logged for the request sits in, and it is sent back in `X-Request-Id`
//! (and in the text of a panic's answer), so what a person reports can be found in the
//! log. The panic answer says nothing of the
//! cause; the cause is logged in the request's span.

use std::any::Any;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

/// The header that carries the request id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The text of the answer to a request whose handler panicked, before its request id.
pub const PANIC_TEXT: &str =
    "Er is iets misgegaan aan onze kant. Probeer het later opnieuw; noem bij vragen dit kenmerk:";

/// Marks the answer [`panicked`] made, so that [`tag`] can put the id in its text.
#[derive(Debug, Clone, Copy)]
struct Panicked;

/// Wraps `router` so that every request has an id and a panic answers 500.
pub fn identify<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(tag))
}

/// Gives the request a fresh id, runs it in a span named for it, and returns the id.
async fn tag(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    let value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"));
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let span = tracing::error_span!("request", id = %id);
    let mut res = next.run(req).instrument(span).await;
    if res.extensions().get::<Panicked>().is_some() {
        // The person sees the id too, to quote it; the cause stays in the log.
        res = (res.status(), format!("{PANIC_TEXT} {id}")).into_response();
    }
    res.headers_mut().insert(REQUEST_ID, value);
    res
}

/// The answer to a panic: logged with its message, answered without it.
fn panicked(cause: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %message, "a request's handler panicked");
    let mut res = (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        PANIC_TEXT,
    )
        .into_response();
    res.extensions_mut().insert(Panicked);
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        identify(Router::new().route("/ok", get(|| async { "ok" })).route(
            "/panic",
            get(|| async {
                let secret = "geheim-42";
                if !secret.is_empty() {
                    panic!("broke on {secret}");
                }
                "never"
            }),
        ))
    }

    async fn call(path: &str, client_id: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut req = Request::builder().uri(path);
        if let Some(id) = client_id {
            req = req.header(REQUEST_ID, id);
        }
        let res = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let id = res
            .headers()
            .get(REQUEST_ID)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, id, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_panic_answers_a_generic_500_with_the_request_id() {
        let (status, id, body) = call("/panic", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("geheim"), "the cause stays in the log");
        let id = id.expect("a request id");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(
            body,
            format!("{PANIC_TEXT} {id}"),
            "the id to quote is on the page"
        );
    }

    #[tokio::test]
    async fn every_answer_carries_an_id_of_ours_never_the_callers() {
        let (status, first, _) = call("/ok", Some("mijn-eigen-id")).await;
        assert_eq!(status, StatusCode::OK);
        let first = first.unwrap();
        assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
        let (_, second, _) = call("/ok", Some(&first)).await;
        assert_ne!(second.unwrap(), first, "each request its own id");
    }
}
