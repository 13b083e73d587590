//! The admin UI's form and query extractors: axum's own decode the body, but a malformed
//! request (a missing field, a version that is no number, a body over the limit, the wrong
//! content type) gets the Dutch problem page instead of axum's English plain text. What a
//! value means is judged by the admin API, not here.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use serde::de::DeserializeOwned;

use crate::AppState;

/// A form posted from one of the admin UI's pages.
#[derive(Debug)]
pub(crate) struct PageForm<T>(pub T);

/// A query string of one of the admin UI's pages.
#[derive(Debug)]
pub(crate) struct PageQuery<T>(pub T);

/// The Dutch page for a request that could not be decoded.
pub(crate) struct Malformed {
    templates: web_kit::Templates,
    status: StatusCode,
}

impl IntoResponse for Malformed {
    fn into_response(self) -> Response {
        let key = if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            "bad_input.too_large"
        } else {
            "bad_input.request"
        };
        tracing::debug!(status = %self.status, "malformed admin UI request refused");
        self.templates.page(
            self.status,
            "admin/problem.html",
            crate::users::Problem {
                detail: self.templates.texts().text(key),
            },
        )
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = Malformed;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Malformed> {
        match Form::<T>::from_request(req, app).await {
            Ok(Form(v)) => Ok(Self(v)),
            Err(e) => Err(Malformed {
                templates: app.templates.clone(),
                status: e.status(),
            }),
        }
    }
}

impl<T: DeserializeOwned> FromRequestParts<AppState> for PageQuery<T> {
    type Rejection = Malformed;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Malformed> {
        match Query::<T>::from_request_parts(parts, app).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(e) => Err(Malformed {
                templates: app.templates.clone(),
                status: e.status(),
            }),
        }
    }
}
