//! Errors of the admin API as RFC 9457 problem details (`application/problem+json`), with
//! the Dutch text a person reads in `detail`. The one place an API failure becomes a
//! response: [`Problem::of`] maps every [`ManageError`] to its status and text, and
//! [`store`] every bare store failure. A database outage ([`Outage`]) is a 503 with the
//! same Dutch text the idp's pages show, and `Retry-After` when waiting helps; any other
//! failure is a 500.

use std::sync::LazyLock;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::RuleError;
use crate::error::{RETRY_AFTER_SECONDS, outage_key};
use crate::manage::{Field, ManageError};
use crate::state::AppState;
use crate::store::{Outage, StoreError};

/// A refused or failed API call.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// A short English title for the kind (stable, for programs).
    pub title: &'static str,
    /// Dutch text for a person.
    pub detail: String,
    /// The request field the problem is about (an extension member), if one.
    pub field: Option<&'static str>,
    /// The `WWW-Authenticate` challenge: always sent with a 401 (`None` is
    /// `invalid_token`), with another status only when set (RFC 6750 §3.1
    /// `insufficient_scope` on a 403).
    pub challenge: Option<&'static str>,
    /// Whether to send `Retry-After` (RFC 9110 §10.2.3): the database was unreachable or
    /// busy, so the same call may work in a minute.
    pub retry_after: bool,
}

/// RFC 9470 §3: the user's sign-in is older than an act allows; sign in again, then repeat.
pub const STEP_UP_CHALLENGE: &str = "Bearer error=\"insufficient_user_authentication\", \
    error_description=\"a sign-in within the last 5 minutes is required\", max_age=\"300\"";

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// The problem document as the OpenAPI description shows it.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)] // documentation only; `Body` is what is sent
pub struct ProblemSchema {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[schema(rename = "type", example = "about:blank")]
    kind: String,
    /// The status's English reason phrase.
    #[schema(example = "Unprocessable Entity")]
    title: String,
    /// The HTTP status.
    #[schema(example = 422)]
    status: u16,
    /// What went wrong, in Dutch, for a person.
    #[schema(example = "E-mailadres: Vul een geldig e-mailadres in.")]
    detail: String,
    /// The request field the problem is about, when there is one.
    #[schema(example = "email")]
    field: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, detail: String) -> Self {
        Self {
            status,
            title,
            detail,
            field: None,
            challenge: None,
            retry_after: false,
        }
    }

    /// The act needs a recent sign-in (SECURITY AC-08): 401 with the RFC 9470 challenge,
    /// so the client signs the user in again (`prompt=login`) and repeats the call.
    pub fn step_up(detail: String) -> Self {
        Self {
            challenge: Some(STEP_UP_CHALLENGE),
            ..Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
        }
    }

    /// The same problem with this `WWW-Authenticate` challenge.
    #[must_use]
    pub fn with_challenge(self, challenge: &'static str) -> Self {
        Self {
            challenge: Some(challenge),
            ..self
        }
    }

    /// A malformed request: not JSON, a field of the wrong type, or a field that does not
    /// exist or may not be set (SECURITY AC-06).
    pub fn bad_request(detail: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }

    /// No or a bad bearer token.
    pub fn unauthorized(detail: String) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
    }

    /// Authenticated, but not allowed (SECURITY AC-01, AC-07).
    pub fn forbidden(detail: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }

    /// No such thing (or none the caller may know of).
    pub fn not_found(detail: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", detail)
    }

    /// The change conflicts with what is stored (a unique e-mail, U3).
    pub fn conflict(detail: String) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", detail)
    }

    /// The `If-Match` version is not the current one.
    pub fn precondition_failed(detail: String) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "Precondition Failed",
            detail,
        )
    }

    /// The body is over the limit.
    pub fn too_large(detail: String) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large", detail)
    }

    /// The body is not JSON.
    pub fn unsupported_media_type(detail: String) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            detail,
        )
    }

    /// Well-formed, but a value breaks a rule; `field` names it.
    pub fn unprocessable(detail: String, field: Option<&'static str>) -> Self {
        Self {
            field,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity",
                detail,
            )
        }
    }

    /// A change without `If-Match` (RFC 6585 §3).
    pub fn precondition_required(detail: String) -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "Precondition Required",
            detail,
        )
    }

    /// A service we depend on cannot answer now; nothing was changed (fail closed).
    pub fn unavailable(detail: String) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            detail,
        )
    }

    /// The database is out (`cause` is logged): 503; the call's transaction was rolled
    /// back. `detail` is the Dutch text for the kind of outage (see [`outage_key`]).
    pub fn outage(outage: Outage, cause: impl std::fmt::Display, detail: String) -> Self {
        tracing::error!(error = %cause, ?outage, "admin API call failed: database outage");
        Self {
            retry_after: outage == Outage::Unavailable,
            ..Self::unavailable(detail)
        }
    }

    /// Something broke on our side; `cause` is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display, detail: String) -> Self {
        tracing::error!(error = %cause, "admin API call failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            detail,
        )
    }

    /// A failed step whose error may wrap a store failure: 503 with the outage's text
    /// when a database outage is anywhere in its chain of sources, otherwise 500.
    pub fn failed(app: &AppState, cause: impl std::error::Error + 'static) -> Self {
        match crate::store::outage_in(&cause) {
            Some(outage) => Self::outage(outage, cause, super::text(app, outage_key(outage))),
            None => Self::internal(cause, super::text(app, "error.internal")),
        }
    }

    /// The answer to a failed user flow.
    pub fn of(app: &AppState, e: ManageError) -> Self {
        let t = |key: &str| super::text(app, key);
        match e {
            ManageError::NotFound => Self::not_found(t("api.user_not_found")),
            ManageError::StepUpRequired => Self::step_up(t("api.step_up")),
            ManageError::Refused => Self::forbidden(t("api.refused")),
            ManageError::Invalid { field, error } => {
                Self::unprocessable(invalid_detail(app, field, &error), Some(field.as_str()))
            }
            ManageError::Change(c) => Self::unprocessable(t(c.text_key()), Some(c.field())),
            ManageError::OfficeRequired => {
                Self::unprocessable(t("api.office_required"), Some(Field::OfficeId.as_str()))
            }
            ManageError::UnknownOffice => {
                Self::unprocessable(t("api.unknown_office"), Some(Field::OfficeId.as_str()))
            }
            ManageError::EmailInUse => {
                let mut p = Self::conflict(t(RuleError::EmailInUse.text_key()));
                p.field = Some(Field::Email.as_str());
                p
            }
            ManageError::Stale => Self::precondition_failed(t("api.stale")),
            ManageError::OfficeForbidden => Self::forbidden(t("api.office_refused")),
            ManageError::OfficeStale => Self::precondition_failed(t("api.office_stale")),
            ManageError::OfficeNotFound => Self::not_found(t("api.office_not_found")),
            ManageError::Office(r) => {
                if r.forbidden() {
                    let mut p = Self::forbidden(t(r.text_key()));
                    p.field = r.field();
                    p
                } else {
                    Self::unprocessable(t(r.text_key()), r.field())
                }
            }
            ManageError::Taken { field, error } => {
                let mut p = Self::conflict(t(error.text_key()));
                p.field = Some(field.as_str());
                p
            }
            ManageError::HasQuotes(products) => Self::conflict(
                t("api.office_has_quotes").replace("{products}", &products.join(", ")),
            ),
            ManageError::QuotesUnknown(_) => Self::unavailable(t("api.quotes_unknown")),
            ManageError::AlreadyActivated => Self::unprocessable(t("api.already_activated"), None),
            ManageError::Inactive => Self::unprocessable(t("api.inactive_user"), None),
            // Handlers answer a waiting change with 202 and the change (api::approvals);
            // here only in case one does not.
            ManageError::Waiting(_) => {
                Self::new(StatusCode::ACCEPTED, "Accepted", t("approvals.waiting"))
            }
            e @ (ManageError::Store(_)
            | ManageError::Provision(_)
            | ManageError::Mail(_)
            | ManageError::Logout(_)) => Self::failed(app, e),
        }
    }
}

