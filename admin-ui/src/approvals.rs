//! **Goedkeuringen** (issue 10, four-eyes): the changes that wait for a second insurer
//! admin, each as one Dutch sentence ("Nick Jansen wil Voorbeeld Advies (12345)
//! subkantoren toestaan"), with "Goedkeuren" and "Afwijzen". Insurer admins only; one's
//! own request shows no buttons (the API refuses it anyway, SECURITY AC-01). Everything
//! goes through the admin API with the signed-in user's token; the forms are plain POSTs
//! under the portal's CSRF layer (SE-07).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::api::approvals::Approval;
use crate::form::PageQuery;
use crate::users::{api_failure, manager, no_store};

/// The page's own address.
pub(crate) const HERE: &str = "/beheer/goedkeuringen";

/// `?melding=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    melding: Option<String>,
}

#[derive(Serialize)]
struct Row {
    text: String,
    when: String,
    own: bool,
    approve_action: String,
    reject_action: String,
}

#[derive(Serialize)]
struct ListPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct InsurerOnly<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    message_key: &'static str,
}

/// The signed-in insurer admin and a live API token, or the response to give instead.
async fn approver(
    app: &AppState,
    user: Option<SignedInUser>,
    jar: &CookieJar,
) -> Result<(SignedInUser, String), Response> {
    if let Some(u) = &user
        && u.role != Role::InsurerAdmin
    {
        return Err(app.templates.page(
            StatusCode::FORBIDDEN,
            "admin/insurer_only.html",
            InsurerOnly {
                user: u,
                logout_action: app.rp.logout_action(),
                message_key: "approvals.not_approver",
            },
        ));
    }
    manager(app, user, jar, HERE).await
}

/// `2026-01-31T09:05:00Z` → `31-01-2026 09:05 UTC`; anything else as it is.
fn when(at: &str) -> String {
    let (Some(date), Some(time)) = (at.get(..10), at.get(11..16)) else {
        return at.to_owned();
    };
    match (
        date.split('-').collect::<Vec<_>>().as_slice(),
        at.ends_with('Z'),
    ) {
        ([y, m, d], true) => format!("{d}-{m}-{y} {time} UTC"),
        _ => at.to_owned(),
    }
}

fn row(user: &SignedInUser, a: Approval) -> Row {
    let id = crate::api::seg(&a.id);
    Row {
        own: a.requested_by.id == user.subject,
        when: when(&a.requested_at),
        text: a.text,
        approve_action: format!("{HERE}/{id}/goedkeuren"),
        reject_action: format!("{HERE}/{id}/afwijzen"),
    }
}

async fn list_page(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    token: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let waiting = match app.api.approvals(token).await {
        Ok(w) => w,
        Err(e) => return api_failure(app, jar, HERE, e).await,
    };
    let page = ListPage {
        logout_action: app.rp.logout_action(),
        rows: waiting.into_iter().map(|a| row(user, a)).collect(),
        notice,
        error,
        user,
    };
    no_store(app.templates.page(status, "admin/approvals.html", page))
}

/// `GET /beheer/goedkeuringen`.
pub(crate) async fn list(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let (user, token) = match approver(&app, user, &jar).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let texts = app.templates.texts();
    let notice = match q.melding.as_deref() {
        Some("goedgekeurd") => Some(texts.text("approvals.approved")),
        Some("afgewezen") => Some(texts.text("approvals.rejected")),
        _ => None,
    };
    list_page(&app, &jar, &user, &token, StatusCode::OK, notice, None).await
}

async fn decide(
    app: AppState,
    user: Option<SignedInUser>,
    jar: CookieJar,
    id: String,
    approve: bool,
) -> Response {
    let (user, token) = match approver(&app, user, &jar).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    match app.api.decide(&token, &id, approve).await {
        Ok(()) => {
            let melding = if approve { "goedgekeurd" } else { "afgewezen" };
            Redirect::to(&format!("{HERE}?melding={melding}")).into_response()
        }
        // The API's Dutch refusal (one's own request, decided already, changed meanwhile,
        // a rule of the change) above the list as it is now.
        Err(ApiError::Refused { status, detail }) => {
            let status = if status.is_client_error() {
                status
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            list_page(&app, &jar, &user, &token, status, None, Some(detail)).await
        }
        Err(e) => api_failure(&app, &jar, HERE, e).await,
    }
}

/// `POST /beheer/goedkeuringen/{id}/goedkeuren`.
pub(crate) async fn approve(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    decide(app, user, jar, id, true).await
}

/// `POST /beheer/goedkeuringen/{id}/afwijzen`.
pub(crate) async fn reject(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    decide(app, user, jar, id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_dutch_in_utc() {
        assert_eq!(when("2026-01-31T09:05:07Z"), "31-01-2026 09:05 UTC");
        assert_eq!(when("gisteren"), "gisteren");
    }
}
