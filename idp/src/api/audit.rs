//! The audit log in the admin API (SPEC L1): `GET /api/v1/audit`, newest first, filtered
//! and paged. An insurer admin reads every entry, a main user those of its office tree;
//! the scope is part of the store's SQL (SECURITY AC-03). An office or user named in a
//! filter must be one the caller manages, or the answer is 404 as on the office and user
//! routes (AC-01), and the refusal is audited by those routes' own checks.
//!
//! Each entry carries `text`, the entry as one plain Dutch sentence (`crate::audit_text`,
//! issue 10). `GET /api/v1/audit.csv` exports what the same filters select as a CSV file
//! for Dutch Excel (semicolons, UTF-8 with a byte order mark, formulas neutralised:
//! SECURITY IO-05), within the same scope.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::{Problem, ProblemSchema};
use super::{ApiQuery, Caller, text};
use crate::domain::manage;
use crate::login::client::ClientIp;
use crate::manage::{ManageError, actor_of};
use crate::state::{AppState, Core};
use crate::store::accounts::Principal;
use crate::store::audit::{self, AuditEntry, AuditPage, AuditQuery, MAX_PAGE};
use web_kit::Texts;

/// How many entries a page holds when the caller does not say.
pub const DEFAULT_PAGE: i64 = 50;

/// The longest action or action prefix a filter may name.
const MAX_ACTION: usize = 64;

/// A user named in an entry. `name` (and `email`) are `null` when the user no longer
/// exists or is not one the caller may see.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditUser)]
pub struct AuditUserJson {
    /// User id.
    pub id: Uuid,
    /// Naam.
    #[schema(example = "Ilse de Vries")]
    pub name: Option<String>,
    /// E-mailadres (only of the user acted upon).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ilse@voorbeeldadvies.nl")]
    pub email: Option<String>,
}

/// An office named in an entry; `name` and `number` as for [`AuditUserJson`].
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditOffice)]
pub struct AuditOfficeJson {
    /// Office id.
    pub id: Uuid,
    /// Naam.
    #[schema(example = "Voorbeeld Advies")]
    pub name: Option<String>,
    /// Advisor number (head office) or the sub-office's own number.
    #[schema(example = "12345")]
    pub number: Option<String>,
}

/// One entry of the audit log. Never a password, seed, code or token (AC-07).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryJson {
    /// Entry id (UUIDv7); also the `before` cursor.
    pub id: Uuid,
    /// When, RFC 3339 in UTC.
    #[schema(example = "2026-01-01T12:00:00Z")]
    pub at: String,
    /// What happened.
    #[schema(example = "user.created")]
    pub action: String,
    /// The entry as one plain Dutch sentence, naming people and offices by name.
    #[schema(example = "Nick Jansen gaf Ilse de Vries het recht DIL")]
    pub text: String,
    /// Who did it; `null` for the system or an anonymous visitor.
    pub actor: Option<AuditUserJson>,
    /// The user acted upon.
    pub target_user: Option<AuditUserJson>,
    /// The office acted upon.
    pub target_office: Option<AuditOfficeJson>,
    /// The client address.
    #[schema(example = "192.0.2.10")]
    pub ip: Option<String>,
    /// Detail as stored: before/after values, a reason, a method.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `GET /api/v1/audit`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPageJson {
    /// Newest first.
    pub entries: Vec<AuditEntryJson>,
    /// Pass as `before` for the next, older page; `null` on the last page.
    pub next: Option<Uuid>,
}

