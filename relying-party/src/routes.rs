//! The relying party's own HTTP endpoints (callback and sign-out) and the extractor that
//! gives a handler the signed-in user. Glue only: every decision is made in `flow.rs`.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use time::OffsetDateTime;

use crate::claims::SignedInUser;
use crate::error::{Failure, RpError};
use crate::flow::{CallbackParams, RelyingParty};

/// The callback path under the portal's mount point; the registered `redirect_uri` is
/// `{public_url}{mount}{CALLBACK_PATH}`.
pub const CALLBACK_PATH: &str = "/auth/callback";

/// The sign-out path under the portal's mount point (POST only: no GET changes state).
pub const LOGOUT_PATH: &str = "/auth/logout";

/// Where the idp posts logout tokens (Back-Channel Logout 1.0), under the mount path.
pub const BACKCHANNEL_PATH: &str = "/auth/backchannel-logout";

/// Where the idp pushes Security Event Tokens (RFC 8935, issue 10), under the mount path;
/// the idp's event stream for this client is `{public_url}{mount}{EVENTS_PATH}`.
pub const EVENTS_PATH: &str = "/auth/events";

impl RelyingParty {
    /// `GET /auth/callback` and `POST /auth/logout`, relative to where the portal is
    /// mounted, with this relying party as state.
    pub fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route(CALLBACK_PATH, get(callback))
            .route(LOGOUT_PATH, post(logout))
            .route(BACKCHANNEL_PATH, post(backchannel))
            .route(EVENTS_PATH, post(security_event))
            .with_state(self.clone())
    }

    /// The absolute path of the sign-out form's action, for page templates.
    pub fn logout_action(&self) -> String {
        let mount = self.mount_path().trim_end_matches('/');
        format!("{mount}{LOGOUT_PATH}")
    }
}

/// The body of a back-channel logout request.
#[derive(serde::Deserialize)]
struct LogoutTokenForm {
    logout_token: String,
}

/// `POST …/auth/backchannel-logout` (Back-Channel Logout 1.0 §2.8): 200 when the token
/// checks out (whether or not a session was still here), 400 otherwise; never cached.
async fn backchannel(
    State(rp): State<Arc<RelyingParty>>,
    form: Result<axum::Form<LogoutTokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let no_store = [web_kit::headers::no_store()];
    let Ok(axum::Form(form)) = form else {
        return (StatusCode::BAD_REQUEST, no_store).into_response();
    };
    match rp.backchannel_logout(&form.logout_token).await {
        Ok(_) => (StatusCode::OK, no_store).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout refused");
            (StatusCode::BAD_REQUEST, no_store).into_response()
        }
    }
}

/// `POST …/auth/events` (RFC 8935 §2): the body is a Security Event Token with media type
/// `application/secevent+jwt`. 202 when it checks out (whether or not a session was still
/// here); otherwise 400 with RFC 8935 §2.3's error JSON, which names no detail of why.
async fn security_event(
    State(rp): State<Arc<RelyingParty>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let refuse = |err: &str| {
        let body = axum::Json(serde_json::json!({ "err": err }));
        let no_store = [web_kit::headers::no_store()];
        (StatusCode::BAD_REQUEST, no_store, body).into_response()
    };
    let media_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|t| t.eq_ignore_ascii_case("application/secevent+jwt")) {
        return refuse("invalid_request");
    }
    match rp.security_event(body.trim()).await {
        Ok(_) => (StatusCode::ACCEPTED, [web_kit::headers::no_store()]).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "security event refused");
            refuse("authentication_failed")
        }
    }
}

async fn callback(
    State(rp): State<Arc<RelyingParty>>,
    jar: CookieJar,
    query: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(params) = query.map_err(|_| rp.failure(RpError::BadCallback("query")))?;
    let (jar, return_to) = rp
        .finish_login(jar, params, OffsetDateTime::now_utc())
        .await
        .map_err(|e| rp.failure(e))?;
    Ok((
        [web_kit::headers::no_store()],
        jar,
        Redirect::to(&return_to),
    )
        .into_response())
}

async fn logout(State(rp): State<Arc<RelyingParty>>, jar: CookieJar) -> Result<Response, Failure> {
    let (jar, location) = rp.sign_out(jar).await.map_err(|e| rp.failure(e))?;
    Ok(([web_kit::headers::no_store()], jar, Redirect::to(&location)).into_response())
}

/// The signed-in user of this request's browser, or `None`; for any state from which the
/// portal's [`RelyingParty`] can be had. A store failure becomes the error page.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<SignedInUser>);

impl<S> FromRequestParts<S> for MaybeUser
where
    Arc<RelyingParty>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rp = Arc::<RelyingParty>::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        rp.current_user(&jar)
            .await
            .map(MaybeUser)
            .map_err(|e| rp.failure(e))
    }
}
