//! **Auditlog** (SPEC L1): who did what, on whom, when and from where, for a main user
//! its office tree and for the insurer's admins everything. Each entry reads as one plain
//! Dutch sentence (issue 10), with the stored detail under Details. A GET form filters by
//! Kantoor, Gebruiker, Soort and period; "Oudere" and "Nieuwste" page through the log;
//! "Exporteren als CSV" downloads everything the filter selects (`/auditlog.csv`). It
//! works without JavaScript.
//!
//! The log is read through the idp's admin API with the signed-in user's token; the API
//! decides what the user may see, so this page shows what it answers and nothing more.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::api::audit::{AuditEntry, AuditFilter, query_string};
use crate::form::PageQuery;
use crate::users::{api_failure, manager, no_store};

/// The page's own address.
const HERE: &str = "/auditlog";

/// What the Soort choice offers, in this order: a group (a prefix ending with a dot) or
/// one action. The Dutch names are `audit.kinds.<code>` in `nl.toml`.
const KINDS: [&str; 15] = [
    "login.",
    "login.succeeded",
    "login.failed",
    "login.second_factor_failed",
    "mfa.",
    "activation.",
    "user.activated",
    "password.reset",
    "user.",
    "office.",
    "admin.denied",
    "oauth.",
    "client.registered",
    "import.",
    "audit.purged",
];

/// The filter form's fields (Dutch, as the page's URL shows them).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditForm {
    kantoor: Option<String>,
    gebruiker: Option<String>,
    soort: Option<String>,
    van: Option<String>,
    tot: Option<String>,
    ouder_dan: Option<String>,
}

fn value(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_owned()
}

impl AuditForm {
    /// The pairs of this page's URL; without the cursor for the newest page.
    fn pairs(&self, cursor: Option<&str>) -> String {
        query_string(&[
            ("kantoor", Some(value(&self.kantoor).as_str())),
            ("gebruiker", Some(value(&self.gebruiker).as_str())),
            ("soort", Some(value(&self.soort).as_str())),
            ("van", Some(value(&self.van).as_str())),
            ("tot", Some(value(&self.tot).as_str())),
            ("ouder_dan", cursor),
        ])
    }

    fn filter(&self) -> AuditFilter {
        let v = |o: &Option<String>| Some(value(o)).filter(|s| !s.is_empty());
        AuditFilter {
            office_id: v(&self.kantoor),
            user_id: v(&self.gebruiker),
            action: v(&self.soort),
            from: v(&self.van),
            to: v(&self.tot),
            before: v(&self.ouder_dan),
        }
    }
}

/// One option of a choice.
#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// One line of the table.
#[derive(Serialize)]
struct Line {
    when: String,
    who: String,
    /// The entry as a sentence.
    text: String,
    /// The kind, in a few words (`audit.action.*`), and the action's code.
    what: String,
    action: String,
    on_whom: String,
    ip: String,
    /// The stored detail, pretty-printed (empty when there is none).
    detail: String,
}

#[derive(Serialize)]
struct AuditPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    offices: Vec<Choice>,
    users: Vec<Choice>,
    kinds: Vec<Choice>,
    van: String,
    tot: String,
    lines: Vec<Line>,
    error: Option<String>,
    older: Option<String>,
    newest: Option<String>,
    /// The export of what the filter selects.
    export: String,
}

/// `2026-01-31T09:05:00Z` → `31-01-2026 09:05:00 UTC`; anything else as it is.
fn when(at: &str) -> String {
    let (Some(date), Some(time)) = (at.get(..10), at.get(11..19)) else {
        return at.to_owned();
    };
    let parts: Vec<&str> = date.split('-').collect();
    match (parts.as_slice(), at.ends_with('Z')) {
        ([y, m, d], true) => format!("{d}-{m}-{y} {time} UTC"),
        _ => at.to_owned(),
    }
}