/// Filters of `GET /api/v1/audit`. An empty value is the same as none.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only the entries of this office and, for a head office, of its sub-offices.
    #[param(value_type = Option<Uuid>)]
    pub office_id: Option<String>,
    /// Only the entries in which this user acted or was acted upon.
    #[param(value_type = Option<Uuid>)]
    pub user_id: Option<String>,
    /// One action (`login.failed`), or all actions starting with a prefix that ends with a
    /// dot (`login.`).
    pub action: Option<String>,
    /// From this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date, example = "2026-01-01")]
    pub from: Option<String>,
    /// Up to and including this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date, example = "2026-01-31")]
    pub to: Option<String>,
    /// Only entries older than this one: the `next` of the previous page.
    #[param(value_type = Option<Uuid>)]
    pub before: Option<String>,
    /// Entries per page, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// The filters as the flow takes them.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// See [`AuditParams::office_id`].
    pub office_id: Option<Uuid>,
    /// See [`AuditParams::user_id`].
    pub user_id: Option<Uuid>,
    /// See [`AuditParams::action`].
    pub action: Option<String>,
    /// The first day.
    pub from: Option<Date>,
    /// The last day.
    pub to: Option<Date>,
    /// The cursor.
    pub before: Option<Uuid>,
    /// The page size.
    pub limit: i64,
}

/// A filter value that does not make sense; the Dutch text's key and the parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadParam {
    /// The `nl.toml` key of the Dutch detail.
    pub key: &'static str,
    /// The query parameter.
    pub field: &'static str,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bad(key: &'static str, field: &'static str) -> BadParam {
    BadParam { key, field }
}

fn uuid_param(
    v: &Option<String>,
    key: &'static str,
    field: &'static str,
) -> Result<Option<Uuid>, BadParam> {
    given(v)
        .map(|s| Uuid::parse_str(s).map_err(|_| bad(key, field)))
        .transpose()
}

fn date_param(v: &Option<String>, field: &'static str) -> Result<Option<Date>, BadParam> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    given(v)
        .map(|s| Date::parse(s, &format).map_err(|_| bad("audit.bad_date", field)))
        .transpose()
}

/// Reads the query string's values (pure: no I/O).
pub fn parse(p: &AuditParams) -> Result<AuditFilter, BadParam> {
    let action = given(&p.action).map(str::to_owned);
    if let Some(a) = &action {
        let well_formed = a.len() <= MAX_ACTION
            && a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
            && !a.starts_with('.');
        if !well_formed {
            return Err(bad("audit.bad_action", "action"));
        }
    }
    let from = date_param(&p.from, "from")?;
    let to = date_param(&p.to, "to")?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(bad("audit.bad_period", "from"));
    }
    let limit = match given(&p.limit) {
        None => DEFAULT_PAGE,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad("audit.bad_limit", "limit"))?,
    };
    Ok(AuditFilter {
        office_id: uuid_param(&p.office_id, "audit.bad_office", "office_id")?,
        user_id: uuid_param(&p.user_id, "audit.bad_user", "user_id")?,
        action,
        from,
        to,
        before: uuid_param(&p.before, "audit.bad_before", "before")?,
        limit,
    })
}

/// SPEC L1: the page of the log the caller asked for. An office or user in the filter
/// that the caller does not manage is answered as not found (and audited) before the log
/// is read; the store scopes the log itself to the caller's tree as well.
pub async fn search(
    core: &Core,
    caller: &Principal,
    filter: &AuditFilter,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<AuditPage, ManageError> {
    check(core, caller, filter, ip, now).await?;
    let scope = manage::scope(&actor_of(caller));
    Ok(audit::search(&core.db, scope, &query_of(filter)).await?)
}

/// The most entries one export holds (newest first); a longer period is exported in
/// parts, by date.
pub const MAX_EXPORT: usize = 50_000;

/// Issue 10: every entry the filter selects (not one page; `before` and `limit` are not
/// used), newest first, at most [`MAX_EXPORT`]; checked and scoped as [`search`].
pub async fn export(
    core: &Core,
    caller: &Principal,
    filter: &AuditFilter,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<AuditEntry>, ManageError> {
    check(core, caller, filter, ip, now).await?;
    let scope = manage::scope(&actor_of(caller));
    let mut query = query_of(&AuditFilter {
        before: None,
        limit: MAX_PAGE,
        ..filter.clone()
    });
    let mut out = Vec::new();
    loop {
        let page = audit::search(&core.db, scope, &query).await?;
        out.extend(page.entries);
        match page.next {
            Some(next) if out.len() < MAX_EXPORT => query.before = Some(next),
            _ => break,
        }
    }
    out.truncate(MAX_EXPORT);
    Ok(out)
}

/// AC-01: an office or user in the filter must be one the caller manages (else not
/// found, audited by the routes' own checks).
async fn check(
    core: &Core,
    caller: &Principal,
    filter: &AuditFilter,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), ManageError> {
    if let Some(office) = filter.office_id {
        crate::offices::get(core, caller, office, ip, now).await?;
    }
    if let Some(user) = filter.user_id {
        crate::manage::get(core, caller, user, ip, now).await?;
    }
    Ok(())
}

fn query_of(filter: &AuditFilter) -> AuditQuery {
    AuditQuery {
        office_id: filter.office_id,
        user_id: filter.user_id,
        action: filter.action.clone(),
        from: filter
            .from
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc()),
        until: filter
            .to
            .and_then(Date::next_day)
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc()),
        before: filter.before,
        limit: filter.limit,
    }
}

