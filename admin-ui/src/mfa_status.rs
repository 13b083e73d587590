//! **2FA-status** (issue 10): who has not set up two-factor authentication yet, since
//! when it is (or will be) required, and how many password-only sign-ins remain; per user
//! "Herinnering sturen". A main user sees its own office tree, the insurer's admins every
//! office (with a choice of office) and, for a head office, its 2FA policy (the date from
//! which 2FA is required and the grace after it).
//!
//! Everything goes through the idp's admin API with the signed-in user's token: the API
//! scopes the list (SECURITY AC-03), checks who may be reminded (AC-01), throttles the
//! reminders and audits them. Forms are plain POSTs under the portal's CSRF layer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::form::{PageForm, PageQuery};
use crate::users::{api_failure, manager, no_store};

/// The page's own address.
pub(crate) const HERE: &str = "/2fa-status";

/// `?kantoor=` and `?melding=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatusQuery {
    kantoor: Option<String>,
    melding: Option<String>,
}

/// The policy form.
#[derive(Debug, Deserialize)]
pub(crate) struct PolicyForm {
    verplicht_vanaf: Option<String>,
    keer: Option<String>,
    /// `hoofdkantoor`: sent from the head office's edit page, so back there.
    terug: Option<String>,
}

/// The reminder form: where to come back to.
#[derive(Debug, Deserialize)]
pub(crate) struct RemindForm {
    kantoor: Option<String>,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    email: String,
    office: String,
    required_from: String,
    required_now: bool,
    grace_left: Option<u32>,
    reminded: String,
    remind_action: String,
}

#[derive(Serialize)]
struct Policy {
    action: String,
    required_from: String,
    effective_from: String,
    grace_logins: u32,
}

#[derive(Serialize)]
struct StatusPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    offices: Vec<Choice>,
    kantoor: String,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<String>,
    policy: Option<Policy>,
}

/// `2026-07-01` → `01-07-2026`; anything else as it is.
fn dutch(date: &str) -> String {
    let parts: Vec<&str> = date.get(..10).unwrap_or(date).split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => format!("{d}-{m}-{y}"),
        _ => date.to_owned(),
    }
}

fn back(kantoor: Option<&str>, melding: &str) -> String {
    match kantoor.map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => format!("{HERE}?kantoor={}&melding={melding}", crate::api::seg(k)),
        None => format!("{HERE}?melding={melding}"),
    }
}

/// `GET /2fa-status`.
pub(crate) async fn show(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(q): PageQuery<StatusQuery>,
) -> Response {
    let (user, token) = match manager(&app, user, &jar, HERE).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let kantoor = q
        .kantoor
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty() && uuid::Uuid::parse_str(k).is_ok())
        .map(str::to_owned);
    let insurer = user.role == Role::InsurerAdmin;
    let offices = if insurer {
        match app.api.audit_offices(&token).await {
            Ok(o) => o,
            Err(e) => return api_failure(&app, &jar, HERE, e).await,
        }
    } else {
        Vec::new()
    };
    // A main user's list is its own tree whatever is asked (the API decides).
    let asked = if insurer { kantoor.as_deref() } else { None };
    let rows = match app.api.mfa_status(&token, asked).await {
        Ok(r) => r,
        Err(e) => return api_failure(&app, &jar, HERE, e).await,
    };
    let texts = app.templates.texts();
    // The policy of the chosen office, when it is a head office (404 for a sub-office).
    let policy = match (insurer, asked) {
        (true, Some(id)) => match app.api.mfa_policy(&token, id).await {
            Ok(p) => Some(Policy {
                action: format!("{HERE}/beleid/{}", crate::api::seg(id)),
                required_from: p.required_from.unwrap_or_default(),
                effective_from: dutch(&p.effective_from),
                grace_logins: p.grace_logins,
            }),
            Err(ApiError::Refused { .. }) => None,
            Err(e) => return api_failure(&app, &jar, HERE, e).await,
        },
        _ => None,
    };
    let notice = match q.melding.as_deref() {
        Some("verstuurd") => Some(texts.text("mfa.sent")),
        Some("beleid") => Some(texts.text("mfa.policy_saved")),
        _ => None,
    };
    let error = match q.melding.as_deref() {
        Some("te_vroeg") => Some(texts.text("mfa.too_soon")),
        Some("niet_nodig") => Some(texts.text("mfa.not_needed")),
        _ => None,
    };
    let kantoor_value = kantoor.clone().unwrap_or_default();
    let page = StatusPage {
        logout_action: app.rp.logout_action(),
        offices: offices
            .into_iter()
            .map(|o| Choice {
                selected: o.id == kantoor_value,
                label: format!("{} ({})", o.name, o.number),
                value: o.id,
            })
            .collect(),
        kantoor: kantoor_value.clone(),
        rows: rows
            .into_iter()
            .map(|w| Row {
                remind_action: format!("{HERE}/{}/herinnering", crate::api::seg(&w.id)),
                name: w.name,
                email: w.email,
                office: match (w.office_name, w.office_number) {
                    (Some(n), Some(num)) => format!("{n} ({num})"),
                    (Some(n), None) => n,
                    _ => String::new(),
                },
                required_from: dutch(&w.required_from),
                required_now: w.required_now,
                grace_left: w.grace_left,
                reminded: w.reminded_at.as_deref().map(dutch).unwrap_or_default(),
            })
            .collect(),
        notice,
        error,
        policy,
        user: &user,
    };
    no_store(
        app.templates
            .page(StatusCode::OK, "admin/mfa_status.html", page),
    )
}

