//! The product portal's one machine endpoint: **O7 over HTTP**, for an idp in another
//! process (`portal serve --only dip`). `GET {path}/internal/quotes?office={id}` answers
//! `{"has_quotes": bool}` when the bearer token is a question the idp signed for this very
//! product: RS256 with the idp's published keys, header `typ` `quote-check+jwt`, our issuer,
//! our client id as `aud`, unexpired, about this very office. Anything else gets 401 and
//! no answer; a store that cannot answer gives 503, which the idp reads as "cannot say".

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::portal::ProductPortal;

/// The `typ` of the idp's O7 question (the idp's `quotes::QUOTE_CHECK_TYP`).
pub const QUOTE_CHECK_TYP: &str = "quote-check+jwt";

#[derive(Debug, Deserialize)]
struct Question {
    office_id: Uuid,
}

/// The query of the endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct OfficeQuery {
    office: Option<String>,
}

#[derive(Serialize)]
struct Answer {
    has_quotes: bool,
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
    )
        .into_response()
}

/// `GET internal/quotes?office={id}`.
pub(crate) async fn quotes(
    State(portal): State<ProductPortal>,
    headers: HeaderMap,
    Query(q): Query<OfficeQuery>,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return refused();
    };
    let question: Question = match portal
        .relying_party()
        .verify_idp_jwt(token, QUOTE_CHECK_TYP)
        .await
    {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(error = %e, product = %portal.product().code, "an O7 question was refused");
            return refused();
        }
    };
    // The office asked about must be the one the idp signed for.
    let asked = q.office.as_deref().and_then(|o| Uuid::parse_str(o).ok());
    if asked != Some(question.office_id) {
        return refused();
    }
    match portal
        .adapter()
        .has_quotes(portal.context(), question.office_id)
        .await
    {
        Ok(has_quotes) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(Answer { has_quotes }),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "O7: the quote store cannot answer");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
