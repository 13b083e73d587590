//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the back-channel
//! logout tokens it sends (OpenID Connect Back-Channel Logout 1.0).
//!
//! The browser's idp session ends, with every grant made in it (SECURITY OP-19), and
//! every client that got tokens in it and registered a back-channel URI is told through
//! the durable outbox. The browser goes back to the client only when the `id_token_hint`
//! is ours (signature, issuer; an expired one is fine) and the `post_logout_redirect_uri`
//! is registered for that client byte for byte; otherwise it sees a Dutch page
//! (SECURITY OP-24). Without a hint that belongs to the signed-in user, the person is asked
//! first (RP-Initiated Logout §2: "the OP MUST ask the End-User").

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::PageError;
use crate::extract::{PageForm, PageQuery};
use crate::keys::KeyError;
use crate::login::session;
use crate::mail::{self, BackchannelDelivery, MailError};
use crate::state::{AppState, Core};
use crate::store::clients::Client;
use crate::store::outbox::NewMail;
use crate::store::{StoreError, grants, sessions};

/// Back-Channel Logout §2.4 / SECURITY OP-25: a logout token lives at most 2 minutes.
pub const LOGOUT_TOKEN_TTL: Duration = Duration::minutes(2);

/// The event a logout token carries (Back-Channel Logout §2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The parameters of a logout request, as received.
#[derive(Debug, Default, Deserialize)]
pub struct EndSessionParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
    /// Set by our own confirmation form.
    confirm: Option<String>,
}

/// Why a logout could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A logout token could not be signed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// A delivery could not be sealed.
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl From<LogoutError> for PageError {
    fn from(e: LogoutError) -> Self {
        PageError::failed(e)
    }
}

/// `GET /end_session`.
pub async fn get(
    State(app): State<AppState>,
    jar: CookieJar,
    PageQuery(p): PageQuery<EndSessionParams>,
) -> Result<(CookieJar, Response), PageError> {
    end_session(&app, jar, p, false).await
}

/// `POST /end_session`: our confirmation form (a cross-site POST is refused by the CSRF
/// layer, so only the person on our page can confirm).
pub async fn post(
    State(app): State<AppState>,
    jar: CookieJar,
    PageForm(p): PageForm<EndSessionParams>,
) -> Result<(CookieJar, Response), PageError> {
    end_session(&app, jar, p, true).await
}

/// The claims of an ID token used as a hint.
#[derive(Debug, Deserialize)]
struct Hint {
    sub: String,
    aud: String,
    sid: Option<String>,
}

#[derive(Serialize)]
struct PageCtx {
    ask: bool,
    action: String,
}

async fn end_session(
    app: &AppState,
    jar: CookieJar,
    p: EndSessionParams,
    posted: bool,
) -> Result<(CookieJar, Response), PageError> {
    let now = app.now();
    let hint = p.id_token_hint.as_deref().and_then(|h| verify_hint(app, h));
    let current = session::current(app, &jar, now).await?;
    // The hint must name the signed-in user (or there is no live session to confuse).
    let hint_fits = hint.as_ref().is_some_and(|h| {
        current
            .as_ref()
            .is_none_or(|c| c.user_id.to_string() == h.sub)
    });
    let confirmed = posted && p.confirm.as_deref() == Some("yes");
    if current.is_some() && !hint_fits && !confirmed {
        return Ok((jar, page(app, true)));
    }
    // End the browser's session and the one the hint names.
    let mut ended = Vec::new();
    if let Some(h) = session::presented(app, &jar) {
        ended.push(h);
    }
    if let Some(sid) = hint
        .as_ref()
        .filter(|_| hint_fits)
        .and_then(|h| h.sid.as_deref())
        && let Some(h) = grants::session_of_sid(&app.db, sid).await?
        && !ended.contains(&h)
    {
        ended.push(h);
    }
    for h in &ended {
        end(app, h, now).await?;
    }
    let jar = session::forget(app, jar);
    let target = match (&hint, p.post_logout_redirect_uri.as_deref()) {
        (Some(h), Some(uri)) if hint_fits => {
            let client = app.clients.get(&app.db, &h.aud).await?;
            client
                .filter(|c| p.client_id.as_deref().is_none_or(|id| id == c.client_id))
                .filter(|c| registered(c, uri))
                .map(|_| uri.to_owned())
        }
        _ => None,
    };
    let res = match target {
        Some(uri) => {
            let mut url = uri;
            if let Some(state) = p.state.as_deref() {
                let pair = serde_urlencoded::to_string([("state", state)]).unwrap_or_default();
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&pair);
            }
            Redirect::to(&url).into_response()
        }
        None => page(app, false),
    };
    Ok((jar, res))
}

