//! Users in the admin API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::problem::{self, Problem};
use super::{Caller, text};
use crate::login::client::ClientIp;
use crate::provision::{self, FactorReset, ProvisionError};
use crate::state::AppState;

/// `POST /api/v1/users/{id}/second-factors/reset` (SPEC F3, SECURITY MF-07): a main user
/// for the users of its office tree, an insurer admin for anyone but another insurer
/// admin. The user's app, recovery codes and passkeys are removed, every session and
/// token ends, the act is audited and the user is mailed; 204 on success. A user the
/// caller may not manage is 404 whether or not it exists, so ids cannot be probed.
pub async fn reset_second_factors(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let not_found = || Problem::not_found(text(&app, "api.user_not_found"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let outcome =
        provision::reset_second_factors(&app, Some(&caller.principal), id, ip.text(), app.now())
            .await
            .map_err(|e| match e {
                ProvisionError::Store(e) => problem::store(e, text(&app, "error.internal")),
                other => Problem::internal(other, text(&app, "error.internal")),
            })?;
    match outcome {
        FactorReset::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        FactorReset::Forbidden | FactorReset::NoSuchUser => Err(not_found()),
    }
}