/// `POST /2fa-status/{id}/herinnering`: "Herinnering sturen".
pub(crate) async fn remind(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<RemindForm>,
) -> Response {
    let (_, token) = match manager(&app, user, &jar, HERE).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let kantoor = form.kantoor.as_deref();
    match app.api.mfa_remind(&token, &id).await {
        Ok(()) => Redirect::to(&back(kantoor, "verstuurd")).into_response(),
        Err(ApiError::Refused { status, .. }) if status == StatusCode::TOO_MANY_REQUESTS => {
            Redirect::to(&back(kantoor, "te_vroeg")).into_response()
        }
        Err(ApiError::Refused { status, .. }) if status == StatusCode::CONFLICT => {
            Redirect::to(&back(kantoor, "niet_nodig")).into_response()
        }
        Err(e) => api_failure(&app, &jar, HERE, e).await,
    }
}

/// `POST /2fa-status/beleid/{id}`: a head office's 2FA policy (insurer admins; the API
/// refuses anyone else and validates the values).
pub(crate) async fn save_policy(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<PolicyForm>,
) -> Response {
    let (_, token) = match manager(&app, user, &jar, HERE).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let date = form
        .verplicht_vanaf
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let texts = app.templates.texts();
    let grace = match form.keer.as_deref().map(str::trim).unwrap_or("0") {
        "" => Some(0),
        raw => raw.parse::<u32>().ok(),
    };
    let result = match grace {
        Some(g) => app
            .api
            .set_mfa_policy(&token, &id, date, g)
            .await
            .map(|_| ()),
        None => Err(ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: texts.text("mfa.bad_grace"),
        }),
    };
    match result {
        Ok(()) if form.terug.as_deref() == Some("hoofdkantoor") => {
            Redirect::to("/beheer/hoofdkantoren?melding=opgeslagen").into_response()
        }
        Ok(()) => Redirect::to(&back(Some(&id), "beleid")).into_response(),
        Err(ApiError::Refused { status, detail }) => {
            let page = app.templates.page(
                status,
                "admin/problem.html",
                serde_json::json!({
                    "detail": detail,
                    "back": { "href": format!("{HERE}?kantoor={}", crate::api::seg(&id)), "key": "mfa.title" },
                }),
            );
            no_store(page)
        }
        Err(e) => api_failure(&app, &jar, HERE, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_in_the_manual() {
        assert_eq!(dutch("2026-07-01"), "01-07-2026");
        assert_eq!(dutch("2026-07-01T09:00:00Z"), "01-07-2026");
        assert_eq!(dutch("morgen"), "morgen");
    }
}