/// "Rechten: Dit recht bestaat niet. (XYZ)": the field's Dutch label, the rule's text, and
/// the right code the rule is about.
fn invalid_detail(app: &AppState, field: Field, error: &RuleError) -> String {
    let label = super::text(app, &format!("api.field.{}", field.as_str()));
    let text = super::text(app, error.text_key());
    match error {
        RuleError::UnknownRight(code)
        | RuleError::RightNotForSubOffices(code)
        | RuleError::RightExceedsOffice(code)
        | RuleError::SecondApproverNeeded(code) => format!("{label}: {text} ({code})"),
        _ => format!("{label}: {text}"),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            field: self.field,
        };
        let mut res = (self.status, Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let challenge = match (self.status, self.challenge) {
            (_, Some(c)) => Some(c),
            (StatusCode::UNAUTHORIZED, None) => Some("Bearer error=\"invalid_token\""),
            _ => None,
        };
        if let Some(challenge) = challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if self.retry_after {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        res
    }
}

/// The shipped catalogue (the one `Templates` serves), for [`store`], whose callers hand
/// in only the text of an internal error.
static TEXTS: LazyLock<Option<web_kit::Texts>> = LazyLock::new(|| web_kit::Texts::load().ok());

/// A store failure inside an API call: an outage is a 503 with its own text, anything
/// else a 500 with `detail`.
pub fn store(e: StoreError, detail: String) -> Problem {
    match e.outage() {
        Some(outage) => {
            let text = TEXTS
                .as_ref()
                .and_then(|t| t.get(outage_key(outage)))
                .map_or(detail, str::to_owned);
            Problem::outage(outage, e, text)
        }
        None => Problem::internal(e, detail),
    }
}