/// RP-Initiated Logout §3: exact match among the client's registered URIs (OP-24).
fn registered(client: &Client, uri: &str) -> bool {
    client.post_logout_redirect_uris.iter().any(|r| r == uri)
}

fn page(app: &AppState, ask: bool) -> Response {
    app.templates.page(
        StatusCode::OK,
        "idp/logout.html",
        PageCtx {
            ask,
            action: app.idp_path("/end_session"),
        },
    )
}

/// An ID token of ours: our `kid`, its algorithm (never `none`), our signature and
/// issuer. Expiry is not checked (RP-Initiated Logout §2: an expired hint is fine).
fn verify_hint(app: &AppState, token: &str) -> Option<Hint> {
    let keys = app.keys.current();
    let (_, hint) = keys.verify(token, &app.settings.issuer, |v| {
        v.validate_exp = false;
        v.set_required_spec_claims(&["iss", "sub", "aud"]);
    })?;
    Some(hint)
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: String,
    sid: &'a str,
    events: serde_json::Value,
}

/// Ends one session: revokes it and its grants, and queues a logout token for every
/// client of it with a back-channel URI (Back-Channel Logout §2.4–§2.7), in one
/// transaction; then wakes the outbox worker.
pub async fn end(
    app: &AppState,
    session_hash: &[u8],
    now: OffsetDateTime,
) -> Result<(), LogoutError> {
    let targets = grants::logout_targets(&app.db, session_hash).await?;
    let deliveries = logout_deliveries(app, &targets, now)?;
    sessions::end(&app.db, session_hash, &deliveries, now).await?;
    if !deliveries.is_empty() {
        app.mail_wake.notify_one();
    }
    Ok(())
}

/// The sealed outbox rows of a logout token for each target (Back-Channel Logout
/// §2.4–§2.7), to be queued in the transaction that ends the sessions.
pub fn logout_deliveries(
    core: &Core,
    targets: &[grants::LogoutTarget],
    now: OffsetDateTime,
) -> Result<Vec<NewMail>, LogoutError> {
    let keys = core.keys.current();
    let mut deliveries = Vec::with_capacity(targets.len());
    for t in targets {
        let exp = now + LOGOUT_TOKEN_TTL;
        // §2.4: iss, aud, iat, exp, jti, events, sid and sub; never a nonce.
        let claims = LogoutClaims {
            iss: &core.settings.issuer,
            aud: &t.client_id,
            iat: now.unix_timestamp(),
            exp: exp.unix_timestamp(),
            jti: Uuid::new_v4().to_string(),
            sub: t.user_id.to_string(),
            sid: &t.sid,
            events: json!({ BACKCHANNEL_EVENT: {} }),
        };
        let token = keys.sign("logout+jwt", &claims, now)?;
        deliveries.push(mail::seal_backchannel(
            &core.outbox,
            &BackchannelDelivery {
                uri: t.backchannel_logout_uri.clone(),
                token,
                expires_at: exp.unix_timestamp(),
                client_id: Some(t.client_id.clone()),
                user_id: Some(t.user_id),
                format: mail::DeliveryFormat::LogoutToken,
            },
        )?);
    }
    Ok(deliveries)
}