/// SECURITY IO-05 (as the import report does it): a cell starting with `= + - @`, a tab
/// or a carriage return is kept text.
fn neutral(cell: &str) -> String {
    crate::imports::neutral(cell)
}

/// `2026-01-31 09:05:07`, UTC: a time Excel reads as one.
fn csv_time(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Issue 10: the entries as a CSV file for Dutch Excel: UTF-8 with a byte order mark,
/// `;` between the columns tijdstip (UTC), wie, wat (the sentence), actie, gebruiker,
/// kantoor and ip; every cell neutralised (IO-05).
pub fn csv(texts: &Texts, entries: &[AuditEntry]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(vec![0xEF, 0xBB, 0xBF]);
    let columns = ["when", "who", "what", "action", "user", "office", "ip"]
        .map(|c| texts.text(&format!("audit.csv.{c}")));
    let mut rows = vec![columns.to_vec()];
    for e in entries {
        rows.push(vec![
            csv_time(e.at),
            crate::audit_text::who(texts, e),
            crate::audit_text::sentence(texts, e),
            e.action.clone(),
            crate::audit_text::user(texts, e),
            crate::audit_text::office(texts, e),
            e.ip.clone().unwrap_or_default(),
        ]);
    }
    for row in rows {
        // Writing to a Vec fails only on a bad record, which these are not.
        let _ = w.write_record(row.iter().map(|c| neutral(c)));
    }
    w.into_inner().unwrap_or_default()
}

/// Keys that never leave the API in an entry's detail, at any depth, whatever a writer
/// put there (defence in depth for AC-07).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let word = |w: &str| k == w || k.ends_with(&format!("_{w}"));
    ["password", "secret", "seed"].iter().any(|s| k.contains(s))
        || ["token", "tokens", "hash", "code", "codes"]
            .iter()
            .any(|w| word(w))
}

fn redact(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k, redact(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(redact).collect())
        }
        other => other,
    }
}

impl AuditEntryJson {
    fn of(texts: &Texts, e: AuditEntry) -> Self {
        let detail = serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
        let text = crate::audit_text::sentence(texts, &e);
        Self {
            id: e.id,
            at: e.at.format(&Rfc3339).unwrap_or_default(),
            action: e.action,
            text,
            actor: e.actor.map(|u| AuditUserJson {
                id: u.id,
                name: u.name,
                email: None,
            }),
            target_user: e.target_user.map(|u| AuditUserJson {
                id: u.id,
                name: u.name,
                email: u.email,
            }),
            target_office: e.target_office.map(|o| AuditOfficeJson {
                id: o.id,
                name: o.name,
                number: o.number,
            }),
            ip: e.ip,
            detail: redact(detail),
        }
    }
}