fn line(app: &AppState, e: AuditEntry) -> Line {
    let texts = app.templates.texts();
    let t = |key: &str| texts.text(key);
    let who = match &e.actor {
        Some(a) => a.name.clone().unwrap_or_else(|| t("audit.unknown_user")),
        None if e.ip.is_some() => t("audit.visitor"),
        None => t("audit.system"),
    };
    let what = texts
        .get(&format!("audit.action.{}", e.action))
        .map_or_else(|| e.action.clone(), str::to_owned);
    let mut on = Vec::new();
    if let Some(u) = &e.target_user {
        on.push(match (&u.name, &u.email) {
            (Some(n), Some(m)) => format!("{n} ({m})"),
            (Some(n), None) => n.clone(),
            _ => t("audit.unknown_user"),
        });
    }
    if let Some(o) = &e.target_office {
        on.push(match (&o.name, &o.number) {
            (Some(n), Some(num)) => format!("{n} ({num})"),
            (Some(n), None) => n.clone(),
            _ => t("audit.unknown_office"),
        });
    }
    let detail = match &e.detail {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        serde_json::Value::Null => String::new(),
        d => serde_json::to_string_pretty(d).unwrap_or_default(),
    };
    Line {
        when: when(&e.at),
        text: if e.text.is_empty() {
            format!("{who}: {what}")
        } else {
            e.text.clone()
        },
        who,
        what,
        action: e.action,
        on_whom: on.join(" · "),
        ip: e.ip.unwrap_or_default(),
        detail,
    }
}

/// `GET /auditlog`: the filter form, one page of the log, and the paging links.
pub(crate) async fn show(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(form): PageQuery<AuditForm>,
) -> Response {
    let (user, token) = match manager(&app, user, &jar, HERE).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let offices = match app.api.audit_offices(&token).await {
        Ok(o) => o,
        Err(e) => return api_failure(&app, &jar, HERE, e).await,
    };
    let users = match app.api.users(&token).await {
        Ok(u) => u,
        Err(e) => return api_failure(&app, &jar, HERE, e).await,
    };
    let (status, lines, next, error) = match app.api.audit_log(&token, &form.filter()).await {
        Ok(page) => {
            let lines = page.entries.into_iter().map(|e| line(&app, e)).collect();
            (StatusCode::OK, lines, page.next, None)
        }
        // A filter the API refuses (a date, an office not managed): said above the form.
        Err(ApiError::Refused { status, detail })
            if status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND =>
        {
            (status, Vec::new(), None, Some(detail))
        }
        Err(e) => return api_failure(&app, &jar, HERE, e).await,
    };
    let texts = app.templates.texts();
    let kantoor = value(&form.kantoor);
    let gebruiker = value(&form.gebruiker);
    let soort = value(&form.soort);
    let page = AuditPage {
        logout_action: app.rp.logout_action(),
        offices: offices
            .into_iter()
            .map(|o| Choice {
                selected: o.id == kantoor,
                label: format!("{} ({})", o.name, o.number),
                value: o.id,
            })
            .collect(),
        users: users
            .into_iter()
            .map(|u| Choice {
                selected: u.id == gebruiker,
                label: format!("{} ({})", u.name, u.email),
                value: u.id,
            })
            .collect(),
        kinds: KINDS
            .iter()
            .map(|k| Choice {
                value: (*k).to_owned(),
                label: texts.text(&format!("audit.kinds.{k}")),
                selected: *k == soort,
            })
            .collect(),
        van: value(&form.van),
        tot: value(&form.tot),
        lines,
        error,
        older: next.map(|n| format!("{HERE}?{}", form.pairs(Some(n.as_str())))),
        newest: form
            .ouder_dan
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|_| format!("{HERE}?{}", form.pairs(None))),
        export: format!("{HERE}.csv?{}", form.pairs(None)),
        user: &user,
    };
    no_store(app.templates.page(status, "admin/audit.html", page))
}

/// `GET /auditlog.csv`: what the filter selects, as the API's CSV file (issue 10). A
/// filter the API refuses shows the page with its reason, as a search would.
pub(crate) async fn export(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(form): PageQuery<AuditForm>,
) -> Response {
    let here = format!("{HERE}?{}", form.pairs(None));
    let (_, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let csv = match app.api.audit_csv(&token, &form.filter()).await {
        Ok(c) => c,
        Err(e) => return api_failure(&app, &jar, &here, e).await,
    };
    let mut res = Response::new(Body::from(csv));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"auditlog.csv\""),
    );
    no_store(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_as_dutch_dates_in_utc() {
        assert_eq!(when("2026-01-31T09:05:07Z"), "31-01-2026 09:05:07 UTC");
        assert_eq!(when("gisteren"), "gisteren");
    }

    #[test]
    fn paging_links_keep_the_filters_and_encode_them() {
        let form = AuditForm {
            soort: Some("login.".into()),
            van: Some("2026-01-01&x=1".into()),
            ..AuditForm::default()
        };
        assert_eq!(
            form.pairs(Some("c")),
            "soort=login.&van=2026-01-01%26x%3D1&ouder_dan=c"
        );
        assert_eq!(form.pairs(None), "soort=login.&van=2026-01-01%26x%3D1");
    }
}