/// SPEC L1: the audit log the caller may read, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "One page of entries, newest first", body = AuditPageJson),
        (status = 400, description = "A filter value that makes no sense (a date that is not YYYY-MM-DD, a limit over 100); `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "The office or user of the filter does not exist or is not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, Problem> {
    let filter = parse(&params).map_err(|b| {
        let mut p = Problem::bad_request(text(&app, b.key));
        p.field = Some(b.field);
        p
    })?;
    let page = search(
        &app,
        &caller.principal,
        &filter,
        ip.text().as_deref(),
        app.now(),
    )
    .await
    .map_err(|e| Problem::of(&app, e))?;
    let body = AuditPageJson {
        entries: page
            .entries
            .into_iter()
            .map(|e| AuditEntryJson::of(app.templates.texts(), e))
            .collect(),
        next: page.next,
    };
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Filters of `GET /api/v1/audit.csv`: those of the list, without paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditExportParams {
    /// Only the entries of this office and, for a head office, of its sub-offices.
    #[param(value_type = Option<Uuid>)]
    pub office_id: Option<String>,
    /// Only the entries in which this user acted or was acted upon.
    #[param(value_type = Option<Uuid>)]
    pub user_id: Option<String>,
    /// One action (`login.failed`), or all actions starting with a prefix that ends with a
    /// dot (`login.`).
    pub action: Option<String>,
    /// From this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date, example = "2026-01-01")]
    pub from: Option<String>,
    /// Up to and including this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date, example = "2026-01-31")]
    pub to: Option<String>,
}

/// Issue 10: the audit log the caller may read, as a CSV file for Dutch Excel.
#[utoipa::path(
    get, path = "/api/v1/audit.csv", tag = "audit", params(AuditExportParams),
    responses(
        (status = 200, description = "Every entry the filters select (at most 50 000, newest first) as CSV: UTF-8 with a byte order mark, `;`-separated, a heading row, columns tijdstip (UTC, `YYYY-MM-DD HH:MM:SS`), wie, wat (the entry as a Dutch sentence), actie, gebruiker, kantoor, ip; a cell starting with `= + - @` starts with `'`. A main user gets its office tree only", body = String, content_type = "text/csv"),
        (status = 400, description = "A filter value that makes no sense; `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "The office or user of the filter does not exist or is not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn export_csv(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiQuery(params): ApiQuery<AuditExportParams>,
) -> Result<Response, Problem> {
    let filter = parse(&AuditParams {
        office_id: params.office_id,
        user_id: params.user_id,
        action: params.action,
        from: params.from,
        to: params.to,
        before: None,
        limit: None,
    })
    .map_err(|b| {
        let mut p = Problem::bad_request(text(&app, b.key));
        p.field = Some(b.field);
        p
    })?;
    let now = app.now();
    let entries = export(&app, &caller.principal, &filter, ip.text().as_deref(), now)
        .await
        .map_err(|e| Problem::of(&app, e))?;
    let body = csv(app.templates.texts(), &entries);
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = format!("attachment; filename=\"auditlog-{}.csv\"", now.date()).parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> AuditParams {
        let mut p = AuditParams::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "office_id" => p.office_id = v,
                "user_id" => p.user_id = v,
                "action" => p.action = v,
                "from" => p.from = v,
                "to" => p.to = v,
                "before" => p.before = v,
                "limit" => p.limit = v,
                _ => unreachable!(),
            }
        }
        p
    }

    #[test]
    fn filters_are_read_and_empty_values_are_none() {
        let f = parse(&params(&[
            ("office_id", ""),
            ("action", "login."),
            ("from", "2026-01-01"),
            ("to", "2026-01-01"),
            ("limit", "100"),
        ]))
        .unwrap();
        assert_eq!(f.office_id, None);
        assert_eq!(f.action.as_deref(), Some("login."));
        assert_eq!(f.from, f.to);
        assert_eq!(f.limit, 100);
        assert_eq!(parse(&params(&[])).unwrap().limit, DEFAULT_PAGE);
    }

    #[test]
    fn nonsense_is_refused_by_field() {
        for (pairs, field) in [
            (vec![("from", "01-02-2026")], "from"),
            (vec![("to", "2026-02-30")], "to"),
            (vec![("from", "2026-02-02"), ("to", "2026-02-01")], "from"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("limit", "tien")], "limit"),
            (vec![("office_id", "12345")], "office_id"),
            (vec![("user_id", "x")], "user_id"),
            (vec![("before", "x")], "before"),
            (vec![("action", "LOGIN")], "action"),
            (vec![("action", "login'--")], "action"),
            (vec![("action", "%")], "action"),
        ] {
            assert_eq!(
                parse(&params(&pairs)).unwrap_err().field,
                field,
                "{pairs:?}"
            );
        }
    }

    /// Issue 10, IO-05: the export is `;`-separated UTF-8 with a BOM, one heading row, the
    /// sentence in `wat`, and a formula in a name stays text.
    #[test]
    fn the_export_is_for_dutch_excel_and_neutralises_formulas() {
        use crate::store::audit::{NamedOffice, NamedUser};
        let texts = Texts::load().unwrap();
        let e = AuditEntry {
            id: Uuid::now_v7(),
            at: time::macros::datetime!(2026-01-31 09:05:07 UTC),
            action: "user.updated".into(),
            actor: Some(NamedUser {
                id: Uuid::now_v7(),
                name: Some("Nick Jansen".into()),
                email: None,
            }),
            target_user: Some(NamedUser {
                id: Uuid::now_v7(),
                name: Some("=HYPERLINK(\"http://x\")".into()),
                email: Some("ilse@voorbeeldadvies.nl".into()),
            }),
            target_office: Some(NamedOffice {
                id: Uuid::now_v7(),
                name: Some("Voorbeeld; Advies".into()),
                number: Some("12345".into()),
            }),
            ip: Some("192.0.2.1".into()),
            detail:
                serde_json::json!({ "before": { "rights": [] }, "after": { "rights": ["DIL"] } })
                    .to_string(),
        };
        let bytes = csv(&texts, &[e]);
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("tijdstip;wie;wat;actie;gebruiker;kantoor;ip")
        );
        let row = lines.next().unwrap();
        assert_eq!(lines.next(), None);
        let cells: Vec<String> = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .from_reader(row.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            cells,
            [
                "2026-01-31 09:05:07",
                "Nick Jansen",
                // Not a formula: it does not start with `=`.
                "Nick Jansen gaf =HYPERLINK(\"http://x\") het recht DIL",
                "user.updated",
                "'=HYPERLINK(\"http://x\") (ilse@voorbeeldadvies.nl)",
                "Voorbeeld; Advies (12345)",
                "192.0.2.1",
            ]
        );
    }

    /// Issue 10: the OpenAPI document describes the export, its media type and filters,
    /// and the sentence of each listed entry.
    #[test]
    fn the_document_describes_the_export_and_the_sentence() {
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi::json()).unwrap();
        let get = &doc["paths"]["/api/v1/audit.csv"]["get"];
        assert!(
            get["responses"]["200"]["content"]["text/csv"].is_object(),
            "{get}"
        );
        for status in ["400", "401", "403", "404"] {
            assert!(get["responses"][status].is_object(), "{status}");
        }
        let params: Vec<&str> = get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(params, ["office_id", "user_id", "action", "from", "to"]);
        assert!(doc["components"]["schemas"]["AuditEntry"]["properties"]["text"].is_object());
    }

    #[test]
    fn secrets_never_leave_in_the_detail() {
        let d = serde_json::json!({
            "reason": "wrong_password",
            "password_hash": "$argon2id$…",
            "after": { "name": "X", "postcode": "1234 AB", "totp_seed": "abc", "codes": ["1"] },
            "list": [{ "token": "t", "ok": 1 }],
        });
        assert_eq!(
            redact(d),
            serde_json::json!({ "reason": "wrong_password", "after": { "name": "X", "postcode": "1234 AB" }, "list": [{ "ok": 1 }] })
        );
    }
}
